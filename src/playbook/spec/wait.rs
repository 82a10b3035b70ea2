//! `kind: wait`: a fixed pause with a visible countdown, for observation
//! windows. Conditions are waited on with `wait:` on a check instead.

use crate::playbook::duration::NonNegative;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    pub duration: NonNegative,
    #[serde(default)]
    pub reason: Option<String>,
}

super::fixed_effect!(WaitSpec => Passive);
