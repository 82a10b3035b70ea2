//! The simulated active-active deployment: a deterministic model driven by an
//! explicit clock (unix milliseconds). No I/O, no wall clock, no threads.
//!
//! Time moves on a fixed grid (`tick`, `record_interval`, `eval_interval`,
//! and the instants at which routing changes finish propagating). Between two
//! grid instants the state is constant and flows are integrated: requests per
//! jurisdiction routed by the *effective* routing weights, writes of users and
//! in-region jobs, replication deliveries. A control call (routing change,
//! application write, fault change) at time `t` first integrates up to exactly
//! `t`, then applies the change. All randomness comes from one ChaCha RNG
//! seeded with the seed, so the same seed, config and sequence of timed
//! control calls give the same ground truth, however often the server's
//! ticker happens to wake up in between ([`Sim::advance_to`] only stops on the grid).
//!
//! Routing: every region has a routing control (on/off) and a traffic dial
//! (0-100 %) with endpoint weights. The *desired* weight is `dial/100` when the
//! control is On and some endpoint has a weight above 0, else 0; a change
//! reaches the *effective* weight after `propagation_delay` plus seeded jitter
//! plus the `slow_reroute` fault. Users of a jurisdiction spread over its home
//! regions; what a region's effective weight refuses spills to other allowed
//! regions (EU users: EU regions only, except the `residency_bug` fraction
//! that goes to the first US region). Requests reaching a region whose desired
//! weight is already 0 fail (503): the isolation has been decided but not yet propagated.
//!
//! Data: every write gets a per-key version vector and the writing region's
//! clock (true time + seeded drift + `clock_skew`). Each ordered pair of
//! regions is a replication link with a FIFO queue, a minimum latency and a
//! throughput; a `partition` isolation or the `replication_stall` fault stops a
//! link. Concurrent versions meet on delivery: a conflict, resolved
//! last-writer-wins on region clocks; when the kept write is older in true time
//! than the dropped one, an update was lost silently.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::alerts::{AlertEngine, AlertState};
use super::config::{Faults, IsolationMode, Jurisdiction, MAX_REGIONS, SimConfig};
use super::metrics::Sample;

mod app;
mod replication;
mod routing;
mod samples;

pub use routing::default_endpoint_id;

/// Unix milliseconds.
pub type Millis = i64;

/// Replication queues hold at most this many writes per link; older ones are
/// dropped beyond that (a bound on memory during very long partitions).
pub const MAX_QUEUE: usize = 200_000;
/// Application records kept across all regions at most.
pub const MAX_APP_KEYS: usize = 4_096;
/// Largest accepted application value, serialized.
pub const MAX_VALUE_BYTES: usize = 1_024;
/// Conflict pairs remembered to count each conflict once.
const MAX_SEEN_CONFLICTS: usize = 100_000;
/// Entity types of the synthetic keyspace, by key number modulo 4.
const ENTITY_TYPES: [&str; 4] = ["user_profile", "cart", "session", "order"];

/// One synthetic key draw in this many (half of the `order` draws) writes a
/// `ledger_entry`: one of [`LEDGER_KEYS`] hot keys (per-region ledgers), each
/// region-pinned, written only in its home region, so they never conflict
/// (unless the `pinning_broken` fault is on: then they conflict often).
const PINNED_EVERY: u32 = 8;
/// The number of distinct `ledger_entry` keys.
const LEDGER_KEYS: u32 = 4;
/// The entity type of the region-pinned keys.
pub const PINNED_TYPE: &str = "ledger_entry";

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Default)]
struct Carry(f64);

impl Carry {
    /// Add an expected amount; return the whole units now due.
    fn take(&mut self, x: f64) -> u64 {
        if !x.is_finite() || x <= 0.0 {
            return 0;
        }
        self.0 += x;
        let n = self.0.floor();
        self.0 -= n;
        n as u64
    }
}

