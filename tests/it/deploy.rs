//! The scheduling examples in deploy/: the systemd units pass
//! `systemd-analyze verify` (where systemd is installed), with the paths
//! pointed at this build and checkout.

use crate::cli::*;

#[test]
fn the_systemd_service_and_timer_verify() {
    let Ok(sa) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: skipped (it runs where systemd exists)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for unit in ["gameday-drill.service", "gameday-drill.timer"] {
        let text = std::fs::read_to_string(repo().join("deploy").join(unit)).unwrap();
        let text = text
            .replace("/usr/local/bin/gameday", bin())
            .replace("/srv/gameday", repo().to_str().unwrap());
        std::fs::write(tmp.path().join(unit), text).unwrap();
    }
    let out = std::process::Command::new(sa)
        .args(["verify", "./gameday-drill.service", "./gameday-drill.timer"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        stderr(&out)
    );
    // The service's command line is one gameday accepts.
    let service = std::fs::read_to_string(tmp.path().join("gameday-drill.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    assert!(exec.contains(" run ") && exec.contains("--non-interactive"));
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
