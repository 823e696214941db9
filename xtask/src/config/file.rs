//! The checked-in config file (`microshift-image.json`, the one file a fork edits): read,
//! checked against the declared inputs (`inputs.rs`) and their types, and its `images`
//! entries.

use std::collections::BTreeMap;

use camino::Utf8Path;
use serde_json::{Map, Value};

use crate::inputs::Kind;
use crate::validate::bad;

/// The config file at the repository root that a fork edits.
pub const CONFIG_FILE: &str = match crate::inputs::CONFIG.default {
    Some(file) => file,
    None => "microshift-image.json",
};

/// The largest config file read (a fork's config is a few kilobytes).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The parsed config file: a flat map from dotted keys to values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub path: String,
    values: BTreeMap<String, Value>,
}

impl Config {
    pub fn parse(path: &str, text: &str) -> anyhow::Result<Config> {
        // a key given twice would otherwise be the last one, silently
        serde_json::from_str::<NoDuplicates>(text)
            .map_err(|e| crate::validate::refuse(format!("{path}: not valid JSON: {e}")))?;
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| crate::validate::refuse(format!("{path}: not valid JSON: {e}")))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| crate::validate::refuse(format!("{path}: must be a JSON object")))?;
        let mut values = BTreeMap::new();
        flatten(path, obj, &mut values)?;
        for (key, value) in &values {
            // the keys are those of the declared inputs (inputs.rs)
            let Some(kind) = crate::inputs::by_key(key).map(|i| i.kind) else {
                let known: Vec<&str> = crate::inputs::ALL.iter().filter_map(|i| i.key).collect();
                return Err(crate::validate::refuse(format!(
                    "{path}: unknown key '{key}' (known keys: {})",
                    known.join(", ")
                )));
            };
            let ok = match (kind, value) {
                (_, Value::Null) => true,
                (Kind::Text, Value::String(_)) => true,
                (Kind::Number, Value::Number(n)) => n.is_u64(),
                (Kind::Number, Value::String(s)) => s.parse::<u64>().is_ok(),
                (Kind::List, Value::Array(items)) => items.iter().all(Value::is_string),
                (Kind::Images, Value::Array(_)) => true,
                (Kind::Bool, Value::Bool(_)) => true,
                _ => false,
            };
            if !ok {
                let want = match kind {
                    Kind::Text => "a string",
                    Kind::Number => "a whole number",
                    Kind::List => "a list of strings",
                    Kind::Images => "a list of objects",
                    Kind::Bool => "true or false",
                };
                return Err(bad(
                    &format!("{path}: {key}"),
                    &value.to_string(),
                    format!("must be {want}"),
                ));
            }
            let mut texts = Vec::new();
            collect_strings(value, &mut texts);
            for t in texts {
                crate::validate::no_control(&format!("{path}: {key}"), t)?;
            }
        }
        let config = Config {
            path: path.to_string(),
            values,
        };
        // the `images` entries are checked whole when the file is read, whatever is run
        config.images()?;
        Ok(config)
    }

    pub fn load(path: &Utf8Path) -> anyhow::Result<Config> {
        let bytes = crate::validate::read_bounded("--config", path, MAX_CONFIG_BYTES)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| crate::validate::bad("--config", path.as_str(), "is not UTF-8 text"))?;
        Config::parse(path.as_str(), &text)
    }

    /// A scalar value as text (numbers are turned into their decimal text).
    pub fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(bad(
                &format!("{}: {key}", self.path),
                &other.to_string(),
                "must be a string or a number",
            )),
        }
    }

    /// A list of strings.
    pub fn get_list(&self, key: &str) -> anyhow::Result<Option<Vec<String>>> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(bad(
                        &format!("{}: {key}", self.path),
                        &other.to_string(),
                        "must be a list of strings",
                    )),
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(bad(
                &format!("{}: {key}", self.path),
                &other.to_string(),
                "must be a list of strings",
            )),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }
}