/// A key of the shared keyspace: synthetic (users and jobs) or written through the application API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Synthetic(u32),
    App(Arc<str>),
}

impl Key {
    /// The key of a synthetic draw `i`: ledger draws fold onto the few ledger keys.
    fn synthetic(i: u32) -> Key {
        if i % PINNED_EVERY == PINNED_EVERY - 1 {
            Key::Synthetic(PINNED_EVERY - 1 + PINNED_EVERY * ((i / PINNED_EVERY) % LEDGER_KEYS))
        } else {
            Key::Synthetic(i)
        }
    }

    fn entity_type(&self) -> &'static str {
        match self {
            Key::Synthetic(i) if i % PINNED_EVERY == PINNED_EVERY - 1 => PINNED_TYPE,
            Key::Synthetic(i) => ENTITY_TYPES[(*i % 4) as usize],
            Key::App(_) => "record",
        }
    }

    /// The data class of DOMAIN.md's lag budgets, by entity type.
    fn data_class(&self) -> usize {
        match self.entity_type() {
            "session" => 0,
            "order" | PINNED_TYPE => 1,
            "user_profile" => 2,
            "cart" => 3,
            _ => 4,
        }
    }
}

/// Upper bounds (seconds) of the `replication_conflict_age_seconds` histogram buckets.
pub const CONFLICT_AGE_BUCKETS: [f64; 9] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Data classes of the lag budgets, indexed by [`Key::data_class`]:
/// sessions are credentials, orders financial, carts content, and records
/// written through the application API analytics events.
pub const DATA_CLASSES: [&str; 5] = [
    "credentials",
    "financial",
    "profiles",
    "content",
    "analytics",
];

type VersionVector = [u32; MAX_REGIONS];

#[derive(Debug, Clone)]
struct Record {
    version: u64,
    vv: VersionVector,
    origin: usize,
    clock: Millis,
    true_time: Millis,
    value: Option<Arc<serde_json::Value>>,
    jurisdiction: Option<Jurisdiction>,
}

fn dominated(a: &VersionVector, b: &VersionVector) -> bool {
    a.iter().zip(b.iter()).all(|(x, y)| x <= y)
}

#[derive(Debug, Clone)]
struct Event {
    key: Key,
    rec: Record,
    enqueued: Millis,
}

#[derive(Debug, Clone)]
struct Link {
    src: usize,
    dst: usize,
    queue: VecDeque<Event>,
    carry: Carry,
}

/// A Global Accelerator endpoint of a region's endpoint group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub weight: u8,
}

#[derive(Debug, Clone, Default)]
struct JurCarry {
    req: Carry,
    err: Carry,
    write: Carry,
}

#[derive(Debug, Clone)]
struct Region {
    name: String,
    jurisdiction: Jurisdiction,
    control_on: bool,
    dial: f64,
    endpoints: Vec<Endpoint>,
    /// Effective routing weight (0..=1) after propagation.
    eff: f64,
    last_pending_at: Millis,
    partitioned: bool,
    failing: bool,
    drift_ms: i64,
    store: HashMap<Key, Record>,
    requests: BTreeMap<(Jurisdiction, u16), u64>,
    outside_home: BTreeMap<Jurisdiction, u64>,
    writes: [u64; 3],
    /// (bucket index, requests, errors) over the error window.
    buckets: VecDeque<(i64, u64, u64)>,
    rps: f64,
    carries: BTreeMap<(Jurisdiction, usize), JurCarry>,
    job_carry: Carry,
}

