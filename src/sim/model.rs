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
    fn entity_type(&self) -> &'static str {
        match self {
            Key::Synthetic(i) => ENTITY_TYPES[(*i % 4) as usize],
            Key::App(_) => "record",
        }
    }

    /// The data class of DOMAIN.md's lag budgets, by entity type.
    fn data_class(&self) -> usize {
        match self.entity_type() {
            "session" => 0,
            "order" => 1,
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

    fn bucket_ms(&self) -> i64 {
        ms(self.cfg.record_interval).clamp(50, 500)
    }

    /// Shares of a jurisdiction's traffic: (target region or None = refused, share).
    fn route_shares(&self, j: Jurisdiction) -> Vec<(Option<usize>, f64)> {
        let allowed: Vec<usize> = (0..self.regions.len())
            .filter(|&i| j == Jurisdiction::US || self.regions[i].jurisdiction == Jurisdiction::EU)
            .collect();
        let home: Vec<usize> = allowed
            .iter()
            .copied()
            .filter(|&i| self.regions[i].jurisdiction == j)
            .collect();
        let home = if home.is_empty() {
            allowed.clone()
        } else {
            home
        };
        let mut shares: Vec<(Option<usize>, f64)> = Vec::new();
        let add = |t: Option<usize>, s: f64, shares: &mut Vec<(Option<usize>, f64)>| {
            if s <= 0.0 {
                return;
            }
            match shares.iter_mut().find(|(x, _)| *x == t) {
                Some((_, v)) => *v += s,
                None => shares.push((t, s)),
            }
        };
        let base = 1.0 / home.len().max(1) as f64;
        let us_region = self
            .regions
            .iter()
            .position(|r| r.jurisdiction == Jurisdiction::US);
        for &h in &home {
            let eff = self.regions[h].eff;
            add(Some(h), base * eff, &mut shares);
            let mut left = base * (1.0 - eff);
            if left <= 0.0 {
                continue;
            }
            if j == Jurisdiction::EU
                && self.faults.residency_bug > 0.0
                && let Some(u) = us_region
                && self.regions[u].eff > 0.0
            {
                add(Some(u), left * self.faults.residency_bug, &mut shares);
                left *= 1.0 - self.faults.residency_bug;
            }
            let same: Vec<usize> = allowed
                .iter()
                .copied()
                .filter(|&i| {
                    i != h && self.regions[i].eff > 0.0 && self.regions[i].jurisdiction == j
                })
                .collect();
            let cands = if same.is_empty() {
                allowed
                    .iter()
                    .copied()
                    .filter(|&i| i != h && self.regions[i].eff > 0.0)
                    .collect()
            } else {
                same
            };
            let total: f64 = cands.iter().map(|&i| self.regions[i].eff).sum();
            if total <= 0.0 {
                add(None, left, &mut shares);
            } else {
                for &c in &cands {
                    add(Some(c), left * self.regions[c].eff / total, &mut shares);
                }
            }
        }
        shares
    }

    fn flow(&mut self, a: Millis, b: Millis) {
        if b <= a {
            return;
        }
        let dt = (b - a) as f64 / 1000.0;
        let bucket = a.div_euclid(self.bucket_ms());
        for r in &mut self.regions {
            r.rps = 0.0;
        }
        let mut writes: Vec<(usize, Millis, u8)> = Vec::new();
        let loads: Vec<(Jurisdiction, f64)> = self.cfg.load.iter().map(|(j, v)| (*j, *v)).collect();
        for (j, rps) in loads {
            if rps <= 0.0 {
                continue;
            }
            let noise = 1.0 + self.rng.random_range(-0.1..0.1);
            for (target, share) in self.route_shares(j) {
                let rate = rps * noise * share;
                let Some(ri) = target else {
                    let n = self.refused_carry.entry(j).or_default().take(rate * dt);
                    *self.refused.entry(j).or_default() += n;
                    continue;
                };
                let failing_ratio = self.region_failing_ratio(ri);
                let write_fraction = self.cfg.write_fraction;
                let r = &mut self.regions[ri];
                r.rps += rate;
                let c = r.carries.entry((j, ri)).or_default();
                let n = c.req.take(rate * dt);
                if n == 0 {
                    continue;
                }
                let err = if failing_ratio >= 1.0 {
                    n
                } else {
                    c.err.take(n as f64 * failing_ratio).min(n)
                };
                let ok = n - err;
                let w = c.write.take(ok as f64 * write_fraction);
                *r.requests.entry((j, 200)).or_default() += ok;
                *r.requests.entry((j, 503)).or_default() += err;
                if r.jurisdiction != j {
                    *r.outside_home.entry(j).or_default() += n;
                    if j == Jurisdiction::EU {
                        self.counts.residency_violations += n;
                    }
                }
                match r.buckets.back_mut() {
                    Some(bk) if bk.0 == bucket => {
                        bk.1 += n;
                        bk.2 += err;
                    }
                    _ => r.buckets.push_back((bucket, n, err)),
                }
                for _ in 0..w {
                    writes.push((ri, 0, 0));
                }
            }
        }
        let bg = self.cfg.background_writes_per_second;
        for ri in 0..self.regions.len() {
            let n = self.regions[ri].job_carry.take(bg * dt);
            for _ in 0..n {
                writes.push((ri, 0, 1));
            }
        }
        let span = (b - a).max(1);
        for w in &mut writes {
            w.1 = a + self.rng.random_range(0..span);
        }
        writes.sort_by_key(|w| (w.1, w.0));
        let keyspace = self.cfg.keyspace.max(1);
        for (ri, t, source) in writes {
            let key = Key::Synthetic(self.rng.random_range(0..keyspace));
            self.write(ri, key, None, None, t, source as usize);
        }
        self.deliver(dt, b);
        // Trim windows.
        let window_buckets = ms(self.cfg.error_window) / self.bucket_ms();
        let oldest = bucket - window_buckets + 1;
        for r in &mut self.regions {
            while r.buckets.front().is_some_and(|bk| bk.0 < oldest) {
                r.buckets.pop_front();
            }
        }
        while self
            .conflict_buckets
            .front()
            .is_some_and(|bk| bk.0 < oldest)
        {
            self.conflict_buckets.pop_front();
        }
    }

    /// Fraction of a region's requests that fail now.
    fn region_failing_ratio(&self, ri: usize) -> f64 {
        let r = &self.regions[ri];
        if r.desired_weight() == 0.0 || r.partitioned {
            1.0
        } else if r.failing {
            0.5
        } else {
            self.cfg.baseline_error_ratio
        }
    }

    fn skew(&self, ri: usize) -> i64 {
        let r = &self.regions[ri];
        r.drift_ms + self.faults.clock_skew_ms.get(&r.name).copied().unwrap_or(0)
    }

    fn write(
        &mut self,
        ri: usize,
        key: Key,
        value: Option<Arc<serde_json::Value>>,
        jurisdiction: Option<Jurisdiction>,
        t: Millis,
        source: usize,
    ) -> Record {
        let mut vv = self.regions[ri]
            .store
            .get(&key)
            .map(|r| r.vv)
            .unwrap_or([0; MAX_REGIONS]);
        vv[ri] = vv[ri].saturating_add(1);
        let rec = Record {
            version: self.next_version,
            vv,
            origin: ri,
            clock: t + self.skew(ri),
            true_time: t,
            value,
            jurisdiction,
        };
        self.next_version += 1;
        let region = &mut self.regions[ri];
        region.store.insert(key.clone(), rec.clone());
        region.writes[source.min(2)] += 1;
        let residency_ok = self.faults.residency_bug > 0.0;
        for li in 0..self.links.len() {
            if self.links[li].src != ri {
                continue;
            }
            let dst = self.links[li].dst;
            if jurisdiction == Some(Jurisdiction::EU)
                && self.regions[dst].jurisdiction != Jurisdiction::EU
                && !residency_ok
            {
                continue;
            }
            let q = &mut self.links[li].queue;
            if q.len() >= MAX_QUEUE {
                q.pop_front();
            }
            q.push_back(Event {
                key: key.clone(),
                rec: rec.clone(),
                enqueued: t,
            });
        }
        rec
    }

    fn link_up(&self, l: &Link) -> bool {
        let (s, d) = (&self.regions[l.src], &self.regions[l.dst]);
        !s.partitioned
            && !d.partitioned
            && !self
                .faults
                .replication_stall
                .iter()
                .any(|n| *n == s.name || *n == d.name)
    }

    /// Age of the oldest queued write of each data class on the link (0 when none).
    fn link_class_lags(&self, l: &Link) -> [f64; DATA_CLASSES.len()] {
        let mut out = [0.0; DATA_CLASSES.len()];
        let mut found = [false; DATA_CLASSES.len()];
        let mut left = DATA_CLASSES.len();
        for e in &l.queue {
            let c = e.key.data_class();
            if !found[c] {
                found[c] = true;
                out[c] = ((self.now - e.enqueued).max(0)) as f64 / 1000.0;
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
        out
    }

    fn link_lag(&self, l: &Link) -> f64 {
        l.queue
            .front()
            .map(|e| ((self.now - e.enqueued).max(0)) as f64 / 1000.0)
            .unwrap_or(0.0)
    }

    fn deliver(&mut self, dt: f64, t: Millis) {
        let latency = ms(self.cfg.replication_latency);
        let throughput = self.cfg.replication_throughput;
        for li in 0..self.links.len() {
            if !self.link_up(&self.links[li]) {
                continue;
            }
            let mut cap = self.links[li].carry.take(throughput * dt);
            while cap > 0 {
                let ready = self.links[li]
                    .queue
                    .front()
                    .is_some_and(|e| e.enqueued + latency <= t);
                if !ready {
                    break;
                }
                let Some(ev) = self.links[li].queue.pop_front() else {
                    break;
                };
                cap -= 1;
                let dst = self.links[li].dst;
                self.apply(dst, ev, t);
            }
        }
    }

    fn apply(&mut self, dst: usize, ev: Event, t: Millis) {
        let cur = self.regions[dst].store.get(&ev.key).cloned();
        let Some(cur) = cur else {
            self.regions[dst].store.insert(ev.key, ev.rec);
            return;
        };
        if dominated(&ev.rec.vv, &cur.vv) {
            return;
        }
        if dominated(&cur.vv, &ev.rec.vv) {
            self.regions[dst].store.insert(ev.key, ev.rec);
            return;
        }
        // Concurrent versions: last writer (by region clock) wins.
        let mut merged = cur.vv;
        for (m, x) in merged.iter_mut().zip(ev.rec.vv.iter()) {
            *m = (*m).max(*x);
        }
        let incoming_wins = (ev.rec.clock, ev.rec.origin) > (cur.clock, cur.origin);
        let (winner, loser) = if incoming_wins {
            (ev.rec.clone(), cur.clone())
        } else {
            (cur.clone(), ev.rec.clone())
        };
        let pair = (
            winner.version.min(loser.version),
            winner.version.max(loser.version),
        );
        if self.seen_conflicts.len() >= MAX_SEEN_CONFLICTS {
            self.seen_conflicts.clear();
        }
        if self.seen_conflicts.insert(pair) {
            self.counts.conflicts += 1;
            *self
                .conflicts_by_type
                .entry(ev.key.entity_type())
                .or_default() += 1;
            // Age at resolution: since the newer of the two writes, when the conflict began.
            let age = ((t - winner.true_time.max(loser.true_time)).max(0)) as f64 / 1000.0;
            let b = CONFLICT_AGE_BUCKETS
                .iter()
                .position(|le| age <= *le)
                .unwrap_or(CONFLICT_AGE_BUCKETS.len());
            self.conflict_ages[b] += 1;
            self.conflict_age_sum += age;
            let bucket = t.div_euclid(self.bucket_ms());
            match self.conflict_buckets.back_mut() {
                Some(bk) if bk.0 == bucket => bk.1 += 1,
                _ => self.conflict_buckets.push_back((bucket, 1)),
            }
            if loser.true_time > winner.true_time {
                self.counts.lost_updates += 1;
            }
        }
        let mut kept = winner;
        kept.vv = merged;
        self.regions[dst].store.insert(ev.key, kept);
    }

    // ----- control calls ----------------------------------------------------

    fn routing_changed(&mut self, ri: usize, before: f64, t: Millis) {
        let after = self.regions[ri].desired_weight();
        let jitter = ms(self.cfg.propagation_jitter);
        let extra = if jitter > 0 {
            self.rng.random_range(0..=jitter)
        } else {
            0
        };
        let at = (t + ms(self.cfg.propagation_delay) + extra + ms(self.faults.slow_reroute))
            .max(self.regions[ri].last_pending_at);
        self.regions[ri].last_pending_at = at;
        self.pending.push(Pending {
            region: ri,
            weight: after,
            at,
        });
        if before > 0.0 && after == 0.0 {
            if self.isolation_mode == IsolationMode::Partition {
                self.regions[ri].partitioned = true;
            }
            self.isolation = Some(Isolation {
                region: ri,
                mode: self.isolation_mode,
                isolated_at: t,
                alert_firing_at: None,
                alert: None,
                rerouted_at: None,
                restored_at: None,
                caught_up_at: None,
                baseline: self.counts.clone(),
            });
        } else if before == 0.0 && after > 0.0 {
            let name = self.regions[ri].name.clone();
            let region = &mut self.regions[ri];
            region.partitioned = false;
            region.failing = self.faults.keeps_failing_after_restore.contains(&name);
            if let Some(iso) = &mut self.isolation
                && iso.region == ri
                && iso.restored_at.is_none()
            {
                iso.restored_at = Some(t);
            }
        }
    }

    /// Route 53 ARC: set a region's routing control, accepted at `t`.
    pub fn set_routing_control(&mut self, ri: usize, on: bool, t: Millis) {
        self.settle(t);
        let before = self.regions[ri].desired_weight();
        self.regions[ri].control_on = on;
        self.routing_changed(ri, before, t);
    }

    /// Global Accelerator: update a region's endpoint group (dial and/or endpoints), accepted at `t`.
    pub fn update_endpoint_group(
        &mut self,
        ri: usize,
        dial: Option<f64>,
        endpoints: Option<Vec<Endpoint>>,
        t: Millis,
    ) {
        self.settle(t);
        let before = self.regions[ri].desired_weight();
        if let Some(d) = dial {
            self.regions[ri].dial = d.clamp(0.0, 100.0);
        }
        if let Some(e) = endpoints {
            self.regions[ri].endpoints = e;
        }
        self.routing_changed(ri, before, t);
    }

    pub fn routing_control(&self, ri: usize) -> bool {
        self.regions[ri].control_on
    }

    pub fn endpoint_group(&self, ri: usize) -> EndpointGroupView {
        let r = &self.regions[ri];
        EndpointGroupView {
            region: r.name.clone(),
            dial: r.dial,
            endpoints: r.endpoints.clone(),
            healthy: self.healthy(ri),
        }
    }

    fn healthy(&self, ri: usize) -> bool {
        let r = &self.regions[ri];
        r.desired_weight() > 0.0 && !r.partitioned && !r.failing
    }

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
            isolation_mode: self.isolation_mode,
        }
    }

    // ----- application API --------------------------------------------------

    fn app_region(&self, region: &str) -> Result<usize, AppError> {
        let ri = self
            .region_index(region)
            .ok_or_else(|| AppError::UnknownRegion(region.to_string()))?;
        if self.regions[ri].desired_weight() == 0.0 || self.regions[ri].partitioned {
            return Err(AppError::Unavailable(region.to_string()));
        }
        Ok(ri)
    }

    /// Validate an application key: 1-128 characters of `[A-Za-z0-9._:-]`.
    pub fn valid_key(key: &str) -> bool {
        !key.is_empty()
            && key.len() <= 128
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    }

    /// Write a record in `region` at `t`.
    pub fn app_write(
        &mut self,
        region: &str,
        key: &str,
        value: serde_json::Value,
        jurisdiction: Option<Jurisdiction>,
        t: Millis,
    ) -> Result<WriteAck, AppError> {
        if !Self::valid_key(key) {
            return Err(AppError::Invalid(
                "keys are 1-128 characters of A-Z a-z 0-9 . _ : -".into(),
            ));
        }
        let size = serde_json::to_vec(&value)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_VALUE_BYTES {
            return Err(AppError::Invalid(format!(
                "value is {size} bytes, at most {MAX_VALUE_BYTES} are accepted"
            )));
        }
        self.settle(t);
        let ri = self.app_region(region)?;
        if self.regions[ri].failing && self.rng.random_bool(0.5) {
            return Err(AppError::Failed(region.to_string()));
        }
        if jurisdiction == Some(Jurisdiction::EU)
            && self.regions[ri].jurisdiction != Jurisdiction::EU
        {
            if self.faults.residency_bug > 0.0 {
                self.counts.residency_violations += 1;
            } else {
                return Err(AppError::Residency(region.to_string()));
            }
        }
        let k: Arc<str> = match self.app_keys.get(key) {
            Some(k) => k.clone(),
            None => {
                if self.app_keys.len() >= MAX_APP_KEYS {
                    return Err(AppError::Full);
                }
                let k: Arc<str> = Arc::from(key);
                self.app_keys.insert(k.clone());
                k
            }
        };
        let rec = self.write(ri, Key::App(k), Some(Arc::new(value)), jurisdiction, t, 2);
        Ok(WriteAck {
            key: key.to_string(),
            region: region.to_string(),
            version: rec.version,
            region_clock: rfc3339(rec.clock),
            written_at: rfc3339(rec.true_time),
        })
    }

    /// Read a record from `region` at `t`.
    pub fn app_read(&mut self, region: &str, key: &str, t: Millis) -> Result<ReadRecord, AppError> {
        if !Self::valid_key(key) {
            return Err(AppError::Invalid(
                "keys are 1-128 characters of A-Z a-z 0-9 . _ : -".into(),
            ));
        }
        self.advance_to(t);
        let ri = self.app_region(region)?;
        let not_found = || AppError::NotFound {
            region: region.to_string(),
            key: key.to_string(),
        };
        let k = self.app_keys.get(key).cloned().ok_or_else(not_found)?;
        let rec = self.regions[ri]
            .store
            .get(&Key::App(k))
            .ok_or_else(not_found)?;
        Ok(ReadRecord {
            key: key.to_string(),
            region: region.to_string(),
            value: rec
                .value
                .as_deref()
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            version: rec.version,
            origin_region: self.regions[rec.origin].name.clone(),
            region_clock: rfc3339(rec.clock),
            jurisdiction: rec.jurisdiction,
        })
    }

    /// Health of a region as a synthetic monitor sees it.
    pub fn app_health(&mut self, region: &str, t: Millis) -> Result<(), AppError> {
        self.advance_to(t);
        let ri = self.app_region(region)?;
        if self.regions[ri].failing {
            return Err(AppError::Failed(region.to_string()));
        }
        Ok(())
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

    /// Every exported sample at the current time.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(128);
        let reg = |r: &Region| vec![("region", r.name.clone())];
        for r in &self.regions {
            for ((j, code), n) in &r.requests {
                out.push(Sample {
                    name: "http_requests_total",
                    labels: vec![
                        ("region", r.name.clone()),
                        ("jurisdiction", j.label().into()),
                        ("code", code.to_string()),
                    ],
                    value: *n as f64,
                });
            }
        }
        for (j, n) in &self.refused {
            out.push(Sample {
                name: "http_requests_total",
                labels: vec![
                    ("region", "none".into()),
                    ("jurisdiction", j.label().into()),
                    ("code", "503".into()),
                ],
                value: *n as f64,
            });
        }
        for r in &self.regions {
            out.push(Sample {
                name: "region_requests_per_second",
                labels: reg(r),
                value: r.rps,
            });
        }
        for r in &self.regions {
            let (req, err) = r
                .buckets
                .iter()
                .fold((0u64, 0u64), |(a, b), bk| (a + bk.1, b + bk.2));
            let ratio = if req == 0 {
                0.0
            } else {
                err as f64 / req as f64
            };
            out.push(Sample {
                name: "region_error_ratio",
                labels: reg(r),
                value: ratio,
            });
        }
        for r in &self.regions {
            for (j, n) in &r.outside_home {
                out.push(Sample {
                    name: "requests_served_outside_home_total",
                    labels: vec![
                        ("jurisdiction", j.label().into()),
                        ("region", r.name.clone()),
                    ],
                    value: *n as f64,
                });
            }
        }
        for r in &self.regions {
            out.push(Sample {
                name: "routing_control_state",
                labels: reg(r),
                value: if r.control_on { 1.0 } else { 0.0 },
            });
        }
        for r in &self.regions {
            out.push(Sample {
                name: "traffic_dial_percent",
                labels: reg(r),
                value: r.dial,
            });
        }
        for (i, r) in self.regions.iter().enumerate() {
            out.push(Sample {
                name: "synthetic_probe_success",
                labels: reg(r),
                value: if self.healthy(i) { 1.0 } else { 0.0 },
            });
        }
        for r in &self.regions {
            for (si, source) in ["user", "job", "app"].iter().enumerate() {
                out.push(Sample {
                    name: "db_writes_total",
                    labels: vec![("region", r.name.clone()), ("source", (*source).into())],
                    value: r.writes[si] as f64,
                });
            }
        }
        for l in &self.links {
            let labels = vec![
                ("source", self.regions[l.src].name.clone()),
                ("target", self.regions[l.dst].name.clone()),
            ];
            out.push(Sample {
                name: "replication_lag_seconds",
                labels: labels.clone(),
                value: self.link_lag(l),
            });
            for (class, lag) in DATA_CLASSES.iter().zip(self.link_class_lags(l)) {
                let mut labels = labels.clone();
                labels.push(("data_class", (*class).into()));
                out.push(Sample {
                    name: "replication_data_class_lag_seconds",
                    labels,
                    value: lag,
                });
            }
            out.push(Sample {
                name: "replication_queue_depth",
                labels,
                value: l.queue.len() as f64,
            });
        }
        for et in ENTITY_TYPES.iter().chain(std::iter::once(&"record")) {
            let n = self.conflicts_by_type.get(et).copied().unwrap_or(0);
            out.push(Sample {
                name: "replication_conflicts_total",
                labels: vec![
                    ("conflict_type", "concurrent_update".into()),
                    ("resolution", "last_writer_wins".into()),
                    ("entity_type", (*et).into()),
                ],
                value: n as f64,
            });
        }
        let mut cumulative = 0;
        for (i, n) in self.conflict_ages.iter().enumerate() {
            cumulative += n;
            let le = CONFLICT_AGE_BUCKETS
                .get(i)
                .map_or("+Inf".to_string(), |b| super::metrics::fmt_value(*b));
            out.push(Sample {
                name: "replication_conflict_age_seconds_bucket",
                labels: vec![("le", le)],
                value: cumulative as f64,
            });
        }
        out.push(Sample {
            name: "replication_conflict_age_seconds_sum",
            labels: vec![],
            value: self.conflict_age_sum,
        });
        out.push(Sample {
            name: "replication_conflict_age_seconds_count",
            labels: vec![],
            value: cumulative as f64,
        });
        let window_s = ms(self.cfg.error_window) as f64 / 1000.0;
        let recent: u64 = self.conflict_buckets.iter().map(|b| b.1).sum();
        out.push(Sample {
            name: "replication_conflicts_per_second",
            labels: vec![],
            value: recent as f64 / window_s.max(1.0),
        });
        out
    }

    /// Samples plus Prometheus-style `ALERTS` series, as recorded into history.
    pub fn samples_with_alerts(&self) -> Vec<Sample> {
        let mut s = self.samples();
        for a in self.alerts.active() {
            // Label names must be 'static; the alert labels come from a fixed set.
            let mut labels: Vec<(&'static str, String)> = Vec::new();
            for (k, v) in &a.labels {
                if let Some(name) = static_label(k) {
                    labels.push((name, v.clone()));
                }
            }
            labels.push((
                "alertstate",
                if a.state == AlertState::Firing {
                    "firing".into()
                } else {
                    "pending".into()
                },
            ));
            s.push(Sample {
                name: "ALERTS",
                labels,
                value: 1.0,
            });
        }
        s
    }
}

fn static_label(k: &str) -> Option<&'static str> {
    [
        "alertname",
        "region",
        "source",
        "target",
        "severity",
        "jurisdiction",
        "code",
        "entity_type",
        "data_class",
        "le",
        "conflict_type",
        "resolution",
    ]
    .into_iter()
    .find(|s| *s == k)
}

/// The endpoint id of a region's single default endpoint (an ALB ARN).
pub fn default_endpoint_id(region: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{region}:000000000000:loadbalancer/app/sim-{region}/0000000000000000"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_800_000_000_000;

    fn script(seed: u64, cfg: SimConfig) -> (Truth, Vec<Sample>) {
        let mut sim = Sim::new(cfg, seed, T0);
        let eu = sim.region_index("eu-west-1").unwrap();
        sim.advance_to(T0 + 60_000);
        sim.set_routing_control(eu, false, T0 + 60_123);
        // The ticker wakes up at irregular times; results must not depend on it.
        for t in (T0 + 60_200..T0 + 150_000).step_by(777) {
            sim.advance_to(t);
        }
        sim.set_routing_control(eu, true, T0 + 150_456);
        sim.advance_to(T0 + 200_000);
        (sim.truth(), sim.samples())
    }

    #[test]
    fn ground_truth_is_reproducible_for_a_seed() {
        let cfg = SimConfig {
            isolation_mode: IsolationMode::Partition,
            ..SimConfig::default()
        };
        let a = script(7, cfg.clone());
        let b = script(7, cfg.clone());
        assert_eq!(a, b);
        let t = &a.0;
        assert_eq!(
            t.isolated_at.as_deref(),
            Some(rfc3339(T0 + 60_123).as_str())
        );
        assert!(
            t.rerouted_at.is_some() && t.alert_firing_at.is_some() && t.caught_up_at.is_some(),
            "{t:?}"
        );
        assert!(t.conflicts_total > 0, "a partition makes conflicts: {t:?}");
        let c = script(8, cfg);
        assert_ne!(a.1, c.1, "another seed gives other numbers");
    }

    #[test]
    fn isolation_reroutes_after_propagation_and_fires_an_alert() {
        let mut sim = Sim::new(SimConfig::default(), 1, T0);
        let eu = sim.region_index("eu-west-1").unwrap();
        sim.advance_to(T0 + 40_000);
        sim.set_routing_control(eu, false, T0 + 40_000);
        sim.advance_to(T0 + 80_000);
        let t = sim.truth();
        let rerouted = DateTime::parse_from_rfc3339(t.rerouted_at.as_deref().unwrap())
            .unwrap()
            .timestamp_millis();
        assert!((T0 + 45_000..=T0 + 46_000).contains(&rerouted), "{t:?}");
        assert!(t.alert_firing_at.is_some(), "{t:?}");
        let rps = sim
            .samples()
            .into_iter()
            .find(|s| s.name == "region_requests_per_second" && s.labels[0].1 == "eu-west-1")
            .unwrap();
        assert_eq!(rps.value, 0.0);
        assert_eq!(t.residency_violations_total, 0);
    }

    #[test]
    fn residency_bug_sends_eu_traffic_to_the_us() {
        let mut cfg = SimConfig::default();
        cfg.faults.residency_bug = 0.5;
        let mut sim = Sim::new(cfg, 1, T0);
        let eu = sim.region_index("eu-west-1").unwrap();
        sim.set_routing_control(eu, false, T0 + 1_000);
        sim.advance_to(T0 + 30_000);
        assert!(
            sim.truth().residency_violations_total > 100,
            "{:?}",
            sim.truth()
        );
    }

    #[test]
    fn clock_skew_loses_updates_silently() {
        let mut cfg = SimConfig {
            isolation_mode: IsolationMode::Partition,
            ..SimConfig::default()
        };
        cfg.faults.clock_skew_ms.insert("eu-west-1".into(), 30_000);
        let mut sim = Sim::new(cfg, 3, T0);
        let eu = sim.region_index("eu-west-1").unwrap();
        sim.set_routing_control(eu, false, T0 + 1_000);
        sim.advance_to(T0 + 90_000);
        sim.set_routing_control(eu, true, T0 + 90_000);
        sim.advance_to(T0 + 150_000);
        let t = sim.truth();
        assert!(t.lost_updates_total > 0, "{t:?}");
    }

    #[test]
    fn eu_users_are_refused_rather_than_served_in_the_us() {
        let mut sim = Sim::new(SimConfig::default(), 1, T0);
        for r in ["eu-west-1", "eu-central-1"] {
            let ri = sim.region_index(r).unwrap();
            sim.set_routing_control(ri, false, T0 + 1_000);
        }
        sim.advance_to(T0 + 30_000);
        let refused = sim
            .samples()
            .into_iter()
            .find(|s| s.name == "http_requests_total" && s.labels[0].1 == "none")
            .map(|s| s.value)
            .unwrap_or(0.0);
        assert!(refused > 1_000.0, "{refused}");
        assert_eq!(sim.truth().residency_violations_total, 0);
    }

    #[test]
    fn app_records_replicate_and_respect_residency() {
        let mut sim = Sim::new(SimConfig::default(), 1, T0);
        let ack = sim
            .app_write(
                "eu-west-1",
                "k1",
                serde_json::json!({"a": 1}),
                Some(Jurisdiction::EU),
                T0 + 1_000,
            )
            .unwrap();
        assert_eq!(ack.region, "eu-west-1");
        assert!(matches!(
            sim.app_read("eu-central-1", "k1", T0 + 1_050),
            Err(AppError::NotFound { .. })
        ));
        assert_eq!(
            sim.app_read("eu-central-1", "k1", T0 + 3_000)
                .unwrap()
                .version,
            ack.version
        );
        assert!(matches!(
            sim.app_read("us-east-1", "k1", T0 + 3_000),
            Err(AppError::NotFound { .. })
        ));
        assert_eq!(
            sim.app_write(
                "us-east-1",
                "k2",
                serde_json::json!(1),
                Some(Jurisdiction::EU),
                T0 + 3_000
            ),
            Err(AppError::Residency("us-east-1".into()))
        );
    }
}
