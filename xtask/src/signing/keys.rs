//! Key files, read whole: every PEM block and every OpenPGP packet, binary or inside ASCII
//! armor. A public key file is built into the image (mode 0644) and into kickstarts, so one
//! that also holds a private key — a public PEM block followed by a private one, a
//! `gpg --export` with secret-key packets appended — must be refused, wherever in the file
//! the private part sits.

use camino::Utf8Path;

use super::Method;
use crate::config::Sources;
use crate::validate::{self, bad};

/// What a key file is, by the key it holds (a private one, when it holds both).
#[derive(Debug, PartialEq, Eq)]
pub enum KeyKind {
    SigstorePrivate,
    SigstorePublic,
    GpgPublic,
    GpgPrivate,
    /// Another PEM or unknown bytes.
    Other,
}

/// OpenPGP packet tags (RFC 4880, section 4.3).
const SECRET_KEY: u8 = 5;
const PUBLIC_KEY: u8 = 6;
const SECRET_SUBKEY: u8 = 7;
const COMPRESSED: u8 = 8;
const PUBLIC_SUBKEY: u8 = 14;

/// What a key file holds, read through to its end.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyFile {
    /// The labels of its PEM blocks (`PUBLIC KEY`, `PGP PUBLIC KEY BLOCK`, ...), wherever
    /// their `-----BEGIN` line is.
    pub pem: Vec<String>,
    /// The tags of its OpenPGP packets, binary or armored, in order.
    pub packets: Vec<u8>,
    /// Why part of it could not be read through (a cut packet, armor that is not base64,
    /// binary bytes outside any block, a compressed packet): what it hides is unknown.
    pub unreadable: Option<String>,
    /// Private keys of formats without a BEGIN line, in words (see [`PRIVATE_MARKERS`]).
    pub markers: Vec<String>,
}

/// How private keys of other formats than PEM and OpenPGP begin, wherever they are in the
/// file: PuTTY's `.ppk`, and gpg-agent's own key files (`private-keys-v1.d/*.key`, the
/// S-expression of libgcrypt, in its extended format after `Key:`).
const PRIVATE_MARKERS: &[(&str, &str)] = &[
    (
        "PuTTY-User-Key-File-",
        "a PuTTY private key (`PuTTY-User-Key-File-`)",
    ),
    ("(private-key", "a gpg-agent private key (`(private-key`)"),
    (
        "(protected-private-key",
        "a gpg-agent private key (`(protected-private-key`)",
    ),
    (
        "(shadowed-private-key",
        "a gpg-agent private key stub (`(shadowed-private-key`)",
    ),
];

impl KeyFile {
    pub fn scan(bytes: &[u8]) -> KeyFile {
        let mut file = KeyFile {
            pem: pem_labels(bytes),
            markers: PRIVATE_MARKERS
                .iter()
                .filter(|(m, _)| find(bytes, m.as_bytes()).is_some())
                .map(|(_, said)| said.to_string())
                .collect(),
            ..KeyFile::default()
        };
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        let result = if bytes.get(start).is_some_and(|b| b & 0x80 != 0) {
            // binary: packets from the first byte to the last
            packets(&bytes[start..]).map(|tags| file.packets.extend(tags))
        } else {
            text(bytes, &mut file.packets)
        };
        if let Err(why) = result {
            file.unreadable = Some(why);
        } else if file.packets.contains(&COMPRESSED) {
            file.unreadable =
                Some("a compressed OpenPGP packet, tag 8, which is not looked into".into());
        }
        file
    }

    /// The private key material in the file, in words; `None` when it has none.
    pub fn private(&self) -> Option<String> {
        let mut found: Vec<String> = self
            .pem
            .iter()
            .filter(|l| l.to_ascii_uppercase().contains("PRIVATE"))
            .map(|l| format!("a block `BEGIN {l}`"))
            .collect();
        found.dedup();
        found.extend(self.markers.iter().cloned());
        let secret: Vec<String> = [SECRET_KEY, SECRET_SUBKEY]
            .iter()
            .filter(|t| self.packets.contains(t))
            .map(|t| match *t {
                SECRET_KEY => "tag 5 (a secret key)".to_string(),
                _ => "tag 7 (a secret subkey)".to_string(),
            })
            .collect();
        if !secret.is_empty() {
            found.push(format!(
                "OpenPGP secret-key packets, {}",
                secret.join(" and ")
            ));
        }
        (!found.is_empty()).then(|| found.join(" and "))
    }