impl Region {
    fn desired_weight(&self) -> f64 {
        if self.control_on && self.endpoints.iter().any(|e| e.weight > 0) {
            self.dial / 100.0
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone)]
struct Pending {
    region: usize,
    weight: f64,
    at: Millis,
}

#[derive(Debug, Clone, Default)]
struct Counts {
    conflicts: u64,
    lost_updates: u64,
    residency_violations: u64,
}

#[derive(Debug, Clone)]
struct Isolation {
    region: usize,
    mode: IsolationMode,
    isolated_at: Millis,
    alert_firing_at: Option<Millis>,
    alert: Option<(String, Millis)>,
    rerouted_at: Option<Millis>,
    restored_at: Option<Millis>,
    caught_up_at: Option<Millis>,
    baseline: Counts,
}

/// Ground truth of the latest isolation, as served by `GET /sim/truth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The isolated region, null before the first isolation.
    pub region: Option<String>,
    /// `routing` or `partition`.
    pub isolation_mode: Option<IsolationMode>,
    /// The routing change that isolated the region was accepted.
    pub isolated_at: Option<String>,
    /// The first alert became firing after the isolation.
    pub alert_firing_at: Option<String>,
    /// Name of that alert.
    pub first_alert: Option<String>,
    /// That alert's `activeAt` (when it became pending).
    pub alert_active_at: Option<String>,
    /// Propagation finished: no more traffic reaches the isolated region.
    pub rerouted_at: Option<String>,
    /// The routing change that restored the region was accepted.
    pub restored_at: Option<String>,
    /// After restoration, replication lag was back under 1 s on every link.
    pub caught_up_at: Option<String>,
    /// Replication conflicts since the isolation (since start before any).
    pub conflicts_total: u64,
    /// Newer writes silently dropped by last-writer-wins since the isolation.
    pub lost_updates_total: u64,
    /// EU requests served (or EU records written) outside the EU since the isolation.
    pub residency_violations_total: u64,
    /// The model's current time.
    pub now: String,
    pub seed: u64,
}

/// A runtime change of faults (`POST /sim/faults`); absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPatch {
    pub residency_bug: Option<f64>,
    /// Region -> signed duration such as `-2s`.
    pub clock_skew: Option<BTreeMap<String, String>>,
    pub replication_stall: Option<Vec<String>>,
    /// Duration such as `60s`.
    pub slow_reroute: Option<String>,
    pub alert_never_fires: Option<Vec<String>>,
    pub keeps_failing_after_restore: Option<Vec<String>>,
    pub pinning_broken: Option<bool>,
    /// Not a fault: what the next isolation cuts (`routing` or `partition`).
    pub isolation_mode: Option<IsolationMode>,
}

/// The faults and isolation mode in force, as `GET /sim/faults` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    pub residency_bug: f64,
    pub clock_skew: BTreeMap<String, String>,
    pub replication_stall: Vec<String>,
    pub slow_reroute: String,
    pub alert_never_fires: Vec<String>,
    pub keeps_failing_after_restore: Vec<String>,
    pub pinning_broken: bool,
    pub isolation_mode: IsolationMode,
}

/// Why an application request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppError {
    #[error("unknown region `{0}`")]
    UnknownRegion(String),
    #[error("region `{0}` is isolated or unreachable")]
    Unavailable(String),
    #[error("region `{0}` failed the request")]
    Failed(String),
    #[error("record `{key}` not found in `{region}`")]
    NotFound { region: String, key: String },
    #[error("EU records may not be stored in `{0}` (data residency)")]
    Residency(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the application keyspace is full ({MAX_APP_KEYS} keys)")]
    Full,
}

/// Acknowledgement of an application write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriteAck {
    pub key: String,
    pub region: String,
    pub version: u64,
    /// The writing region's clock, the timestamp last-writer-wins compares.
    pub region_clock: String,
    /// True (simulation) time of the write.
    pub written_at: String,
}

/// A record as read from one region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadRecord {
    pub key: String,
    pub region: String,
    pub value: serde_json::Value,
    pub version: u64,
    pub origin_region: String,
    pub region_clock: String,
    pub jurisdiction: Option<Jurisdiction>,
}

