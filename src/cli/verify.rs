//! `gameday verify RUN_DIR`: the journal's hash chain and the reports
//! rendered from it (see `report::verify`). Exit 0 when everything holds,
//! 1 naming the first bad line or report, 2 when RUN_DIR cannot be read.

use crate::engine::exit;
use std::path::PathBuf;

pub fn verify(run_dir: PathBuf) -> i32 {
    let v = match crate::report::verify::verify(&run_dir) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("gameday: {e}");
            return exit::INVALID;
        }
    };
    for n in &v.notes {
        eprintln!("gameday: note: {n}");
    }
    for p in &v.problems {
        eprintln!("{}/{}: error: {}", run_dir.display(), p.place, p.message);
    }
    if v.ok() {
        eprintln!(
            "gameday: {} verified: {} journal lines chained, final hash {}; the reports were rendered from this journal",
            run_dir.display(),
            v.lines,
            v.final_hash.as_deref().unwrap_or("none")
        );
        println!("{}", v.final_hash.unwrap_or_default());
        exit::PASSED
    } else {
        eprintln!(
            "gameday: {} FAILED verification: {} problem{}",
            run_dir.display(),
            v.problems.len(),
            if v.problems.len() == 1 { "" } else { "s" }
        );
        exit::FAILED
    }
}
