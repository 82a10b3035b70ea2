//! The simulator's configuration: typed, with defaults for everything, loaded
//! from YAML with a position on every error. The file goes through the
//! playbook loader's front end (`playbook::load::{read_file, parse_yaml}`):
//! the same size, tab and nesting checks, and anchors and merge keys.
//!
//! Every key is optional; an empty file (or no file) gives [`SimConfig::default`].
//! Keys are snake_case (the fault names match the ones drills talk about,
//! such as `residency_bug`); durations take units (`250ms`, `5s`, `1h`), and a
//! clock skew may be negative (`-2s`). Unknown keys are errors with a
//! did-you-mean hint. `drills/sim/config.example.yaml` lists every key with its
//! default.
//!
//! ```yaml
//! seed: 7
//! regions: { us-east-1: US, eu-west-1: EU, eu-central-1: EU }
//! load: { US: 40, EU: 60 }          # requests per second by home jurisdiction
//! timing: { tick: 100ms, record_interval: 250ms, eval_interval: 1s, backfill: 0s, history_retention: 3h }
//! routing: { propagation_delay: 5s, propagation_jitter: 1s, error_window: 30s,
//!            baseline_error_ratio: 0.001, isolation_mode: routing }
//! data: { keyspace: 10000, write_fraction: 0.2, background_writes_per_second: 5,
//!         replication_latency: 200ms, replication_throughput: 200, max_clock_drift: 10ms }
//! faults: { residency_bug: 0, clock_skew: {}, replication_stall: [], slow_reroute: 0s,
//!           alert_never_fires: [], keeps_failing_after_restore: [], pinning_broken: false }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use marked_yaml::{Node, Span};
use serde::{Deserialize, Serialize};

use crate::diag::{self, Diagnostic};
use crate::playbook::load::{MAX_FILE_BYTES, parse_yaml};

/// Where users live, which decides where their data may be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Jurisdiction {
    /// United States: may be served anywhere.
    US,
    /// European Union: must be served and stored in EU regions only.
    EU,
}

impl Jurisdiction {
    /// The label value used in metrics (`us`, `eu`).
    pub fn label(self) -> &'static str {
        match self {
            Jurisdiction::US => "us",
            Jurisdiction::EU => "eu",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "US" | "us" => Some(Jurisdiction::US),
            "EU" | "eu" => Some(Jurisdiction::EU),
            _ => None,
        }
    }
}

/// What isolating a region cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IsolationMode {
    /// Traffic moves away; replication to and from the region continues.
    #[default]
    Routing,
    /// Traffic moves away and replication to and from the region stops too;
    /// in-region jobs keep writing locally until the region is restored.
    Partition,
}

/// One simulated region.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionConfig {
    /// AWS region name, such as `eu-west-1`.
    pub name: String,
    /// The jurisdiction its data lives in.
    pub jurisdiction: Jurisdiction,
}

/// Knobs for rehearsing bad days; all off by default. Also settable at run
/// time through `POST /sim/faults`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// Fraction (0..=1) of EU traffic that fails over to the first US region
    /// instead of another EU region while an EU region is drained.
    pub residency_bug: f64,
    /// Per-region clock offsets in milliseconds (may be negative), added to the
    /// small seeded drift every region has.
    pub clock_skew_ms: BTreeMap<String, i64>,
    /// Regions whose replication (in and out) stalls although routing is fine.
    pub replication_stall: Vec<String>,
    /// Extra delay added to every routing change's propagation.
    pub slow_reroute: Duration,
    /// Alert names that never fire (`*` for all): a broken alerting config.
    pub alert_never_fires: Vec<String>,
    /// Regions that keep failing half of their requests after being restored.
    pub keeps_failing_after_restore: Vec<String>,
    /// Region pinning of `ledger_entry` records is broken: they are written
    /// wherever the request lands, so they conflict like any other type.
    pub pinning_broken: bool,
}

