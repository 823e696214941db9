//! `cargo xtask clean`: undo what `run` made, exactly: the record (`record.rs`) lists it.

use super::run::VG_TAG;
use super::{Action, Ctx};
use crate::config::Sources;
use crate::plan::{Entry, Extract, Plan, Recording, Step, When};
use crate::validate::{self, bad};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CleanArgs {}

/// `cargo xtask clean`: remove exactly what `run` recorded making — its containers, and the
/// loop-device volume group, loop device and file when `run --lvm-loop` made them — newest
/// first, each forgotten from the record once removed. Nothing else: a volume group, loop
/// device or file made by hand is never touched. Safe to repeat.
pub fn act(_args: &CleanArgs, ctx: &Ctx) -> anyhow::Result<Action> {
    plan(ctx.sources).map(Action::plan)
}

fn plan(sources: &Sources) -> anyhow::Result<Plan> {
    let rec = sources.record()?;
    let mut plan = Plan::new(
        format!("clean up what `run` made (record {})", rec.path),
        sources.as_root,
    );
    plan.record = Some(rec.path.clone());
    plan.facts = serde_json::json!({
        "record": rec.path.as_str(),
        "entries": rec.entries.iter().map(|e| serde_json::Value::Object(e.clone())).collect::<Vec<_>>(),
    });
    // containers first (they use the volume group), then volume groups, then loop files;
    // each kind newest first
    for kind in ["container", "volume-group", "loop-file"] {
        for entry in rec.of_kind(kind).collect::<Vec<_>>().into_iter().rev() {
            let text = |k: &str| {
                entry
                    .get(k)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let what = format!("record {}: {}", rec.path, kind.replace('-', " "));
            for step in undo(kind, &what, &text)? {
                plan.push(step);
            }
        }
    }
    if plan.steps.is_empty() {
        plan.note = Some(format!(
            "nothing to clean: the record ({}) lists nothing that `cargo xtask run` made.\nWhat was made by hand stays; to remove it yourself:\n  podman rm -f NAME\n  vgremove VOLUME_GROUP\n  losetup -d \"$(losetup -j FILE | cut -d: -f1)\"\n  rm -f FILE",
            rec.path
        ));
    }
    Ok(plan)
}

/// The steps that undo one entry of the record; `text` reads its fields.
fn undo(kind: &str, what: &str, text: &dyn Fn(&str) -> String) -> anyhow::Result<Vec<Step>> {
    Ok(match kind {
        "container" => {
            let name = validate::simple_name(what, &text("name"))?;
            let forget = || Entry::new("container", "name", &name);
            // by the id `run -d` recorded: a later container of the same name is not ours
            let id = text("id");
            if !id.is_empty() && id.chars().all(|x| x.is_ascii_hexdigit()) {
                return Ok(vec![Step::new(
                    "container",
                    format!("remove container {name} (if it is still there)"),
                    "podman",
                )
                .args(["rm", "--force", "--ignore", "--", &id])
                .root(true)
                .record(Recording::Forget(forget()))]);
            }
            // no id (a run stopped before podman answered): only a container of that name
            // made from the recorded image is the one `run` made
            let image = text("image");
            if image.is_empty() {
                // an older record: nothing tells the container apart; forgotten once gone
                return Ok(vec![Step::new(
                    "container-gone",
                    format!("is container {name} still there? (recorded without an id or image: it is not removed; `podman rm -f {name}` if it is yours)"),
                    "podman",
                )
                .args(["container", "exists", &name])
                .probe()
                .root(true)
                .record(Recording::ForgetIfNo(forget()))]);
            }
            validate::image_reference(what, &image)?;
            let var = crate::plan::name(format!("FOUND_{}", name.replace(['.', '-'], "_")));
            vec![
                Step::new(
                    "container-find",
                    format!("find container {name} made from {image}"),
                    "podman",
                )
                .args([
                    "ps".to_string(),
                    "--all".to_string(),
                    "--filter".to_string(),
                    format!("name=^{name}$"),
                    "--filter".to_string(),
                    format!("ancestor={image}"),
                    "--format".to_string(),
                    "{{.ID}}".to_string(),
                ])
                .probe()
                .capture(var, Extract::Trim)
                .root(true)
                .record(Recording::ForgetIfNo(forget())),
                Step::new("container", format!("remove container {name}"), "podman")
                    .args(["rm", "--force", "--ignore", "--"])
                    .var_arg("", var)
                    .root(true)
                    .when(When::IfSet(var))
                    .record(Recording::Forget(forget())),
            ]
        }
        "volume-group" => {
            let name = validate::simple_name(what, &text("name"))?;
            vec![Step::new(
                "vgremove",
                format!("remove volume group {name} (made by `run`, tag {VG_TAG})"),
                "vgremove",
            )
            .args([
                "--select".to_string(),
                format!("vg_name={name} && vg_tags={VG_TAG}"),
                "--force".to_string(),
                "--yes".to_string(),
            ])
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .root(true)
            .record(Recording::Forget(Entry::new("volume-group", "name", &name)))]
        }
        _ => {
            let file = text("file");
            validate::no_control(what, &file)?;
            if !file.starts_with('/') {
                return Err(bad(
                    what,
                    &file,
                    "not an absolute path: the record was edited by hand",
                ));
            }
            // any loop device on a file `run` made is `run`'s
            vec![
                Step::new(
                    "loop-device",
                    format!("find the loop device of {file}"),
                    "losetup",
                )
                .args(["-j", &file])
                .probe()
                .capture("VGLOOP", Extract::BeforeColon)
                .root(true),
                Step::new("detach", "detach it", "losetup")
                    .arg("-d")
                    .var_arg("", "VGLOOP")
                    .root(true)
                    .when(When::IfSet("VGLOOP"))
                    .record(Recording::Forget(Entry::new("loop-device", "file", &file))),
                Step::new("loop-file", format!("delete {file}"), "rm")
                    .args(["-f", "--", &file])
                    .root(true)
                    .record(Recording::Forget(Entry::new("loop-device", "file", &file)))
                    .record(Recording::Forget(Entry::new("loop-file", "file", &file))),
            ]
        }
    })
}
