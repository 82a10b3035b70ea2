//! Exported samples: every metric the simulator serves, at the current time.

use super::*;

impl Sim {
    /// Every exported sample at the current time.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(128);
        self.request_samples(&mut out);
        self.region_samples(&mut out);
        self.replication_samples(&mut out);
        self.conflict_samples(&mut out);
        out
    }

    /// Requests served per region, jurisdiction and code, and those no region took (503).
    fn request_samples(&self, out: &mut Vec<Sample>) {
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
    }

    /// Per-region gauges and counters: request rate, error ratio, requests served
    /// outside their home, routing control, traffic dial, probe health, writes by source.
    fn region_samples(&self, out: &mut Vec<Sample>) {
        let reg = |r: &Region| vec![("region", r.name.clone())];
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
    }

    /// Per replication link: lag, lag per data class, queue depth.
    fn replication_samples(&self, out: &mut Vec<Sample>) {
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
    }

    /// Writes and conflicts per entity type, the conflict-age histogram, the conflict rate.
    fn conflict_samples(&self, out: &mut Vec<Sample>) {
        let entity_types = ENTITY_TYPES.iter().chain([&PINNED_TYPE, &"record"]);
        for et in entity_types.clone() {
            out.push(Sample {
                name: "db_entity_writes_total",
                labels: vec![("entity_type", (*et).into())],
                value: self.writes_by_type.get(et).copied().unwrap_or(0) as f64,
            });
        }
        for et in entity_types {
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
                .map_or("+Inf".to_string(), |b| super::super::metrics::fmt_value(*b));
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
