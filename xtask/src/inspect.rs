//! Checks over the JSON that tools print (`podman image inspect`, `podman manifest inspect`).
//! Each check is pure: text in, a summary (for the report and `--json`) or an error out.

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use crate::arch::Arch;
use crate::error::NotYet;
use crate::plan::Check;

/// A carried update's checks: a bundle's manifest, a device's upload, the verifier's result.
pub mod carried;

impl Check {
    pub fn judge(&self, stdout: &str) -> anyhow::Result<Value> {
        self.judge_with(stdout, &std::collections::BTreeMap::new())
    }

    /// [`Check::judge`], with the variables earlier steps captured.
    pub fn judge_with(
        &self,
        stdout: &str,
        vars: &std::collections::BTreeMap<&'static str, String>,
    ) -> anyhow::Result<Value> {
        match self {
            Check::Image { reference, arch } => image(stdout, reference, *arch),
            Check::ManifestList { expected, digests } => {
                let want: Vec<(Arch, String)> = digests
                    .iter()
                    .filter_map(|(arch, names)| {
                        let value = names
                            .iter()
                            .filter_map(|n| vars.get(n))
                            .find(|v| !v.is_empty())?;
                        Some((*arch, value.clone()))
                    })
                    .collect();
                manifest_list(stdout, expected, &want)
            }
            Check::Pods { embedded } => {
                let list = vars
                    .get(embedded)
                    .map(|text| crate::pods::embedded_list(text));
                let verdict = crate::pods::judge_with(stdout, list.as_deref())?;
                if verdict.all_ready() {
                    Ok(verdict.to_json())
                } else {
                    Err(anyhow::Error::new(NotYet {
                        progress: verdict.progress(),
                        detail: verdict.to_json(),
                        diagnosis: verdict.diagnosis(),
                    }))
                }
            }
            Check::VolumeGroup { name, hint } => volume_group(stdout, name, hint),
            Check::Kernel { host } => kernel(stdout, host),
            Check::FreeSpace {
                path,
                min_bytes,
                needs,
            } => {
                let free = df_avail(stdout)
                    .ok_or_else(|| anyhow!("df printed no free space for {path}"))?;
                if let (Some(needs), true) = (needs, free < *min_bytes) {
                    bail!(
                        "{path} has {} free, and {needs} needs {}",
                        crate::validate::human(free),
                        crate::validate::human(*min_bytes)
                    );
                }
                if free < *min_bytes {
                    bail!(
                        "{path} has {} free, the build needs {} (these builds need several times the image size); free some space, choose --output elsewhere, or lower --min-free",
                        crate::validate::human(free),
                        crate::validate::human(*min_bytes)
                    );
                }
                Ok(json!({ "path": path, "free": free }))
            }
            Check::Artifact { kind, path } => {
                // `HASH  FILE`: the file where it was hashed (still in the private build
                // directory; `path` is where it is moved to)
                let line = stdout.lines().next().unwrap_or("");
                let (hash, hashed) = line.split_once("  ").unwrap_or((line, ""));
                if !(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit())) {
                    bail!("sha256sum printed no hash for {path}");
                }
                // the file was just made on this host: its size is read here
                let size = std::fs::symlink_metadata(hashed)
                    .map(|m| m.len())
                    .unwrap_or(0);
                Ok(json!({ "type": kind, "path": path, "size": size, "sha256": hash }))
            }
            Check::Embedded => embedded(stdout),
            Check::BootcHost { booted, rollback } => {
                let host = crate::bootc::parse(stdout)?;
                if *booted && host.booted.is_none() {
                    bail!("bootc reports no booted image: is this a bootc host (not a container, not a package-mode RHEL)?");
                }
                if *rollback && host.rollback.is_none() {
                    bail!("the device has no rollback deployment: there is nothing to go back to");
                }
                Ok(host.to_json())
            }
            Check::ListMember {
                arch,
                pinned,
                booted,
            } => {
                let arch = var(vars, arch)?;
                let member = list_member(stdout, &arch, pinned.as_deref());
                match booted {
                    // a report: whether the device runs what the registry holds now
                    Some(b) => {
                        let booted = vars.get(b).cloned().unwrap_or_default();
                        Ok(match member {
                            Ok(d) => {
                                json!({ "architecture": arch, "digest": d, "booted": booted, "current": d == booted })
                            }
                            Err(e) => {
                                json!({ "architecture": arch, "digest": null, "booted": booted, "current": null, "why": format!("{e:#}") })
                            }
                        })
                    }
                    None => Ok(json!({ "architecture": arch, "digest": member? })),
                }
            }
            Check::Staged { expected } => {
                let want = var(vars, expected)?;
                let host = crate::bootc::parse(stdout)?;
                match &host.staged {
                    Some(s) if s.digest == want => Ok(host.to_json()),
                    Some(s) => bail!(
                        "the device staged {} ({}), not {want}: refusing to reboot it into an image that was not checked (did the tag move while it pulled?)",
                        s.digest,
                        s.reference
                    ),
                    None => bail!("the device staged nothing after `bootc switch`: refusing to reboot"),
                }
            }
            Check::LeftStaged => Ok(crate::bootc::parse(stdout)?.to_json()),
            Check::BootChanged { from } => {
                let before = var(vars, from)?;
                let now = stdout.trim();
                if now.is_empty() {
                    bail!("the device printed no boot id");
                }
                if now == before {
                    return Err(anyhow::Error::new(NotYet {
                        progress: "the device has not rebooted yet".to_string(),
                        detail: json!({ "boot_id": now }),
                        diagnosis: format!(
                            "the device still runs the boot it ran before (boot id {now})"
                        ),
                    }));
                }
                Ok(json!({ "boot_id": now, "before": before }))
            }
            Check::Booted {
                want,
                other,
                rollback,
            } => booted(stdout, vars, want, *other, *rollback),
            Check::Greenboot { wait } => greenboot(stdout, *wait),
            Check::Unit { name } => Ok(json!({
                "unit": name,
                "active": show_field(stdout, "ActiveState"),
                "sub": show_field(stdout, "SubState"),
            })),
            Check::Journal { unit } => Ok(journal(stdout, unit)),
            Check::Playbook => Ok(recap(stdout)),
            Check::Fleet { plan } => crate::fleet::judge(stdout, plan),
            Check::Flightctl { plan } => crate::fleet::flightctl::judge(
                stdout,
                plan,
                vars.get(crate::fleet::flightctl::CARRY).map(String::as_str),
            ),
            Check::FlightctlPatched { fleet, image } => {
                crate::fleet::flightctl::patched(stdout, fleet, image)
            }
            Check::Manifest {
                reference,
                want,
                of,
            } => {
                let want = match want {
                    None => None,
                    Some(crate::plan::Want::Digest(d)) => Some(d.clone()),
                    Some(crate::plan::Want::Var(v)) => Some(
                        vars.get(v)
                            .filter(|d| !d.is_empty())
                            .cloned()
                            .ok_or_else(|| anyhow!("no digest of the source to compare {reference} with (${{{v}}} is unset)"))?,
                    ),
                };
                let checked = want.is_some();
                let mut v = served_manifest(stdout, reference, want.as_deref())?;
                // only a check against a digest is news; reading a digest is not
                v["checked"] = json!(checked);
                v["of"] = json!(of);
                Ok(v)
            }
            Check::Pushed {
                reference,
                image_id,
            } => {
                let id = vars
                    .get(image_id)
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| anyhow!("no id of the image built to compare {reference} with (${{{image_id}}} is unset)"))?;
                pushed(stdout, reference, id)
            }
            Check::Connection { name } => crate::builder::connection_uri(stdout, name)
                .map(|uri| json!({ "connection": name, "uri": uri }))
                .map_err(|why| anyhow!(why)),
            Check::Manifests { reference } => {
                let mut size: u64 = 0;
                let mut images: u64 = 0;
                for doc in serde_json::Deserializer::from_str(stdout).into_iter::<Value>() {
                    let doc = doc.with_context(|| {
                        format!(
                            "{reference}: the registry did not serve its images' manifests (JSON)"
                        )
                    })?;
                    size = size.saturating_add(image_bytes(&doc));
                    images += 1;
                }
                if images == 0 {
                    bail!("{reference}: no manifest of its images was read");
                }
                Ok(json!({ "reference": reference, "images": images, "size": size }))
            }
            Check::BundleMember { arch } => carried::bundle_member(stdout, &var(vars, arch)?),
            Check::Missing {
                local,
                upload,
                files,
            } => carried::missing(stdout, local, upload, files),
            Check::Carried => carried::carried(stdout),
            Check::State { what, want, wait } => {
                let state = stdout.lines().next().unwrap_or("").trim();
                let state = if state.is_empty() { "unknown" } else { state };
                if state == want {
                    return Ok(json!({ "state": state }));
                }
                let message = format!(
                    "{what} is {}, not {want}",
                    crate::validate::escape_controls(state)
                );
                if *wait {
                    Err(anyhow::Error::new(NotYet {
                        progress: format!("{what} is {}", crate::validate::escape_controls(state)),
                        detail: json!({ "state": state }),
                        diagnosis: message,
                    }))
                } else {
                    bail!("{message}")
                }
            }
        }
    }
}

