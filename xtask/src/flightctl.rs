//! flightctl's API, as `rollout --flightctl` and `doctor --for rollout --flightctl` reach it:
//! its URL, its CA and the bearer token checked, and its requests as `curl` argv (no HTTP
//! library: the printed plan runs the same `curl`). The token reaches curl only as a header
//! file (`-H @FILE`, a private 0600 file; in the printed plan `<(printf ...)` from
//! `${FLIGHTCTL_TOKEN}`), never on a command line.
//!
//! Endpoints (flightctl's `api/core/v1beta1/openapi.yaml`, served under `/api/v1`):
//! `GET /fleets/{name}`, `PATCH /fleets/{name}` (`application/json-patch+json`),
//! `GET /devices?fieldSelector=metadata.owner=Fleet/{name}`, `GET /version`.

use camino::Utf8PathBuf;

use crate::config::{Origin, Picked, Sources};
use crate::inputs;
use crate::plan::{Secret, Step};
use crate::validate::{self, bad};

/// The token's variable in printed plans, and the header file's name.
pub const TOKEN: &str = "FLIGHTCTL_TOKEN";
const HEADER_FILE: &str = "flightctl-authorization";
const AUTHORIZATION: &str = "Authorization: Bearer ";
/// The most devices one list request reads (flightctl's limit).
pub const PAGE: usize = 1000;
/// How long one request may take.
const MAX_TIME_S: u64 = 30;
/// The most the questions asked before planning may answer (a fleet of a thousand devices
/// is a few MiB): more is not flightctl's API, and is not gathered in memory.
const MAX_ANSWER: u64 = 64 << 20;

/// flightctl's API: where, the CA it is checked with, the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    /// `https://HOST[:PORT][/PREFIX]`, without a trailing `/` (nor flightctl's `/api/v1`).
    pub url: String,
    pub ca: Option<Utf8PathBuf>,
    pub token: Secret,
    /// Where the URL came from, and where the token did, said in errors.
    pub what: String,
    pub token_from: String,
}

impl Api {
    /// `--api`, `--api-ca` and the token (`--token-file`, FLIGHTCTL_TOKEN_FILE,
    /// FLIGHTCTL_TOKEN, `fleet.flightctl.token_file`), checked.
    pub fn resolve(
        api: Option<&str>,
        ca: Option<&str>,
        token_file: Option<&str>,
        sources: &Sources,
    ) -> anyhow::Result<Api> {
        let (url, ca, what) = Api::place(api, ca, sources)?;
        let (token, token_from) = token(token_file, sources)?;
        Ok(Api {
            url,
            ca,
            token,
            what,
            token_from,
        })
    }

    /// `--api` and `--api-ca`, checked: the URL, the CA, where the URL came from.
    pub fn place(
        api: Option<&str>,
        ca: Option<&str>,
        sources: &Sources,
    ) -> anyhow::Result<(String, Option<Utf8PathBuf>, String)> {
        let picked = sources.get(&inputs::FLIGHTCTL_API, api)?;
        let url = url(&picked.what, &picked.value)?;
        let ca = match sources.value(&inputs::FLIGHTCTL_CA, ca)? {
            Some(p) => {
                let path = sources.path(&p)?;
                if url.starts_with("http://") {
                    return Err(bad(
                        &p.what,
                        path.as_str(),
                        format!("{url} is plain http: there is no certificate to check with it"),
                    ));
                }
                crate::mirror::certificate(&p.what, &path)?;
                Some(path)
            }
            None => None,
        };
        Ok((url, ca, picked.what))
    }

    pub fn fleet_url(&self, fleet: &str) -> String {
        format!("{}/api/v1/fleets/{fleet}", self.url)
    }

    /// The fleet's devices: those flightctl made it the owner of.
    pub fn devices_url(&self, fleet: &str) -> String {
        format!(
            "{}/api/v1/devices?fieldSelector=metadata.owner%3DFleet%2F{fleet}&limit={PAGE}",
            self.url
        )
    }

    pub fn version_url(&self) -> String {
        format!("{}/api/v1/version", self.url)
    }

