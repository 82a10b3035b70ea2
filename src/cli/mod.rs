//! The command line: parsing (clap), the commands (the small ones inline
//! here, the others in their own modules), and where outcomes become
//! messages and exit codes (the codes themselves: `engine::exit`).

mod demo;
mod history;
mod init;
mod note;
mod plan;
mod reference;
mod remote;
pub(crate) mod restore;
mod run;
mod scenario;
mod verify;

use crate::diag::{Diagnostic, render_all};
use crate::engine::exit;
use crate::playbook::{LoadOptions, Loaded};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "gameday",
    version,
    about = "Run multi-region failover drills from YAML playbooks and write the evidence a postmortem needs."
)]
#[command(
    after_help = "Exit codes: 0 passed, 1 failed, 2 invalid input (nothing ran), 3 aborted then restored, 4 interrupted then restored, 5 restoration failed or incomplete."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by commands that load a playbook.
#[derive(clap::Args, Clone, Default)]
pub struct PlaybookArgs {
    /// Environment file: endpoints, region names and thresholds for one environment.
    #[arg(long = "env", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Override a var: --var key=value (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Check playbooks without running anything (exit 0 valid, 2 invalid).
    Validate {
        #[arg(required = true, value_name = "PLAYBOOK")]
        playbooks: Vec<PathBuf>,
        #[command(flatten)]
        args: PlaybookArgs,
        /// Also check that the playbook can run unattended (from cron).
        #[arg(long)]
        unattended: bool,
        /// With --unattended: manual steps would be confirmed by --yes.
        #[arg(long)]
        yes: bool,
    },
    /// Show every phase, step, call and undo with resolved values. Calls nothing.
    Plan {
        #[arg(value_name = "PLAYBOOK")]
        playbook: PathBuf,
        #[command(flatten)]
        args: PlaybookArgs,
    },
    /// Run a drill; prints the run directory as the last line of stdout.
    Run(run::RunArgs),
    /// Run the shipped regional-failover drill against an in-process simulator (no prompts, nothing else needed).
    Demo(demo::DemoArgs),
    /// Undo whatever a run left applied (after a crash or SIGKILL). Idempotent.
    Restore {
        /// A run directory, or a run in S3 (`s3://BUCKET/PREFIX/runs/RUN_ID`).
        #[arg(value_name = "RUN_DIR")]
        run_dir: PathBuf,
        #[arg(long, short)]
        quiet: bool,
        /// List what would be undone, newest first; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask first (an operator at a terminal is shown the list and asked).
        #[arg(long)]
        yes: bool,
    },
    /// Run the simulated multi-region deployment in the foreground (until SIGINT/SIGTERM).
    Sim {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9797")]
        listen: std::net::SocketAddr,
        /// Simulator config (YAML); defaults model three regions under steady load.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Seed for every random choice (same seed and config: same ground truth).
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
    },
    /// Re-render a run's reports from its journal.
    Report {
        /// A run directory, or a run in S3 (`s3://BUCKET/PREFIX/runs/RUN_ID`).
        #[arg(value_name = "RUN_DIR")]
        run_dir: PathBuf,
        /// Markdown template (minijinja) instead of the shipped one.
        #[arg(long, value_name = "FILE")]
        template: Option<PathBuf>,
        /// Also write a JUnit XML file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Which reports to write: md, html, json, junit (comma-separated; junit goes to RUN_DIR/junit.xml unless --junit).
        #[arg(long, value_name = "LIST", default_value = "md,html,json", value_parser = crate::report::Formats::parse)]
        format: crate::report::Formats,
    },
    /// Every run under DIR, each compared with the previous run of the same drill and environment.
    History(history::HistoryArgs),
    /// Restore runs whose runner stopped beating (`--state s3://…`): a long-running service.
    Guard {
        /// Watch every run kept in this S3 state (`s3://BUCKET/PREFIX`).
        #[arg(long, value_name = "S3_URL", value_parser = parse_state, required_unless_present = "local")]
        state: Option<crate::state::Location>,
        /// Only runs of this environment (repeatable; default: all).
        #[arg(long = "environment", value_name = "NAME", requires = "state")]
        environments: Vec<String>,
        /// How often to look at the heartbeats in S3.
        #[arg(long, value_name = "DURATION", value_parser = parse_lease, default_value = "5s")]
        poll: std::time::Duration,
        /// Internal (started by `gameday run`): the run directory whose runner to watch.
        #[arg(long, value_name = "RUN_DIR", hide = true, conflicts_with = "state", requires_all = ["runner_pid", "lease"])]
        local: Option<PathBuf>,
        /// Internal: the runner's process id.
        #[arg(long, value_name = "PID", hide = true)]
        runner_pid: Option<u32>,
        /// Internal: restore when the runner's heartbeat is older than this.
        #[arg(long, value_name = "DURATION", value_parser = parse_lease, hide = true)]
        lease: Option<std::time::Duration>,
    },
    /// Add a note, finding or action item to a run's journal (while it runs or after).
    Note(note::NoteArgs),
    /// Check a run's journal hash chain and that its reports were rendered from that journal.
    Verify {
        #[arg(value_name = "RUN_DIR")]
        run_dir: PathBuf,
    },
    /// Print the JSON Schema of playbooks, environment files or report.json.
    Schema(reference::SchemaArgs),
    /// List the step kinds (--markdown: the whole playbook reference).
    Kinds(reference::KindsArgs),
    /// Show one step kind: fields, types, defaults, effect, undo, IAM actions, an example.
    Explain(reference::ExplainArgs),
    /// Print shell completions (bash, zsh, fish, powershell, elvish) to stdout.
    Completions(reference::CompletionsArgs),
    /// Print the manual page (roff) to stdout: `gameday man | man -l -`.
    Man,
    /// Write a first playbook and environment file (asks, or takes flags); never overwrites.
    Init(init::InitArgs),
}