fn parse(stdout: &str, what: &str) -> anyhow::Result<Value> {
    serde_json::from_str(stdout).with_context(|| format!("could not parse the JSON of {what}"))
}

/// Summarise `podman image inspect` output: id, digest, size, architecture, os, tags.
pub fn image(stdout: &str, reference: &str, arch: Option<Arch>) -> anyhow::Result<Value> {
    let doc = parse(stdout, "podman image inspect")?;
    let first = doc
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| anyhow!("podman image inspect returned no image"))?;
    let field = |k: &str| {
        first
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let id = field("Id");
    if id.is_empty() {
        bail!("podman image inspect returned an image without an Id");
    }
    let found = field("Architecture");
    if let Some(want) = arch {
        if found != want.oci() {
            bail!(
                "the image is built for '{found}', not '{want}' (is emulation for {want} set up? try `cargo xtask doctor --for build`)"
            );
        }
    }
    let size = first.get("Size").and_then(Value::as_u64).unwrap_or(0);
    let tags: Vec<Value> = first
        .get("RepoTags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(json!({
        "reference": reference,
        "id": id,
        "digest": field("Digest"),
        "size": size,
        "architecture": found,
        "os": field("Os"),
        "tags": tags,
    }))
}

/// Check a manifest list for exactly the expected architectures (each once).
/// Check a manifest list (`skopeo inspect --raw`): exactly the expected architectures, each
/// once, and each architecture's entry with the digest given for it in `digests`.
pub fn manifest_list(
    stdout: &str,
    expected: &[Arch],
    digests: &[(Arch, String)],
) -> anyhow::Result<Value> {
    let doc = parse(stdout, "skopeo inspect --raw")?;
    let manifests = doc
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the pushed image is not a manifest list (no 'manifests' array)"))?;
    let mut found = Vec::new();
    let mut entries = Vec::new();
    for m in manifests {
        let arch = m
            .pointer("/platform/architecture")
            .and_then(Value::as_str)
            .unwrap_or("");
        let digest = m.get("digest").and_then(Value::as_str).unwrap_or("");
        found.push(arch.to_string());
        entries.push(json!({ "architecture": arch, "digest": digest }));
    }
    let mut want: Vec<String> = expected.iter().map(|a| a.oci().to_string()).collect();
    want.sort();
    let mut got = found.clone();
    got.sort();
    if got != want {
        bail!(
            "the manifest list holds [{}], expected exactly [{}] (push every architecture first: `cargo xtask push --arch A`)",
            got.join(", "),
            want.join(", ")
        );
    }
    for (arch, digest) in digests {
        let listed = entries
            .iter()
            .find(|e| e["architecture"] == arch.oci())
            .and_then(|e| e["digest"].as_str())
            .unwrap_or("");
        if listed != digest {
            bail!(
                "the manifest list's {arch} entry is {}, not {digest}: the list is stale (it names an older {arch} image)",
                if listed.is_empty() { "missing" } else { listed }
            );
        }
    }
    Ok(json!({ "architectures": found, "manifests": entries }))
}

