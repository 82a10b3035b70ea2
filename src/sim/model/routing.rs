//! Routing: where each jurisdiction's requests go, routing controls and traffic
//! dials, and the propagation of a routing change.

use super::*;

impl Sim {
    /// Shares of a jurisdiction's traffic: (target region or None = refused, share).
    pub(super) fn route_shares(&self, j: Jurisdiction) -> Vec<(Option<usize>, f64)> {
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

    /// Fraction of a region's requests that fail now.
    pub(super) fn region_failing_ratio(&self, ri: usize) -> f64 {
        let r = &self.regions[ri];
        if r.desired_weight() == 0.0 || r.partitioned {
            1.0
        } else if r.failing {
            0.5
        } else {
            self.cfg.baseline_error_ratio
        }
    }

    pub(super) fn routing_changed(&mut self, ri: usize, before: f64, t: Millis) {
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

    pub(super) fn healthy(&self, ri: usize) -> bool {
        let r = &self.regions[ri];
        r.desired_weight() > 0.0 && !r.partitioned && !r.failing
    }
}

/// The endpoint id of a region's single default endpoint (an ALB ARN).
pub fn default_endpoint_id(region: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{region}:000000000000:loadbalancer/app/sim-{region}/0000000000000000"
    )
}
