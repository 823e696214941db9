//! Input validation. Every check returns a [`BadInput`] naming the flag (and where the value
//! came from) and the value, so the user gets one clear line and exit code 2.

use std::fmt;

pub use crate::error::BadInput;

/// A [`BadInput`] error with this one-line message (which must not quote a secret).
pub fn refuse(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(message.into()))
}

/// Build a [`BadInput`] error for `what` (a flag, possibly with its source) and `value`.
pub fn bad(what: &str, value: &str, why: impl fmt::Display) -> anyhow::Error {
    refuse(format!("{what}: {}: {why}", show(value)))
}

/// Show a user value in an error: quoted, control characters escaped, long values cut.
pub fn show(value: &str) -> String {
    let mut s: String = value
        .chars()
        .take(80)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if value.chars().count() > 80 {
        s.push('…');
    }
    format!("'{s}'")
}

/// One path component of an OCI repository name:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run: ".", "_", "__" or "-+", followed by an alphanumeric
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn path_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("must not be empty");
    }
    if value.contains("://") {
        return Some("must not contain a scheme");
    }
    if value.chars().any(|c| c.is_ascii_uppercase()) {
        return Some("must be lowercase");
    }
    if value.starts_with('/') || value.ends_with('/') || value.contains("//") {
        return Some("must not start or end with '/' or contain '//'");
    }
    if value.split('/').any(|c| c == ".." || c == ".") {
        return Some("must not contain '.' or '..' components");
    }
    if !value.split('/').all(is_path_component) {
        return Some("each '/'-separated part must be lowercase letters and digits, joined by '.', '_', '__' or '-'");
    }
    if value.len() > 255 {
        return Some("is longer than 255 characters");
    }
    None
}

/// An image repository name without registry or tag, e.g. `microshift-4.16-bootc`.
pub fn image_name(what: &str, value: &str) -> anyhow::Result<String> {
    if value.contains(':') || value.contains('@') {
        return Err(bad(
            what,
            value,
            "give the name without a tag or digest (tags are chosen per architecture)",
        ));
    }
    match path_problem(value) {
        Some(why) => Err(bad(what, value, format!("not a valid image name: {why}"))),
        None => Ok(value.to_string()),
    }
}

/// A registry organization path, e.g. `myorg/mypath`.
pub fn registry_org(what: &str, value: &str) -> anyhow::Result<String> {
    match path_problem(value) {
        Some(why) => Err(bad(
            what,
            value,
            format!("not a valid organization path: {why}"),
        )),
        None => Ok(value.to_string()),
    }
}

/// A registry host with an optional port, e.g. `quay.io`, `127.0.0.1:5000`, `[::1]:5000`.
pub fn registry_url(what: &str, value: &str) -> anyhow::Result<String> {
    if let Some((scheme, _)) = value.split_once("://") {
        return Err(bad(
            what,
            value,
            format!("give the registry host without the '{scheme}://' scheme"),
        ));
    }
    if value.contains('/') {
        return Err(bad(
            what,
            value,
            "give only the registry host[:port]; the organization path goes in --registry-org",
        ));
    }
    if !is_host_port(value) {
        return Err(bad(what, value, "not a valid registry host[:port]"));
    }
    // containers/image reads `index.docker.io/...` as `docker.io/...`: a device's signature
    // policy, registries.conf and mirror entries written under the name given would never
    // apply (and a policy entry accepting docker.io would take the image unsigned)
    if value == "index.docker.io" {
        return Err(bad(
            what,
            value,
            "podman and containers/image name this registry docker.io (policy, registries.conf and mirror entries for index.docker.io never apply): give docker.io",
        ));
    }
    Ok(value.to_string())
}