/// The `vgs` arguments whose output [`volume_group`] reads.
pub const VGS_ARGS: [&str; 6] = [
    "--reportformat",
    "json",
    "-o",
    "vg_name,vg_size,vg_free",
    "--units",
    "b",
];

/// `vgs` with [`VGS_ARGS`]: the group and its free bytes.
pub fn volume_group(stdout: &str, name: &str, hint: &str) -> anyhow::Result<Value> {
    let doc = parse(stdout, "vgs --reportformat json")?;
    let groups = doc
        .pointer("/report/0/vg")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let bytes = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|s| s.trim_end_matches('B').parse::<u64>().ok())
            .unwrap_or(0)
    };
    let Some(vg) = groups
        .iter()
        .find(|g| g.get("vg_name").and_then(Value::as_str) == Some(name))
    else {
        let names: Vec<&str> = groups
            .iter()
            .filter_map(|g| g.get("vg_name").and_then(Value::as_str))
            .collect();
        bail!(
            "there is no volume group '{name}' (the host has: {}); the CSI driver's pods would crash-loop. {hint}",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        );
    };
    let free = bytes(vg, "vg_free");
    let size = bytes(vg, "vg_size");
    if free == 0 {
        bail!("volume group '{name}' has no free space ({} in all); the CSI driver allocates from free space. {hint}", crate::validate::human(size));
    }
    Ok(json!({ "volume_group": name, "size": size, "free": free }))
}

/// The `kernel-core-<version>` an image's history records, against the host's kernel.
pub fn kernel(stdout: &str, host: &str) -> anyhow::Result<Value> {
    let doc = parse(stdout, "podman image inspect")?;
    let history = doc
        .pointer("/0/History")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let image_kernel = history
        .iter()
        .filter_map(|h| h.get("created_by").and_then(Value::as_str))
        .find_map(|c| c.split_whitespace().find(|w| w.starts_with("kernel-core-")))
        .map(|w| w.trim_start_matches("kernel-core-").to_string());
    Ok(json!({ "host_kernel": host, "image_kernel_core": image_kernel }))
}

