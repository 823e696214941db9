//! `cargo xtask`: build, publish, run and install MicroShift image-mode (bootc) images.
//!
//! Each subcommand resolves its inputs (flag > environment variable > config file >
//! default), validates them, and builds a [`plan::Plan`]; [`exec::run`] runs it,
//! `--dry-run` prints it. The modules, in layers (each imports only from layers below it;
//! only this file, the dispatch, sees them all):
//!
//! 1. `error`, `arch`, `validate`, `digest`: error types and exit codes, architectures,
//!    validators, SHA-256.
//! 2. `inputs`: every input declared once (flag, environment variable, config key, default).
//! 3. `record`, `config/`: the record of what the tool made; the config file, `Sources`
//!    and the resolvers (flag > environment > config > default), start-up.
//! 4. `secrets`, `device`: secret inputs and the `Secret` type; paths on a device.
//! 5. `plan/`: the plan model, its checks as data, its bash and JSON renderings.
//! 6. `inspect`, `pods`, `bootc`, `fleet/`: judging what tools print (`fleet/`: a
//!    rollout's per-device results and report).
//! 7. `exec/`: the one executor (steps, commands, lanes, report, secret files, signals).
//! 8. `image`, `registry`, `signing`, `builder`, `mirror`, `reach`, `flightctl`: the image,
//!    the registry, signing, remote builders, site mirrors, the devices the commands share,
//!    and flightctl's API.
//! 9. `commands/`: one file per subcommand.
//! 10. this file: the command line, parsing, the dispatch, exit codes.

pub mod arch;
pub mod bootc;
pub mod builder;
pub mod commands;
pub mod config;
pub mod device;
pub mod digest;
pub mod error;
pub(crate) mod exec;
pub mod fleet;
pub mod flightctl;
pub mod image;
pub mod inputs;
pub mod inspect;
pub mod mirror;
pub mod plan;
pub(crate) mod pods;
pub mod reach;
pub mod record;
pub mod registry;
pub(crate) mod secrets;
pub mod signing;
pub mod validate;

pub use commands::{Action, Ctx};
pub use error::exit;

use commands::{
    build, bundle, clean, completions, disk, docs, doctor, keygen, kickstart, lint, manifest, push,
    release, rollback, rollout, run, status, upgrade, verify, vm,
};

use std::ffi::OsString;

use clap::{Parser, Subcommand};
use xshell::Shell;

use crate::config::Sources;
use crate::error::{BadInput, Interrupted};
use crate::plan::Plan;

/// Parse, plan, run. Returns the process exit code.
pub fn main<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    // known before parsing, for the one document a bad command line gets too
    let json = args.iter().skip(1).any(|a| a == "--json");
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                use std::io::Write;
                let _ = write!(std::io::stdout(), "{e}");
                return exit::OK;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprint!("{e}");
                return exit::BAD_INPUT;
            }
            // one line: clap's first line names the flag and the value
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("error: bad arguments");
            eprintln!("{first} (see `cargo xtask --help`)");
            if json {
                let message = first.strip_prefix("error: ").unwrap_or(first);
                exec::print_json(&serde_json::json!({
                    "ok": false,
                    "error": { "kind": "bad_input", "message": message, "hint": null, "exit": exit::BAD_INPUT },
                    "exit": exit::BAD_INPUT,
                }));
            }
            return exit::BAD_INPUT;
        }
    };
    let json = cli.json;
    match try_main(cli) {
        Ok(()) => exit::OK,
        Err(e) => {
            let code = report_error(&e);
            // `--json` prints one document, also when the command fails before its own
            if json && !exec::printed_json() {
                exec::print_json(&serde_json::json!({
                    "ok": false,
                    "error": exec::error_json(&e),
                    "exit": code,
                }));
            }
            code
        }
    }
}

