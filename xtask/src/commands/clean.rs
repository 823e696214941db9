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
            // by id when `run -d` recorded it: a later container of the same name is not ours
            let id = text("id");
            let target = if !id.is_empty() && id.chars().all(|x| x.is_ascii_hexdigit()) {
                id
            } else {
                name.clone()
            };
            vec![Step::new(
                "container",
                format!("remove container {name} (if it is still there)"),
                "podman",
            )
            .args(["rm", "--force", "--ignore", "--", &target])
            .root(true)
            .record(Recording::Forget(Entry::new("container", "name", &name)))]
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
