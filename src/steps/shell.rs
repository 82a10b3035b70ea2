//! `kind: shell` executor. The command runs in its own process group with the
//! playbook's vars as environment variables (never spliced into script text).
//! A timeout or cancellation stops the whole group: SIGTERM, a grace period,
//! then SIGKILL.

use super::children::GroupGuard;
use super::{Outcome, PlanCtx, PlannedCall, Step, StepCtx, StepError, Undo, UndoAction};
use crate::playbook::spec::shell::{Program, ShellCommand, ShellSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Output kept per stream, for evidence.
const MAX_OUTPUT: usize = 16 * 1024;
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Time limit of an undo command.
const UNDO_TIMEOUT: Duration = Duration::from_secs(120);

/// The undo of a shell step: a command and the environment it needs,
/// self-contained so it can run from the journal after a crash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShellUndo {
    pub command: ShellCommand,
    /// Vars and extra environment at the time the step ran.
    pub env: BTreeMap<String, String>,
}

fn describe(program: &Program) -> String {
    match program {
        Program::Argv(a) => a
            .iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" "),
        Program::Script(s) => {
            let first = s
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            let more = if s.trim().lines().count() > 1 {
                " …"
            } else {
                ""
            };
            format!("/bin/sh -c '{first}{more}'")
        }
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The environment a step's command sees: playbook vars, then the step's own.
fn environment(ctx: &StepCtx, extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = ctx
        .playbook
        .vars
        .iter()
        .filter(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.insert("GAMEDAY_RUN_DIR".into(), ctx.run_dir.display().to_string());
    env.insert("GAMEDAY_DRILL".into(), ctx.playbook.name.clone());
    env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The environment of the command itself: [`environment`] plus the
/// playbook's secrets under their own names (an undo journals its
/// environment, so secrets are added only when a command is started).
fn environment_with_secrets(
    ctx: &StepCtx,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = ctx
        .playbook
        .secrets
        .0
        .iter()
        .filter(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(environment(ctx, extra));
    env
}

#[async_trait]
impl Step for ShellSpec {
    fn plan(&self, _ctx: &PlanCtx) -> Vec<PlannedCall> {
        vec![PlannedCall {
            call: format!("run {}", describe(&self.command.program)),
            undo: if self.read_only {
                None
            } else {
                Some(match &self.undo {
                    Some(u) => format!("run {}", describe(&u.program)),
                    None => "no automatic undo".into(),
                })
            },
        }]
    }

    async fn capture(&self, ctx: &StepCtx) -> Result<Option<(Value, Undo)>, StepError> {
        if self.read_only {
            return Ok(None);
        }
        let Some(cmd) = &self.undo else {
            return Ok(None);
        };
        let env = environment(ctx, &cmd.env);
        let undo = Undo {
            description: format!("run {}", describe(&cmd.program)),
            action: UndoAction::Shell(ShellUndo {
                command: cmd.clone(),
                env,
            }),
        };
        // A shell command's prior state is whatever its undo restores.
        Ok(Some((
            json!({"note": "shell steps restore through their undo command"}),
            undo,
        )))
    }

    async fn run(&self, ctx: &StepCtx) -> Result<Outcome, StepError> {
        let cmd = &self.command;
        let env = environment_with_secrets(ctx, &cmd.env);
        let grace = self.grace.map(|g| g.get()).unwrap_or(DEFAULT_GRACE);
        let out = run_command(cmd, &env, grace, ctx).await?;
        let expected = self.expect_exit.unwrap_or(0);
        let mut ok = out.code == Some(expected);
        let mut summary = match out.code {
            Some(c) => format!("exit {c} in {} ms", out.millis),
            None => format!("killed by a signal after {} ms", out.millis),
        };
        if out.code != Some(expected) {
            summary.push_str(&format!(" (expected {expected})"));
            if let Some(line) = out.stderr.lines().rev().find(|l| !l.trim().is_empty()) {
                summary.push_str(&format!(": {}", line.trim()));
            }
        }
        if let Some(pat) = &self.stdout_matches
            && !pat.is_match(&out.stdout)
        {
            ok = false;
            summary.push_str(&format!("; stdout does not match /{pat}/"));
        }
        Ok(Outcome {
            ok,
            value: out.code.map(f64::from),
            summary,
            evidence: json!({
                "command": describe(&self.command.program),
                "exit_code": out.code,
                "stdout": out.stdout,
                "stderr": out.stderr,
                "millis": out.millis,
            }),
            refined: None,
        })
    }
}

impl ShellUndo {
    pub async fn run(&self, ctx: &StepCtx) -> Result<String, StepError> {
        let fut = run_command(&self.command, &self.env, DEFAULT_GRACE, ctx);
        let out = tokio::time::timeout(UNDO_TIMEOUT, fut)
            .await
            .map_err(|_| {
                StepError::retryable(format!(
                    "undo command timed out after {}s",
                    UNDO_TIMEOUT.as_secs()
                ))
            })??;
        match out.code {
            Some(0) => Ok(format!("exit 0 in {} ms", out.millis)),
            other => Err(StepError::retryable(format!(
                "undo command {} exited with {}: {}",
                describe(&self.command.program),
                other.map_or("a signal".to_string(), |c| c.to_string()),
                out.stderr.trim()
            ))),
        }
    }
}

async fn read_all(s: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut s) = s {
        let _ = s.read_to_end(&mut buf).await;
    }
    buf
}

struct CommandOutput {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    millis: u128,
}

async fn run_command(
    cmd: &ShellCommand,
    env: &BTreeMap<String, String>,
    grace: Duration,
    ctx: &StepCtx,
) -> Result<CommandOutput, StepError> {
    let mut command = match &cmd.program {
        Program::Argv(argv) => {
            let Some((program, args)) = argv.split_first() else {
                return Err(StepError::fatal("a shell command's `argv` is empty"));
            };
            let mut c = tokio::process::Command::new(program);
            c.args(args);
            c
        }
        Program::Script(script) => {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(script);
            c
        }
    };
    command
        .envs(env)
        .env("GAMEDAY_STEP", &ctx.step_name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    let started = Instant::now();
    let what = describe(&cmd.program);
    let mut child = command
        .spawn()
        .map_err(|e| StepError::fatal(format!("cannot start {what}: {e}")))?;
    let pgid = child.id().map(|p| p as i32);
    let mut guard = GroupGuard::new(&ctx.children, pgid, grace);
    let stdout: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>> =
        child.stdout.take().map(|s| Box::new(s) as _);
    let stderr: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>> =
        child.stderr.take().map(|s| Box::new(s) as _);
    let (status, out, err) = tokio::join!(child.wait(), read_all(stdout), read_all(stderr));
    guard.disarm();
    let status = status.map_err(|e| StepError::fatal(format!("waiting for {what}: {e}")))?;
    let clip = |b: Vec<u8>| {
        let s = String::from_utf8_lossy(&b).into_owned();
        if s.len() > MAX_OUTPUT {
            let cut = s.len() - MAX_OUTPUT;
            let cut = (cut..s.len())
                .find(|i| s.is_char_boundary(*i))
                .unwrap_or(s.len());
            format!("…{}", &s[cut..])
        } else {
            s
        }
    };
    Ok(CommandOutput {
        code: status.code(),
        stdout: ctx.events.redact(&clip(out)),
        stderr: ctx.events.redact(&clip(err)),
        millis: started.elapsed().as_millis(),
    })
}