fn try_main(cli: Cli) -> anyhow::Result<()> {
    let sources =
        Sources::from_process(config::project_root(), cli.config.as_deref(), cli.dry_run)?;
    let ctx = Ctx {
        sources: &sources,
        dry_run: cli.dry_run,
        json: cli.json,
        verbose: cli.verbose,
    };
    let plan = match act(&cli.command, &ctx)? {
        Action::Plan(plan) => plan,
        Action::Done => return Ok(()),
    };
    check_secret_dir(&plan)?;
    check_podman_host(&plan, &sources)?;
    if cli.dry_run {
        let mut plan = plan;
        let wanted = sources.wanted.borrow();
        if !wanted.is_empty() {
            let mut note =
                String::from("to run this for real, give what this preview did not find:");
            for w in wanted.iter() {
                note.push_str(&format!("\n  - {w}"));
            }
            plan.note = Some(match plan.note.take() {
                Some(n) => format!("{note}\n{n}"),
                None => note,
            });
        }
        if cli.json {
            exec::print_json(&plan.to_json());
        } else {
            use std::io::Write;
            let _ = write!(std::io::stdout(), "{}", plan.render());
        }
        return Ok(());
    }
    if let Some(note) = &plan.note {
        eprintln!("{note}");
    }
    let sh = Shell::new()?;
    sh.change_dir(&sources.root);
    let opts = exec::Options {
        verbose: cli.verbose,
        stdout_to_stderr: cli.json,
    };
    let (report, result) = exec::run(&sh, &plan, opts);
    let code = result.as_ref().err().map_or(0, error::exit_code);
    // what the summaries and the report files are made of, and the summary, made once
    let facts = with_facts(&report, &plan);
    let summarized = plan
        .summary
        .map(|(key, summary)| (key, summary(&facts, code)));
    if result.is_ok() {
        for line in &report.lines {
            eprintln!("{line}");
        }
        // a summary may end with a line for people (mirror's totals)
        if let Some(line) = summarized
            .as_ref()
            .and_then(|(_, s)| s.get("line"))
            .and_then(|l| l.as_str())
        {
            eprintln!("{line}");
        }
    } else if let Some(lines) = summarized
        .as_ref()
        .and_then(|(_, s)| s.get("lines"))
        .and_then(|l| l.as_str())
    {
        // a plan that ended early: what its summary could still make of it, for people (a
        // rollout stopped while its play ran: the devices judged so far)
        eprintln!("{lines}");
    }
    // the reports made from the results (a JUnit file), however the plan ended
    for f in &plan.report_files {
        if let Some(text) = (f.make)(&facts, code).as_str() {
            match write_report(&f.path, text) {
                Ok(()) => eprintln!("{} written to {}", f.what, f.path),
                Err(e) => eprintln!("warning: could not write {} to {}: {e}", f.what, f.path),
            }
        }
    }
    if cli.json {
        let mut doc = report.to_json(&plan, result.is_ok());
        if let Err(e) = &result {
            doc["error"] = exec::error_json(e);
            doc["exit"] = serde_json::json!(error::exit_code(e));
        }
        if let Some((key, summary)) = summarized {
            doc[key] = summary;
        }
        exec::print_json(&doc);
    }
    result
}

/// The steps' results, the plan's facts under `_facts`, and how each step that was reached
/// ended under `_steps` (`{"playbook": "interrupted"}`): what a summary is made of.
fn with_facts(
    report: &exec::Report,
    plan: &Plan,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut all = report.data.clone();
    all.insert("_facts".to_string(), plan.facts.clone());
    let steps: serde_json::Map<String, serde_json::Value> = report
        .steps
        .iter()
        .map(|s| (s.id.to_string(), serde_json::json!(s.status.word())))
        .collect();
    all.insert("_steps".to_string(), serde_json::Value::Object(steps));
    all
}

