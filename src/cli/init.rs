//! `gameday init`: a first playbook and environment file, from a few answers.
//!
//! Asks (dialoguer) for the isolation mechanism, the regions and the one to
//! isolate, Prometheus and Alertmanager URLs, the alert that means "region
//! down" and the traffic metric; every question has a flag, and with
//! `--non-interactive` (or no TTY on stdin) the flags and defaults are used
//! without prompts. Writes `DIR/NAME.yaml`, a playbook following the drill
//! script (precheck, isolate, observe, validate, restore and post, each with
//! the script's time budget: 15/5/20/10/10/30 minutes), and `DIR/environments/NAME.yaml` with the values the
//! mechanism needs, as placeholders to replace. It never overwrites a file.

use crate::engine::exit;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// Route 53 ARC routing control set Off.
    Arc,
    /// Global Accelerator traffic dial to 0.
    Ga,
    /// Route 53 health check inverted.
    Route53HealthCheck,
    /// Route 53 weighted record to weight 0.
    Route53Weights,
    /// ALB listener forward weights.
    AlbWeights,
    /// ALB targets deregistered.
    AlbTargets,
    /// PostgreSQL: fence the primary, promote the standby.
    Postgres,
    /// A command of your own, with its undo.
    Shell,
}

const MECHANISMS: &[(Mechanism, &str)] = &[
    (Mechanism::Arc, "Route 53 ARC routing control (set Off)"),
    (Mechanism::Ga, "Global Accelerator traffic dial (to 0)"),
    (
        Mechanism::Route53HealthCheck,
        "Route 53 health check (inverted)",
    ),
    (
        Mechanism::Route53Weights,
        "Route 53 weighted records (weight 0)",
    ),
    (
        Mechanism::AlbWeights,
        "ALB listener weights (target group to 0)",
    ),
    (Mechanism::AlbTargets, "ALB targets (deregistered)"),
    (
        Mechanism::Postgres,
        "PostgreSQL promotion (fence primary, promote standby)",
    ),
    (
        Mechanism::Shell,
        "a shell command of your own, with its undo",
    ),
];

#[derive(clap::Args)]
pub struct InitArgs {
    /// Drill name: the playbook is DIR/NAME.yaml, the environment DIR/environments/NAME.yaml.
    #[arg(long, default_value = "my-drill")]
    pub name: String,
    /// Directory to write into.
    #[arg(long, value_name = "DIR", default_value = "drills")]
    pub dir: PathBuf,
    /// How the region is isolated.
    #[arg(long, value_enum)]
    pub mechanism: Option<Mechanism>,
    /// The regions, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// The region to isolate (default: the second region listed).
    #[arg(long, value_name = "REGION")]
    pub isolate: Option<String>,
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    #[arg(long, value_name = "URL")]
    pub alertmanager_url: Option<String>,
    /// The alert that means "this region is down" (labelled with `region`).
    #[arg(long, value_name = "ALERTNAME")]
    pub alert: Option<String>,
    /// A counter of requests with a `region` label.
    #[arg(long, value_name = "METRIC")]
    pub traffic_metric: Option<String>,
    /// Never prompt: use the flags and defaults.
    #[arg(long)]
    pub non_interactive: bool,
}

/// The answers, after prompts or flags.
struct Answers {
    name: String,
    mechanism: Mechanism,
    regions: Vec<String>,
    isolate: String,
    prometheus_url: String,
    alertmanager_url: String,
    alert: String,
    traffic_metric: String,
}