    /// curl's options before the token: quiet but for errors, URLs taken as they are, only
    /// the API's scheme (no redirect elsewhere), a time limit, the CA.
    fn options(&self) -> Vec<String> {
        let scheme = if self.url.starts_with("http://") {
            "=http"
        } else {
            "=https"
        };
        let mut a: Vec<String> = [
            "--silent",
            "--show-error",
            "--globoff",
            "--proto",
            scheme,
            "--proto-redir",
            scheme,
            "--max-time",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(MAX_TIME_S.to_string());
        if let Some(ca) = &self.ca {
            a.extend(["--cacert".to_string(), ca.to_string()]);
        }
        a.extend(["-H".to_string(), "Accept: application/json".to_string()]);
        a
    }

    /// A plan's step: `curl` with the token as a header file, then these arguments.
    pub fn step(&self, id: &'static str, about: impl Into<String>, args: &[String]) -> Step {
        Step::new(id, about, "curl")
            .args(self.options())
            .arg("-H")
            .secret_header_arg("@", TOKEN, HEADER_FILE, AUTHORIZATION, &self.token)
            .args(args.iter().cloned())
    }

    /// Ask the API now (before planning: a read-only question), as the plan's steps do:
    /// curl's standard output, or why curl could not answer.
    pub fn ask(&self, urls: &[String]) -> anyhow::Result<String> {
        const PLACE: &str = "@TOKEN-HEADER-FILE";
        let mut args = self.options();
        args.extend(["-H".to_string(), PLACE.to_string()]);
        args.extend(urls.iter().cloned());
        let mut line = AUTHORIZATION.as_bytes().to_vec();
        line.extend_from_slice(self.token.expose());
        line.push(b'\n');
        let out = crate::exec::ask_with_secret_file(
            "curl",
            &args,
            PLACE,
            "@",
            HEADER_FILE,
            &line,
            MAX_ANSWER,
        )?
        .ok_or_else(|| {
                validate::refuse(
                    "curl is not installed: rollout --flightctl speaks to flightctl's API with it (`sudo apt-get install curl`, `sudo dnf install curl`)",
                )
            })?;
        if out.stdout.len() as u64 > MAX_ANSWER {
            return Err(crate::error::StepFailed::error(format!(
                "flightctl's API at {} ({}) answered more than {} MiB: not flightctl's API (is the URL the one `flightctl login` takes?); nothing was changed",
                self.url,
                self.what,
                MAX_ANSWER >> 20
            )));
        }
        // the token said back (a server or proxy that quotes the token it refused) is not
        // repeated in an error: `${FLIGHTCTL_TOKEN}` stands in its place, as in a step's
        let (mut stdout, mut stderr) = (out.stdout, out.stderr);
        crate::exec::redact(&mut stdout, self.token.expose(), TOKEN);
        crate::exec::redact(&mut stderr, self.token.expose(), TOKEN);
        if !out.status.success() {
            // curl says it once per URL: the first time is enough
            let said = String::from_utf8_lossy(&stderr);
            let first = said.lines().map(str::trim).find(|l| !l.is_empty());
            return Err(anyhow::Error::new(crate::error::StepFailed {
                message: format!(
                    "cannot reach flightctl's API at {} ({}): {}",
                    self.url,
                    self.what,
                    validate::escape_controls(first.unwrap_or("curl failed"))
                ),
                hint: Some("is the URL the one `flightctl login` takes, and does --api-ca (fleet.flightctl.ca) name its CA? `cargo xtask doctor --for rollout --flightctl FLEET` checks".to_string()),
                code: crate::error::exit::FAILED,
            }));
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }
}

/// `--api`: an https URL (http only to this machine: the token would cross the network in
/// clear), no user, query or fragment; flightctl's `/api/v1` is added by the tool.
pub fn url(what: &str, value: &str) -> anyhow::Result<String> {
    let v = value.trim_end_matches('/');
    let v = v.strip_suffix("/api/v1").unwrap_or(v);
    let (scheme, rest) = match v.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("", v),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let clean = !rest.is_empty()
        && !host.is_empty()
        && !v.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '"' | '\'' | '\\' | '?' | '#' | '@' | '%')
        });
    if clean && matches!(scheme, "https" | "http") {
        // HOST[:PORT] as a device's address is checked (a name, four numbers, [IPv6], a port
        // 1 to 65535), and a path of plain segments: curl would squash `.` and `..`, and
        // the URL the token is sent to must be the one given
        let host_ok = crate::reach::parse_host(what, host).is_ok();
        if !host_ok || path.split('/').any(|s| s == "." || s == "..") {
            return Err(bad(
                what,
                value,
                "not flightctl's API URL: give https://HOST[:PORT][/PREFIX], a host name, an IPv4 address or an [IPv6] address, a port 1 to 65535, no '.' or '..' in the path",
            ));
        }
    }
    match scheme {
        "https" if clean => Ok(v.to_string()),
        "http" if clean && crate::builder::loopback(host) => Ok(v.to_string()),
        "http" if clean => Err(bad(
            what,
            value,
            "plain http would send the token in clear: give the API's https:// URL (http:// only to this machine: 127.0.0.1, [::1], localhost)",
        )),
        _ => Err(bad(
            what,
            value,
            "not flightctl's API URL: give https://HOST[:PORT], as `flightctl login` takes it",
        )),
    }
}

/// A fleet's name as flightctl takes it. Its OpenAPI document says of `metadata.name` only
/// `maxLength: 253`; the server's validation (`Fleet.Validate`, `ValidateResourceName`:
/// Kubernetes' `NameIsDNSSubdomain`) wants a DNS-1123 subdomain: lowercase letters, digits,
/// '-' and '.', each part starting and ending with a letter or digit.
pub fn fleet_name(what: &str, value: &str) -> anyhow::Result<String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    if value.len() <= 253 && value.split('.').all(part_ok) {
        Ok(value.to_string())
    } else {
        Err(bad(
            what,
            value,
            "not a fleet name flightctl takes: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, at most 253 characters",
        ))
    }
}