pub(crate) fn parse_state(s: &str) -> Result<crate::state::Location, String> {
    crate::state::Location::parse(s)
}

fn parse_lease(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration: {e}"))
}

/// Load a playbook or return its diagnostics.
pub(crate) fn load(
    path: &std::path::Path,
    args: &PlaybookArgs,
    require_secrets: bool,
) -> Result<Loaded, Vec<Diagnostic>> {
    crate::playbook::load(
        path,
        &LoadOptions {
            env_file: args.env_file.clone(),
            vars: args.vars.clone(),
            require_secrets,
        },
    )
}

pub(crate) fn print_diags(diags: &[Diagnostic]) {
    eprintln!("{}", render_all(diags));
    let n = diags.len();
    eprintln!(
        "\ngameday: {n} problem{} found; nothing was run.",
        if n == 1 { "" } else { "s" }
    );
}

/// Runs the command line and returns the exit code.
pub fn main() -> i32 {
    install_panic_hook();
    // Internal diagnostics (retries, simulator server errors) for whoever
    // debugs gameday itself: GAMEDAY_LOG=debug, or a tracing filter.
    if let Ok(filter) = std::env::var("GAMEDAY_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::INVALID
            } else {
                exit::PASSED
            };
        }
    };
    match cli.command {
        Command::Validate {
            playbooks,
            args,
            unattended,
            yes,
        } => validate(&playbooks, &args, unattended, yes),
        Command::Plan { playbook, args } => plan::plan(&playbook, &args),
        Command::Sim {
            listen,
            config,
            seed,
        } => crate::sim::cli::run(Some(listen), config, seed),
        Command::Run(a) => run::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Restore {
            run_dir,
            quiet,
            dry_run,
            yes,
        } => {
            use std::io::IsTerminal;
            let opts = restore::RestoreOptions {
                quiet,
                dry_run,
                confirm: !yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            };
            match runtime() {
                Ok(rt) => match run_dir
                    .to_str()
                    .filter(|s| crate::state::Location::is_s3(s))
                {
                    Some(url) => rt.block_on(remote::restore(url, quiet)),
                    None => rt.block_on(restore::restore(
                        &run_dir,
                        opts,
                        crate::engine::restore::Restorer::Command,
                    )),
                },
                Err(code) => code,
            }
        }
        Command::Report {
            run_dir,
            template,
            junit,
            ..
        } if run_dir.to_str().is_some_and(crate::state::Location::is_s3) => {
            remote::report(run_dir.to_str().unwrap_or_default(), template, junit)
        }
        Command::Report {
            run_dir,
            template,
            junit,
            format,
        } => report(&run_dir, template.as_deref(), junit.as_deref(), format),
        Command::History(a) => history::history(a),
        Command::Guard {
            state,
            environments,
            poll,
            local,
            runner_pid,
            lease,
        } => match (state, local, runner_pid, lease) {
            (Some(state), _, _, _) => crate::state::remote::run(&state, &environments, poll),
            (None, Some(local), Some(pid), Some(lease)) => {
                crate::engine::guard::run_local(&local, pid, lease)
            }
            _ => {
                eprintln!(
                    "gameday guard: name the S3 state to watch: gameday guard --state s3://BUCKET/PREFIX"
                );
                exit::INVALID
            }
        },
        Command::Note(a) => note::note(a),
        Command::Verify { run_dir } => verify::verify(run_dir),
        Command::Schema(a) => reference::schema(a),
        Command::Kinds(a) => reference::kinds(a),
        Command::Explain(a) => reference::explain(a),
        Command::Completions(a) => reference::completions(a),
        Command::Man => reference::man(),
        Command::Init(a) => init::init(a),
    }
}

/// `gameday validate`: every playbook loads (and could run unattended).
fn validate(playbooks: &[PathBuf], args: &PlaybookArgs, unattended: bool, yes: bool) -> i32 {
    let mut all = vec![];
    for p in playbooks {
        match load(p, args, false) {
            Ok(l) => {
                let extra = if unattended {
                    l.check_unattended(yes)
                } else {
                    vec![]
                };
                if extra.is_empty() {
                    let steps = l.playbook.all_steps().count();
                    eprintln!(
                        "{}: ok (drill `{}`, {} phases, {steps} steps)",
                        p.display(),
                        l.playbook.name,
                        l.playbook.phases.len()
                    );
                }
                all.extend(extra);
            }
            Err(d) => all.extend(d),
        }
    }
    if all.is_empty() {
        exit::PASSED
    } else {
        print_diags(&all);
        exit::INVALID
    }
}

/// `gameday report RUN_DIR`: the reports re-rendered from the journal.
fn report(
    run_dir: &std::path::Path,
    template: Option<&std::path::Path>,
    junit: Option<&std::path::Path>,
    format: crate::report::Formats,
) -> i32 {
    match crate::report::write_reports_as(run_dir, template, junit, format) {
        Ok(s) => {
            eprintln!(
                "gameday: reports of drill `{}` ({}) written to {}",
                s.run.drill,
                s.outcome.as_str(),
                run_dir.display()
            );
            println!("{}", run_dir.display());
            exit::PASSED
        }
        Err(e) => {
            eprintln!("gameday: {e}");
            exit::INVALID
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!(
                "gameday: cannot start the async runtime: {e}\n  = hint: nothing ran; check the process and thread limits (ulimit -u) and try again"
            );
            exit::INVALID
        })
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "gameday: internal error: {msg}{at}. This is a bug in gameday; please report it.\n  = hint: if a drill was running, run `gameday restore RUN_DIR` to undo what it applied"
        );
    }));
}
