//! Where a drill ran and from what, journaled as `run_context` right after
//! `run_started`: the host, and the git revision of the playbook's
//! repository (with whether the playbook has uncommitted changes). A
//! playbook outside a repository, or no `git` on the machine, leaves the
//! revision out; nothing here can fail a run.

use crate::journal::EventKind;
use crate::playbook::Playbook;
use std::path::Path;
use std::process::{Command, Stdio};

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The `run_context` event of a run of `pb`.
pub fn run_context(pb: &Playbook) -> EventKind {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    let path = Path::new(&pb.path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let git_revision = git(dir, &["rev-parse", "HEAD"]).filter(|r| !r.is_empty());
    let git_dirty = git_revision.as_ref().and_then(|_| {
        let file = path.file_name()?.to_str()?;
        git(dir, &["status", "--porcelain", "--", file]).map(|s| !s.is_empty())
    });
    EventKind::RunContext {
        host,
        git_revision,
        git_dirty,
        aws_identities: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playbook_in_this_repository_has_a_revision() {
        let mut pb = Playbook::empty("hello");
        pb.path = concat!(env!("CARGO_MANIFEST_DIR"), "/drills/examples/hello.yaml").into();
        let EventKind::RunContext {
            host, git_revision, ..
        } = run_context(&pb)
        else {
            panic!("not a run_context");
        };
        assert!(!host.is_empty());
        // The source tree may be an export without .git: then no revision.
        let in_git = Path::new(env!("CARGO_MANIFEST_DIR")).join(".git").exists();
        assert_eq!(git_revision.is_some_and(|r| r.len() == 40), in_git);
        pb.path = "/nonexistent/dir/x.yaml".into();
        let EventKind::RunContext { git_revision, .. } = run_context(&pb) else {
            panic!()
        };
        assert_eq!(git_revision, None);
    }
}
