//! Notifications through the real binary to a local HTTP receiver: start,
//! markers and the end with metrics, signed JSON and Slack text; a webhook
//! that cannot be reached is journaled by name and never fails the drill;
//! URLs never reach the journal.

use crate::cli::*;
use crate::support::webhook::Receiver;
use hmac::{KeyInit, Mac};
use std::path::Path;

const KEY: &str = "test-signing-key";

/// An environment file with three webhooks: signed JSON, Slack (end
/// only), and one nobody listens on (start only).
pub fn env_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("env.yaml");
    std::fs::write(
        &p,
        "name: notify-test\n\
         notify:\n\
         \x20 - name: bot\n\
         \x20   format: json\n\
         \x20   url: { env: GD_TEST_HOOK }\n\
         \x20   signing_key: { env: GD_TEST_KEY }\n\
         \x20 - name: chat\n\
         \x20   format: slack\n\
         \x20   url: { env: GD_TEST_SLACK }\n\
         \x20   on: [end]\n\
         \x20 - name: dead\n\
         \x20   url: { env: GD_TEST_DEAD }\n\
         \x20   on: [start]\n",
    )
    .unwrap();
    p
}

/// Point the three webhooks of [`env_file`] at `r` (and a dead port).
pub fn hook_env(cmd: &mut std::process::Command, r: &Receiver) {
    cmd.env("GD_TEST_HOOK", format!("{}/bot", r.url))
        .env("GD_TEST_SLACK", format!("{}/chat", r.url))
        .env(
            "GD_TEST_DEAD",
            format!("http://127.0.0.1:{}/dead", crate::support::free_port()),
        )
        .env("GD_TEST_KEY", KEY);
}

fn verify(r: &crate::support::webhook::Received) {
    let ts = &r.headers["x-gameday-timestamp"];
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.headers["x-gameday-signature"], want, "signature");
}

#[test]
fn a_run_notifies_start_markers_and_end_with_metrics_and_a_dead_webhook_is_only_journaled() {
    let r = Receiver::start();
    let tmp = tempfile::tempdir().unwrap();
    let env = env_file(tmp.path());
    let mut gd = Gd::drill(&[
        "drills/examples/hello.yaml",
        "--env",
        env.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", tmp.path().join("flag").display()),
        "--var",
        "observe_for=0s",
    ]);
    hook_env(&mut gd.cmd, &r);
    let out_dir = gd.out_dir();
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let bot = r.at("/bot");
    let events: Vec<String> = bot
        .iter()
        .map(|m| m.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events.first().map(String::as_str),
        Some("start"),
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("end"), "{events:?}");
    assert!(
        events.iter().filter(|e| *e == "marker").count() >= 2,
        "{events:?}"
    );
    for m in &bot {
        verify(m);
        assert_eq!(m.json()["drill"], "hello");
        assert_eq!(m.json()["environment"], "notify-test");
    }
    let end = bot.last().unwrap().json();
    assert_eq!(end["outcome"], "passed");
    assert_eq!(end["metrics"][0]["name"], "time_to_see_flag");

    let chat = r.at("/chat");
    assert_eq!(chat.len(), 1, "slack target gets the end only");
    let text = chat[0].json()["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("drill `hello` in `notify-test` ended: passed"),
        "{text}"
    );
    assert!(text.contains("time_to_see_flag"), "{text}");
    assert!(!chat[0].headers.contains_key("x-gameday-signature"));

    let j = std::fs::read_to_string(run_dir(&out_dir).unwrap().join("journal.jsonl")).unwrap();
    assert!(
        j.contains(r#""event":"notify_failed","target":"dead","about":"start""#),
        "{j}"
    );
    assert!(
        !j.contains(&r.url) && !j.contains("/dead"),
        "a webhook URL reached the journal"
    );
}

fn run_with_hooks(playbook: &str, tmp: &Path, r: &Receiver) -> std::process::Output {
    let env = env_file(tmp);
    let mut gd = Gd::drill(&[
        playbook,
        "--env",
        env.to_str().unwrap(),
        "--var",
        &format!("flag_file={}", tmp.join("flag").display()),
        "--var",
        &format!("trip_file={}", tmp.join("trip").display()),
    ]);
    hook_env(&mut gd.cmd, r);
    gd.run().0
}

fn events_at(r: &Receiver, event: &str) -> Vec<serde_json::Value> {
    r.at("/bot")
        .iter()
        .map(|m| m.json())
        .filter(|m| m["event"] == event)
        .collect()
}

#[test]
fn a_guardrail_abort_is_notified() {
    let r = Receiver::start();
    let tmp = tempfile::tempdir().unwrap();
    let out = run_with_hooks("tests/cases/drills/guardrail.yaml", tmp.path(), &r);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let aborts = events_at(&r, "abort");
    assert_eq!(aborts.len(), 1, "{:?}", r.received());
    let text = aborts[0]["text"].as_str().unwrap();
    assert!(text.contains("aborted by a guardrail"), "{text}");
    assert_eq!(events_at(&r, "end")[0]["outcome"], "aborted");
}

#[test]
fn exit_5_is_notified_with_what_is_applied_and_the_restore_command() {
    let r = Receiver::start();
    let tmp = tempfile::tempdir().unwrap();
    let playbook = tmp.path().join("stuck.yaml");
    std::fs::write(
        &playbook,
        "name: stuck\n\
         vars: { flag_file: /tmp/unused, trip_file: /tmp/unused }\n\
         phases:\n\
         \x20 - kind: isolate\n\
         \x20   steps:\n\
         \x20     - name: raise flag\n\
         \x20       kind: shell\n\
         \x20       script: 'echo on > \"$flag_file\"'\n\
         \x20       undo: { argv: [\"false\"] }\n",
    )
    .unwrap();
    let out = run_with_hooks(playbook.to_str().unwrap(), tmp.path(), &r);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let failed = events_at(&r, "restore_failed");
    assert_eq!(failed.len(), 1, "{:?}", r.received());
    assert_eq!(failed[0]["still_applied"][0], "raise flag");
    let cmd = failed[0]["restore_command"].as_str().unwrap();
    assert!(
        cmd.starts_with("gameday restore ") && cmd.contains("stuck"),
        "{cmd}"
    );
    assert!(failed[0]["text"].as_str().unwrap().contains(cmd));
}