    /// Does it hold a public key (a PEM public key, OpenPGP public key packets)?
    pub fn has_public(&self) -> bool {
        self.pem
            .iter()
            .any(|l| l == "PUBLIC KEY" || l == "PGP PUBLIC KEY BLOCK")
            || self
                .packets
                .iter()
                .any(|t| matches!(*t, PUBLIC_KEY | PUBLIC_SUBKEY))
    }

    /// What it is: a private key when it holds one anywhere.
    pub fn kind(&self) -> KeyKind {
        let label = |l: &str| self.pem.iter().any(|p| p == l);
        if label("ENCRYPTED COSIGN PRIVATE KEY")
            || label("ENCRYPTED SIGSTORE PRIVATE KEY")
            || self
                .pem
                .iter()
                .any(|l| l.contains("PRIVATE KEY") && !l.starts_with("PGP "))
        {
            KeyKind::SigstorePrivate
        } else if label("PGP PRIVATE KEY BLOCK")
            || self
                .packets
                .iter()
                .any(|t| matches!(*t, SECRET_KEY | SECRET_SUBKEY))
        {
            KeyKind::GpgPrivate
        } else if label("PGP PUBLIC KEY BLOCK") || self.packets.first() == Some(&PUBLIC_KEY) {
            KeyKind::GpgPublic
        } else if label("PUBLIC KEY") {
            KeyKind::SigstorePublic
        } else {
            KeyKind::Other
        }
    }
}

/// What a key file's bytes say it is (see [`KeyFile::kind`]).
pub fn key_kind(bytes: &[u8]) -> KeyKind {
    KeyFile::scan(bytes).kind()
}

/// The label of every `-----BEGIN LABEL-----` in the bytes, wherever it is, and of every
/// `---- BEGIN LABEL ----` (RFC 4716: SSH2 keys, as ssh.com and PuTTY export them).
fn pem_labels(bytes: &[u8]) -> Vec<String> {
    const BEGIN: &[u8] = b"----BEGIN ";
    const SSH2: &[u8] = b"---- BEGIN ";
    let mut labels = Vec::new();
    for begin in [BEGIN, SSH2] {
        let mut at = 0;
        while let Some(i) = find(&bytes[at..], begin) {
            let from = at + i + begin.len();
            let rest = &bytes[from..bytes.len().min(from + 80)];
            if let Some(end) = find(rest, b"----") {
                labels.push(String::from_utf8_lossy(&rest[..end]).trim().to_string());
            }
            at = from;
        }
    }
    labels
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A text key file: text outside the PEM blocks (comments), each block whole (its END line
/// there), the packets of each armored OpenPGP block (`-----BEGIN PGP ...`) read.
fn text(bytes: &[u8], tags: &mut Vec<u8>) -> Result<(), String> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| "binary data outside its key blocks".to_string())?;
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("control characters outside its key blocks".into());
    }
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    while let Some(line) = lines.next() {
        // a BEGIN line wherever it starts (text before it, `> ` quoting): its block is read
        // as any other, and armor that is not base64 then is not read through
        let Some(label) = line
            .split_once("-----BEGIN ")
            .and_then(|(_, l)| l.split_once("-----"))
            .map(|(l, _)| l)
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Vec::new();
        let mut ended = false;
        for l in lines.by_ref() {
            if l.contains(&end) {
                ended = true;
                break;
            }
            body.push(l);
        }
        if !ended {
            return Err(format!(
                "a block `-----BEGIN {label}-----` without its END line"
            ));
        }
        if label.starts_with("PGP ") {
            let data = dearmor(&body).map_err(|e| format!("in its block `{label}`, {e}"))?;
            tags.extend(packets(&data).map_err(|e| format!("in its block `{label}`, {e}"))?);
        }
    }
    Ok(())
}