fn is_host_port(value: &str) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => {
                if !h.chars().all(|c| c.is_ascii_hexdigit() || c == ':') || h.is_empty() {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => (None, Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match value.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(value), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty()
            || p.len() > 5
            || !p.chars().all(|c| c.is_ascii_digit())
            || p.parse::<u32>().map_or(true, |n| n == 0 || n > 65535)
        {
            return false;
        }
    }
    match host {
        None => true,
        Some(h) => {
            !h.is_empty()
                && h.len() <= 253
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        }
    }
}

/// A full image reference such as `registry.redhat.io/rhel9/rhel-bootc:9.4` or one with
/// `@sha256:...`. The name must be lowercase; the first part may be a registry host.
pub fn image_reference(what: &str, value: &str) -> anyhow::Result<String> {
    let fail = |why: &str| {
        Err(bad(
            what,
            value,
            format!("not a valid image reference: {why}"),
        ))
    };
    if value.contains("://") {
        return fail("drop the scheme");
    }
    if value.chars().any(char::is_whitespace) || value.is_empty() {
        return fail("must be non-empty without spaces");
    }
    let (name, tag, digest) = reference_parts(value);
    if let Some(d) = digest {
        if !is_digest(d) {
            return fail("the digest must look like sha256:<64 hex digits>");
        }
    }
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return fail("bad tag");
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    let has_domain = parts.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.starts_with('['));
    if has_domain {
        if !is_host_port(first) {
            return fail("bad registry host");
        }
        parts.remove(0);
    }
    match path_problem(&parts.join("/")) {
        Some(why) => fail(why),
        None => Ok(value.to_string()),
    }
}

/// An image reference's parts, unchecked: the repository (no tag, no digest), the tag (after
/// the last ':' that follows the last '/'), the digest (after '@').
pub fn reference_parts(value: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match value.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (value, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(i) => (
            &rest[..last_slash + i],
            Some(&rest[last_slash + i + 1..]),
            digest,
        ),
        None => (rest, None, digest),
    }
}

/// An image reference skopeo can copy: a tag or a digest, not both (`name:tag@sha256:...`
/// is valid for podman, which drops the tag, and refused by skopeo).
pub fn single_reference(what: &str, value: &str) -> anyhow::Result<String> {
    let value = image_reference(what, value)?;
    if let (_, Some(_), Some(_)) = reference_parts(&value) {
        return Err(bad(
            what,
            &value,
            "has both a tag and a digest, which skopeo refuses: keep the digest (name@sha256:...)",
        ));
    }
    Ok(value)
}

/// An image digest registries accept: `sha256:` and 64 lowercase hex digits (or `sha512:`
/// and 128).
pub fn is_digest(d: &str) -> bool {
    d.split_once(':').is_some_and(|(algo, hex)| {
        let len = match algo {
            "sha256" => 64,
            "sha512" => 128,
            _ => return false,
        };
        hex.len() == len
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// A MicroShift minor version such as `4.16`.
pub fn microshift_version(what: &str, value: &str) -> anyhow::Result<String> {
    let ok = value.split_once('.').is_some_and(|(a, b)| {
        [a, b]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
    });
    if ok {
        Ok(value.to_string())
    } else {
        Err(bad(
            what,
            value,
            "not a MicroShift version of the form MAJOR.MINOR, e.g. 4.16",
        ))
    }
}

/// A user password (or registry password): one non-empty line. A trailing newline (as from a
/// file written with `echo`) is dropped.
pub fn password(what: &str, value: &str) -> anyhow::Result<String> {
    let v = value.strip_suffix('\n').unwrap_or(value);
    let v = v.strip_suffix('\r').unwrap_or(v);
    // never echo the value of a secret in an error
    if v.is_empty() {
        return Err(refuse(format!("{what}: the password is empty")));
    }
    if v.contains('\n') || v.contains('\r') {
        return Err(refuse(format!(
            "{what}: the password has more than one line"
        )));
    }
    if v.contains('\0') {
        return Err(refuse(format!("{what}: the password contains a NUL byte")));
    }
    Ok(v.to_string())
}

/// A size with a binary unit suffix as `truncate` and `qemu-img` take it: `1G`, `512M`.
/// Returns bytes.
pub fn size(what: &str, value: &str, min_bytes: u64) -> anyhow::Result<u64> {
    let (num, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let mult: u64 = match unit {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        _ => {
            return Err(bad(
                what,
                value,
                "not a size: use a whole number with K, M, G or T, e.g. 1G",
            ))
        }
    };
    let n: u64 = num.parse().map_err(|_| {
        bad(
            what,
            value,
            "not a size: use a whole number with K, M, G or T, e.g. 1G",
        )
    })?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| bad(what, value, "too large"))?;
    if bytes < min_bytes {
        return Err(bad(
            what,
            value,
            format!("too small: at least {}", human(min_bytes)),
        ));
    }
    Ok(bytes)
}

/// A whole number in `min..=max`.
pub fn count(what: &str, value: &str, min: u64, max: u64) -> anyhow::Result<u64> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(bad(what, value, format!("must be between {min} and {max}"))),
        Err(_) => Err(bad(what, value, "not a whole number")),
    }
}

/// A duration: `90`, `90s`, `15m`, `1h`. Returns seconds.
pub fn duration(what: &str, value: &str) -> anyhow::Result<u64> {
    let (num, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad(what, value, "not a duration: use e.g. 90s, 15m or 1h")),
    };
    match num.parse::<u64>() {
        Ok(n) if n > 0 && n.saturating_mul(mult) <= 7 * 24 * 3600 => Ok(n * mult),
        _ => Err(bad(
            what,
            value,
            "not a duration between 1s and a week: use e.g. 90s, 15m or 1h",
        )),
    }
}

