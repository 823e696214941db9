//! `doctor --for rollout --flightctl FLEET`: can this host hand a release to a flightctl
//! fleet? curl is there, flightctl's API answers (its version), the token is accepted, the
//! fleet exists, and its devices are image-mode (a package-mode device refuses an OS image
//! and stalls its batch). One request, as `rollout --flightctl` makes them.

use serde_json::Value;

use super::probe::{output, stdout_of};
use super::{finding, DoctorArgs, Finding, Level};
use crate::config::Sources;
use crate::flightctl::{self as api, Api};

/// The flags checked as `rollout --flightctl` checks them (a bad one is bad input, before
/// anything is asked); the API, or why it cannot be asked (no token: a finding).
pub(super) fn validate(
    args: &DoctorArgs,
    fleet: &str,
    sources: &Sources,
) -> anyhow::Result<(String, Result<Api, String>)> {
    let fleet = api::fleet_name("--flightctl", fleet)?;
    // the URL and the CA are inputs (bad input); a missing token is a finding
    let (url, ca, what) = Api::place(args.api.as_deref(), args.api_ca.as_deref(), sources)?;
    let api = api::token(args.token_file.as_deref(), sources)
        .map(|(token, token_from)| Api {
            url,
            ca,
            token,
            what,
            token_from,
        })
        .map_err(|e| format!("{e}"));
    Ok((fleet, api))
}

pub(super) fn checks(
    args: &DoctorArgs,
    fleet: &str,
    sources: &Sources,
) -> anyhow::Result<Vec<Finding>> {
    let (fleet, api) = validate(args, fleet, sources)?;
    let mut out = vec![curl()];
    let api = match api {
        Ok(a) => a,
        Err(e) => {
            out.push(finding(
                "flightctl-token",
                Level::Fail,
                e,
                "give the API's bearer token: --token-file FILE (mode 600), FLIGHTCTL_TOKEN, or fleet.flightctl.token_file",
            ));
            return Ok(out);
        }
    };
    let answer = match api.ask(&[
        api.version_url(),
        api.fleet_url(&fleet),
        api.devices_url(&fleet),
    ]) {
        Ok(a) => a,
        Err(e) => {
            let said = match e.downcast_ref::<crate::error::StepFailed>() {
                Some(f) => f.message.clone(),
                None => format!("{e:#}"),
            };
            out.push(finding(
                "flightctl-api",
                Level::Fail,
                said,
                "the URL `flightctl login` takes (--api, fleet.flightctl.api), and its CA (--api-ca, fleet.flightctl.ca) when the host does not trust it",
            ));
            return Ok(out);
        }
    };
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&answer)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect();
    let status = |code: i64| {
        docs.iter()
            .find(|d| d["kind"] == "Status" && d["code"] == code)
    };
    let said = |d: &Value| {
        crate::validate::escape_controls(&format!(
            "{} {}: {}",
            d["code"],
            d["reason"].as_str().unwrap_or(""),
            d["message"].as_str().unwrap_or("")
        ))
    };
    let version = docs.iter().find_map(|d| d["version"].as_str());
    if docs.is_empty() {
        out.push(finding(
            "flightctl-api",
            Level::Fail,
            format!("{} answered with no JSON: is it flightctl's API?", api.url),
            "the URL `flightctl login` takes (--api, fleet.flightctl.api)",
        ));
        return Ok(out);
    }
    out.push(finding(
        "flightctl-api",
        Level::Ok,
        format!(
            "{} answers{}",
            api.url,
            version
                .map(|v| format!(" (flightctl {v})"))
                .unwrap_or_default()
        ),
        "",
    ));
    if let Some(refused) = status(401).or_else(|| status(403)) {
        out.push(finding(
            "flightctl-token",
            Level::Fail,
            format!("{}: refused ({})", api.token_from, said(refused)),
            "a token the API takes, for a user who may read and patch the fleet (`flightctl login` gets one)",
        ));
        return Ok(out);
    }
    out.push(finding(
        "flightctl-token",
        Level::Ok,
        format!("{}: accepted", api.token_from),
        "",
    ));
    let Some(f) = docs.iter().find(|d| d["kind"] == "Fleet") else {
        out.push(finding(
            "flightctl-fleet",
            Level::Fail,
            status(404).map_or(format!("no fleet {fleet}"), |s| {
                format!("no fleet {fleet} ({})", said(s))
            }),
            "`flightctl get fleets` lists the fleets; --flightctl names one",
        ));
        return Ok(out);
    };
    let devices: Vec<&Value> = docs
        .iter()
        .find(|d| d["kind"] == "DeviceList")
        .and_then(|l| l["items"].as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    out.push(finding(
        "flightctl-fleet",
        Level::Ok,
        format!(
            "fleet {fleet}: template image {}, {} devices",
            f.pointer("/spec/template/spec/os/image")
                .and_then(Value::as_str)
                .unwrap_or("none"),
            devices.len()
        ),
        "",
    ));
    let mode = |d: &Value| {
        d.pointer("/status/capabilities/osMode")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let name = |d: &Value| d["metadata"]["name"].as_str().unwrap_or("?").to_string();
    let package: Vec<String> = devices
        .iter()
        .filter(|d| mode(d).as_deref() == Some("package"))
        .map(|d| name(d))
        .collect();
    let unsaid: Vec<String> = devices
        .iter()
        .filter(|d| mode(d).is_none())
        .map(|d| name(d))
        .collect();
    out.push(if !package.is_empty() {
        finding(
            "flightctl-devices",
            Level::Fail,
            format!("package-mode devices: {}", package.join(", ")),
            "they refuse an OS image and stall their batch: move them to a fleet without an OS image",
        )
    } else if !unsaid.is_empty() {
        finding(
            "flightctl-devices",
            Level::Warn,
            format!(
                "{} devices do not say their OS mode (an older agent): {}",
                unsaid.len(),
                unsaid.join(", ")
            ),
            "check they are image-mode (bootc) devices: `flightctl get device/NAME -o yaml`",
        )
    } else {
        finding(
            "flightctl-devices",
            Level::Ok,
            format!("all {} devices are image-mode", devices.len()),
            "",
        )
    });
    Ok(out)
}

/// `curl --version`: there, and which.
fn curl() -> Finding {
    match output("curl", &["--version"]) {
        Some(o) if o.status.success() => finding(
            "curl",
            Level::Ok,
            stdout_of(&o)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
            "",
        ),
        _ => finding(
            "curl",
            Level::Fail,
            "curl is not installed",
            super::probe::install_hint("curl", "curl"),
        ),
    }
}