/// The file's keys as dotted names: the objects `vm`, `lvm`, `disk`, `embed`, `device`,
/// `signing`, `builders`, `mirror`, `fleet`, `bundle` and `usb_updates` are opened, and
/// `fleet`'s `flightctl`, nothing
/// else.
fn flatten(
    path: &str,
    obj: &Map<String, Value>,
    out: &mut BTreeMap<String, Value>,
) -> anyhow::Result<()> {
    for (k, v) in obj {
        if k.contains('.') {
            return Err(crate::validate::refuse(format!(
                "{path}: unknown key '{k}' (a nested key goes inside its object, e.g. {{\"vm\": {{\"vcpus\": 4}}}})"
            )));
        }
        match (k.as_str(), v) {
            (
                "vm" | "lvm" | "disk" | "embed" | "device" | "signing" | "builders" | "mirror"
                | "fleet" | "bundle" | "usb_updates",
                Value::Object(inner),
            ) => {
                for (ik, iv) in inner {
                    // the fleet's flightctl keys, in their own object
                    match (k.as_str(), ik.as_str(), iv) {
                        ("fleet", "flightctl", Value::Object(deeper)) => {
                            for (dk, dv) in deeper {
                                out.insert(format!("fleet.flightctl.{dk}"), dv.clone());
                            }
                        }
                        ("fleet", "flightctl", Value::Null) => {}
                        ("fleet", "flightctl", other) => {
                            return Err(bad(
                                &format!("{path}: fleet.flightctl"),
                                &other.to_string(),
                                "must be an object",
                            ))
                        }
                        _ => {
                            out.insert(format!("{k}.{ik}"), iv.clone());
                        }
                    }
                }
            }
            (
                "vm" | "lvm" | "disk" | "embed" | "device" | "signing" | "builders" | "mirror"
                | "fleet" | "bundle" | "usb_updates",
                Value::Null,
            ) => {}
            (
                "vm" | "lvm" | "disk" | "embed" | "device" | "signing" | "builders" | "mirror"
                | "fleet" | "bundle" | "usb_updates",
                other,
            ) => {
                return Err(bad(
                    &format!("{path}: {k}"),
                    &other.to_string(),
                    "must be an object",
                ))
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// One entry of the config file's `images`: another image built with the same machinery
/// (e.g. an application layer on top of the MicroShift image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub containerfile: String,
    pub base_image: Option<String>,
    pub context: Option<String>,
    /// Embed MicroShift's container images in this image (`build --embed`).
    pub embed: Option<bool>,
}

impl Config {
    /// The `images` entries, validated.
    pub fn images(&self) -> anyhow::Result<Vec<ImageEntry>> {
        let Some(raw) = self.raw("images") else {
            return Ok(Vec::new());
        };
        let items = raw.as_array().ok_or_else(|| {
            crate::validate::refuse(format!("{}: images: must be a list of objects", self.path))
        })?;
        let mut out: Vec<ImageEntry> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let what = format!("{}: images[{i}]", self.path);
            let obj = item
                .as_object()
                .ok_or_else(|| crate::validate::refuse(format!("{what}: must be an object")))?;
            for key in obj.keys() {
                if !["name", "containerfile", "base_image", "context", "embed"]
                    .contains(&key.as_str())
                {
                    return Err(crate::validate::refuse(format!(
                        "{what}: unknown key '{key}' (known: name, containerfile, base_image, context, embed)"
                    )));
                }
            }
            let field = |k: &str| -> anyhow::Result<Option<String>> {
                match obj.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(other) => Err(bad(
                        &format!("{what}.{k}"),
                        &other.to_string(),
                        "must be a string",
                    )),
                }
            };
            let name = field("name")?
                .ok_or_else(|| crate::validate::refuse(format!("{what}: needs a name")))?;
            let name = crate::validate::image_name(&format!("{what}.name"), &name)?;
            if out.iter().any(|e| e.name == name) {
                return Err(bad(&format!("{what}.name"), &name, "listed twice"));
            }
            let containerfile = field("containerfile")?
                .ok_or_else(|| crate::validate::refuse(format!("{what}: needs a containerfile")))?;
            let base_image = field("base_image")?
                .map(|b| {
                    crate::validate::image_reference(
                        &format!("{what}.base_image"),
                        &crate::config::expand(&b, "amd64", "latest"),
                    )
                    .map(|_| b)
                })
                .transpose()?;
            let embed = match obj.get("embed") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(other) => {
                    return Err(bad(
                        &format!("{what}.embed"),
                        &other.to_string(),
                        "must be true or false",
                    ))
                }
            };
            out.push(ImageEntry {
                name,
                containerfile,
                base_image,
                context: field("context")?,
                embed,
            });
        }
        Ok(out)
    }
}