/// A report file, written whole: into a file beside it, then renamed into place.
fn write_report(path: &camino::Utf8Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or("report");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn report_error(e: &anyhow::Error) -> i32 {
    if let Some(bad) = e.downcast_ref::<BadInput>() {
        eprintln!("error: {bad}");
    } else if let Some(stop) = e.downcast_ref::<Interrupted>() {
        eprintln!("error: {stop}");
    } else {
        eprintln!("error: {e:#}");
    }
    error::exit_code(e)
}

/// Secret files go to `$TMPDIR/xtask-secrets-*/`, and their path into options such as
/// podman's `--secret id=...,src=PATH`: a TMPDIR with a comma or a control character would
/// break them. Checked before anything runs.
fn check_secret_dir(plan: &Plan) -> anyhow::Result<()> {
    let uses_files = plan.steps.iter().any(|s| {
        s.args.iter().any(|a| {
            matches!(
                a,
                plan::Arg::SecretFile { .. }
                    | plan::Arg::SecretHeader { .. }
                    | plan::Arg::OutFile { .. }
            )
        })
    });
    if !uses_files {
        return Ok(());
    }
    let tmp = std::env::temp_dir();
    let Some(tmp) = tmp.to_str() else {
        return Err(validate::bad(
            "TMPDIR",
            &tmp.to_string_lossy(),
            "is not UTF-8",
        ));
    };
    validate::no_control("TMPDIR", tmp)?;
    validate::no_comma("TMPDIR", tmp, "podman's --secret id=...,src=PATH")
}

/// podman (4.x) goes remote when `CONTAINER_HOST` is set: every podman command of the plan
/// would go there, the local lanes' builds, their secrets and logins too. `tcp://` to
/// another machine is refused as `--builder` refuses it.
fn check_podman_host(plan: &Plan, sources: &Sources) -> anyhow::Result<()> {
    if !plan.steps.iter().any(|s| s.program == "podman") {
        return Ok(());
    }
    match sources.env_var("CONTAINER_HOST")? {
        Some(host) if builder::tcp_elsewhere(&host) => Err(validate::bad(
            "CONTAINER_HOST",
            &host,
            format!(
                "podman sends every command there when it is set: {}; unset it to run podman here",
                builder::TCP_REFUSED
            ),
        )),
        _ => Ok(()),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, publish, run and install MicroShift image-mode (bootc) images",
    after_help = "Inputs: flag > environment variable (the documented procedure's names) > microshift-image.json > default.\nExit codes: 0 ok, 1 a step failed, 2 bad input, 3 a wait timed out, 4 upgrade: the device rolled back, 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM."
)]
pub struct Cli {
    /// Print the plan (pasteable bash, secrets as ${NAME}) and run nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Echo each command as it runs
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print one JSON document on stdout (the plan with --dry-run, else the results)
    #[arg(long, global = true)]
    pub json: bool,
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build the bootc image with podman ("Build Image"; with --arch, "Appendix A")
    Build(build::BuildArgs),
    /// Log in and push the image to the remote registry ("Publish Image")
    Push(push::PushArgs),
    /// Create, push and check the multi-architecture manifest list ("Appendix A")
    Manifest(manifest::ManifestArgs),
    /// Render the installation kickstart ("Prepare Kickstart File"); prints it with secrets
    /// redacted, or writes the full file (mode 0600) with --output
    Kickstart(kickstart::KickstartCmd),
    /// Build and push every architecture at the same time, then the manifest list; what the
    /// registry already holds is not pushed again
    ///
    /// A lane may run on another machine's podman (--builder arm64=ssh://..., through
    /// podman's remote API; podman >= 4.3). On podman >= 4.9, `podman farm build` builds one
    /// image on several machines into a list too; these lanes keep the tool's record,
    /// signing and checks, and need only 4.3.
    Release(release::ReleaseArgs),
    /// Bootable disk images and installer ISOs from the image, with bootc-image-builder
    Disk(disk::DiskArgs),
    /// Install a libvirt VM from the image with virt-install ("Create Virtual Machine")
    Vm(vm::VmArgs),
    /// Prepare the host (openvswitch, volume group) and start the image as a privileged
    /// container ("Run MicroShift Bootc Image")
    Run(run::RunArgs),
    /// Wait until MicroShift's pods are all ready, in the container or VM (`oc get pods -A`)
    Verify(verify::VerifyArgs),
    /// What a device runs: booted, staged and rollback images, greenboot's verdict,
    /// MicroShift's service, and whether the registry holds something newer
    Status(status::StatusArgs),
    /// Move a device to the image's digest for its architecture (bootc switch), reboot, and
    /// wait for greenboot's verdict and every pod; exit 4 when the device rolled back
    Upgrade(upgrade::UpgradeArgs),
    /// Boot the device's rollback deployment again (bootc rollback), with upgrade's checks
    Rollback(rollback::RollbackArgs),
    /// One release to a fleet, in waves, through Ansible (each device handed to `upgrade`)
    /// or a flightctl fleet (--flightctl: its agents move the devices, batch by batch): the
    /// image pinned once; a table, --json and --junit with every device's verdict; exit 4
    /// when a device rolled back, 3 when one is gone
    Rollout(rollout::RolloutArgs),
    /// Remove exactly what `run` recorded making (containers, loop-device volume group,
    /// loop device and file), nothing made by hand
    Clean(clean::CleanArgs),
    /// Make a signing key (gpg or sigstore) for signed pushes: prints what to put in the
    /// config file
    Keygen(keygen::KeygenArgs),
    /// Copy MicroShift's images (the built image's release list), workload images and the OS
    /// image into a site's mirror registry, or a directory carried to a site with no path to
    /// the registries (`--to-dir`, then `--from-dir DIR --to REGISTRY`); digests kept, each
    /// image read back by digest, what the mirror holds already not copied again
    Mirror(commands::mirror::MirrorCmd),
    /// The release for devices with no network at all: each architecture's image as an OCI
    /// layout (by the digest the registry holds) and a manifest of every blob's SHA-256,
    /// signed with the release key; a device built with usb_updates verifies it with the key
    /// its image carries (a USB stick, or `upgrade --from-bundle` from a laptop)
    Bundle(bundle::BundleArgs),
    /// Check the host for a step: prints check, status, what it found and how to fix it
    Doctor(doctor::DoctorArgs),
    /// hadolint, shellcheck, GitHub's workflow schema, ksvalidator and our own Containerfile
    /// rules over the repository
    Lint,
    /// Print a shell completion script
    Completions(completions::CompletionsArgs),
    /// Write the command reference (docs/src/reference/) from this command line's own model;
    /// --check fails when the checked-in pages differ
    Docs(docs::DocsArgs),
}

/// The command line: the derived [`Cli`], with each declared input's help, environment
/// variable, config key and default filled in from `inputs.rs`.
pub fn cli() -> clap::Command {
    use clap::CommandFactory;
    fn fill(mut cmd: clap::Command) -> clap::Command {
        let ids: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| inputs::by_id(id).is_some())
            .collect();
        for id in ids {
            if let Some(input) = inputs::by_id(&id) {
                cmd = cmd.mut_arg(id, |a| a.help(input.long_help()));
            }
        }
        let subs: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        for name in subs {
            cmd = cmd.mut_subcommand(name, fill);
        }
        cmd
    }
    fill(Cli::command())
}