pub fn init(a: InitArgs) -> i32 {
    let interactive = !a.non_interactive && std::io::stdin().is_terminal();
    let answers = match answers(a.name.clone(), &a, interactive) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("gameday init: {e}");
            return exit::INVALID;
        }
    };
    let pb = a.dir.join(format!("{}.yaml", answers.name));
    let env = a
        .dir
        .join("environments")
        .join(format!("{}.yaml", answers.name));
    for p in [&pb, &env] {
        if p.exists() {
            eprintln!(
                "gameday init: {} already exists; nothing was written\n  = hint: choose another --name or --dir",
                p.display()
            );
            return exit::INVALID;
        }
    }
    let depth = a.dir.components().count();
    let (pb_text, env_text) = render(&answers, depth);
    if let Err(e) = write_new(&pb, &pb_text).and_then(|_| write_new(&env, &env_text)) {
        eprintln!("gameday init: {e}\n  = hint: choose a writable --dir");
        return exit::INVALID;
    }
    eprintln!(
        "gameday init: wrote {} and {}\n  next: replace the REPLACE-ME values in the environment file, then\n    gameday validate {} --env {}\n    gameday plan {} --env {}",
        pb.display(),
        env.display(),
        pb.display(),
        env.display(),
        pb.display(),
        env.display()
    );
    println!("{}", pb.display());
    exit::PASSED
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    // create_new: never overwrite, even if the file appeared since the check.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn answers(name: String, a: &InitArgs, interactive: bool) -> Result<Answers, String> {
    use dialoguer::{Input, Select, theme::ColorfulTheme};
    let theme = ColorfulTheme::default();
    let err = |e: dialoguer::Error| format!("prompt failed: {e}");
    let ask = |q: &str, given: &Option<String>, default: &str| -> Result<String, String> {
        match (given, interactive) {
            (Some(v), _) => Ok(v.clone()),
            (None, false) => Ok(default.to_string()),
            (None, true) => Input::<String>::with_theme(&theme)
                .with_prompt(q)
                .default(default.to_string())
                .interact_text()
                .map_err(err),
        }
    };
    let name = if interactive && name == "my-drill" {
        ask("Drill name", &None, &name)?
    } else {
        name
    };
    let mechanism = match (a.mechanism, interactive) {
        (Some(m), _) => m,
        (None, false) => Mechanism::Arc,
        (None, true) => {
            let items: Vec<&str> = MECHANISMS.iter().map(|(_, d)| *d).collect();
            let i = Select::with_theme(&theme)
                .with_prompt("How is a region isolated?")
                .items(&items)
                .default(0)
                .interact()
                .map_err(err)?;
            MECHANISMS[i].0
        }
    };
    let regions_given = (!a.regions.is_empty()).then(|| a.regions.join(","));
    let regions: Vec<String> = ask(
        "Regions (comma-separated)",
        &regions_given,
        "us-east-1,eu-west-1,eu-central-1",
    )?
    .split(',')
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
    .collect();
    if regions.len() < 2 {
        return Err("a failover drill needs at least two regions (--regions a,b)".into());
    }
    let isolate = match (&a.isolate, interactive) {
        (Some(r), _) => r.clone(),
        (None, false) => regions[1].clone(),
        (None, true) => {
            let i = Select::with_theme(&theme)
                .with_prompt("Region to isolate")
                .items(&regions)
                .default(1)
                .interact()
                .map_err(err)?;
            regions[i].clone()
        }
    };
    if !regions.contains(&isolate) {
        return Err(format!(
            "--isolate {isolate} is not one of the regions ({})",
            regions.join(", ")
        ));
    }
    Ok(Answers {
        name: name.trim().to_string(),
        mechanism,
        isolate,
        prometheus_url: ask("Prometheus URL", &a.prometheus_url, "http://127.0.0.1:9090")?,
        alertmanager_url: ask(
            "Alertmanager URL",
            &a.alertmanager_url,
            "http://127.0.0.1:9093",
        )?,
        alert: ask(
            "Alert that means \"region down\" (labelled with region)",
            &a.alert,
            "RegionDown",
        )?,
        traffic_metric: ask(
            "Traffic metric (a request counter with a `region` label)",
            &a.traffic_metric,
            "http_requests_total",
        )?,
        regions,
    })
}

/// The mechanism's isolation step (in `steps:` of the isolate phase), its
/// vars (name, placeholder for the environment file), top-level blocks, and
/// the restore steps it needs besides the undo.
struct Isolation {
    steps: &'static str,
    vars: &'static [(&'static str, &'static str)],
    top: &'static str,
    restore_extra: &'static str,
}

