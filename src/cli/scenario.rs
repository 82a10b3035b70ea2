//! `gameday demo --scenario NAME`: the same drill against a simulator with
//! one fault switched on, so a newcomer sees what a failing drill and its
//! report look like, and why. Each scenario is a simulator configuration
//! (faults, isolation mode) plus var overrides that keep it under two minutes.

use crate::sim::config::{IsolationMode, SimConfig};
use std::time::Duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scenario {
    /// Nothing goes wrong: the drill passes.
    #[default]
    Clean,
    /// eu-west-1's clock runs 2 s behind: last-writer-wins keeps older writes.
    ClockSkew,
    /// A third of EU failover traffic lands in the US.
    ResidencyBug,
    /// Routing changes take over a minute to take effect.
    SlowReroute,
    /// The "region down" alert never fires.
    SilentAlert,
    /// The region keeps failing half its requests after it is restored.
    SickAfterRestore,
    /// Isolation cuts replication too (a network partition, not a routing change).
    Partition,
}

/// What a scenario injects and what its report shows.
pub struct About {
    pub scenario: Scenario,
    pub name: &'static str,
    pub injects: &'static str,
    pub shows: &'static str,
}

pub const ALL: &[About] = &[
    About {
        scenario: Scenario::Clean,
        name: "clean",
        injects: "no fault",
        shows: "the drill passes: TTD and TTR within 60 s, no conflicts, no lost writes, residency held.",
    },
    About {
        scenario: Scenario::ClockSkew,
        name: "clock-skew",
        injects: "faults.clock_skew: eu-west-1 -2s, routing.isolation_mode: partition",
        shows: "conflicts during restoration: eu-west-1 kept writing while cut off and its clock runs 2 s behind, so on reconnect its writes conflict with the survivors' and last-writer-wins decides by skewed timestamps; the `conflicts` metric misses its target, and the truth line shows the conflicts and lost updates the simulator counted.",
    },
    About {
        scenario: Scenario::ResidencyBug,
        name: "residency-bug",
        injects: "faults.residency_bug: 0.3",
        shows: "the `residency held` step fails: EU users' requests were served from us-east-1 during failover, with the first and last breach and the total in the report; `region-pinned users still served` usually fails too (it samples 20 EU writes: those served in us-east-1 are not yet readable in the EU home region).",
    },
    About {
        scenario: Scenario::SlowReroute,
        name: "slow-reroute",
        injects: "faults.slow_reroute: 40s, routing.propagation_delay 25s; post_settle_timeout 10s",
        shows: "`ttr` misses its 60 s target: traffic kept reaching the isolated region for over a minute after the routing change (routing automation too slow).",
    },
    About {
        scenario: Scenario::SilentAlert,
        name: "silent-alert",
        injects: "faults.alert_never_fires: [RegionProbeFailing]; observe_timeout 20s",
        shows: "`ttd` is missing: the alert watch timed out, so nobody would have been paged; a missing metric with a target counts as missed.",
    },
    About {
        scenario: Scenario::SickAfterRestore,
        name: "sick-after-restore",
        injects: "faults.keeps_failing_after_restore: [eu-west-1]",
        shows: "the post phase catches it: after restoration and the automatic undo, eu-west-1 keeps failing about half its requests, so the post-drill checks (error ratio and probes back to their pre-drill baseline) fail; the drill fails (exit 1) with a post-phase finding, while everything it changed is restored.",
    },
    About {
        scenario: Scenario::Partition,
        name: "partition",
        injects: "routing.isolation_mode: partition",
        shows: "replication to and from eu-west-1 stopped during isolation: queues grow, catch-up after restoration takes longer and writes made in the region during the cut conflict on reconnect.",
    },
];

pub fn about(s: Scenario) -> &'static About {
    ALL.iter()
        .find(|a| a.scenario == s)
        .expect("every scenario is described")
}

/// `gameday demo --list`.
pub fn list() -> String {
    let mut out = String::from("Scenarios of `gameday demo --scenario NAME`:\n");
    for a in ALL {
        out.push_str(&format!(
            "\n  {}\n    injects: {}\n    report:  {}\n",
            a.name, a.injects, a.shows
        ));
    }
    out
}

impl Scenario {
    /// The simulator configuration for this scenario, on top of `base`.
    pub fn config(self, mut base: SimConfig) -> SimConfig {
        let f = &mut base.faults;
        match self {
            Scenario::Clean => {}
            Scenario::ClockSkew => {
                f.clock_skew_ms.insert("eu-west-1".into(), -2000);
                base.isolation_mode = IsolationMode::Partition;
            }
            Scenario::ResidencyBug => f.residency_bug = 0.3,
            Scenario::SlowReroute => {
                f.slow_reroute = Duration::from_secs(40);
                base.propagation_delay = Duration::from_secs(25);
            }
            Scenario::SilentAlert => f.alert_never_fires = vec!["RegionProbeFailing".into()],
            Scenario::SickAfterRestore => f.keeps_failing_after_restore = vec!["eu-west-1".into()],
            Scenario::Partition => base.isolation_mode = IsolationMode::Partition,
        }
        base
    }

    /// Var overrides that keep the run short.
    pub fn vars(self) -> Vec<(String, String)> {
        match self {
            Scenario::SilentAlert => vec![("observe_timeout".into(), "20s".into())],
            // Routing back propagates as slowly: the post phase would wait its
            // whole 45 s for traffic that is still on its way (over 2 min in all).
            Scenario::SlowReroute => vec![("post_settle_timeout".into(), "10s".into())],
            _ => vec![],
        }
    }
}
