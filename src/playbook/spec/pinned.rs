//! `kind: pinned-users`: region-pinned users are still served (the drill
//! script's validation). Per home jurisdiction, through the canary's HTTP
//! write and read requests:
//!
//! * requests succeed in an allowed region: each sample write goes through
//!   `via` (a global entry point, or a region) and must be acknowledged by a
//!   region in `allowed` (read from the answer at the canary's `region_at`);
//! * read-your-writes: right after, the record is read in the users' `home`
//!   region and must show the sequence number just written.
//!
//! The report gives the share of failed or stale reads per jurisdiction.
//!
//! ```yaml
//! - name: region-pinned users still served
//!   kind: pinned-users
//!   canary: canary
//!   samples: 20                      # writes per jurisdiction (default 20)
//!   max_failed: 0%                   # share of failed or stale reads allowed (default 0%)
//!   users:
//!     - { jurisdiction: EU, via: eu, home: eu-central-1, allowed: [eu-west-1, eu-central-1] }
//!     - { jurisdiction: US, via: us, home: us-east-1, allowed: [us-east-1, eu-west-1, eu-central-1] }
//! ```

use super::conflicts::Share;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PinnedUsersSpec {
    /// The HTTP `canary` step whose write and read requests are used.
    pub canary: String,
    /// One entry per home jurisdiction.
    pub users: Vec<PinnedUsers>,
    /// Sample writes per jurisdiction.
    #[serde(default = "default_samples")]
    pub samples: u32,
    /// Share of failed or stale reads allowed: `0%` (the default).
    #[serde(default)]
    pub max_failed: Option<Share>,
}

/// The users of one home jurisdiction.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PinnedUsers {
    /// Whose users (`EU`); also the canary's `{jurisdiction}` placeholder.
    pub jurisdiction: String,
    /// The canary's `{region}` for the writes: a global entry point (`eu` in the simulator) or a region.
    pub via: String,
    /// The users' home region: the write must be readable there right after.
    pub home: String,
    /// Regions allowed to serve these users.
    pub allowed: Vec<String>,
}

fn default_samples() -> u32 {
    20
}

impl PinnedUsersSpec {
    pub fn problems(&self) -> Vec<String> {
        let mut p = vec![];
        if self.users.is_empty() {
            p.push(
                "`users` is empty: name at least one jurisdiction with `via`, `home` and `allowed`"
                    .into(),
            );
        }
        if !(1..=500).contains(&self.samples) {
            p.push(format!("`samples` is {}; use 1 to 500", self.samples));
        }
        for u in &self.users {
            if u.allowed.is_empty() {
                p.push(format!(
                    "`{}` users have no `allowed` regions",
                    u.jurisdiction
                ));
            } else if !u.allowed.contains(&u.home) {
                p.push(format!(
                    "`{}` users' home `{}` is not one of their `allowed` regions",
                    u.jurisdiction, u.home
                ));
            }
        }
        p
    }
}

impl super::Kind for PinnedUsersSpec {
    fn effect(&self) -> super::Effect {
        super::Effect::ReadOnly
    }

    fn problems(&self, refs: &super::Refs<'_>) -> super::Problems {
        use crate::playbook::problem::Problem;
        let mut out: super::Problems = self.problems().into_iter().map(Problem::new).collect();
        if let Some(c) = refs.find_canary(&self.canary, &mut out)
            && c.http.is_none()
        {
            out.push(Problem::new(format!(
                "canary `{}` writes into PostgreSQL; pinned-users needs an HTTP canary",
                self.canary
            )));
        }
        out
    }
}