/// The whole simulator configuration. `SimConfig::default()` is the documented default deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed used when `--seed` is not given.
    pub seed: Option<u64>,
    /// The regions, in a stable order.
    pub regions: Vec<RegionConfig>,
    /// Requests per second by users' home jurisdiction.
    pub load: BTreeMap<Jurisdiction, f64>,
    /// Simulation step (sub-second).
    pub tick: Duration,
    /// How often the metric history behind `/api/v1/*` is sampled (at most 500 ms).
    pub record_interval: Duration,
    /// How often alert rules are evaluated.
    pub eval_interval: Duration,
    /// History simulated before start, so queries over the past hour have data.
    pub backfill: Duration,
    /// How long recorded history is kept.
    pub history_retention: Duration,
    /// Time for a routing change to take effect.
    pub propagation_delay: Duration,
    /// Up to this much seeded random extra propagation time.
    pub propagation_jitter: Duration,
    /// Window of `region_error_ratio`.
    pub error_window: Duration,
    /// Fraction of requests failing on a healthy region.
    pub baseline_error_ratio: f64,
    /// What isolating a region cuts.
    pub isolation_mode: IsolationMode,
    /// Number of keys in the shared keyspace jobs and users write.
    pub keyspace: u32,
    /// Fraction of successful requests that write a key.
    pub write_fraction: f64,
    /// In-region job writes per second, per region (they go on during a partition).
    pub background_writes_per_second: f64,
    /// Minimum time a replicated write takes to arrive.
    pub replication_latency: Duration,
    /// Writes per second one replication link can apply.
    pub replication_throughput: f64,
    /// Bound of the seeded random clock offset of every region.
    pub max_clock_drift: Duration,
    /// Faults, all off by default.
    pub faults: Faults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: None,
            regions: vec![
                RegionConfig {
                    name: "us-east-1".into(),
                    jurisdiction: Jurisdiction::US,
                },
                RegionConfig {
                    name: "eu-west-1".into(),
                    jurisdiction: Jurisdiction::EU,
                },
                RegionConfig {
                    name: "eu-central-1".into(),
                    jurisdiction: Jurisdiction::EU,
                },
            ],
            load: BTreeMap::from([(Jurisdiction::US, 40.0), (Jurisdiction::EU, 60.0)]),
            tick: Duration::from_millis(100),
            record_interval: Duration::from_millis(250),
            eval_interval: Duration::from_secs(1),
            backfill: Duration::ZERO,
            history_retention: Duration::from_secs(3 * 3600),
            propagation_delay: Duration::from_secs(5),
            propagation_jitter: Duration::from_secs(1),
            error_window: Duration::from_secs(30),
            baseline_error_ratio: 0.001,
            isolation_mode: IsolationMode::Routing,
            keyspace: 10_000,
            write_fraction: 0.2,
            background_writes_per_second: 5.0,
            replication_latency: Duration::from_millis(200),
            replication_throughput: 200.0,
            max_clock_drift: Duration::from_millis(10),
            faults: Faults::default(),
        }
    }
}

/// At most this many regions (version vectors are fixed-size).
pub const MAX_REGIONS: usize = 8;

/// Load and validate a simulator config file. Every problem found is reported,
/// each at its `path:line:col`.
pub fn load(path: &Path) -> Result<SimConfig, Vec<Diagnostic>> {
    let text = crate::playbook::load::read_file(path).map_err(|d| vec![d])?;
    parse(&path.display().to_string(), &text)
}

/// Parse a simulator config from text; `file` names it in diagnostics.
pub fn parse(file: &str, text: &str) -> Result<SimConfig, Vec<Diagnostic>> {
    let mut cfg = SimConfig::default();
    if text.trim().is_empty() {
        return Ok(cfg);
    }
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(vec![Diagnostic::file(file, "is larger than 1 MiB")]);
    }
    let root = parse_yaml(file, text).map_err(|d| vec![d])?;
    let mut p = Parser {
        file,
        src: text,
        diags: Vec::new(),
    };
    p.root(&root, &mut cfg);
    if p.diags.is_empty() {
        Ok(cfg)
    } else {
        Err(p.diags)
    }
}

struct Parser<'a> {
    file: &'a str,
    src: &'a str,
    diags: Vec<Diagnostic>,
}

fn pos(span: &Span) -> (usize, usize) {
    span.start()
        .map(|m| (m.line(), m.column()))
        .unwrap_or((0, 0))
}

