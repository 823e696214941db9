//! What `mirror` copies, read before planning: MicroShift's release lists (from the built
//! image, or files) and the OS image list `release` pushes.

use camino::Utf8PathBuf;
use serde_json::Value;

use super::MirrorCmd;
use crate::arch::Arch;
use crate::config::Sources;
use crate::image::Image;
use crate::registry::{Registry, RegistryArgs};
use crate::validate::{self, bad};

/// The OS image list `release` pushes (`REGISTRY/ORG/NAME:latest`), and the auth file it is
/// read with (the registry's, when it exists): what `mirror` copies and `doctor --for mirror`
/// reads.
pub fn os_image(
    image_name: Option<&str>,
    registry: &RegistryArgs,
    sources: &Sources,
) -> anyhow::Result<(String, Option<Utf8PathBuf>)> {
    let name = Image::name(image_name, sources)?;
    let resolved = Registry::resolve(registry, sources, false)?;
    let auth = match sources.value(&crate::inputs::AUTH_CONFIG, registry.auth_config.as_deref())? {
        Some(p) => {
            let path = sources.path(&p)?;
            path.exists().then_some(path)
        }
        None => None,
    };
    Ok((resolved.remote(&name, Some("latest")), auth))
}

/// The release lists: the files given, else read from the local image (a container without
/// network that only reads the files; the one thing `--dry-run` runs too).
pub fn release_lists(
    args: &MirrorCmd,
    sources: &Sources,
    read_from: &mut Vec<String>,
) -> anyhow::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    if !args.release_lists.is_empty() {
        for f in &args.release_lists {
            let path = sources.flag_path("--release-list", f)?;
            let bytes = validate::read_bounded("--release-list", &path, 16 << 20)?;
            let doc: Value = serde_json::from_slice(&bytes)
                .map_err(|e| bad("--release-list", path.as_str(), format!("not JSON: {e}")))?;
            read_from.push(path.to_string());
            out.push((format!("--release-list {path}"), doc));
        }
        return Ok(out);
    }
    let name = Image::name(args.image_name.as_deref(), sources)?;
    let (what, raw) = sources.list(&crate::inputs::ARCHITECTURES, &args.archs)?;
    let archs = Arch::parse_list(&what, &raw)?;
    // the image `build` made: without --arch, or of an architecture; the release list
    // package carries every architecture's list
    let mut candidates = vec![format!("localhost/{name}:latest")];
    for a in &archs {
        candidates.push(format!("localhost/{name}:{}", a.tag()));
    }
    let found = candidates
        .iter()
        .find(|c| podman(sources, &["image", "exists", c]).is_some_and(|o| o.status.success()));
    let Some(image) = found else {
        return Err(validate::refuse(format!(
            "mirror: the release list is read from the built image, and none of {} is built here: `cargo xtask build` first, or give the list with --release-list FILE (release-<arch>.json of the microshift-release-info package)",
            candidates.join(", ")
        )));
    };
    for a in &archs {
        let file = format!("/usr/share/microshift/release/release-{}.json", a.uname());
        let read = podman(
            sources,
            &[
                "run",
                "--rm",
                "--network=none",
                "--entrypoint",
                "cat",
                image,
                &file,
            ],
        );
        let doc: Option<Value> = read
            .as_ref()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice(&o.stdout).ok());
        let Some(doc) = doc else {
            return Err(validate::refuse(format!(
                "mirror: {image} has no readable {file}: does it have the microshift-release-info package (and --arch {a} a list)? Or give the list with --release-list FILE"
            )));
        };
        read_from.push(format!("{image}:{file}"));
        out.push((format!("{file} in {image}"), doc));
    }
    Ok(out)
}

/// A read-only podman command run before planning (through sudo when the tool is not
/// root: the images are root's).
fn podman(sources: &Sources, args: &[&str]) -> Option<std::process::Output> {
    crate::exec::ask("podman", args, !sources.as_root)
}
