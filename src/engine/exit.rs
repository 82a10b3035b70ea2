//! Exit codes, decided in one place. Scripts and cron rely on these.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the drill passed: all checks held, all targets met |
//! | 1 | the drill ran and failed: a check failed or a target was missed |
//! | 2 | the playbook or the command line is invalid: nothing ran |
//! | 3 | aborted by a guardrail, a failed step or the deadline, then restored |
//! | 4 | interrupted by a signal, then restored |
//! | 5 | restoration failed or is incomplete: the message says what is still applied |

use crate::journal::event::Outcome;

pub const PASSED: i32 = 0;
pub const FAILED: i32 = 1;
pub const INVALID: i32 = 2;
pub const ABORTED: i32 = 3;
pub const INTERRUPTED: i32 = 4;
pub const RESTORE_FAILED: i32 = 5;

/// The exit code of a run with this outcome.
pub fn for_outcome(o: Outcome) -> i32 {
    match o {
        Outcome::Passed => PASSED,
        Outcome::Failed => FAILED,
        Outcome::Aborted => ABORTED,
        Outcome::Interrupted => INTERRUPTED,
        Outcome::RestoreFailed | Outcome::Incomplete => RESTORE_FAILED,
    }
}

/// The exit code of `gameday restore` (and of the guard's restoration).
pub fn for_restore(o: &super::restore::RestoreOutcome) -> i32 {
    use super::restore::RestoreOutcome as R;
    match o {
        R::NoJournal { .. } | R::Unreadable { .. } | R::StillRunning { .. } => INVALID,
        R::NothingToRestore | R::Restored | R::Listed { refused: false } => PASSED,
        R::Listed { refused: true }
        | R::LockBusy
        | R::LockError { .. }
        | R::Declined
        | R::Refused { .. }
        | R::CannotAppend { .. }
        | R::Incomplete { .. } => RESTORE_FAILED,
    }
}