/// A name for a container, VM, volume group or network: letters, digits, `_.-`.
pub fn simple_name(what: &str, value: &str) -> anyhow::Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(bad(
            what,
            value,
            "use letters, digits, '_', '.' and '-', starting with a letter or digit",
        ))
    }
}

/// Read a regular file of at most `max` bytes (a device such as /dev/zero, or a file that
/// keeps growing, is refused instead of filling memory). What the path names is looked at
/// before it is opened: opening a FIFO waits for a writer, forever (and a device's open may
/// act), so anything but a regular file (through its links) is refused unopened; the file
/// opened must be the one looked at.
pub fn read_bounded(what: &str, path: &camino::Utf8Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let cannot = |e: std::io::Error| bad(what, path.as_str(), format!("cannot read: {e}"));
    let before = std::fs::metadata(path).map_err(cannot)?;
    if !before.is_file() {
        return Err(bad(what, path.as_str(), "not a regular file"));
    }
    let f = std::fs::File::open(path).map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    if !meta.is_file() || (meta.dev(), meta.ino()) != (before.dev(), before.ino()) {
        return Err(bad(
            what,
            path.as_str(),
            "changed while it was read (another file took its place)",
        ));
    }
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(what, path.as_str(), format!("cannot read: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(bad(
            what,
            path.as_str(),
            format!("larger than {}: not the file this expects", human(max)),
        ));
    }
    Ok(bytes)
}

/// Free text (a value or a path) must hold no control character: one could hide what
/// follows it in a terminal, or end a line of a printed plan.
pub fn no_control(what: &str, value: &str) -> anyhow::Result<()> {
    if value.chars().any(char::is_control) {
        return Err(bad(
            what,
            value,
            "holds a control character (line break, carriage return, escape...)",
        ));
    }
    Ok(())
}

/// A value that ends up inside a comma-separated option (virt-install `--disk path=...`,
/// podman `--secret src=...`) cannot hold a comma.
pub fn no_comma(what: &str, value: &str, option: &str) -> anyhow::Result<()> {
    if value.contains(',') {
        return Err(bad(
            what,
            value,
            format!("holds a comma, which would split {option}"),
        ));
    }
    Ok(())
}

