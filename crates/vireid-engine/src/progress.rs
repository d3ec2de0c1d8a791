//! How long phases (building a cache, extracting features, generating a dataset) report
//! progress without the engine drawing anything: the command line passes bars, tests pass
//! [`Silent`].

/// One phase in progress. Dropping it ends the phase.
pub trait Tick: Sync {
    /// `n` more items are done.
    fn inc(&self, n: u64);
    /// The phase turns out to have `total` items.
    fn set_total(&self, _total: u64) {}
}

/// Where phases report.
pub trait Progress: Sync {
    /// A phase named `name` of `total` items (0: not known yet) starts.
    fn phase(&self, name: &str, total: u64) -> Box<dyn Tick + '_>;
    /// A line a person watching would want (what is being trained, where).
    fn note(&self, _line: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Tick for Silent {
    fn inc(&self, _n: u64) {}
}

impl Progress for Silent {
    fn phase(&self, _name: &str, _total: u64) -> Box<dyn Tick + '_> {
        Box::new(Silent)
    }
}
