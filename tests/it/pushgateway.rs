//! Drill visibility through Debian's `prometheus-pushgateway`: while a
//! drill runs, `gameday_drill_active{drill,environment,phase}` and its
//! markers are in the Pushgateway; once it ends they are gone.

use crate::cli::*;
use crate::support::{Proc, http};
use nix::sys::signal::Signal;
use std::time::Duration;

async fn metrics(pg: &Proc) -> String {
    http()
        .get(format!("{}/metrics", pg.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn active_line(text: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with("gameday_drill_active{"))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_drill_is_in_the_pushgateway_and_gone_when_it_ends() {
    let mut pg = Proc::spawn(
        "pushgateway",
        "/usr/bin/prometheus-pushgateway",
        &[
            "--web.listen-address=127.0.0.1:{port}",
            "--persistence.file={dir}/pushgateway.data",
        ],
    );
    pg.wait_ready("/-/ready", Duration::from_secs(30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("env.yaml");
    std::fs::write(
        &env,
        format!("name: pg-test\npushgateway: {}\n", pg.base_url()),
    )
    .unwrap();
    let mut gd = Gd::new(&[
        "run",
        "drills/examples/hello.yaml",
        "--env",
        env.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", tmp.path().join("flag").display()),
        "--var",
        "observe_for=60s",
    ]);
    let out_dir = gd.out_dir();
    gd.cmd.args(["--out", out_dir.to_str().unwrap()]);
    let (mut child, _d) = gd.spawn();

    let line = crate::support::wait_for(
        "the observe phase in the Pushgateway",
        Duration::from_secs(30),
        || async { active_line(&metrics(&pg).await).filter(|l| l.contains("phase=\"observe\"")) },
    )
    .await;
    assert!(line.contains("drill=\"hello\""), "{line}");
    assert!(line.contains("environment=\"pg-test\""), "{line}");
    assert!(line.ends_with(" 1"), "{line}");
    let text = metrics(&pg).await;
    assert!(
        text.contains("gameday_drill_marker_timestamp_seconds{")
            && text.contains("marker=\"isolated\""),
        "{text}"
    );

    signal(&child, Signal::SIGINT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4));
    let text = metrics(&pg).await;
    assert!(
        active_line(&text).is_none(),
        "still there after the run:\n{text}"
    );
}
