//! `doctor --for build --embed`: what embedding MicroShift's images in the image needs.

use camino::Utf8PathBuf;
use serde_json::Value;

use super::probe::*;
use super::{finding, DoctorArgs, Finding, Level};
use crate::arch::Arch;
use crate::config::Sources;
use crate::inputs;
use crate::validate;

/// `doctor --for build --embed`: the release list of the image (read from the image once
/// built), every registry of it in the pull secret, every image reachable, and room for
/// the copies.
pub(super) fn embedding(
    sources: &Sources,
    args: &DoctorArgs,
    pull_secret: Option<&Utf8PathBuf>,
) -> Vec<Finding> {
    let image_args = crate::image::ImageArgs {
        image_name: args.image_name.clone(),
        arch: args.arch.clone(),
    };
    let image = match crate::image::Image::resolve(&image_args, sources) {
        Ok(image) => image,
        Err(e) => {
            return vec![finding(
                "embed-list",
                Level::Fail,
                format!("{e:#}"),
                "set the image name and architecture as for `build`",
            )]
        }
    };
    let arch = image.arch;
    let local = image.local();
    // the image without its embedded images, else the image (both carry the list)
    let candidates = [crate::commands::build::unembedded(&image), local.clone()];
    let Some(built) = candidates.iter().find(|c| local_image(c)) else {
        return vec![finding(
            "embed-list",
            Level::Warn,
            format!("not checked yet: the pull secret's entries for the registries of the images to embed, that each image can be read, and room for their copies: the list is in the image (the microshift-release-info package), and {local} is not built yet"),
            format!("`cargo xtask build{}` (without --embed) once, then `cargo xtask doctor --for build --embed` again", arch.map(|a| format!(" --arch {a}")).unwrap_or_default()),
        )];
    };
    let uname = arch.or_else(Arch::native).unwrap_or(Arch::Amd64).uname();
    let release = format!("/usr/share/microshift/release/release-{uname}.json");
    let read = output(
        "podman",
        &[
            "run",
            "--rm",
            "--network=none",
            "--entrypoint",
            "cat",
            built,
            &release,
        ],
    );
    let doc: Option<Value> = read
        .as_ref()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let Some(listed) = doc
        .as_ref()
        .and_then(|d| d.get("images"))
        .and_then(Value::as_object)
    else {
        return vec![finding(
            "embed-list",
            Level::Fail,
            format!("{built} has no readable {release} with an \"images\" object"),
            "the image must have the microshift-release-info package (the Containerfile's `dnf install`)",
        )];
    };
    let mut refs: Vec<(String, bool)> = listed
        .values()
        .filter_map(Value::as_str)
        .map(|r| (r.to_string(), true))
        .collect();
    let extra = sources
        .list(&inputs::EMBED_IMAGES, &[])
        .map(|(_, l)| l)
        .unwrap_or_default();
    for r in extra {
        if !refs.iter().any(|(have, _)| *have == r) {
            refs.push((r, false));
        }
    }
    let mut out = vec![finding(
        "embed-list",
        Level::Ok,
        format!(
            "{} images to embed ({} from {release} in {built})",
            refs.len(),
            listed.len()
        ),
        "",
    )];
    // every image reachable, and its size (the sum of its layers, of every platform of a list)
    let mut total: u64 = 0;
    let mut unreachable = Vec::new();
    for (r, _) in &refs {
        total = total.saturating_add(image_bytes(sources, pull_secret, r, &mut unreachable));
    }
    // the pull secret: an entry for every registry of the list
    let registries: Vec<String> = secrets_of(pull_secret);
    let mut missing: Vec<(String, Vec<&str>, bool)> = Vec::new();
    for (r, from_release) in &refs {
        if registries.iter().any(|e| covers(e, r)) {
            continue;
        }
        let reg = registry_of(r);
        match missing.iter_mut().find(|(m, _, _)| *m == reg) {
            Some(m) => {
                m.1.push(r);
                m.2 |= *from_release;
            }
            None => missing.push((reg, vec![r], *from_release)),
        }
    }
    let path = pull_secret.map_or("the pull secret".to_string(), |p| p.to_string());
    if missing.is_empty() {
        let mut regs: Vec<String> = refs.iter().map(|(r, _)| registry_of(r)).collect();
        regs.sort();
        regs.dedup();
        out.push(finding(
            "embed-pull-secret",
            Level::Ok,
            format!(
                "{path} has entries for every registry of the list ({})",
                regs.join(", ")
            ),
            "",
        ));
    }
    for (reg, images, from_release) in &missing {
        // read without credentials just now: a public registry needs no entry
        let public = images
            .iter()
            .all(|i| !unreachable.iter().any(|u| u.starts_with(&format!("{i}: "))));
        out.push(if public {
            finding(
                "embed-pull-secret",
                Level::Ok,
                format!(
                    "{path} has no entry for {reg}; its {} images of the list are readable without one",
                    images.len()
                ),
                "",
            )
        } else {
            finding(
                "embed-pull-secret",
                if *from_release { Level::Fail } else { Level::Warn },
                format!(
                    "{path} has no entry for {reg} ({} of the images, e.g. {})",
                    images.len(),
                    images[0],
                ),
                format!("add credentials for {reg}: `podman login --authfile {path} {reg}`"),
            )
        });
    }
    for u in &unreachable {
        out.push(finding(
            "embed-image",
            Level::Fail,
            format!("cannot read {u}"),
            "the build would fail on it: check the reference, the registry and the pull secret",
        ));
    }
    // the copies go into a layer, which is then committed: about twice their size
    let want = total.saturating_mul(2);
    let (dir, free) = free_space(graph_root(sources));
    out.push(match free {
        Free::Bytes(b) if b < want => finding(
            "embed-space",
            Level::Fail,
            format!("the images take {}, {} free at {dir}", validate::human(total), validate::human(b)),
            format!("the build needs about {} (the copies, then the committed layer): free space or move podman's storage", validate::human(want)),
        ),
        Free::Bytes(b) => finding(
            "embed-space",
            Level::Ok,
            format!("the images take {}{}; {} free at {dir}", validate::human(total), if unreachable.is_empty() { "" } else { " (of those that could be read)" }, validate::human(b)),
            "",
        ),
        _ => finding(
            "embed-space",
            Level::Warn,
            format!("the images take {}; the free space at {dir} could not be read", validate::human(total)),
            format!("make sure about {} are free", validate::human(want)),
        ),
    });
    out
}