/// Description of a region's endpoint group (Global Accelerator).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointGroupView {
    pub region: String,
    pub dial: f64,
    pub endpoints: Vec<Endpoint>,
    pub healthy: bool,
}

/// The simulated deployment.
#[derive(Debug, Clone)]
pub struct Sim {
    cfg: SimConfig,
    seed: u64,
    rng: ChaCha8Rng,
    now: Millis,
    regions: Vec<Region>,
    links: Vec<Link>,
    pending: Vec<Pending>,
    faults: Faults,
    isolation_mode: IsolationMode,
    alerts: AlertEngine,
    isolation: Option<Isolation>,
    counts: Counts,
    conflicts_by_type: BTreeMap<&'static str, u64>,
    writes_by_type: BTreeMap<&'static str, u64>,
    /// Conflicts by age at resolution: counts per [`CONFLICT_AGE_BUCKETS`] bucket (+Inf last), and the sum.
    conflict_ages: [u64; CONFLICT_AGE_BUCKETS.len() + 1],
    conflict_age_sum: f64,
    seen_conflicts: HashSet<(u64, u64)>,
    conflict_buckets: VecDeque<(i64, u64)>,
    refused: BTreeMap<Jurisdiction, u64>,
    refused_carry: BTreeMap<Jurisdiction, Carry>,
    next_version: u64,
    next_tick: Millis,
    next_record: Millis,
    next_eval: Millis,
    app_keys: HashSet<Arc<str>>,
    recording: bool,
    recorded: Vec<(Millis, Vec<Sample>)>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl Sim {
    /// A deployment at rest at `start` (unix ms): every control On, every dial at 100 %.
    pub fn new(cfg: SimConfig, seed: u64, start: Millis) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let drift = ms(cfg.max_clock_drift);
        let regions: Vec<Region> = cfg
            .regions
            .iter()
            .map(|rc| Region {
                name: rc.name.clone(),
                jurisdiction: rc.jurisdiction,
                control_on: true,
                dial: 100.0,
                endpoints: vec![Endpoint {
                    id: default_endpoint_id(&rc.name),
                    weight: 128,
                }],
                eff: 1.0,
                last_pending_at: start,
                partitioned: false,
                failing: false,
                drift_ms: if drift > 0 {
                    rng.random_range(-drift..=drift)
                } else {
                    0
                },
                store: HashMap::new(),
                requests: BTreeMap::new(),
                outside_home: BTreeMap::new(),
                writes: [0; 3],
                buckets: VecDeque::new(),
                rps: 0.0,
                carries: BTreeMap::new(),
                job_carry: Carry::default(),
            })
            .collect();
        let n = regions.len();
        let mut links = Vec::new();
        for src in 0..n {
            for dst in 0..n {
                if src != dst {
                    links.push(Link {
                        src,
                        dst,
                        queue: VecDeque::new(),
                        carry: Carry::default(),
                    });
                }
            }
        }
        Sim {
            faults: cfg.faults.clone(),
            isolation_mode: cfg.isolation_mode,
            next_tick: start + ms(cfg.tick).max(1),
            next_record: start,
            next_eval: start + ms(cfg.eval_interval).max(1),
            cfg,
            seed,
            rng,
            now: start,
            regions,
            links,
            pending: Vec::new(),
            alerts: AlertEngine::default(),
            isolation: None,
            counts: Counts::default(),
            conflicts_by_type: BTreeMap::new(),
            writes_by_type: BTreeMap::new(),
            conflict_ages: [0; CONFLICT_AGE_BUCKETS.len() + 1],
            conflict_age_sum: 0.0,
            seen_conflicts: HashSet::new(),
            conflict_buckets: VecDeque::new(),
            refused: BTreeMap::new(),
            refused_carry: BTreeMap::new(),
            next_version: 1,
            app_keys: HashSet::new(),
            recording: false,
            recorded: Vec::new(),
        }
    }

