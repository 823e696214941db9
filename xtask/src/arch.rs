//! The architectures an image is built for, and their names in each tool's spelling.

use std::fmt;

use crate::validate::bad;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// The OCI name (`amd64`, `arm64`); `x86_64` and `aarch64` are accepted as aliases.
    pub fn parse(what: &str, value: &str) -> anyhow::Result<Arch> {
        match value {
            "amd64" | "x86_64" => Ok(Arch::Amd64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            _ => Err(bad(
                what,
                value,
                "not a supported architecture (amd64, arm64)",
            )),
        }
    }

    /// Each of a list's values parsed (trimmed), each architecture once, in the list's order.
    pub fn parse_list(what: &str, values: &[String]) -> anyhow::Result<Vec<Arch>> {
        let mut archs: Vec<Arch> = Vec::new();
        for a in values {
            let arch = Arch::parse(what, a.trim())?;
            if !archs.contains(&arch) {
                archs.push(arch);
            }
        }
        Ok(archs)
    }
    pub fn oci(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
    /// The kernel's name (`uname -m`).
    pub fn uname(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }
    /// The tag the documented multi-architecture procedure uses: `linux-amd64`.
    pub fn tag(self) -> String {
        format!("linux-{}", self.oci())
    }
    pub fn platform(self) -> String {
        format!("linux/{}", self.oci())
    }
    /// The architecture this tool was compiled for, if supported.
    pub fn native() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::Amd64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.oci())
    }
}
