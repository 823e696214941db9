//! `cargo xtask`: build, publish, run and install MicroShift image-mode (bootc) images.
//!
//! Each subcommand resolves its inputs (flag > environment variable > config file > default),
//! validates them, and builds a [`plan::Plan`]; [`exec::run`] runs it, `--dry-run` prints it.

pub mod build;
pub mod config;
pub mod doctor;
pub mod exec;
pub mod inputs;
pub mod inspect;
pub mod kickstart;
pub mod lint;
pub mod manifest;
pub mod plan;
pub mod pods;
pub mod push;
pub mod record;
pub mod registry;
pub mod run;
pub mod secrets;
pub mod validate;
pub mod verify;
pub mod vm;

use std::ffi::OsString;

use clap::{Parser, Subcommand};
use xshell::Shell;

use crate::config::Sources;
use crate::plan::Plan;
use crate::validate::BadInput;

/// Exit codes (documented in the README).
pub mod exit {
    /// Everything ran and every check passed.
    pub const OK: i32 = 0;
    /// A step failed (its command exited non-zero or its output failed a check).
    pub const FAILED: i32 = 1;
    /// Bad input: a flag, environment variable, config value or input file. Nothing ran.
    pub const BAD_INPUT: i32 = 2;
    /// `verify` (or another wait) ran out of time before the state was reached.
    pub const TIMEOUT: i32 = 3;
}

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, publish, run and install MicroShift image-mode (bootc) images",
    after_help = "Inputs: flag > environment variable (the documented procedure's names) > microshift-image.json > default.\nExit codes: 0 ok, 1 a step failed, 2 bad input, 3 verify timed out."
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
    Kickstart(KickstartCmd),
    /// Install a libvirt VM from the image with virt-install ("Create Virtual Machine")
    Vm(vm::VmArgs),
    /// Prepare the host (openvswitch, volume group) and start the image as a privileged
    /// container ("Run MicroShift Bootc Image")
    Run(run::RunArgs),
    /// Wait until MicroShift's pods are all ready, in the container or VM (`oc get pods -A`)
    Verify(verify::VerifyArgs),
    /// Remove exactly what `run` recorded making (containers, loop-device volume group,
    /// loop device and file), nothing made by hand
    Clean(run::CleanArgs),
    /// Check the host for a step: prints check, status, what it found and how to fix it
    Doctor(doctor::DoctorArgs),
    /// hadolint, shellcheck, ksvalidator and our own Containerfile rules over the repository
    Lint,
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args, Debug)]
pub struct KickstartCmd {
    #[command(flatten)]
    pub args: kickstart::KickstartArgs,
    /// Write the full kickstart, secrets included, to this file (mode 0600)
    #[arg(long)]
    pub output: Option<camino::Utf8PathBuf>,
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
    let matches = cli().try_get_matches_from(join_negative_values(args.into_iter().collect()))?;
    Cli::from_arg_matches(&matches)
}

/// Parse, plan, run. Returns the process exit code.
pub fn main<I: IntoIterator<Item = OsString>>(args: I) -> i32 {
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
            return exit::BAD_INPUT;
        }
    };
    match try_main(cli) {
        Ok(()) => exit::OK,
        Err(e) => report_error(&e),
    }
}

