pub mod augment;
pub mod demo;
pub mod extract;
pub mod metrics;
pub mod prepare;
pub mod splits;
pub mod synth;
pub mod test;
pub mod train;

use vireid_data::Dataset;

/// The dataset names the command line accepts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DatasetArg {
    /// SYSU-MM01 (cam1..cam6, exp/*_id.txt)
    Sysu,
    /// RegDB (Visible/, Thermal/, idx/)
    Regdb,
    /// LLCM (idx/, test_vis/, test_nir/)
    Llcm,
}

impl From<DatasetArg> for Dataset {
    fn from(d: DatasetArg) -> Self {
        match d {
            DatasetArg::Sysu => Dataset::Sysu,
            DatasetArg::Regdb => Dataset::Regdb,
            DatasetArg::Llcm => Dataset::Llcm,
        }
    }
}

/// Prints one JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