impl Check {
    /// The line worth telling a person about this check's result, if any.
    pub fn summary(&self, v: &Value) -> Option<String> {
        let text = |k: &str| v.get(k).and_then(Value::as_str);
        // a list of strings in the result
        let texts = |k: &str| -> Option<Vec<&str>> {
            Some(
                v.get(k)?
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect(),
            )
        };
        match self {
            Check::Image { .. } => {
                let (reference, id, arch) =
                    (text("reference")?, text("id")?, text("architecture")?);
                let size = crate::validate::human(v["size"].as_u64().unwrap_or(0));
                let short: String = id.chars().take(12).collect();
                Some(format!(
                    "ok: image {reference} ({arch}, {size}, id {short})"
                ))
            }
            Check::Kernel { .. } => {
                let host = text("host_kernel")?;
                Some(match text("image_kernel_core") {
                    Some(image) if host.starts_with(image) || image.starts_with(host) => {
                        format!("ok: host kernel {host} matches the image's kernel-core {image}")
                    }
                    Some(image) => format!(
                        "note: host kernel {host}, image kernel-core {image}: the container runs the host kernel, so its modules (openvswitch) come from the host; systemd-modules-load failing in the container is expected"
                    ),
                    None => format!("note: host kernel {host}; the image records no kernel-core package"),
                })
            }
            Check::VolumeGroup { .. } => {
                let free = v.get("free").and_then(Value::as_u64)?;
                Some(format!(
                    "ok: volume group {} has {} free",
                    text("volume_group")?,
                    crate::validate::human(free)
                ))
            }
            Check::Embedded => {
                let count = v.get("count").and_then(Value::as_u64)?;
                let total = v.get("total_size").and_then(Value::as_u64)?;
                Some(format!(
                    "ok: {count} images embedded ({}), copied into the container storage at each MicroShift start",
                    crate::validate::human(total)
                ))
            }
            Check::Pods { .. } => {
                let ready = v.get("ready").and_then(Value::as_u64)?;
                (v.get("all_ready").and_then(Value::as_bool) == Some(true))
                    .then(|| format!("ok: all {ready} pods ready"))
            }
            Check::ManifestList { .. } => Some(format!(
                "ok: manifest list holds {}",
                texts("architectures")?.join(", ")
            )),
            Check::State { .. } | Check::FreeSpace { .. } => None,
            Check::BundleMember { .. } => Some(format!(
                "ok: the bundle holds {} for {} ({})",
                text("digest")?,
                text("architecture")?,
                crate::validate::human(v.get("bytes").and_then(Value::as_u64)?)
            )),
            Check::Missing { .. } => Some(match v.get("count").and_then(Value::as_u64)? {
                0 => "ok: the device holds every file of the bundle already (an earlier upload): nothing to send".to_string(),
                n => format!("the device lacks {n} of the bundle's files: sending them"),
            }),
            Check::Carried => Some(match text("result")? {
                "current" => format!(
                    "ok: the device verified the bundle with the key in its image; it runs {} already",
                    text("digest")?
                ),
                _ => format!(
                    "ok: the device verified the bundle with the key in its image and staged {}",
                    text("digest")?
                ),
            }),
            Check::BootcHost { .. } | Check::Staged { .. } => Some(texts("lines")?.join("\n")),
            Check::ListMember {
                booted: Some(_), ..
            } => Some(match v.get("current").and_then(Value::as_bool) {
                Some(true) => format!(
                    "registry: the booted image is what the registry holds now for {} ({})",
                    text("architecture")?,
                    text("digest")?
                ),
                Some(false) => format!(
                    "registry: the registry holds {} for {} now; the device runs {}",
                    text("digest")?,
                    text("architecture")?,
                    text("booted")?
                ),
                None => format!(
                    "registry: not compared ({})",
                    text("why").unwrap_or("unknown")
                ),
            }),
            Check::ListMember { .. } => Some(format!(
                "ok: the registry holds {} for {}",
                text("digest")?,
                text("architecture")?
            )),
            Check::LeftStaged => {
                let of =
                    |d: &Value, k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let mut lines = Vec::new();
                if let Some(staged) = v.get("staged").filter(|s| s.is_object()) {
                    lines.push(format!(
                        "warning: the device has {} ({}) staged, {}",
                        of(staged, "image"),
                        of(staged, "digest"),
                        crate::plan::LEFT_STAGED
                    ));
                }
                if let (Some(true), Some(rollback)) = (
                    v.get("rollback_queued").and_then(Value::as_bool),
                    v.get("rollback").filter(|r| r.is_object()),
                ) {
                    lines.push(format!(
                        "warning: the device has a rollback queued: it boots {} ({}) {}",
                        of(rollback, "image"),
                        of(rollback, "digest"),
                        crate::plan::LEFT_QUEUED
                    ));
                }
                // what the device said, its hidden characters escaped: a line each
                (!lines.is_empty()).then(|| {
                    lines
                        .iter()
                        .map(|l| crate::validate::escape_controls(l))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }
            Check::BootChanged { .. } => Some(format!(
                "ok: the device rebooted (boot id {})",
                text("boot_id")?
            )),
            Check::Booted { .. } => {
                Some(format!("ok: the device booted {}", text("booted_digest")?))
            }
            Check::Greenboot { .. } => Some(format!("greenboot: {}", text("verdict")?)),
            Check::Journal { .. } => {
                let (failed, lines) = (texts("failed_checks")?, texts("lines")?);
                let mut out = if failed.is_empty() {
                    format!("{}'s journal names no failed check", text("unit")?)
                } else {
                    format!("greenboot's failing checks: {}", failed.join(", "))
                };
                // the last lines, where the checks say why
                for line in &lines[lines.len().saturating_sub(12)..] {
                    out.push_str(&format!("\n  | {line}"));
                }
                Some(out)
            }
            Check::Playbook => None,
            Check::Fleet { .. } | Check::Flightctl { .. } => crate::fleet::lines(v),
            Check::FlightctlPatched { .. } => Some(format!(
                "ok: fleet {}'s template names {} (template version {}): flightctl rolls it out under the fleet's policy",
                text("fleet")?,
                text("image")?,
                text("template_version").unwrap_or("not made yet")
            )),
            Check::Unit { .. } => Some(format!(
                "{}: {} ({})",
                text("unit")?,
                text("active")?,
                text("sub")?
            )),
            // the step's own line says it
            Check::Pushed { .. } => None,
            Check::Connection { .. } => None,
            Check::Manifest { .. } if v["checked"] != json!(true) => None,
            Check::Manifest { .. } => Some(format!(
                "ok: {}{} is {} ({})",
                text("of").map(|o| format!("{o} → ")).unwrap_or_default(),
                text("reference")?,
                text("digest")?,
                match text("kind")? {
                    "list" => format!("a list of {} images", v["members"].as_u64().unwrap_or(0)),
                    _ => crate::validate::human(v["size"].as_u64().unwrap_or(0)),
                }
            )),
            Check::Manifests { .. } => Some(format!(
                "ok: the {} images of {} take {}",
                v["images"].as_u64().unwrap_or(0),
                text("reference")?,
                crate::validate::human(v["size"].as_u64().unwrap_or(0))
            )),
            Check::Artifact { .. } => Some(format!(
                "ok: {} {} ({}, sha256 {})",
                text("type")?,
                text("path")?,
                crate::validate::human(v.get("size").and_then(Value::as_u64).unwrap_or(0)),
                text("sha256")?
            )),
        }
    }
}

/// `microshift-copy-images list`: `REFERENCE<TAB>DIGEST<TAB>BYTES` lines.
fn embedded(stdout: &str) -> anyhow::Result<Value> {
    let mut images = Vec::new();
    let mut total: u64 = 0;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.trim_end().split('\t').collect();
        let [reference, digest, bytes] = fields[..] else {
            bail!(
                "microshift-copy-images list printed an odd line: {}",
                crate::validate::escape_controls(line)
            );
        };
        let size: u64 = bytes.parse().map_err(|_| {
            anyhow!(
                "microshift-copy-images list printed an odd size: {}",
                crate::validate::escape_controls(bytes)
            )
        })?;
        if !crate::validate::is_digest(digest) {
            bail!(
                "microshift-copy-images list printed an odd digest: {}",
                crate::validate::escape_controls(digest)
            );
        }
        total = total.saturating_add(size);
        images.push(json!({ "reference": reference, "digest": digest, "size": size }));
    }
    if images.is_empty() {
        bail!("the image embeds no images (its image-list.txt is empty)");
    }
    Ok(json!({ "count": images.len(), "total_size": total, "images": images }))
}

/// A variable an earlier step captured; a check that needs it cannot judge without it.
fn var(
    vars: &std::collections::BTreeMap<&'static str, String>,
    name: &str,
) -> anyhow::Result<String> {
    vars.get(name)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| anyhow!("internal: ${{{name}}} was not captured by an earlier step"))
}

