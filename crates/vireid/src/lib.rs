//! The framework-free part of the `vireid` command line: the subcommands that need no network
//! (synth, splits, prepare, metrics, augment), progress bars and `.npy` input. It never touches
//! libtorch, so the `vireid` executable built from it starts in milliseconds; the commands
//! that run a network live in the `vireid-torch` executable beside it, which `vireid` hands
//! over to.

pub mod commands;
pub mod features_folder;
pub mod npy;
pub mod per_query;
pub mod progress;
pub mod run_scores;
