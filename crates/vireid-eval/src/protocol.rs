//! Which gallery items a query may not be matched with, and which CMC a protocol reports.

use serde::Serialize;
use std::str::FromStr;

/// The evaluation rules of a benchmark (SPEC section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalProtocol {
    /// SYSU-MM01: a query from camera 3 ignores gallery camera 2 (same indoor room);
    /// distinct-id CMC.
    Sysu,
    /// LLCM: a query ignores gallery items of its own id and camera; distinct-id CMC.
    Llcm,
    /// RegDB: nothing ignored; standard CMC.
    Regdb,
}

impl EvalProtocol {
    pub fn name(self) -> &'static str {
        match self {
            EvalProtocol::Sysu => "sysu",
            EvalProtocol::Llcm => "llcm",
            EvalProtocol::Regdb => "regdb",
        }
    }

    pub fn needs_cameras(self) -> bool {
        !matches!(self, EvalProtocol::Regdb)
    }

    /// CMC over the ranked list with repeated gallery ids collapsed to their first
    /// occurrence (the SYSU-MM01 authors' protocol), rather than over the raw list.
    pub fn distinct_id_cmc(self) -> bool {
        !matches!(self, EvalProtocol::Regdb)
    }

    /// Whether gallery item (id, cam) is ignored for a query (id, cam).
    #[inline]
    pub fn ignores(self, q_id: i64, q_cam: i64, g_id: i64, g_cam: i64) -> bool {
        match self {
            EvalProtocol::Sysu => q_cam == 3 && g_cam == 2,
            EvalProtocol::Llcm => q_id == g_id && q_cam == g_cam,
            EvalProtocol::Regdb => false,
        }
    }
}

impl FromStr for EvalProtocol {
    type Err = crate::EvalError;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sysu" => Ok(EvalProtocol::Sysu),
            "llcm" => Ok(EvalProtocol::Llcm),
            "regdb" => Ok(EvalProtocol::Regdb),
            _ => Err(crate::EvalError::Invalid(format!(
                "unknown protocol {s:?}: expected sysu, regdb or llcm"
            ))),
        }
    }
}
