//! The rollout as a JUnit report, for CI: one test case per device (its wave the class),
//! a failure with its reason for each device that rolled back, is gone or failed, an error
//! for each device whose upgrade was interrupted (its state unknown), a skipped case for
//! each device the rollout did not touch.

use serde_json::Value;

/// XML's five escapes, as for both text and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters, nor for U+FFFE and U+FFFF
            // (a parser refuses the whole file)
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push(' '),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML of a fleet report ([`super::judge`]'s document).
pub fn junit(report: &Value) -> Option<String> {
    let devices = report.get("devices")?.as_array()?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let count = |f: &dyn Fn(&str) -> bool| {
        devices
            .iter()
            .filter(|d| f(d["verdict"].as_str().unwrap_or("")))
            .count()
    };
    let failures = count(&|v| matches!(v, "rolled_back" | "gone" | "failed"));
    let skipped = count(&|v| v == "not_touched");
    let errors = count(&|v| v == "interrupted");
    // (a sum of no time is -0.0: 0.0 added makes it 0)
    let time: f64 = devices
        .iter()
        .filter_map(|d| d["seconds"].as_f64())
        .sum::<f64>()
        + 0.0;
    let waves = report["wave_count"].as_u64().unwrap_or(0);
    // flightctl's batches take the place of Ansible's waves
    let unit = report["unit"].as_str().unwrap_or("wave");
    let last = report["last_wave_run"].as_u64().unwrap_or(0);
    let suite = format!("rollout of {}", text(report, "image"));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"cargo xtask rollout\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
        devices.len()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\">\n",
        escape(&suite),
        devices.len()
    ));
    for d in devices {
        let verdict = text(d, "verdict");
        let mut case = format!(
            "    <testcase classname=\"rollout.{unit}-{}\" name=\"{}\"",
            d["wave"],
            escape(&text(d, "host"))
        );
        if let Some(s) = d["seconds"].as_f64() {
            case.push_str(&format!(" time=\"{s:.3}\""));
        }
        let digests = format!(
            "{} {} -> {}",
            d["architecture"].as_str().unwrap_or("unknown"),
            d["before"].as_str().unwrap_or("none"),
            d["after"].as_str().unwrap_or("none")
        );
        match verdict.as_str() {
            "upgraded" | "skipped" => {
                let what = if verdict == "skipped" {
                    "skipped: already on the pinned digest"
                } else {
                    "upgraded"
                };
                case.push_str(&format!(
                    ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                    escape(&format!("{what}: {digests}"))
                ));
            }
            "not_touched" => {
                let why = if last == 0 {
                    format!("not touched: no {unit} ran")
                } else {
                    format!("not touched: the rollout stopped after {unit} {last}/{waves}")
                };
                case.push_str(&format!(
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    escape(&why)
                ));
            }
            "interrupted" => {
                let reason = text(d, "reason");
                case.push_str(&format!(
                    ">\n      <error type=\"interrupted\" message=\"{}\"/>\n    </testcase>\n",
                    escape(&format!("interrupted: {reason}"))
                ));
            }
            _ => {
                let label = verdict.replace('_', " ");
                let reason = text(d, "reason");
                case.push_str(&format!(
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(&verdict),
                    escape(&format!("{label}: {reason}")),
                    escape(&format!("{label}: {reason}\n{digests}"))
                ));
            }
        }
        out.push_str(&case);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    Some(out)
}