fn isolation(m: Mechanism) -> Isolation {
    const AWS: &str = "aws:\n  region: ${aws_region}\n";
    match m {
        Mechanism::Arc => Isolation {
            steps: "      - name: isolate region\n        kind: arc-routing-control\n        cluster_endpoints:\n          - { url: \"${arc_endpoint}\", region: \"${arc_endpoint_region}\" }\n        routing_controls: [\"${routing_control}\"]\n        state: \"Off\"\n        mark: isolated\n",
            vars: &[
                (
                    "arc_endpoint",
                    "https://host-REPLACE-ME.us-west-2.example.com/v1",
                ),
                ("arc_endpoint_region", "us-west-2"),
                (
                    "routing_control",
                    "arn:aws:route53-recovery-control::111122223333:controlpanel/REPLACE-ME/routingcontrol/REPLACE-ME",
                ),
            ],
            top: "",
            restore_extra: "",
        },
        Mechanism::Ga => Isolation {
            steps: "      - name: isolate region\n        kind: ga-traffic-dial\n        endpoint_group_arn: ${endpoint_group_arn}\n        traffic_dial: 0\n        mark: isolated\n",
            vars: &[(
                "endpoint_group_arn",
                "arn:aws:globalaccelerator::111122223333:accelerator/REPLACE-ME/listener/REPLACE-ME/endpoint-group/REPLACE-ME",
            )],
            top: "",
            restore_extra: "",
        },
        Mechanism::Route53HealthCheck => Isolation {
            steps: "      - name: isolate region\n        kind: route53-health-check\n        health_check_id: ${health_check_id}\n        inverted: true\n        mark: isolated\n",
            vars: &[("health_check_id", "00000000-0000-0000-0000-REPLACE-ME")],
            top: "",
            restore_extra: "",
        },
        Mechanism::Route53Weights => Isolation {
            steps: "      - name: isolate region\n        kind: route53-weights\n        hosted_zone_id: ${hosted_zone_id}\n        record_name: ${record_name}\n        weights: [{ set_identifier: \"${region}\", weight: 0 }]\n        mark: isolated\n",
            vars: &[
                ("hosted_zone_id", "ZREPLACEME"),
                ("record_name", "api.example.com"),
            ],
            top: "",
            restore_extra: "",
        },
        Mechanism::AlbWeights => Isolation {
            steps: "      - name: isolate region\n        kind: elbv2-forward-weights\n        listener_arn: ${listener_arn}\n        weights:\n          - { target_group_arn: \"${isolated_target_group_arn}\", weight: 0 }\n          - { target_group_arn: \"${surviving_target_group_arn}\", weight: 100 }\n        mark: isolated\n",
            vars: &[
                ("aws_region", "us-east-1"),
                (
                    "listener_arn",
                    "arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/REPLACE-ME/1/2",
                ),
                (
                    "isolated_target_group_arn",
                    "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/REPLACE-ME/1",
                ),
                (
                    "surviving_target_group_arn",
                    "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/REPLACE-ME/2",
                ),
            ],
            top: AWS,
            restore_extra: "",
        },
        Mechanism::AlbTargets => Isolation {
            steps: "      - name: isolate region\n        kind: elbv2-deregister-targets\n        target_group_arn: ${target_group_arn}\n        targets: [{ id: \"${target_id}\" }]\n        mark: isolated\n",
            vars: &[
                ("aws_region", "us-east-1"),
                (
                    "target_group_arn",
                    "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/REPLACE-ME/1",
                ),
                ("target_id", "i-REPLACE-ME"),
            ],
            top: AWS,
            restore_extra: "",
        },
        Mechanism::Postgres => Isolation {
            steps: "      - name: fence primary\n        kind: postgres-fence\n        connection: primary\n        keep_while_promoted: standby\n        mark: isolated\n      - name: promote standby\n        kind: postgres-promote\n        connection: standby\n        wait_for: 60s\n        mark: promoted\n        irreversible:\n          reason: a promoted standby cannot be turned back into a standby automatically\n          covered_by: rebuild old primary as standby\n",
            vars: &[],
            top: "postgres:\n  primary: { env: PG_PRIMARY_DSN }\n  standby: { env: PG_STANDBY_DSN }\n",
            restore_extra: "      - name: rebuild old primary as standby\n        kind: manual\n        prompt: Rebuild the old primary as a standby of the promoted one (pg_basebackup or pg_rewind).\n",
        },
        Mechanism::Shell => Isolation {
            steps: "      - name: isolate region\n        kind: shell\n        # Replace with the command that stops routing to the region; vars arrive\n        # as environment variables (\"$region\").\n        script: 'echo \"edit this playbook: stop routing to $region\" >&2; exit 1'\n        undo:\n          script: 'echo \"edit this playbook: route to $region again\" >&2'\n        mark: isolated\n",
            vars: &[],
            top: "",
            restore_extra: "",
        },
    }
}

/// The playbook and environment file texts; `depth` is how deep DIR is (for the schema path).
fn render(a: &Answers, depth: usize) -> (String, String) {
    let iso = isolation(a.mechanism);
    let up = "../".repeat(depth);
    let playbook = format!("{}{}", playbook_start(a, &iso, &up), playbook_rest(&iso));
    (playbook, render_env(a, &iso, &up))
}

/// The playbook's vars: the answers, then the mechanism's own (to fill in).
fn render_vars(a: &Answers, iso: &Isolation) -> String {
    let surviving: Vec<&str> = a
        .regions
        .iter()
        .filter(|r| **r != a.isolate)
        .map(|s| s.as_str())
        .collect();
    let mut vars = format!(
        "  region: {}\n  # A regex of the regions that keep serving.\n  surviving: \"{}\"\n  prometheus_url: {}\n  alertmanager_url: {}\n  # `prometheus` (the rule fired) or `alertmanager` (the notification reached it).\n  alert_source: prometheus\n  alert: {}\n  traffic_metric: {}\n  observe_timeout: 5m\n",
        a.isolate,
        surviving.join("|"),
        a.prometheus_url,
        a.alertmanager_url,
        a.alert,
        a.traffic_metric
    );
    for (k, _) in iso.vars {
        vars.push_str(&format!("  {k}: {{}}\n"));
    }
    vars
}