/// `--lvm-loop -1G`, `--vcpus -2`: a value that starts with `-` and a digit is a (bad)
/// value, not a flag; joined as `--flag=-1G` it reaches the flag's own validation, which
/// names it, instead of clap's "unexpected argument '-1'".
fn join_negative_values(args: Vec<OsString>) -> Vec<OsString> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let takes_value = |long: &str| {
        let mut all = vec![&cmd];
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

fn report_error(e: &anyhow::Error) -> i32 {
    if let Some(bad) = e.downcast_ref::<BadInput>() {
        eprintln!("error: {bad}");
        return exit::BAD_INPUT;
    }
    if let Some(stop) = e.downcast_ref::<exec::Interrupted>() {
        eprintln!("error: {stop}");
        return 128 + stop.signal;
    }
    eprintln!("error: {e:#}");
    match e.downcast_ref::<exec::StepFailed>() {
        Some(f) if f.timed_out => exit::TIMEOUT,
        _ => exit::FAILED,
    }
}

/// Resolve and validate the inputs of a command, and build its plan.
pub fn plan_for(command: &Command, sources: &Sources) -> anyhow::Result<Plan> {
    let as_root = sources.as_root;
    Ok(match command {
        Command::Build(a) => build::Build::resolve(a, sources)?.plan(as_root),
        Command::Push(a) => push::Push::resolve(a, sources)?.plan(as_root),
        Command::Manifest(a) => manifest::Manifest::resolve(a, sources)?.plan(as_root),
        Command::Vm(a) => match &a.destroy {
            Some(_) => vm::destroy_plan(a, sources)?,
            None => vm::Vm::resolve(a, sources)?.plan(as_root)?,
        },
        Command::Run(a) => run::Run::resolve(a, sources)?.plan(as_root),
        Command::Verify(a) => verify::plan(a, sources)?,
        Command::Clean(a) => run::clean_plan(a, sources)?,
        Command::Lint => lint::prepare(sources)?.plan,
        Command::Kickstart(_) | Command::Doctor(_) | Command::Completions { .. } => {
            anyhow::bail!("this command has no plan")
        }
    })
}

/// `cargo xtask completions SHELL`
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = cli();
    // for `alias xtask='cargo xtask'`: a shell cannot complete the two words `cargo xtask`
    clap_complete::generate(shell, &mut cmd, "xtask", &mut std::io::stdout());
    Ok(())
}

/// `cargo xtask doctor`: the checks' table (or JSON); exit 1 when one fails.
fn doctor(
    args: &doctor::DoctorArgs,
    sources: &Sources,
    json: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    use std::io::Write;
    let steps = doctor::steps(args.step);
    if dry_run {
        let _ = writeln!(
            std::io::stdout(),
            "# doctor is read-only: it checks the host for {}",
            steps.join(", ")
        );
        return Ok(());
    }
    let findings = doctor::check(args, sources)?;
    if json {
        print_json(&doctor::to_json(&findings));
    } else {
        let _ = write!(std::io::stdout(), "{}", doctor::table(&findings));
    }
    let failed: Vec<&str> = findings
        .iter()
        .filter(|f| f.status == doctor::Status::Fail)
        .map(|f| f.check)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow::Error::new(exec::StepFailed {
            message: format!(
                "the host is not ready for {}: {} failed",
                steps.join(", "),
                failed.join(", ")
            ),
            hint: None,
            timed_out: false,
        }))
    }
}

/// `cargo xtask lint`: our rules, then every linter; exit 1 when anything is found.
fn lint(sources: &Sources, verbose: bool) -> anyhow::Result<()> {
    let prepared = lint::prepare(sources)?;
    for p in &prepared.problems {
        eprintln!("lint: {p}");
    }
    let sh = Shell::new()?;
    sh.change_dir(&sources.root);
    let opts = exec::Options {
        verbose,
        ..exec::Options::default()
    };
    let (report, result) = exec::run(&sh, &prepared.plan, opts);
    result?;
    let failed: Vec<String> = report
        .steps
        .iter()
        .filter(|s| s.status == exec::Status::No)
        .map(|s| s.id.to_string())
        .collect();
    if prepared.problems.is_empty() && failed.is_empty() {
        eprintln!("ok: lint found nothing");
        return Ok(());
    }
    let mut what = Vec::new();
    if !prepared.problems.is_empty() {
        what.push(format!("{} finding(s) above", prepared.problems.len()));
    }
    if !failed.is_empty() {
        what.push(format!("{} reported problems", failed.join(", ")));
    }
    Err(anyhow::Error::new(exec::StepFailed {
        message: format!("lint: {}", what.join("; ")),
        hint: None,
        timed_out: false,
    }))
}