/// The bearer token: `--token-file`, else FLIGHTCTL_TOKEN_FILE, else FLIGHTCTL_TOKEN, else
/// the file `fleet.flightctl.token_file` names; one line, never shown.
pub fn token(flag: Option<&str>, sources: &Sources) -> anyhow::Result<(Secret, String)> {
    let input = &inputs::FLIGHTCTL_TOKEN_FILE;
    let file_env = format!("{TOKEN}_FILE");
    let file = match flag {
        Some(f) => Some(sources.flag_picked(input.flag, f)),
        None => sources.env_var(&file_env)?.map(|f| Picked {
            value: f,
            what: file_env.clone(),
            origin: Origin::Env,
        }),
    };
    let from_config = || -> anyhow::Result<Option<Picked>> {
        let Some(key) = input.key else {
            return Ok(None);
        };
        Ok(sources.config.get(key)?.map(|v| Picked {
            value: v,
            what: format!("{} (from {}: {key})", input.flag, sources.config.path),
            origin: Origin::Config,
        }))
    };
    let (what, text) = match file {
        Some(p) => read_token_file(&p, sources)?,
        None => match sources.env_var(TOKEN)? {
            Some(t) => (TOKEN.to_string(), t),
            None => match from_config()? {
                Some(p) => read_token_file(&p, sources)?,
                None => {
                    return Err(validate::refuse(format!(
                        "{}: no token for flightctl's API: give --token-file FILE (mode 600), {file_env}, {TOKEN}, or fleet.flightctl.token_file in {}",
                        input.flag, sources.config.path
                    )))
                }
            },
        },
    };
    let t = text.strip_suffix('\n').unwrap_or(&text);
    let t = t.strip_suffix('\r').unwrap_or(t);
    // never the token itself in an error
    if t.is_empty() {
        return Err(validate::refuse(format!("{what}: the token is empty")));
    }
    if t.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(validate::refuse(format!(
            "{what}: the token holds a space, a line break or a control character: give the token alone"
        )));
    }
    // a bearer token is RFC 6750's b64token (a JWT is one): a quote pasted with it, or the
    // byte-order mark an editor writes first, would only make the API refuse it
    let b64token =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/');
    if !t.trim_end_matches('=').chars().all(b64token) {
        return Err(validate::refuse(format!(
            "{what}: the token holds a character no bearer token has (a quote, a byte-order mark, a non-ASCII letter...): give the token alone, as `flightctl login` got it"
        )));
    }
    Ok((Secret::new(t.as_bytes().to_vec()), what))
}

fn read_token_file(picked: &Picked, sources: &Sources) -> anyhow::Result<(String, String)> {
    let path = sources.path(picked)?;
    let bytes = validate::read_bounded(&picked.what, &path, 64 << 10)?;
    // a bearer token is as good as a password to whoever reads it, as a private key is
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).map_or(0, |m| m.permissions().mode() & 0o777);
    if mode & 0o077 != 0 {
        return Err(bad(
            &picked.what,
            path.as_str(),
            format!("others can read it (mode {mode:o}): `chmod 600 {path}` (and treat the token as exposed: `flightctl login` makes another)"),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| bad(&picked.what, path.as_str(), "is not UTF-8 text"))?;
    Ok((picked.what.clone(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_fleet_names() {
        for (given, want) in [
            ("https://api.example.com", "https://api.example.com"),
            (
                "https://api.example.com:3443/",
                "https://api.example.com:3443",
            ),
            ("https://api.example.com/api/v1", "https://api.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://localhost:8080/edge", "http://localhost:8080/edge"),
            ("https://[fd00::1]:3443", "https://[fd00::1]:3443"),
            ("https://192.0.2.10", "https://192.0.2.10"),
        ] {
            assert_eq!(url("--api", given).unwrap(), want, "{given}");
        }
        for bad in [
            "http://api.example.com",
            "http://127.0.0.1.example.com:80",
            "ftp://api.example.com",
            "api.example.com",
            "https://",
            "https://user@api.example.com",
            "https://api.example.com/?x=1",
            "https://api example.com",
            // a port that is none, a host curl would refuse, a path curl would squash
            "https://api.example.com:99999",
            "https://api.example.com:0",
            "https://api.exa$(id)mple.com",
            "https://api.example.com/edge/../other",
            "https://api.example.com/%2e%2e/other",
            "https://api.example.com:3443:1",
        ] {
            assert!(url("--api", bad).is_err(), "{bad}");
        }
        for ok in ["edge", "edge-sites.emea", "a", "0fleet"] {
            assert!(fleet_name("--flightctl", ok).is_ok(), "{ok}");
        }
        for bad in [
            "Edge",
            "-edge",
            "edge-",
            "edge..x",
            "",
            "edge_1",
            "a/b",
            &"a".repeat(254),
        ] {
            assert!(fleet_name("--flightctl", bad).is_err(), "{bad}");
        }
    }
}