/// The digest of a manifest list's entry for `arch`; a single image's only when the
/// reference pinned it by digest (a single manifest's digest is the hash of its bytes,
/// which skopeo does not print).
pub fn list_member(stdout: &str, arch: &str, pinned: Option<&str>) -> anyhow::Result<String> {
    let doc = parse(stdout, "skopeo inspect --raw")?;
    let Some(manifests) = doc.get("manifests").and_then(Value::as_array) else {
        return match pinned {
            Some(d) => Ok(d.to_string()),
            None => bail!(
                "the reference names one image, not a manifest list: give it by digest (--image NAME@sha256:..., the digest `cargo xtask --json push` prints), or release the list (`cargo xtask release`)"
            ),
        };
    };
    let found: Vec<&str> = manifests
        .iter()
        .filter(|m| m.pointer("/platform/architecture").and_then(Value::as_str) == Some(arch))
        .filter_map(|m| m.get("digest").and_then(Value::as_str))
        .collect();
    match found[..] {
        [d] if crate::validate::is_digest(d) => Ok(d.to_string()),
        [] => {
            let archs: Vec<&str> = manifests
                .iter()
                .filter_map(|m| m.pointer("/platform/architecture").and_then(Value::as_str))
                .collect();
            bail!(
                "the manifest list has no entry for the device's architecture {arch} (it has: {})",
                if archs.is_empty() {
                    "none".to_string()
                } else {
                    archs.join(", ")
                }
            )
        }
        _ => bail!(
            "the manifest list has {} entries for {arch}, or one without a digest",
            found.len()
        ),
    }
}

