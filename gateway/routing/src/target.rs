//! Which side answers a request: [`Target`], the legacy backend or the new
//! service, as `routes.toml`, logs and metrics name it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which side answers a request: the legacy backend or the new service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Forwarded over HTTP to the legacy backend.
    Legacy,
    /// Dispatched in-process to the new service.
    Service,
}

impl Target {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Self::Legacy => Self::Service,
            Self::Service => Self::Legacy,
        }
    }

    /// The name used in `routes.toml`, logs and metrics: `legacy` or `service`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Service => "service",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