/// Parse a command line as `cargo xtask` does.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    // one command-line model, built once, serves both passes
    let mut cmd = cli();
    cmd.build();
    let args = join_negative_values(&cmd, args.into_iter().collect());
    let matches = cmd.try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// `--lvm-loop -1G`, `--vcpus -2`: a value that starts with `-` and a digit is a (bad)
/// value, not a flag; joined as `--flag=-1G` it reaches the flag's own validation, which
/// names it, instead of clap's "unexpected argument '-1'".
fn join_negative_values(cmd: &clap::Command, args: Vec<OsString>) -> Vec<OsString> {
    let takes_value = |long: &str| {
        let mut all = vec![cmd];
        all.extend(cmd.get_subcommands());
        all.iter().any(|c| {
            c.get_arguments().any(|a| {
                a.get_long() == Some(long) && a.get_num_args().is_some_and(|n| n.takes_values())
            })
        })
    };
    let mut out: Vec<OsString> = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        let joined = match (arg.to_str(), iter.peek().and_then(|n| n.to_str())) {
            (Some(flag), Some(next))
                if flag.starts_with("--")
                    && !flag.contains('=')
                    && takes_value(&flag[2..])
                    && next.starts_with('-')
                    && next[1..].starts_with(|c: char| c.is_ascii_digit()) =>
            {
                Some(format!("{flag}={next}"))
            }
            _ => None,
        };
        match joined {
            Some(j) => {
                iter.next();
                out.push(OsString::from(j));
            }
            None => out.push(arg),
        }
    }
    out
}

