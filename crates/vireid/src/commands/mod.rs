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

impl DatasetArg {
    /// The name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DatasetArg::Sysu => "sysu",
            DatasetArg::Regdb => "regdb",
            DatasetArg::Llcm => "llcm",
        }
    }
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

/// clap parser for a weight in [0, 1] (NaN and infinities refused with the range named).
pub fn unit_interval(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .parse()
        .map_err(|_| format!("expected a number in [0, 1], found {s:?}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("expected a number in [0, 1], found {s}"))
    }
}

/// clap parser for a count of at least one.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!(
            "expected a whole number of at least 1, found {s:?}"
        )),
    }
}