/// Any JSON document, read only to refuse an object that gives a key twice.
struct NoDuplicates;

impl<'de> serde::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = NoDuplicates;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut seen = std::collections::BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "the key '{key}' is given twice"
                        )));
                    }
                    map.next_value::<NoDuplicates>()?;
                }
                Ok(NoDuplicates)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<NoDuplicates>()?.is_some() {}
                Ok(NoDuplicates)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoDuplicates)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoDuplicates)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoDuplicates)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoDuplicates)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoDuplicates)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoDuplicates)
            }
        }
        d.deserialize_any(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors() {
        assert!(Config::parse("c", "{").is_err());
        assert!(Config::parse("c", "[]").is_err());
        let e = Config::parse("c", r#"{"imgae_name": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'imgae_name'"), "{e}");
        let c = Config::parse("c", r#"{"vm": {"vcpus": 4}}"#).unwrap();
        assert_eq!(c.get("vm.vcpus").unwrap().as_deref(), Some("4"));
        assert!(Config::parse("c", r#"{"vm": {"cpus": 4}}"#).is_err());
        // types are checked when the file is read, whatever is used
        let e = Config::parse("c", r#"{"image_name": true}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image_name") && e.contains("must be a string"),
            "{e}"
        );
        // a number is a number, given as one or as a string of digits
        assert!(Config::parse("c", r#"{"vm": {"vcpus": "4"}}"#).is_ok());
        assert!(Config::parse("c", r#"{"vm": {"vcpus": "two"}}"#).is_err());
        let e = Config::parse("c", r#"{"image_name": "a", "image_name": "b"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("image_name") && e.contains("twice"), "{e}");
        assert!(Config::parse("c", r#"{"vm": {"vcpus": 2, "vcpus": 4}}"#).is_err());
        let e = Config::parse(
            "c",
            r#"{"images": [{"name": "a", "containerfile": "c", "colour": 1}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown key 'colour'"), "{e}");
        assert!(Config::parse("c", r#"{"vm": {"vcpus": -1}}"#).is_err());
        assert!(Config::parse("c", r#"{"architectures": "amd64"}"#).is_err());
        let e = Config::parse("c", r#"{"vm": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("vm") && e.contains("must be an object"), "{e}");
        let e = Config::parse("c", r#"{"vm.vcpus": 8, "vm": {"vcpus": 2}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'vm.vcpus'"), "{e}");
        // issue 30: the fleet's keys, in their object
        let c = Config::parse(
            "c",
            r#"{"fleet": {"inventory": "hosts.ini", "waves": ["1", "10%", "100%"], "max_failed": "5%", "parallel": 20}}"#,
        )
        .unwrap();
        assert_eq!(c.get("fleet.parallel").unwrap().as_deref(), Some("20"));
        assert_eq!(
            c.get_list("fleet.waves").unwrap().unwrap(),
            ["1", "10%", "100%"]
        );
        assert!(Config::parse("c", r#"{"fleet": {"parallel": "many"}}"#).is_err());
        assert!(Config::parse("c", r#"{"fleet": {"wave": ["1"]}}"#).is_err());
        assert!(Config::parse("c", r#"{"fleet": "hosts.ini"}"#).is_err());
        // issue 31: flightctl's keys, in the fleet's object
        let c = Config::parse(
            "c",
            r#"{"fleet": {"inventory": "hosts.ini", "flightctl": {"api": "https://api.example.com", "ca": "ca.pem", "token_file": "token", "timeout": "2h"}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.get("fleet.flightctl.api").unwrap().as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            c.get("fleet.flightctl.timeout").unwrap().as_deref(),
            Some("2h")
        );
        assert_eq!(
            c.get("fleet.inventory").unwrap().as_deref(),
            Some("hosts.ini")
        );
        let e = Config::parse("c", r#"{"fleet": {"flightctl": {"url": "x"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'fleet.flightctl.url'"), "{e}");
        let e = Config::parse("c", r#"{"fleet": {"flightctl": "https://x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fleet.flightctl") && e.contains("must be an object"),
            "{e}"
        );
        let e = Config::parse("c", "{\"image_name\": \"a\\rb\"}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("control character"), "{e}");
    }
}