/// A build argument `NAME=VALUE` (`--build-arg`). Errors name the argument, never its
/// value: a value may be a secret given by mistake.
pub fn build_arg(what: &str, raw: &str) -> anyhow::Result<(String, String)> {
    let Some((k, v)) = raw.split_once('=') else {
        return Err(refuse(format!(
            "{what}: expected NAME=VALUE (the value is not shown)"
        )));
    };
    let name_ok = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(bad(
            what,
            k,
            "the name must be letters, digits and '_' (the value is not shown)",
        ));
    }
    if looks_secret(k) {
        return Err(bad(
            what,
            k,
            "looks like a secret; build arguments are stored in the image history. Mount it as a build secret instead",
        ));
    }
    if k == "BASE_IMAGE" || k == "MICROSHIFT_VERSION" {
        return Err(bad(
            what,
            k,
            "set it with --base-image / --microshift-version",
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(bad(
            what,
            k,
            "the value holds a control character (the value is not shown)",
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// One of a closed set of words.
pub fn one_of(what: &str, value: &str, allowed: &[&str]) -> anyhow::Result<String> {
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(bad(
            what,
            value,
            format!("use one of {}", allowed.join(", ")),
        ))
    }
}

/// Names that must not be build arguments or `ENV`: they end up in the image history.
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let words = [
        "PASS",
        "PWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "AUTH",
        "KEY",
        "PRIVATE",
    ];
    // ROOTPW, USER_PW: a part that is or ends in PW
    words.iter().any(|s| n.contains(s)) || n.split('_').any(|part| part.ends_with("PW"))
}

/// A character that changes how the text around it reads without showing itself: a control
/// character (a line break, a carriage return, an escape), a line or paragraph separator
/// (U+2028, U+2029), or an invisible formatting mark such as the bidirectional overrides
/// (U+202A to U+202E, U+2066 to U+2069) that can make a command read backwards.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}' | '\u{061c}' | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}')
}

/// Text with its hidden characters ([`is_hidden`]) shown escaped (`\n`, `\r`, `\u{1b}`,
/// `\u{202e}`): safe in a `#` comment of a printed plan (a line break would end it) and on a
/// terminal (a carriage return or an escape sequence would hide what follows).
pub fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_hidden(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// [`escape_controls`] line by line: a message of several lines keeps its lines, and what a
/// command said inside them (a device's words) cannot move the cursor, recolour the
/// terminal or hide what follows.
pub fn escape_lines(text: &str) -> String {
    text.split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "microshift-4.16-bootc",
            "a",
            "my_org/my.path",
            "a__b",
            "a---b",
        ] {
            assert!(path_problem(ok).is_none(), "{ok}");
        }
        for no in [
            "",
            "Upper",
            "a//b",
            "/a",
            "a/",
            "a/../b",
            "-a",
            "a-",
            "a..b",
            "a b",
            "a___b",
            "https://x",
        ] {
            assert!(path_problem(no).is_some(), "{no}");
        }
    }

    #[test]
    fn registries() {
        for ok in [
            "quay.io",
            "127.0.0.1:5000",
            "localhost:5001",
            "[::1]:5000",
            "Registry.Example.com",
        ] {
            assert!(registry_url("--registry-url", ok).is_ok(), "{ok}");
        }
        for no in [
            "https://quay.io",
            "quay.io/org",
            "",
            "host:0",
            "host:99999",
            "ho st",
            "-a.com",
        ] {
            assert!(registry_url("--registry-url", no).is_err(), "{no}");
        }
    }

    #[test]
    fn references() {
        for ok in [
            "registry.redhat.io/rhel9/rhel-bootc:9.4",
            "localhost/base:linux-amd64",
            "127.0.0.1:5000/a/b:latest",
            "busybox",
            "quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image_reference("--base-image", ok).is_ok(), "{ok}");
        }
        for no in [
            "docker://quay.io/a",
            "quay.io/A/b",
            "quay.io/a:b:c",
            "a b",
            "quay.io/a@sha256:xyz",
            "quay.io/a@md5:0123456789abcdef0123456789abcdef",
            "quay.io/a@sha256:0123456789abcdef0123456789abcdef",
            "",
        ] {
            assert!(image_reference("--base-image", no).is_err(), "{no}");
        }
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size("--x", "1G", 0).unwrap(), 1 << 30);
        assert!(size("--x", "1.5G", 0).is_err());
        assert!(size("--x", "1M", 1 << 30).is_err());
        assert!(size("--x", "99999999999T", 0).is_err());
        assert_eq!(duration("--t", "15m").unwrap(), 900);
        assert_eq!(duration("--t", "90").unwrap(), 90);
        assert!(duration("--t", "0").is_err());
        assert!(duration("--t", "1d").is_err());
    }

    #[test]
    fn passwords_never_echo() {
        let e = password("USER_PASSWD", "a\nb").unwrap_err().to_string();
        assert!(!e.contains('a'.to_string().as_str()) || !e.contains("a\nb"));
        assert_eq!(password("X", "pw\n").unwrap(), "pw");
        assert!(password("X", "\n").is_err());
    }
}