impl Parser<'_> {
    fn err(&mut self, span: &Span, msg: impl Into<String>) -> &mut Diagnostic {
        let (l, c) = pos(span);
        self.diags
            .push(Diagnostic::at(self.file, self.src, l, c, msg));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    /// The entries of a mapping whose keys must be among `known`.
    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Span, &'n Node)> {
        let Some(map) = node.as_mapping() else {
            self.err(node.span(), format!("`{what}` must be a mapping"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in map.iter() {
            let key = k.as_str();
            if !known.is_empty() && !known.contains(&key) {
                let hint = diag::suggest(key, known.iter().copied(), || {
                    format!("known keys: {}", known.join(", "))
                });
                let d = self.err(k.span(), format!("unknown key `{key}` in `{what}`"));
                d.hint = Some(hint);
                continue;
            }
            out.push((key, k.span(), v));
        }
        out
    }

    fn scalar<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n str> {
        match node.as_scalar() {
            Some(s) => Some(s.as_str()),
            None => {
                self.err(node.span(), format!("`{what}` must be a single value"));
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let s = self.scalar(node, what)?;
        match humantime::parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(
                    node.span(),
                    format!("invalid duration `{s}` for `{what}`: {e}"),
                )
                .hint = Some("write a number with a unit, such as 250ms, 5s or 1h".into());
                None
            }
        }
    }

    fn signed_millis(&mut self, node: &Node, what: &str) -> Option<i64> {
        let s = self.scalar(node, what)?;
        match parse_signed_millis(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(
                    node.span(),
                    format!("invalid duration `{s}` for `{what}`: {e}"),
                )
                .hint = Some("write a signed duration, such as -2s or 150ms".into());
                None
            }
        }
    }

    fn number(&mut self, node: &Node, what: &str, min: f64, max: f64) -> Option<f64> {
        let s = self.scalar(node, what)?;
        match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= min && v <= max => Some(v),
            Ok(_) => {
                self.err(
                    node.span(),
                    format!("`{what}` must be between {min} and {max}, got {s}"),
                );
                None
            }
            Err(_) => {
                self.err(node.span(), format!("`{what}` must be a number, got `{s}`"));
                None
            }
        }
    }

    fn region_list(
        &mut self,
        node: &Node,
        what: &str,
        regions: &[RegionConfig],
        allow_star: bool,
    ) -> Vec<String> {
        let Some(seq) = node.as_sequence() else {
            self.err(node.span(), format!("`{what}` must be a list"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in seq.iter() {
            let Some(s) = self.scalar(item, what) else {
                continue;
            };
            if allow_star || regions.iter().any(|r| r.name == s) {
                out.push(s.to_string());
            } else {
                self.unknown_region(item.span(), s, regions);
            }
        }
        out
    }

    fn unknown_region(&mut self, span: &Span, name: &str, regions: &[RegionConfig]) {
        let names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
        let hint = diag::suggest(name, names.iter().copied(), || {
            format!("configured regions: {}", names.join(", "))
        });
        self.err(span, format!("unknown region `{name}`")).hint = Some(hint);
    }

    fn root(&mut self, root: &Node, cfg: &mut SimConfig) {
        let entries = self.mapping(
            root,
            "config",
            &[
                "seed", "regions", "load", "timing", "routing", "data", "faults",
            ],
        );
        // Regions first: other sections refer to them.
        if let Some((_, _, node)) = entries.iter().find(|(k, _, _)| *k == "regions") {
            self.regions(node, cfg);
        }
        for (key, _, node) in &entries {
            match *key {
                "seed" => {
                    if let Some(s) = self.scalar(node, "seed") {
                        match s.parse::<u64>() {
                            Ok(v) => cfg.seed = Some(v),
                            Err(_) => {
                                self.err(
                                    node.span(),
                                    format!("`seed` must be a non-negative integer, got `{s}`"),
                                );
                            }
                        }
                    }
                }
                "load" => {
                    let mut load = BTreeMap::new();
                    for (k, kspan, v) in self.mapping(node, "load", &[]) {
                        let Some(j) = Jurisdiction::parse(k) else {
                            self.err(kspan, format!("unknown jurisdiction `{k}`")).hint =
                                Some("jurisdictions are US and EU".into());
                            continue;
                        };
                        if let Some(rps) = self.number(v, "load", 0.0, 100_000.0) {
                            load.insert(j, rps);
                        }
                    }
                    cfg.load = load;
                }
                "timing" => self.timing(node, cfg),
                "routing" => self.routing(node, cfg),
                "data" => self.data(node, cfg),
                "faults" => {
                    let regions = cfg.regions.clone();
                    self.faults(node, &regions, &mut cfg.faults);
                }
                _ => {}
            }
        }
    }

    fn regions(&mut self, node: &Node, cfg: &mut SimConfig) {
        let mut regions = Vec::new();
        for (name, kspan, v) in self.mapping(node, "regions", &[]) {
            if !is_region_name(name) {
                self.err(kspan, format!("`{name}` is not a region name"))
                    .hint = Some("region names look like eu-west-1".into());
                continue;
            }
            let Some(j) = self.scalar(v, "regions") else {
                continue;
            };
            match Jurisdiction::parse(j) {
                Some(j) => regions.push(RegionConfig {
                    name: name.to_string(),
                    jurisdiction: j,
                }),
                None => {
                    self.err(
                        v.span(),
                        format!("unknown jurisdiction `{j}` for region `{name}`"),
                    )
                    .hint = Some("jurisdictions are US and EU".into());
                }
            }
        }
        if regions.len() < 2 || regions.len() > MAX_REGIONS {
            self.err(
                node.span(),
                format!(
                    "between 2 and {MAX_REGIONS} regions are needed, got {}",
                    regions.len()
                ),
            );
        }
        cfg.regions = regions;
    }

    fn timing(&mut self, node: &Node, cfg: &mut SimConfig) {
        let known = [
            "tick",
            "record_interval",
            "eval_interval",
            "backfill",
            "history_retention",
        ];
        for (key, _, v) in self.mapping(node, "timing", &known) {
            let Some(d) = self.duration(v, key) else {
                continue;
            };
            let bad =
                |lo: u64, hi: u64| d < Duration::from_millis(lo) || d > Duration::from_millis(hi);
            let (slot, lo, hi) = match key {
                "tick" => (&mut cfg.tick, 10, 1_000),
                "record_interval" => (&mut cfg.record_interval, 50, 500),
                "eval_interval" => (&mut cfg.eval_interval, 100, 60_000),
                "backfill" => (&mut cfg.backfill, 0, 24 * 3_600_000),
                _ => (&mut cfg.history_retention, 60_000, 7 * 24 * 3_600_000),
            };
            if bad(lo, hi) {
                self.err(
                    v.span(),
                    format!(
                        "`{key}` must be between {} and {}",
                        humantime::format_duration(Duration::from_millis(lo)),
                        humantime::format_duration(Duration::from_millis(hi))
                    ),
                );
                continue;
            }
            *slot = d;
        }
    }

    fn routing(&mut self, node: &Node, cfg: &mut SimConfig) {
        let known = [
            "propagation_delay",
            "propagation_jitter",
            "error_window",
            "baseline_error_ratio",
            "isolation_mode",
        ];
        for (key, _, v) in self.mapping(node, "routing", &known) {
            match key {
                "propagation_delay" => {
                    if let Some(d) = self.duration(v, key) {
                        cfg.propagation_delay = d
                    }
                }
                "propagation_jitter" => {
                    if let Some(d) = self.duration(v, key) {
                        cfg.propagation_jitter = d
                    }
                }
                "error_window" => match self.duration(v, key) {
                    Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(600) => {
                        cfg.error_window = d
                    }
                    Some(_) => {
                        self.err(v.span(), "`error_window` must be between 1s and 10m");
                    }
                    None => {}
                },
                "baseline_error_ratio" => {
                    if let Some(x) = self.number(v, key, 0.0, 1.0) {
                        cfg.baseline_error_ratio = x
                    }
                }
                _ => {
                    let Some(s) = self.scalar(v, key) else {
                        continue;
                    };
                    match s {
                        "routing" => cfg.isolation_mode = IsolationMode::Routing,
                        "partition" => cfg.isolation_mode = IsolationMode::Partition,
                        other => {
                            let hint = diag::suggest(other, ["routing", "partition"], || {
                                "use routing or partition".into()
                            });
                            self.err(v.span(), format!("unknown isolation mode `{other}`"))
                                .hint = Some(hint);
                        }
                    }
                }
            }
        }
    }

    fn data(&mut self, node: &Node, cfg: &mut SimConfig) {
        let known = [
            "keyspace",
            "write_fraction",
            "background_writes_per_second",
            "replication_latency",
            "replication_throughput",
            "max_clock_drift",
        ];
        for (key, _, v) in self.mapping(node, "data", &known) {
            match key {
                "keyspace" => {
                    if let Some(x) = self.number(v, key, 1.0, 1_000_000.0) {
                        cfg.keyspace = x as u32
                    }
                }
                "write_fraction" => {
                    if let Some(x) = self.number(v, key, 0.0, 1.0) {
                        cfg.write_fraction = x
                    }
                }
                "background_writes_per_second" => {
                    if let Some(x) = self.number(v, key, 0.0, 10_000.0) {
                        cfg.background_writes_per_second = x
                    }
                }
                "replication_latency" => {
                    if let Some(d) = self.duration(v, key) {
                        cfg.replication_latency = d
                    }
                }
                "replication_throughput" => {
                    if let Some(x) = self.number(v, key, 0.001, 1_000_000.0) {
                        cfg.replication_throughput = x
                    }
                }
                _ => {
                    if let Some(d) = self.duration(v, key) {
                        cfg.max_clock_drift = d
                    }
                }
            }
        }
    }

    fn faults(&mut self, node: &Node, regions: &[RegionConfig], f: &mut Faults) {
        let known = [
            "residency_bug",
            "clock_skew",
            "replication_stall",
            "slow_reroute",
            "alert_never_fires",
            "keeps_failing_after_restore",
            "pinning_broken",
        ];
        for (key, _, v) in self.mapping(node, "faults", &known) {
            match key {
                "residency_bug" => {
                    if let Some(x) = self.number(v, key, 0.0, 1.0) {
                        f.residency_bug = x
                    }
                }
                "clock_skew" => {
                    for (region, kspan, val) in self.mapping(v, "clock_skew", &[]) {
                        if !regions.iter().any(|r| r.name == region) {
                            self.unknown_region(kspan, region, regions);
                            continue;
                        }
                        if let Some(ms) = self.signed_millis(val, "clock_skew") {
                            f.clock_skew_ms.insert(region.to_string(), ms);
                        }
                    }
                }
                "replication_stall" => {
                    f.replication_stall = self.region_list(v, key, regions, false)
                }
                "slow_reroute" => {
                    if let Some(d) = self.duration(v, key) {
                        f.slow_reroute = d
                    }
                }
                "alert_never_fires" => {
                    let names = self.region_list(v, key, regions, true);
                    let known_alerts = super::alerts::rule_names();
                    for (i, n) in names.iter().enumerate() {
                        if n != "*" && !known_alerts.contains(&n.as_str()) {
                            let span = v
                                .as_sequence()
                                .and_then(|s| s.get(i))
                                .map(|n| *n.span())
                                .unwrap_or_else(|| *v.span());
                            let hint = diag::suggest(n, known_alerts.iter().copied(), || {
                                format!("alerts: {} (or * for all)", known_alerts.join(", "))
                            });
                            self.err(&span, format!("unknown alert `{n}`")).hint = Some(hint);
                        }
                    }
                    f.alert_never_fires = names;
                }
                "pinning_broken" => match self.scalar(v, key) {
                    Some("true") => f.pinning_broken = true,
                    Some("false") => f.pinning_broken = false,
                    Some(other) => {
                        self.err(
                            v.span(),
                            format!("`pinning_broken` must be true or false, got `{other}`"),
                        );
                    }
                    None => {}
                },
                _ => f.keeps_failing_after_restore = self.region_list(v, key, regions, false),
            }
        }
    }
}

fn is_region_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.contains('-')
}

/// Parse `-2s`, `+150ms`, `1m` into signed milliseconds.
pub fn parse_signed_millis(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let d = humantime::parse_duration(rest).map_err(|e| e.to_string())?;
    let ms = i64::try_from(d.as_millis()).map_err(|_| "too large".to_string())?;
    if ms > 24 * 3_600_000 {
        return Err("a clock skew above a day makes no sense".into());
    }
    Ok(if neg { -ms } else { ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_default() {
        assert_eq!(parse("c.yaml", "").unwrap(), SimConfig::default());
    }

    #[test]
    fn reads_every_section() {
        let src = "seed: 9\nregions: {us-east-1: US, eu-west-1: EU}\nload: {EU: 10}\ntiming: {tick: 50ms}\nrouting: {isolation_mode: partition}\ndata: {keyspace: 100}\nfaults:\n  clock_skew: {eu-west-1: -2s}\n  alert_never_fires: ['*']\n";
        let c = parse("c.yaml", src).unwrap();
        assert_eq!(c.seed, Some(9));
        assert_eq!(c.regions.len(), 2);
        assert_eq!(c.tick, Duration::from_millis(50));
        assert_eq!(c.isolation_mode, IsolationMode::Partition);
        assert_eq!(c.keyspace, 100);
        assert_eq!(c.faults.clock_skew_ms.get("eu-west-1"), Some(&-2000));
    }

    #[test]
    fn unknown_key_points_at_it_with_a_hint() {
        let src = "routing:\n  propagation_dealy: 5s\n";
        let d = parse("c.yaml", src).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].location(), "c.yaml:2:3");
        assert_eq!(
            d[0].hint.as_deref(),
            Some("did you mean `propagation_delay`?")
        );
    }

    #[test]
    fn bad_duration_and_region_are_both_reported() {
        let src = "timing:\n  tick: fast\nfaults:\n  replication_stall: [eu-wset-1]\n";
        let d = parse("c.yaml", src).unwrap_err();
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].location(), "c.yaml:2:9");
        assert_eq!(d[1].location(), "c.yaml:4:23");
        assert_eq!(d[1].hint.as_deref(), Some("did you mean `eu-west-1`?"));
    }
}
