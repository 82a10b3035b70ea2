//! `kind: note`: a line for the journal and the report (what the team should
//! look at now, a link to a dashboard).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteSpec {
    pub text: String,
}

super::fixed_effect!(NoteSpec => Passive);