/// `verify --pods-file`: judge a saved pod list; exit 0 only when every pod is ready.
fn pods_file(path: &camino::Utf8Path, sources: &Sources, json: bool) -> anyhow::Result<()> {
    let path = &sources.flag_path("--pods-file", path.as_str())?;
    // a pod list of a big cluster is a few megabytes; /dev/zero is not one
    let bytes = validate::read_bounded("--pods-file", path, 64 << 20)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| validate::bad("--pods-file", path.as_str(), "is not UTF-8 text"))?;
    let verdict = pods::judge(&text)
        .map_err(|e| anyhow::Error::new(BadInput(format!("--pods-file: '{path}': {e:#}"))))?;
    if json {
        print_json(&verdict.to_json());
    }
    if verdict.all_ready() {
        eprintln!("ok: all {} pods ready", verdict.ready());
        Ok(())
    } else {
        Err(anyhow::Error::new(exec::StepFailed {
            message: format!("not every pod is ready ({path})\n{}", verdict.diagnosis()),
            hint: None,
            timed_out: false,
        }))
    }
}

/// `cargo xtask kickstart`: print (redacted) or write (0600) the kickstart.
fn kickstart(cmd: &KickstartCmd, sources: &Sources, dry_run: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let ks = kickstart::Kickstart::resolve(&cmd.args, sources)?;
    let output = cmd
        .output
        .as_ref()
        .map(|p| sources.flag_path("--output", p.as_str()))
        .transpose()?;
    match &output {
        Some(path) if !dry_run => {
            ks.write(path)?;
            eprintln!("ok: wrote {path} (mode 0600; it holds secrets)");
        }
        Some(path) => {
            kickstart::check_output(path)?;
            let _ = write!(
                std::io::stdout(),
                "# would write {path} (mode 0600)\n{}",
                ks.render(true)?
            );
        }
        None => {
            let _ = write!(std::io::stdout(), "{}", ks.render(true)?);
        }
    }
    Ok(())
}

/// Secret files go to `$TMPDIR/xtask-secrets-*/`, and their path into options such as
/// podman's `--secret id=...,src=PATH`: a TMPDIR with a comma or a control character would
/// break them. Checked before anything runs.
fn check_secret_dir(plan: &Plan) -> anyhow::Result<()> {
    let uses_files = plan.steps.iter().any(|s| {
        s.args
            .iter()
            .any(|a| matches!(a, plan::Arg::SecretFile { .. } | plan::Arg::OutFile { .. }))
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

/// Print a JSON document on stdout; a closed pipe is not worth a panic.
fn print_json(doc: &serde_json::Value) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{text}");
}

fn try_main(cli: Cli) -> anyhow::Result<()> {
    let sources = Sources::from_process(config::project_root(), cli.config.as_deref())?;
    match &cli.command {
        Command::Kickstart(cmd) => return kickstart(cmd, &sources, cli.dry_run),
        Command::Doctor(args) => return doctor(args, &sources, cli.json, cli.dry_run),
        Command::Completions { shell } => return completions(*shell),
        Command::Lint if !cli.dry_run => return lint(&sources, cli.verbose),
        _ => {}
    }
    if let Command::Verify(verify::VerifyArgs {
        pods_file: Some(path),
        ..
    }) = &cli.command
    {
        return pods_file(path, &sources, cli.json);
    }
    let plan = plan_for(&cli.command, &sources)?;
    check_secret_dir(&plan)?;
    if cli.dry_run {
        if cli.json {
            print_json(&plan.to_json());
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
    if result.is_ok() {
        for line in &report.lines {
            eprintln!("{line}");
        }
    }
    if cli.json {
        let doc = report.to_json(&plan, result.is_ok());
        print_json(&doc);
    }
    result
}
