//! What `ansible-inventory --list` prints, read as data (never our own parser of the
//! inventory's formats), and the waves Ansible makes of the hosts (`serial`).

use serde_json::{Map, Value};

use crate::validate::bad;

/// A host of the inventory: its name and the variables Ansible gives it (its own and its
/// groups', as `ansible-inventory --list` resolves them).
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    pub vars: Map<String, Value>,
}

/// The hosts of `ansible-inventory --list` output, sorted by name (the play's `order:
/// sorted`). A host with no variables is only in its groups' `hosts`; one with variables is
/// in `_meta.hostvars` too.
pub fn hosts(doc: &Value) -> anyhow::Result<Vec<Host>> {
    let Some(groups) = doc.as_object() else {
        anyhow::bail!("ansible-inventory printed no JSON object");
    };
    let hostvars = doc
        .pointer("/_meta/hostvars")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut names: Vec<String> = hostvars.keys().cloned().collect();
    for (group, body) in groups {
        if group == "_meta" {
            continue;
        }
        for h in body
            .get("hosts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = h.as_str() {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .map(|name| Host {
            vars: hostvars
                .get(&name)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            name,
        })
        .collect())
}

/// One wave's size, as `serial` takes it: a number of hosts, or a percentage of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaveSize {
    Count(u64),
    Percent(u64),
}

impl WaveSize {
    /// `3` or `10%`: a count from 1, a percentage from 1% to 100%.
    pub fn parse(what: &str, value: &str) -> anyhow::Result<WaveSize> {
        let v = value.trim();
        let why = "not a count or a percentage of the hosts: give wave sizes such as 1,10%,100%";
        match v.strip_suffix('%') {
            Some(p) => match p.parse::<u64>() {
                Ok(n) if (1..=100).contains(&n) => Ok(WaveSize::Percent(n)),
                Ok(_) => Err(bad(what, value, "a percentage goes from 1% to 100%")),
                Err(_) => Err(bad(what, value, why)),
            },
            None => match v.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(WaveSize::Count(n)),
                Ok(_) => Err(bad(what, value, "a wave has at least one host")),
                Err(_) => Err(bad(what, value, why)),
            },
        }
    }

    /// As the play's `serial` list holds it: a number, or a string such as "10%".
    pub fn to_json(self) -> Value {
        match self {
            WaveSize::Count(n) => Value::from(n),
            WaveSize::Percent(p) => Value::from(format!("{p}%")),
        }
    }

    /// As typed: `3`, `10%`.
    pub fn text(self) -> String {
        match self {
            WaveSize::Count(n) => n.to_string(),
            WaveSize::Percent(p) => format!("{p}%"),
        }
    }
}

/// The waves Ansible makes of `n` hosts with this `serial` list: each size in turn, the last
/// repeated until every host had its turn; a percentage is of all `n` hosts, rounded down,
/// at least one (ansible-core's `pct_to_int`).
pub fn wave_sizes(n: usize, serial: &[WaveSize]) -> Vec<usize> {
    let mut left = n;
    let mut sizes = Vec::new();
    let mut i = 0;
    while left > 0 {
        let size = match serial.get(i).or(serial.last()) {
            None => left,
            Some(WaveSize::Count(c)) => usize::try_from(*c).unwrap_or(usize::MAX),
            // in floating point, as Python computes it: 29% of 100 hosts is 28
            Some(WaveSize::Percent(p)) => (((*p as f64) / 100.0 * n as f64) as usize).max(1),
        };
        let take = size.min(left);
        sizes.push(take);
        left -= take;
        i += 1;
    }
    sizes
}

/// The share of failed devices Ansible allows: `0%` to `100%` (a bare number is a
/// percentage too, as `max_fail_percentage` takes it).
pub fn max_failed(what: &str, value: &str) -> anyhow::Result<u64> {
    let v = value.trim();
    let n = v.strip_suffix('%').unwrap_or(v);
    match n.parse::<u64>() {
        Ok(p) if p <= 100 => Ok(p),
        Ok(_) => Err(bad(
            what,
            value,
            "over 100%: give the share of a wave's devices that may fail, 0% to 100%",
        )),
        Err(_) => Err(bad(
            what,
            value,
            "not a percentage: give the share of a wave's devices that may fail, e.g. 0% or 10%",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The waves of ansible-core's `_get_serialized_batches` for the same hosts.
    #[test]
    fn waves_as_ansible_makes_them() {
        let w = |s: &str| {
            s.split(',')
                .map(|v| WaveSize::parse("--waves", v).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(wave_sizes(6, &w("1,2,100%")), [1, 2, 3]);
        assert_eq!(wave_sizes(20, &w("1,10%,100%")), [1, 2, 17]);
        // 10% of 6 is 0.6: rounded down, at least one; the last size repeats
        assert_eq!(wave_sizes(6, &w("1,10%")), [1, 1, 1, 1, 1, 1]);
        assert_eq!(wave_sizes(5, &w("2")), [2, 2, 1]);
        assert_eq!(wave_sizes(3, &w("100%")), [3]);
        assert_eq!(wave_sizes(2, &w("1,5,100%")), [1, 1]);
        assert!(wave_sizes(0, &w("1")).is_empty());
        // int((29 / 100.0) * 100) is 28 in Python
        assert_eq!(wave_sizes(100, &w("29%"))[0], 28);
        for no in ["0", "x", "", "0%", "101%", "-1", "1.5", "%"] {
            assert!(WaveSize::parse("--waves", no).is_err(), "{no:?}");
        }
        assert_eq!(max_failed("m", "0%").unwrap(), 0);
        assert_eq!(max_failed("m", "25").unwrap(), 25);
        assert!(max_failed("m", "101%").is_err());
        assert!(max_failed("m", "ten").is_err());
    }

    #[test]
    fn hosts_from_groups_and_hostvars() {
        let doc: Value = serde_json::from_str(
            r#"{"_meta": {"hostvars": {"b": {"ansible_host": "10.0.0.2"}}},
                "all": {"children": ["ungrouped", "edge"]},
                "edge": {"hosts": ["c", "b"]}, "ungrouped": {"hosts": ["a"]}}"#,
        )
        .unwrap();
        let hosts = hosts(&doc).unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(hosts[1].vars["ansible_host"], "10.0.0.2");
        assert!(hosts[0].vars.is_empty());
    }
}