/// The bytes of an ASCII-armored block's lines (RFC 4880, section 6.2): its header lines
/// (`Key: value`) and blank lines left out, base64 up to the checksum line (`=XXXX`), after
/// which only the END line may come.
fn dearmor(lines: &[&str]) -> Result<Vec<u8>, String> {
    let mut data = String::new();
    let mut lines = lines.iter().map(|l| l.trim());
    for line in lines.by_ref() {
        if line.is_empty() || line.contains(": ") || line.ends_with(':') {
            continue;
        }
        if line.starts_with('=') {
            break;
        }
        data.push_str(line);
    }
    if lines.any(|l| !l.is_empty()) {
        return Err("armor with more after its checksum line".into());
    }
    base64(&data)
}

/// Standard base64 (`=` padding at the end only).
fn base64(text: &str) -> Result<Vec<u8>, String> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return Err("armor that is not base64 (too much padding)".into());
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in body.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("armor that is not base64 (a {:?})", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err("armor that is not base64 (a dangling character)".into());
    }
    Ok(out)
}

/// The tags of the OpenPGP packets that make up `data` (RFC 4880, section 4.2: old and new
/// packet formats; one-, two-, five-octet and partial body lengths; an old packet of
/// indeterminate length runs to the end), or why they do not.
fn packets(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut tags = Vec::new();
    let mut i = 0;
    let cut = |at: usize| format!("an OpenPGP packet cut short at byte {at}");
    while i < data.len() {
        let header = data[i];
        let at = i;
        if header & 0x80 == 0 {
            return Err(format!("byte {at}, which does not start an OpenPGP packet"));
        }
        i += 1;
        let tag = if header & 0x40 != 0 {
            // new format: the body in one piece, or in partial pieces, each with a length
            loop {
                let first = *data.get(i).ok_or_else(|| cut(at))?;
                i += 1;
                let (len, partial) = match first {
                    0..=191 => (usize::from(first), false),
                    192..=223 => {
                        let second = *data.get(i).ok_or_else(|| cut(at))?;
                        i += 1;
                        (
                            ((usize::from(first) - 192) << 8) + usize::from(second) + 192,
                            false,
                        )
                    }
                    224..=254 => (1usize << (first & 0x1f), true),
                    255 => {
                        let b = data.get(i..i + 4).ok_or_else(|| cut(at))?;
                        i += 4;
                        (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, false)
                    }
                };
                i = i
                    .checked_add(len)
                    .filter(|e| *e <= data.len())
                    .ok_or_else(|| cut(at))?;
                if !partial {
                    break;
                }
            }
            header & 0x3f
        } else {
            let len = match header & 0x03 {
                0 => usize::from(*data.get(i).ok_or_else(|| cut(at))?),
                1 => {
                    let b = data.get(i..i + 2).ok_or_else(|| cut(at))?;
                    usize::from(u16::from_be_bytes([b[0], b[1]]))
                }
                2 => {
                    let b = data.get(i..i + 4).ok_or_else(|| cut(at))?;
                    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
                }
                // indeterminate: to the end of the data
                _ => data.len() - i,
            };
            i += [1, 2, 4, 0][usize::from(header & 0x03)];
            i = i
                .checked_add(len)
                .filter(|e| *e <= data.len())
                .ok_or_else(|| cut(at))?;
            (header >> 2) & 0x0f
        };
        if tag == 0 {
            return Err(format!(
                "an OpenPGP packet with the reserved tag 0 at byte {at}"
            ));
        }
        tags.push(tag);
    }
    Ok(tags)
}