    /// Keep the samples of every recording instant for [`Sim::take_recorded`].
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// The samples recorded since the last call, with their instants.
    pub fn take_recorded(&mut self) -> Vec<(Millis, Vec<Sample>)> {
        std::mem::take(&mut self.recorded)
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Region names in configuration order.
    pub fn region_names(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.name.clone()).collect()
    }

    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.name == name)
    }

    pub fn alerts(&self) -> &AlertEngine {
        &self.alerts
    }

    // ----- time -------------------------------------------------------------

    fn tick_ms(&self) -> i64 {
        ms(self.cfg.tick).max(1)
    }

    /// Move time forward over every grid instant up to `t`; time stops at the
    /// last grid instant, so results do not depend on how often this is called.
    pub fn advance_to(&mut self, t: Millis) {
        loop {
            let mut next = self.next_tick.min(self.next_record).min(self.next_eval);
            for p in &self.pending {
                next = next.min(p.at.max(self.now));
            }
            if next > t {
                break;
            }
            self.flow(self.now, next);
            self.now = next;
            self.on_grid();
        }
    }

    /// Advance to exactly `t` (a control call happens at `t`).
    fn settle(&mut self, t: Millis) {
        self.advance_to(t);
        if t > self.now {
            self.flow(self.now, t);
            self.now = t;
            self.apply_pending();
        }
    }

    fn on_grid(&mut self) {
        self.apply_pending();
        let now = self.now;
        if now >= self.next_tick {
            self.next_tick += self.tick_ms();
            self.check_caught_up();
        }
        if now >= self.next_eval {
            self.next_eval += ms(self.cfg.eval_interval).max(1);
            self.evaluate_alerts();
        }
        if now >= self.next_record {
            self.next_record += ms(self.cfg.record_interval).max(1);
            if self.recording {
                let s = self.samples_with_alerts();
                self.recorded.push((now, s));
            }
        }
    }

    fn apply_pending(&mut self) {
        let now = self.now;
        let mut due: Vec<Pending> = Vec::new();
        self.pending.retain(|p| {
            if p.at <= now {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|p| p.at);
        for p in due {
            self.regions[p.region].eff = p.weight;
            if let Some(iso) = &mut self.isolation {
                let r = &self.regions[p.region];
                if iso.region == p.region
                    && p.weight == 0.0
                    && r.desired_weight() == 0.0
                    && iso.rerouted_at.is_none()
                    && iso.restored_at.is_none()
                {
                    iso.rerouted_at = Some(p.at);
                }
            }
        }
    }

    fn check_caught_up(&mut self) {
        let max_lag = self
            .links
            .iter()
            .map(|l| self.link_lag(l))
            .fold(0.0, f64::max);
        if let Some(iso) = &mut self.isolation
            && iso.restored_at.is_some()
            && iso.caught_up_at.is_none()
            && max_lag < 1.0
        {
            iso.caught_up_at = Some(self.now);
        }
    }

    fn evaluate_alerts(&mut self) {
        let samples = self.samples();
        let never = self.faults.alert_never_fires.clone();
        let fired = self.alerts.evaluate(self.now, &samples, |name| {
            never.iter().any(|n| n == "*" || n == name)
        });
        if let Some(iso) = &mut self.isolation
            && iso.alert_firing_at.is_none()
            && let Some(first) = fired.first()
        {
            iso.alert_firing_at = Some(self.now);
            iso.alert = Some((
                first.labels.get("alertname").cloned().unwrap_or_default(),
                first.active_at,
            ));
        }
    }

    // ----- flows ------------------------------------------------------------

    // ----- control calls ----------------------------------------------------

    /// Apply a runtime fault change at `t`.
    pub fn set_faults(&mut self, patch: FaultPatch, t: Millis) -> Result<(), String> {
        let names = self.region_names();
        let check = |list: &[String], star: bool| -> Result<(), String> {
            for n in list {
                if !(names.contains(n) || (star && n == "*")) {
                    return Err(format!("unknown region `{n}`"));
                }
            }
            Ok(())
        };
        let mut f = self.faults.clone();
        if let Some(x) = patch.residency_bug {
            if !(0.0..=1.0).contains(&x) {
                return Err("residency_bug must be between 0 and 1".into());
            }
            f.residency_bug = x;
        }
        if let Some(m) = patch.clock_skew {
            let mut skew = BTreeMap::new();
            for (region, v) in m {
                check(std::slice::from_ref(&region), false)?;
                let ms = super::config::parse_signed_millis(&v)
                    .map_err(|e| format!("invalid clock_skew `{v}` for `{region}`: {e}"))?;
                skew.insert(region, ms);
            }
            f.clock_skew_ms = skew;
        }
        if let Some(l) = patch.replication_stall {
            check(&l, false)?;
            f.replication_stall = l;
        }
        if let Some(s) = patch.slow_reroute {
            f.slow_reroute = humantime::parse_duration(&s)
                .map_err(|e| format!("invalid slow_reroute `{s}`: {e}"))?;
        }
        if let Some(l) = patch.alert_never_fires {
            let known = super::alerts::rule_names();
            for n in &l {
                if n != "*" && !known.contains(&n.as_str()) {
                    return Err(format!("unknown alert `{n}`; alerts: {}", known.join(", ")));
                }
            }
            f.alert_never_fires = l;
        }
        if let Some(l) = patch.keeps_failing_after_restore {
            check(&l, false)?;
            f.keeps_failing_after_restore = l;
        }
        if let Some(b) = patch.pinning_broken {
            f.pinning_broken = b;
        }
        self.settle(t);
        for r in &mut self.regions {
            if !f.keeps_failing_after_restore.contains(&r.name) {
                r.failing = false;
            }
        }
        self.faults = f;
        if let Some(m) = patch.isolation_mode {
            self.isolation_mode = m;
        }
        Ok(())
    }

    pub fn faults(&self) -> FaultView {
        let f = &self.faults;
        FaultView {
            residency_bug: f.residency_bug,
            clock_skew: f
                .clock_skew_ms
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v}ms")))
                .collect(),
            replication_stall: f.replication_stall.clone(),
            slow_reroute: humantime::format_duration(f.slow_reroute).to_string(),
            alert_never_fires: f.alert_never_fires.clone(),
            keeps_failing_after_restore: f.keeps_failing_after_restore.clone(),
            pinning_broken: f.pinning_broken,
            isolation_mode: self.isolation_mode,
        }
    }

    // ----- observations -----------------------------------------------------

    /// Ground truth of the latest isolation.
    pub fn truth(&self) -> Truth {
        let iso = self.isolation.as_ref();
        let base = iso.map(|i| i.baseline.clone()).unwrap_or_default();
        let t = |f: fn(&Isolation) -> Option<Millis>| iso.and_then(f).map(rfc3339);
        Truth {
            region: iso.map(|i| self.regions[i.region].name.clone()),
            isolation_mode: iso.map(|i| i.mode),
            isolated_at: iso.map(|i| rfc3339(i.isolated_at)),
            alert_firing_at: t(|i| i.alert_firing_at),
            first_alert: iso.and_then(|i| i.alert.as_ref().map(|a| a.0.clone())),
            alert_active_at: iso.and_then(|i| i.alert.as_ref().map(|a| rfc3339(a.1))),
            rerouted_at: t(|i| i.rerouted_at),
            restored_at: t(|i| i.restored_at),
            caught_up_at: t(|i| i.caught_up_at),
            conflicts_total: self.counts.conflicts - base.conflicts,
            lost_updates_total: self.counts.lost_updates - base.lost_updates,
            residency_violations_total: self.counts.residency_violations
                - base.residency_violations,
            now: rfc3339(self.now),
            seed: self.seed,
        }
    }
}

#[cfg(test)]
mod tests;