/// The playbook from its header to the isolate phase (the mechanism's steps).
fn playbook_start(a: &Answers, iso: &Isolation, up: &str) -> String {
    let vars = render_vars(a, iso);
    format!(
        "# yaml-language-server: $schema={up}schemas/playbook.schema.json
# Written by `gameday init` ({mech:?}); `gameday explain KIND` describes each step kind.
name: {name}
description: Isolate ${{region}} and prove traffic moves and the alert fires.
unattended: false
deadline: 2h

vars:\n{vars}

prometheus:\n  url: ${{prometheus_url}}
alertmanager:\n  url: ${{alertmanager_url}}
{top}

phases:
  - kind: precheck
    name: pre-drill verification
    budget: 15m
    steps:
      - name: traffic reaches ${{region}}
        kind: prometheus
        expr: 'sum(rate(${{traffic_metric}}{{region=\"${{region}}\"}}[1m]))'
        expect: \"> 0\"
      - name: no alert already firing
        kind: prometheus
        expr: 'ALERTS{{alertname=\"${{alert}}\", alertstate=\"firing\"}}'
        expect: \"== 0\"
        empty: pass
      - name: on-call staged
        kind: manual
        prompt: On-call for ${{region}} is staged and the incident channel is open.

  - kind: isolate
    name: isolate ${{region}}
    budget: 5m
    steps:\n{isolate}\n",
        mech = a.mechanism,
        name = a.name,
        top = iso.top,
        isolate = iso.steps,
    )
}

/// The playbook from the observe phase to the metrics.
fn playbook_rest(iso: &Isolation) -> String {
    format!(
        "\n  - kind: observe
    name: observation
    budget: 20m
    watches:
      - name: alert fires
        kind: alert
        alertname: ${{alert}}
        labels: {{ region: \"${{region}}\" }}
        source: ${{alert_source}}
        after: isolated
        wait: {{ every: 5s, timeout: \"${{observe_timeout}}\" }}
        mark: alert_firing
      - name: traffic rerouted
        kind: prometheus
        expr: 'sum(rate(${{traffic_metric}}{{region=\"${{region}}\"}}[1m])) or vector(0)'
        expect: \"== 0\"
        wait: {{ every: 5s, timeout: \"${{observe_timeout}}\" }}
        mark: traffic_rerouted

  - kind: validate
    name: validation
    budget: 10m
    steps:
      - name: surviving regions serving
        kind: prometheus
        expr: 'sum by (region) (rate(${{traffic_metric}}{{region=~\"${{surviving}}\"}}[1m]))'
        expect: \"> 0\"

  - kind: restore
    name: restoration
    budget: 10m
    steps:
      - name: route traffic back
        kind: undo
        of: all
        mark: restored
{restore_extra}
      - name: traffic back in ${{region}}
        kind: prometheus
        expr: 'sum(rate(${{traffic_metric}}{{region=\"${{region}}\"}}[1m]))'
        expect: \"> 0\"
        wait: {{ every: 5s, timeout: 10m }}
        mark: traffic_back

  # The script's sixth step: after restoration and the automatic undo of
  # anything still applied, the system is back to normal. Checks only; a
  # failure fails the drill (exit 1).
  - kind: post
    name: post-drill verification
    budget: 30m
    steps:
      - name: ${{region}} serving again
        kind: prometheus
        expr: 'sum(rate(${{traffic_metric}}{{region=\"${{region}}\"}}[1m]))'
        expect: \"> 0\"
      - name: the drill's alert resolved
        kind: prometheus
        expr: 'ALERTS{{alertname=\"${{alert}}\", alertstate=\"firing\", region=\"${{region}}\"}}'
        expect: \"== 0\"
        empty: pass
        wait: {{ every: 5s, timeout: 10m }}

metrics:
  ttd: {{ from: isolated, to: alert_firing, target: \"<= 5m\", description: time to detect }}
  ttr: {{ from: isolated, to: traffic_rerouted, target: \"<= 60s\", description: time to route }}
  time_to_return: {{ from: restored, to: traffic_back, target: \"<= 10m\", description: from routing back until traffic returned }}\n",
        restore_extra = iso.restore_extra,
    )
}

/// The environment file: the URLs, the mechanism's vars to fill in.
fn render_env(a: &Answers, iso: &Isolation, up: &str) -> String {
    let mut env = format!(
        "# yaml-language-server: $schema={up}../schemas/environment.schema.json
# Written by `gameday init`: replace the REPLACE-ME values.
name: {name}
vars:
  prometheus_url: {p}
  alertmanager_url: {am}\n",
        name = a.name,
        p = a.prometheus_url,
        am = a.alertmanager_url,
    );
    for (k, v) in iso.vars {
        env.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    if a.mechanism == Mechanism::Postgres {
        env.push_str("# Connection strings come from PG_PRIMARY_DSN and PG_STANDBY_DSN (never from this file).\n");
    }
    env
}