/// `bootc status --json` against the digests the upgrade expects.
fn booted(
    stdout: &str,
    vars: &std::collections::BTreeMap<&'static str, String>,
    want: &str,
    other: Option<&str>,
    rollback: Option<&str>,
) -> anyhow::Result<Value> {
    let want = var(vars, want)?;
    let host = crate::bootc::parse(stdout)?;
    let booted = host
        .booted
        .as_ref()
        .map(|d| d.digest.clone())
        .unwrap_or_default();
    let rolled = host
        .rollback
        .as_ref()
        .map(|d| d.digest.clone())
        .unwrap_or_default();
    let detail = host.to_json();
    if booted == want {
        if let Some(r) = rollback {
            let r = var(vars, r)?;
            if rolled != r {
                bail!("the device booted {want}, but its rollback deployment is {rolled}, not {r}");
            }
        }
        return Ok(detail);
    }
    if let Some(o) = other {
        if !booted.is_empty() && Some(&booted) == vars.get(o) {
            return Err(anyhow::Error::new(crate::error::Definite(format!(
                "the device booted {booted}, the image it ran before, not {want}"
            ))));
        }
    }
    Err(anyhow::Error::new(NotYet {
        progress: format!(
            "the device runs {}",
            if booted.is_empty() {
                "no bootc image yet"
            } else {
                &booted
            }
        ),
        detail,
        diagnosis: format!(
            "the device booted {}, not {want}",
            if booted.is_empty() {
                "nothing bootc reports"
            } else {
                &booted
            }
        ),
    }))
}

/// The free bytes `df --output=avail -B1 PATH` printed (under its `Avail` header).
pub fn df_avail(stdout: &str) -> Option<u64> {
    stdout.lines().find_map(|l| l.trim().parse().ok())
}

/// A property of `systemctl show --property=...` (`KEY=VALUE` lines); empty when absent.
fn show_field(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}=")))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// greenboot's health check unit: `LoadState=`, `SubState=` (and `Result=`) lines.
fn greenboot(stdout: &str, wait: bool) -> anyhow::Result<Value> {
    let (load, sub) = (
        show_field(stdout, "LoadState"),
        show_field(stdout, "SubState"),
    );
    let verdict = match (load.as_str(), sub.as_str()) {
        ("not-found", _) => "not installed (health is MicroShift's pods alone)",
        (_, "exited") => "passed",
        (_, "failed") => "failed (red)",
        (_, "start" | "start-pre" | "start-post" | "running" | "activating") => "checking",
        _ => "not run yet",
    };
    let detail = json!({ "load_state": load, "sub_state": sub, "verdict": verdict });
    if !wait {
        return Ok(detail);
    }
    match verdict {
        "passed" | "not installed (health is MicroShift's pods alone)" => Ok(detail),
        "failed (red)" => Err(anyhow::Error::new(crate::error::Definite(
            "greenboot failed the image (red): its required health checks did not pass".to_string(),
        ))),
        _ => Err(anyhow::Error::new(NotYet {
            progress: format!("greenboot is {verdict} (SubState {})", if sub.is_empty() { "unknown" } else { &sub }),
            detail,
            diagnosis: format!("greenboot gave no verdict (greenboot-healthcheck.service: LoadState {load}, SubState {sub})"),
        })),
    }
}

