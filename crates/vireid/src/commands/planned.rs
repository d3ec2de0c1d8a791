//! Subcommands of the command-line contract that are not built yet: they say so plainly.

#[derive(clap::Args)]
pub struct Args {
    /// Accepted and ignored until the command exists.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

pub fn run(name: &str, issue: u32) -> anyhow::Result<()> {
    anyhow::bail!("`vireid {name}` is not available in this build yet (tracked in issue #{issue})")
}
