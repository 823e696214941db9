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
    plan(ctx.sources).map(Action::Plan)
}

fn plan(sources: &Sources) -> anyhow::Result<Plan> {
    let rec = sources.record()?;
    let text = |e: &serde_json::Map<String, serde_json::Value>, k: &str| {
        e.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let mut plan = Plan::new(
        format!("clean up what `run` made (record {})", rec.path),
        sources.as_root,
    );
    plan.record = Some(rec.path.clone());
    for c in rec
        .of_kind("container")
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let name = text(c, "name");
        let name = validate::simple_name(&format!("record {}: container", rec.path), &name)?;
        // by id when `run -d` recorded it: a later container of the same name is not ours
        let id = text(c, "id");
        let target = if !id.is_empty() && id.chars().all(|x| x.is_ascii_hexdigit()) {
            id
        } else {
            name.clone()
        };
        plan.push(
            Step::new(
                "container",
                format!("remove container {name} (if it is still there)"),
                "podman",
            )
            .args(["rm", "--force", "--ignore", "--", &target])
            .root(true)
            .record(Recording::Forget(Entry::new("container", "name", &name))),
        );
    }
    for vg in rec
        .of_kind("volume-group")
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let name = text(vg, "name");
        let name = validate::simple_name(&format!("record {}: volume group", rec.path), &name)?;
        plan.push(
            Step::new(
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
            .record(Recording::Forget(Entry::new("volume-group", "name", &name))),
        );
    }
    for f in rec
        .of_kind("loop-file")
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let file = text(f, "file");
        validate::no_control(&format!("record {}: loop file", rec.path), &file)?;
        if !file.starts_with('/') {
            return Err(bad(
                &format!("record {}: loop file", rec.path),
                &file,
                "not an absolute path: the record was edited by hand",
            ));
        }
        // any loop device on a file `run` made is `run`'s
        plan.push(
            Step::new(
                "loop-device",
                format!("find the loop device of {file}"),
                "losetup",
            )
            .args(["-j", &file])
            .probe()
            .capture("VGLOOP", Extract::BeforeColon)
            .root(true),
        );
        plan.push(
            Step::new("detach", "detach it", "losetup")
                .arg("-d")
                .var_arg("", "VGLOOP")
                .root(true)
                .when(When::IfSet("VGLOOP"))
                .record(Recording::Forget(Entry::new("loop-device", "file", &file))),
        );
        plan.push(
            Step::new("loop-file", format!("delete {file}"), "rm")
                .args(["-f", "--", &file])
                .root(true)
                .record(Recording::Forget(Entry::new("loop-device", "file", &file)))
                .record(Recording::Forget(Entry::new("loop-file", "file", &file))),
        );
    }
    if plan.steps.is_empty() {
        plan.note = Some(format!(
            "nothing to clean: the record ({}) lists nothing that `cargo xtask run` made.\nWhat was made by hand stays; to remove it yourself:\n  podman rm -f NAME\n  vgremove VOLUME_GROUP\n  losetup -d \"$(losetup -j FILE | cut -d: -f1)\"\n  rm -f FILE",
            rec.path
        ));
    }
    Ok(plan)
}