/// A unit's journal: its lines (hidden characters escaped), and the checks greenboot named
/// as failed: `Script 'NAME' FAILURE` (greenboot's words), else lines that say a check
/// failed.
fn journal(stdout: &str, unit: &str) -> Value {
    let lines: Vec<String> = stdout
        .lines()
        .map(crate::validate::escape_controls)
        .collect();
    let mut failed: Vec<String> = Vec::new();
    for line in &lines {
        let named = line
            .split_once("Script '")
            .and_then(|(_, rest)| rest.split_once("' FAILURE"))
            .map(|(name, _)| name.to_string());
        if let Some(name) = named {
            if !failed.contains(&name) {
                failed.push(name);
            }
        }
    }
    json!({ "unit": unit, "lines": lines, "failed_checks": failed })
}

/// `ansible-playbook`'s output: its recap (a line per host), for `--json`.
fn recap(stdout: &str) -> Value {
    let lines: Vec<String> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(crate::validate::escape_controls)
        .collect();
    json!({ "recap": lines })
}

/// The bytes of an image manifest's config and layers (0 for a list).
pub fn image_bytes(manifest: &Value) -> u64 {
    manifest
        .get("layers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(manifest.get("config"))
        .filter_map(|l| l.get("size").and_then(Value::as_u64))
        .fold(0, u64::saturating_add)
}

/// A manifest as a registry served it (`skopeo inspect --raw`): its digest (the SHA-256 of
/// the exact bytes), whether it is a list, and its size (an image's config and layers; a
/// list's members are counted). With `want`, the digest must be that one.
/// What a remote builder pushed to `reference`, as the registry serves it by tag: the image
/// whose config is `sha256:<id>`, and its digest.
fn pushed(stdout: &str, reference: &str, id: &str) -> anyhow::Result<Value> {
    let doc: Value = serde_json::from_str(stdout)
        .with_context(|| format!("{reference}: the registry did not serve a manifest (JSON)"))?;
    let built = format!("sha256:{}", id.trim_start_matches("sha256:"));
    let moved = "someone pushed to the tag after this push, or a mirror (registries.conf) answers reads of it: nothing of it is listed or signed";
    let config = match doc["config"]["digest"].as_str() {
        Some(c) => c,
        None if doc.get("manifests").is_some() => {
            bail!("{reference} is a manifest list, not the image just built and pushed ({built}): {moved}")
        }
        None => bail!("{reference}: the registry served a manifest without a config digest"),
    };
    if config != built {
        bail!(
            "{reference} holds another image than the one just built and pushed: its config is {}, the image built is {built}: {moved}",
            crate::validate::escape_controls(config)
        );
    }
    let digest = crate::digest::digest(stdout.as_bytes());
    Ok(json!({ "reference": reference, "digest": digest, "config": config }))
}

fn served_manifest(stdout: &str, reference: &str, want: Option<&str>) -> anyhow::Result<Value> {
    let doc: Value = serde_json::from_str(stdout)
        .with_context(|| format!("{reference}: the registry did not serve a manifest (JSON)"))?;
    let digest = crate::digest::digest(stdout.as_bytes());
    if let Some(want) = want {
        if digest != want {
            bail!("{reference} is served as {digest}, not {want}: the copy is not the image asked for");
        }
    }
    let members = doc.get("manifests").and_then(Value::as_array);
    let size = image_bytes(&doc);
    // a list's images, one digest a line (what `mirror` reads next for their bytes)
    let member_digests: Vec<&str> = members
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("digest").and_then(Value::as_str))
        .collect();
    Ok(json!({
        "reference": reference,
        "digest": digest,
        "kind": if members.is_some() { "list" } else { "image" },
        "members": members.map_or(0, Vec::len),
        "member_digests": member_digests.join("\n"),
        "size": size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greenboot_journal_names_the_failed_checks() {
        let out = "Running Required Health Check Scripts...\nScript '00_required_scripts_start.sh' SUCCESS\nScript '40_microshift_running_check.sh' FAILURE (exit code '1'). Continuing...\nScript '40_microshift_running_check.sh' FAILURE (exit code '1'). Continuing...\nScript '99_fail.sh' FAILURE (exit code '1')\n";
        let v = journal(out, "greenboot-healthcheck.service");
        assert_eq!(
            v["failed_checks"],
            json!(["40_microshift_running_check.sh", "99_fail.sh"])
        );
        assert_eq!(v["lines"].as_array().unwrap().len(), 5);
        assert!(journal("\x1b[31mred", "u")["lines"][0]
            .as_str()
            .unwrap()
            .starts_with("\\u{1b}"));
    }

    #[test]
    fn image_summary() {
        let out = r#"[{"Id":"abc","Digest":"sha256:d","Size":42,"Architecture":"arm64","Os":"linux","RepoTags":["localhost/x:linux-arm64"]}]"#;
        let v = image(out, "localhost/x:linux-arm64", Some(Arch::Arm64)).unwrap();
        assert_eq!(v["size"], 42);
        let e = image(out, "localhost/x:linux-arm64", Some(Arch::Amd64))
            .unwrap_err()
            .to_string();
        assert!(e.contains("built for 'arm64', not 'amd64'"), "{e}");
        assert!(image("[]", "x", None).is_err());
        assert!(image("not json", "x", None).is_err());
    }

    #[test]
    fn odd_image_ids_do_not_panic() {
        let v =
            json!({"reference": "r", "id": "ééééééééééééé", "architecture": "amd64", "size": 1});
        let check = Check::Image {
            reference: "r".into(),
            arch: None,
        };
        let line = check.summary(&v).unwrap();
        assert!(line.contains("id éééééééééééé)"), "{line}");
    }

    #[test]
    fn states() {
        let c = Check::State {
            what: "the microshift service".into(),
            want: "active".into(),
            wait: true,
        };
        assert!(c.judge("active\n").is_ok());
        let e = c.judge("activating\n").unwrap_err();
        let not_yet = e.downcast::<NotYet>().unwrap();
        assert_eq!(not_yet.progress, "the microshift service is activating");
    }

    #[test]
    fn kernel_core_from_history() {
        // bootc base images are chunked by rpm-ostree: each layer's created_by names packages
        let out = r#"[{"Id":"x","History":[
            {"created":"2024-07-01T00:00:00Z","created_by":"systemd-252-32.el9_4.x86_64 and 12 others"},
            {"created":"2024-07-01T00:00:00Z","created_by":"kernel-core-5.14.0-427.26.1.el9_4.x86_64"},
            {"created":"2024-07-02T00:00:00Z","created_by":"/bin/sh -c dnf install -y microshift"}]}]"#;
        let v = kernel(out, "6.9.9-200.fc40.x86_64").unwrap();
        assert_eq!(v["image_kernel_core"], "5.14.0-427.26.1.el9_4.x86_64");
        let check = Check::Kernel {
            host: "6.9.9-200.fc40.x86_64".into(),
        };
        let line = check.summary(&v).unwrap();
        assert!(line.starts_with("note: host kernel 6.9.9-200.fc40.x86_64, image kernel-core 5.14.0-427.26.1.el9_4.x86_64"), "{line}");
        let same = kernel(out, "5.14.0-427.26.1.el9_4.x86_64").unwrap();
        let line = check.summary(&same).unwrap();
        assert!(line.starts_with("ok: host kernel"), "{line}");
        let none = kernel(r#"[{"Id":"x","History":[]}]"#, "6.1.0").unwrap();
        assert!(none["image_kernel_core"].is_null());
    }

    #[test]
    fn manifest_exact() {
        let list = |archs: &[&str]| {
            let m: Vec<Value> = archs
                .iter()
                .map(|a| json!({"digest": "sha256:x", "platform": {"architecture": a, "os": "linux"}}))
                .collect();
            json!({ "schemaVersion": 2, "manifests": m }).to_string()
        };
        let both = [Arch::Amd64, Arch::Arm64];
        assert!(manifest_list(&list(&["arm64", "amd64"]), &both, &[]).is_ok());
        assert!(manifest_list(&list(&["amd64"]), &both, &[]).is_err());
        assert!(manifest_list(&list(&["amd64", "amd64", "arm64"]), &both, &[]).is_err());
        assert!(manifest_list(&list(&["amd64", "arm64", "s390x"]), &both, &[]).is_err());
        assert!(manifest_list(r#"{"schemaVersion":2}"#, &both, &[]).is_err());
        // a list whose member is not the image pushed (or recorded) for its architecture
        let fresh = [(Arch::Amd64, "sha256:x".to_string())];
        assert!(manifest_list(&list(&["arm64", "amd64"]), &both, &fresh).is_ok());
        let stale = [(Arch::Arm64, "sha256:new".to_string())];
        let e = manifest_list(&list(&["arm64", "amd64"]), &both, &stale)
            .unwrap_err()
            .to_string();
        assert!(e.contains("arm64 entry is sha256:x, not sha256:new"), "{e}");
    }

    #[test]
    fn embedded_lists() {
        let d = format!("sha256:{}", "a".repeat(64));
        let v = embedded(&format!("q.io/a@{d}\t{d}\t100\nq.io/b:1\t{d}\t23\n\n")).unwrap();
        assert_eq!(v["count"], 2);
        assert_eq!(v["total_size"], 123);
        assert_eq!(v["images"][1]["reference"], "q.io/b:1");
        assert!(embedded("")
            .unwrap_err()
            .to_string()
            .contains("embeds no images"));
        assert!(embedded("a\tb\n").is_err());
        assert!(embedded(&format!("a\t{d}\tbig\n")).is_err());
        assert!(embedded("a\tsha256:short\t1\n").is_err());
    }
}
