//! Secrets never leak: a drill using a nasty secret in every step kind that
//! takes interpolated text (note, manual prompt, wait reason, shell via the
//! environment, Prometheus query, HTTP URL/header/body, reachable and not)
//! against a real `gameday sim`; no output holds the secret in any encoding.
//! Short secrets and secrets in a shell argv are refused at load.

use crate::cli::*;
use crate::support::Proc;

/// Quotes, a backslash, `%`, `&`, `<`, `>`, an apostrophe, a space, unicode.
const NASTY: &str = "p\"a\\ss%w0rd&<é> it's 😀!";

/// The forms a secret can take in text.
fn encodings(s: &str) -> Vec<(&'static str, String)> {
    let json = serde_json::to_string(s).unwrap();
    let ascii_json: String = s
        .encode_utf16()
        .map(|u| match u {
            0x22 => "\\\"".to_string(),
            0x5c => "\\\\".to_string(),
            u if u < 0x80 => (u as u8 as char).to_string(),
            u => format!("\\u{u:04x}"),
        })
        .collect();
    let pct: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let url: String = s
        .bytes()
        .map(|b| {
            if unreserved(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let form = url.replace("%20", "+");
    let html = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;");
    let xml = html.replace("&#x27;", "&apos;");
    vec![
        ("raw", s.to_string()),
        ("json", json[1..json.len() - 1].to_string()),
        ("ascii json", ascii_json),
        ("rust debug", format!("{s:?}").trim_matches('"').to_string()),
        ("percent (all)", pct),
        ("percent (url)", url),
        ("form", form),
        ("html", html),
        ("xml", xml),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for (form, enc) in encodings(NASTY) {
        assert!(
            !text.contains(&enc),
            "the secret leaked into {what} ({form} form `{enc}`):\n{text}"
        );
    }
}

fn start_sim() -> Proc {
    crate::support::sim::sim_blocking(None)
}

#[test]
fn a_nasty_secret_never_leaks_into_any_output_in_any_encoding() {
    let sim = start_sim();
    for log_format in ["text", "json"] {
        let mut gd = Gd::new(&["run", "tests/cases/drills/secret-sweep.yaml", "--yes"]);
        let out_dir = gd.out_dir();
        let junit = gd.dir.path().join("junit.xml");
        // Notifications too: every webhook body the run sends is checked.
        let hooks = crate::support::webhook::Receiver::start();
        let env = crate::notify::env_file(gd.dir.path());
        crate::notify::hook_env(&mut gd.cmd, &hooks);
        gd.cmd
            .args(["--env", env.to_str().unwrap()])
            .args(["--out", out_dir.to_str().unwrap()])
            .args(["--junit", junit.to_str().unwrap()])
            .args(["--log-format", log_format])
            .args(["--var", &format!("sim_url={}", sim.base_url())])
            .env("GAMEDAY_SWEEP_SECRET", NASTY);
        let (out, _d) = gd.run();
        let (so, se) = (stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
        let dir = run_dir(&out_dir).unwrap();
        let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        // Each step ran and its evidence is there, redacted.
        for needle in [
            "the token is [redacted]",
            "confirm the token [redacted]",
            "waiting on [redacted]",
            "error near",
            "gameday_secret_probe",
            "/app/us-east-1/health?token=[redacted]",
            "/x?t=[redacted]",
        ] {
            assert!(journal.contains(needle), "`{needle}` not in the journal");
        }
        assert!(so.contains("FAILED"), "{so}");
        assert_clean("stdout", &so);
        assert_clean("stderr", &se);
        assert_clean("journal.jsonl", &journal);
        for f in ["report.md", "report.json"] {
            assert_clean(f, &std::fs::read_to_string(dir.join(f)).unwrap());
        }
        assert_clean("junit.xml", &std::fs::read_to_string(&junit).unwrap());
        let sent = hooks.received();
        assert!(
            sent.iter().any(|m| m.path == "/bot") && sent.iter().any(|m| m.path == "/chat"),
            "both webhooks were notified: {sent:?}"
        );
        for m in &sent {
            assert_clean(
                &format!("the notification to {}", m.path),
                &String::from_utf8_lossy(&m.body),
            );
        }
        // `gameday report` re-renders from the journal: still clean.
        let (out, _d) = Gd::new(&["report", dir.to_str().unwrap()]).run();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_clean(
            "report.md",
            &std::fs::read_to_string(dir.join("report.md")).unwrap(),
        );
    }
    // `plan` resolves the secret when its variable is set: never shown.
    let mut gd = Gd::new(&["plan", "tests/cases/drills/secret-sweep.yaml"]);
    gd.cmd.env("GAMEDAY_SWEEP_SECRET", NASTY);
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("[redacted]"), "{}", stdout(&out));
    assert_clean("plan", &stdout(&out));
}

#[test]
fn a_short_secret_is_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = tmp.path().join("short.yaml");
    let text = "name: short\nsecrets:\n  pin: { env: GAMEDAY_SHORT_PIN }\nphases:\n  - kind: precheck\n    steps:\n      - { name: n, kind: note, text: hi }\n";
    std::fs::write(&pb, text).unwrap();
    let mut gd = Gd::new(&["validate", pb.to_str().unwrap()]);
    gd.cmd.env("GAMEDAY_SHORT_PIN", "1234");
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(":3:8: error: secret `pin` from environment variable GAMEDAY_SHORT_PIN is 4 characters long: too short to redact safely (minimum 8)"),
        "{err}"
    );
    assert!(err.contains("allow_short: true"), "{err}");
    assert!(!err.contains("1234"), "{err}");

    std::fs::write(
        &pb,
        text.replace(
            "GAMEDAY_SHORT_PIN }",
            "GAMEDAY_SHORT_PIN, allow_short: true }",
        ),
    )
    .unwrap();
    let mut gd = Gd::new(&["validate", pb.to_str().unwrap()]);
    gd.cmd.env("GAMEDAY_SHORT_PIN", "1234");
    let (out, _d) = gd.run();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_secret_in_a_shell_argv_is_refused_with_the_environment_as_the_way() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = tmp.path().join("argv.yaml");
    std::fs::write(
        &pb,
        "name: argv\nsecrets:\n  api-token: { env: GAMEDAY_ARGV_TOKEN }\nphases:\n  - kind: precheck\n    steps:\n      - name: call\n        kind: shell\n        read_only: true\n        argv: [curl, -H, \"Authorization: ${secret.api-token}\"]\n",
    )
    .unwrap();
    let (out, _d) = Gd::new(&["validate", pb.to_str().unwrap()]).run();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(":10:26: error: secret `api-token` in a shell step's `argv`: other local users can read a command line in /proc/PID/cmdline"),
        "{err}"
    );
    assert!(
        err.contains("env: { API_TOKEN: \"${secret.api-token}\" }"),
        "{err}"
    );
}

/// An AWS step with no credentials anywhere, against the simulator's ARC
/// endpoint on loopback: one readable line naming the providers tried and
/// what to do, shown once where it happens and once in the summary.
#[test]
fn missing_aws_credentials_read_as_one_line_shown_twice() {
    let sim = start_sim();
    let tmp = tempfile::tempdir().unwrap();
    let pb = tmp.path().join("arc.yaml");
    std::fs::write(
        &pb,
        format!(
            "name: arc-no-credentials\nunattended: true\nphases:\n  - kind: isolate\n    steps:\n      - name: isolate region\n        kind: arc-routing-control\n        cluster_endpoints: [{{ url: \"{}\", region: us-west-2 }}]\n        routing_controls: [\"arn:aws:route53-recovery-control::000000000000:controlpanel/sim/routingcontrol/eu-west-1\"]\n        state: \"Off\"\n",
            sim.base_url()
        ),
    )
    .unwrap();
    let mut gd = Gd::drill(&[pb.to_str().unwrap()]);
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        gd.cmd.env_remove(v);
    }
    gd.cmd
        .env("HOME", tmp.path())
        .env("AWS_CONFIG_FILE", tmp.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", tmp.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let (out, _d) = gd.run();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(3), "{so}\n{se}");
    let all = format!("{so}\n{se}");
    for debug_dump in ["DispatchFailure(", "ConnectorError", "{ source", "Some("] {
        assert!(
            !all.contains(debug_dump),
            "a Debug dump reached the user:\n{all}"
        );
    }
    let cause = "no usable AWS credentials (no credentials found; providers tried: Environment (environment variable not set), Profile";
    assert!(so.contains(cause), "{so}");
    assert!(se.contains("Ec2InstanceMetadata (IMDS disabled"), "{se}");
    assert!(
        so.contains("export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
        "{so}"
    );
    assert_eq!(
        all.matches(cause).count(),
        2,
        "printed once where it happened and once in the summary:\n{all}"
    );
}
