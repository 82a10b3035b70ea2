//! Flows between grid instants: requests and writes, replication links and
//! their queues, delivery, and conflicts resolved last-writer-wins.

use super::*;

impl Sim {
    pub(super) fn bucket_ms(&self) -> i64 {
        ms(self.cfg.record_interval).clamp(50, 500)
    }

    pub(super) fn flow(&mut self, a: Millis, b: Millis) {
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
            let key = Key::synthetic(self.rng.random_range(0..keyspace));
            let Some(ri) = self.writer_of(&key, ri) else {
                continue;
            };
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

    /// The region that writes `key` for a request that landed in `ri`: its home
    /// region for a region-pinned key (none while the home is isolated: the
    /// write waits for it), else `ri`.
    fn writer_of(&self, key: &Key, ri: usize) -> Option<usize> {
        let Key::Synthetic(i) = key else {
            return Some(ri);
        };
        if key.entity_type() != PINNED_TYPE || self.faults.pinning_broken {
            return Some(ri);
        }
        let home = (i / PINNED_EVERY) as usize % self.regions.len();
        let r = &self.regions[home];
        (r.desired_weight() > 0.0 && !r.partitioned).then_some(home)
    }

    pub(super) fn skew(&self, ri: usize) -> i64 {
        let r = &self.regions[ri];
        r.drift_ms + self.faults.clock_skew_ms.get(&r.name).copied().unwrap_or(0)
    }

    pub(super) fn write(
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
        *self.writes_by_type.entry(key.entity_type()).or_default() += 1;
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

    pub(super) fn link_up(&self, l: &Link) -> bool {
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
    pub(super) fn link_class_lags(&self, l: &Link) -> [f64; DATA_CLASSES.len()] {
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

    pub(super) fn link_lag(&self, l: &Link) -> f64 {
        l.queue
            .front()
            .map(|e| ((self.now - e.enqueued).max(0)) as f64 / 1000.0)
            .unwrap_or(0.0)
    }

    pub(super) fn deliver(&mut self, dt: f64, t: Millis) {
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

    pub(super) fn apply(&mut self, dst: usize, ev: Event, t: Millis) {
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
}
