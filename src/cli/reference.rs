//! Commands that describe gameday itself: `schema`, `kinds`, `explain`,
//! `completions` and `man`. They read no playbook and touch nothing.

use crate::engine::exit;
use crate::playbook::{kinds, reference, schema};
use clap::CommandFactory;

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum SchemaKind {
    Playbook,
    Environment,
    Report,
}

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// Which schema to print (JSON Schema draft 7).
    #[arg(value_enum)]
    pub what: SchemaKind,
}

pub fn schema(a: SchemaArgs) -> i32 {
    let name = match a.what {
        SchemaKind::Playbook => "playbook",
        SchemaKind::Environment => "environment",
        SchemaKind::Report => "report",
    };
    print!("{}", schema::render(name).unwrap_or_default());
    exit::PASSED
}

#[derive(clap::Args)]
pub struct KindsArgs {
    /// Print the whole playbook reference as Markdown (docs/playbook.md).
    #[arg(long)]
    pub markdown: bool,
}

pub fn kinds(a: KindsArgs) -> i32 {
    if a.markdown {
        print!("{}", reference::markdown());
    } else {
        print!("{}", reference::kinds_table());
    }
    exit::PASSED
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A step kind, such as `prometheus` or `arc-routing-control` (`gameday kinds` lists them).
    #[arg(value_name = "KIND")]
    pub kind: String,
}

pub fn explain(a: ExplainArgs) -> i32 {
    match reference::explain(&a.kind) {
        Some(t) => {
            print!("{t}");
            exit::PASSED
        }
        None => {
            let hint = crate::diag::suggest(&a.kind, kinds::ALL.iter().map(|k| k.kind), || {
                "`gameday kinds` lists them".into()
            });
            eprintln!(
                "gameday explain: `{}` is not a step kind\n  = hint: {hint}",
                a.kind
            );
            exit::INVALID
        }
    }
}

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn completions(a: CompletionsArgs) -> i32 {
    let mut cmd = super::Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "gameday", &mut std::io::stdout());
    exit::PASSED
}

pub fn man() -> i32 {
    let cmd = super::Cli::command();
    let mut out = Vec::new();
    let rendered = clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .and_then(|_| {
            // One page for the tool, then a section per command.
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let name: &'static str =
                    Box::leak(format!("gameday-{}", sub.get_name()).into_boxed_str());
                let sub = sub.clone().name(name).display_name(name);
                clap_mangen::Man::new(sub).render(&mut out)?;
            }
            Ok(())
        });
    match rendered {
        Ok(()) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&out);
            exit::PASSED
        }
        Err(e) => {
            eprintln!("gameday man: cannot render the manual page: {e}");
            exit::ABORTED
        }
    }
}