/// A sigstore private key file: the user's own, readable by nobody else, and a private key.
pub(super) fn private_key(what: &str, path: &Utf8Path, sources: &Sources) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| bad(what, path.as_str(), format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(bad(what, path.as_str(), "not a regular file"));
    }
    // what it is first: a public key given here is the common mistake
    let bytes = validate::read_bounded(what, path, 64 << 10)?;
    match key_kind(&bytes) {
        KeyKind::SigstorePrivate => {}
        KeyKind::SigstorePublic | KeyKind::GpgPublic => {
            return Err(bad(
                what,
                path.as_str(),
                "is a public key: --sign-by takes the private key (the public key goes to --sign-public-key)",
            ))
        }
        KeyKind::GpgPrivate => {
            return Err(bad(
                what,
                path.as_str(),
                "is a GPG key: with signing.method gpg, --sign-by takes its fingerprint",
            ))
        }
        KeyKind::Other => {
            return Err(bad(
                what,
                path.as_str(),
                "is not a sigstore private key (PEM `ENCRYPTED SIGSTORE PRIVATE KEY` or `ENCRYPTED COSIGN PRIVATE KEY`)",
            ))
        }
    }
    let me = match sources.env_var("SUDO_UID")? {
        Some(uid) if crate::record::effective_uid() == Some(0) => uid.parse().ok(),
        _ => crate::record::effective_uid(),
    };
    if let Some(me) = me {
        if meta.uid() != me && meta.uid() != 0 {
            return Err(bad(
                what,
                path.as_str(),
                format!(
                    "belongs to another user (uid {}): a private signing key must be yours",
                    meta.uid()
                ),
            ));
        }
    }
    if meta.mode() & 0o077 != 0 {
        return Err(bad(
            what,
            path.as_str(),
            format!(
                "is readable by others (mode {:o}): `chmod 600 {path}` (and treat the key as exposed)",
                meta.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// A public key file of the method, holding no private key anywhere (it is built into the
/// image and into kickstarts), read through to its end.
pub fn public_key(what: &str, path: &Utf8Path, method: Method) -> anyhow::Result<()> {
    let bytes = validate::read_bounded(what, path, 1 << 20)?;
    let file = KeyFile::scan(&bytes);
    let alone = match method {
        Method::Gpg => "`gpg --export FINGERPRINT > FILE` writes the public key alone",
        Method::Sigstore => "the .pub file of `cargo xtask keygen` or `skopeo generate-sigstore-key` holds the public key alone",
    };
    if let Some(private) = file.private() {
        return Err(bad(
            what,
            path.as_str(),
            if file.has_public() {
                format!("holds a private key besides the public one ({private}): it would be built into the image, readable by all, and into kickstarts; {alone}")
            } else {
                format!("is a private key ({private}): it would be built into the image; give the public key (`cargo xtask keygen` writes both)")
            },
        ));
    }
    if let Some(why) = &file.unreadable {
        return Err(bad(
            what,
            path.as_str(),
            format!("cannot be read through (it holds {why}): a private key could hide in it, and the file is built into the image; {alone}"),
        ));
    }
    match (file.kind(), method) {
        (KeyKind::SigstorePublic, Method::Sigstore) | (KeyKind::GpgPublic, Method::Gpg) => Ok(()),
        (KeyKind::GpgPublic, Method::Sigstore) => Err(bad(
            what,
            path.as_str(),
            "is a GPG public key, and signing.method is sigstore: set signing.method to gpg",
        )),
        (KeyKind::SigstorePublic, Method::Gpg) => Err(bad(
            what,
            path.as_str(),
            "is a sigstore public key, and signing.method is gpg: set signing.method to sigstore",
        )),
        _ => Err(bad(
            what,
            path.as_str(),
            match method {
                Method::Gpg => {
                    "is not a GPG public key (`gpg --export FINGERPRINT > FILE` writes one)"
                }
                Method::Sigstore => "is not a sigstore public key (PEM `PUBLIC KEY`)",
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_kinds() {
        assert_eq!(
            key_kind(b"-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n"),
            KeyKind::SigstorePublic
        );
        assert_eq!(
            key_kind(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
            KeyKind::SigstorePrivate
        );
        // old format with a two-octet length, new format with a one-octet length
        assert_eq!(key_kind(&[0x99, 0x00, 0x01, 0x04]), KeyKind::GpgPublic);
        assert_eq!(key_kind(&[0x95, 0x00, 0x01, 0x04]), KeyKind::GpgPrivate);
        assert_eq!(key_kind(&[0xc6, 0x01, 0x04]), KeyKind::GpgPublic);
        assert_eq!(key_kind(b"hello"), KeyKind::Other);
    }

    /// A packet in the new format with a one-octet length.
    fn new(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0xc0 | tag, body.len() as u8];
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn packet_streams() {
        // new format: one-, two- and five-octet lengths
        let mut data = new(6, &[4; 10]);
        data.extend([0xc0 | 13, 0xc0, 0x08]);
        data.extend([b'u'; 200]);
        data.extend([0xc0 | 2, 0xff, 0, 0, 0, 3, 1, 2, 3]);
        // new format, partial lengths: 2 bytes (0xe1), then 1 byte, then the last 3
        data.extend([0xc0 | 7, 0xe1, 9, 9, 0xe0, 9, 3, 9, 9, 9]);
        // old format: one-, two-, four-octet lengths
        data.extend([0x80 | (14 << 2), 2, 1, 1]);
        data.extend([0x80 | (13 << 2) | 1, 0, 1, b'x']);
        data.extend([0x80 | (2 << 2) | 2, 0, 0, 0, 1, 0]);
        assert_eq!(packets(&data).unwrap(), vec![6, 13, 2, 7, 14, 13, 2]);
        // old format, indeterminate length: to the end
        let mut tail = new(6, &[1, 2]);
        tail.extend([0x80 | (5 << 2) | 3, 1, 2, 3, 4]);
        assert_eq!(packets(&tail).unwrap(), vec![6, 5]);
        // cut short, not a header, reserved tag
        assert!(packets(&[0xc6, 10, 1]).unwrap_err().contains("cut short"));
        assert!(packets(&[0xc6, 0xe1, 1, 1])
            .unwrap_err()
            .contains("cut short"));
        assert!(packets(&[0x99, 0x00]).unwrap_err().contains("cut short"));
        assert!(packets(&[0x41]).unwrap_err().contains("does not start"));
        assert!(packets(&[0xc0, 0]).unwrap_err().contains("reserved"));
        // a huge length does not overflow
        assert!(packets(&[0xc6, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn private_keys_anywhere_in_the_file() {
        let public = new(6, &[4; 8]);
        let mut with_secret = public.clone();
        with_secret.extend(new(13, b"me"));
        with_secret.extend(new(5, &[4; 8]));
        let f = KeyFile::scan(&with_secret);
        assert_eq!(f.kind(), KeyKind::GpgPrivate);
        assert!(f.has_public());
        assert!(f.private().unwrap().contains("tag 5"), "{f:?}");
        // a secret subkey only
        let mut sub = public.clone();
        sub.extend(new(7, &[4; 8]));
        assert!(KeyFile::scan(&sub).private().unwrap().contains("tag 7"));
        assert_eq!(KeyFile::scan(&public).private(), None);
        // a PEM public key followed by a private one, after 8 KiB of comments
        let mut pem = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_vec();
        pem.extend("# comment\n".repeat(900).bytes());
        pem.extend(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
        let f = KeyFile::scan(&pem);
        assert_eq!(f.kind(), KeyKind::SigstorePrivate);
        assert!(f.has_public());
        assert!(f
            .private()
            .unwrap()
            .contains("ENCRYPTED SIGSTORE PRIVATE KEY"));
        // secret packets inside armor labelled public
        let armored = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n\n{}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n",
            encode(&with_secret)
        );
        let f = KeyFile::scan(armored.as_bytes());
        assert_eq!(f.packets, vec![6, 13, 5], "{f:?}");
        assert!(f.private().unwrap().contains("tag 5"));
        // binary packets appended to armor, armor appended to binary packets
        let mut appended = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{}\n-----END PGP PUBLIC KEY BLOCK-----\n",
            encode(&public)
        )
        .into_bytes();
        assert_eq!(KeyFile::scan(&appended).private(), None);
        assert_eq!(KeyFile::scan(&appended).unreadable, None);
        appended.extend(new(5, &[0xff; 40]));
        assert!(KeyFile::scan(&appended).unreadable.is_some());
        let mut binary_then_text = public.clone();
        binary_then_text.extend(b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n");
        let f = KeyFile::scan(&binary_then_text);
        assert_eq!(f.kind(), KeyKind::GpgPrivate);
        assert!(f.unreadable.is_some());
        // armor that does not end, or is not base64; a compressed packet
        assert!(
            KeyFile::scan(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxA==\n")
                .unreadable
                .is_some()
        );
        assert!(KeyFile::scan(
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nx*y\n-----END PGP PUBLIC KEY BLOCK-----\n"
        )
        .unreadable
        .is_some());
        let mut compressed = public.clone();
        compressed.extend(new(8, &[1, 2, 3]));
        assert!(KeyFile::scan(&compressed).unreadable.is_some());
    }

    /// Review of issue 29: private material the first scanner let through beside a public
    /// key — other formats' private keys, odd spellings of a BEGIN line, armor with more
    /// after its checksum, a BEGIN line with text before it.
    #[test]
    fn private_keys_of_every_form_beside_a_public_one() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let public = new(6, &[4; 8]);
        let mut with_secret = public.clone();
        with_secret.extend(new(5, &[4; 8]));
        let armor = |label: &str, data: &[u8], after_checksum: &str| {
            format!(
                "-----BEGIN {label}-----\r\n\r\n{}\r\n=abcd\r\n{after_checksum}-----END {label}-----\r\n",
                encode(data)
            )
        };
        let cases = [
            // RFC 4716 (ssh.com, PuTTY's export), PuTTY's own, gpg-agent's key files
            (
                format!("{pem}---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nP2/56w==\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n"),
                "SSH2 ENCRYPTED PRIVATE KEY",
            ),
            (
                format!("{pem}PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nAAAA\n"),
                "PuTTY",
            ),
            (
                format!("{pem}Created: 20240101T000000\nKey: (private-key (ecc (curve Ed25519)(q #40#)(d #00#)))\n"),
                "gpg-agent",
            ),
            (
                format!("{pem}(protected-private-key (rsa (n #00#)))\n"),
                "gpg-agent",
            ),
            // a BEGIN line spelt with odd spaces, or lower case
            (
                format!("{pem}-----BEGIN EC  PRIVATE  KEY-----\nAAAA\n-----END EC  PRIVATE  KEY-----\n"),
                "EC  PRIVATE  KEY",
            ),
            (
                format!("{pem}-----BEGIN private key-----\nAAAA\n-----END private key-----\n"),
                "private key",
            ),
        ];
        for (text, said) in &cases {
            let f = KeyFile::scan(text.as_bytes());
            let private = f.private();
            assert!(
                private.as_deref().is_some_and(|p| p.contains(said)),
                "{text:?}: {f:?}"
            );
        }
        // the secret packets after the armor's checksum line (CRLF lines)
        let mut after = armor(
            "PGP PUBLIC KEY BLOCK",
            &public,
            &format!("{}\r\n", encode(&with_secret)),
        );
        assert!(
            KeyFile::scan(after.as_bytes()).unreadable.is_some(),
            "{after}"
        );
        after = armor("PGP PUBLIC KEY BLOCK", &public, "\r\n");
        assert_eq!(KeyFile::scan(after.as_bytes()).unreadable, None, "{after}");
        assert_eq!(KeyFile::scan(after.as_bytes()).private(), None, "{after}");
        // a block whose BEGIN line has text before it: its packets are read all the same
        let quoted = format!(
            "see: -----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{}\n-----END PGP PUBLIC KEY BLOCK-----\n",
            encode(&with_secret)
        );
        let f = KeyFile::scan(quoted.as_bytes());
        assert!(f.private().is_some_and(|p| p.contains("tag 5")), "{f:?}");
        // quoted whole, it is not armor gpg reads, nor one this reads through
        let mailed = armor("PGP PUBLIC KEY BLOCK", &with_secret, "")
            .lines()
            .map(|l| format!("> {l}\n"))
            .collect::<String>();
        assert!(
            KeyFile::scan(mailed.as_bytes()).unreadable.is_some(),
            "{mailed}"
        );
        // a comment that speaks of private keys is no private key
        let commented = format!("# the private key stays with the release team\n{pem}");
        assert_eq!(KeyFile::scan(commented.as_bytes()).private(), None);
        assert_eq!(
            KeyFile::scan(commented.as_bytes()).kind(),
            KeyKind::SigstorePublic
        );
    }

    /// Standard base64, for the tests.
    fn encode(data: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
        out
    }

    #[test]
    fn base64_decodes() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(base64(&encode(data)).unwrap(), data);
        }
        assert!(base64("Zm9v!").is_err());
        assert!(base64("Z").is_err());
    }
}