/// Every subcommand has one entry point of this shape: `act(args, ctx) -> Action`.
pub fn act(command: &Command, ctx: &Ctx) -> anyhow::Result<Action> {
    match command {
        Command::Build(a) => build::act(a, ctx),
        Command::Push(a) => push::act(a, ctx),
        Command::Manifest(a) => manifest::act(a, ctx),
        Command::Kickstart(a) => kickstart::act(a, ctx),
        Command::Release(a) => release::act(a, ctx),
        Command::Disk(a) => disk::act(a, ctx),
        Command::Vm(a) => vm::act(a, ctx),
        Command::Run(a) => run::act(a, ctx),
        Command::Verify(a) => verify::act(a, ctx),
        Command::Status(a) => status::act(a, ctx),
        Command::Upgrade(a) => upgrade::act(a, ctx),
        Command::Rollback(a) => rollback::act(a, ctx),
        Command::Rollout(a) => rollout::act(a, ctx),
        Command::Clean(a) => clean::act(a, ctx),
        Command::Keygen(a) => keygen::act(a, ctx),
        Command::Mirror(a) => commands::mirror::act(a, ctx),
        Command::Bundle(a) => bundle::act(a, ctx),
        Command::Doctor(a) => doctor::act(a, ctx),
        Command::Lint => lint::act(ctx),
        Command::Completions(a) => completions::act(a, ctx, cli()),
        Command::Docs(a) => docs::act(a, ctx, cli()),
    }
}

/// The plan of a command, as `--dry-run` prints it (for tests and tools).
pub fn plan_for(command: &Command, sources: &Sources) -> anyhow::Result<Plan> {
    let ctx = Ctx {
        sources,
        dry_run: true,
        json: false,
        verbose: false,
    };
    match act(command, &ctx)? {
        Action::Plan(plan) => Ok(*plan),
        Action::Done => anyhow::bail!("this command acts directly; it has no plan"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag has help: from its declaration in `inputs.rs` when it has one (then no doc
    /// comment, which `cli()` would overwrite unseen), else from its doc comment.
    #[test]
    fn every_flag_has_help_from_one_place() {
        use clap::CommandFactory;
        fn walk(
            raw: &clap::Command,
            filled: &clap::Command,
            path: &str,
            problems: &mut Vec<String>,
        ) {
            for arg in raw.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_positional() && id == "shell" {
                    continue;
                }
                let declared = inputs::by_id(id).is_some();
                let doc = arg.get_help().map(ToString::to_string).unwrap_or_default();
                if declared && !doc.is_empty() {
                    problems.push(format!(
                        "{path} --{id}: a doc comment ('{doc}') that inputs.rs overwrites"
                    ));
                }
                let shown = filled
                    .get_arguments()
                    .find(|a| a.get_id() == arg.get_id())
                    .and_then(|a| a.get_help().map(ToString::to_string))
                    .unwrap_or_default();
                if shown.trim().is_empty() {
                    problems.push(format!("{path} --{id}: no help"));
                }
            }
            for sub in raw.get_subcommands() {
                let name = sub.get_name();
                let filled_sub = filled.find_subcommand(name).expect("the same subcommands");
                walk(sub, filled_sub, &format!("{path} {name}"), problems);
            }
        }
        let mut problems = Vec::new();
        walk(&Cli::command(), &cli(), "xtask", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
