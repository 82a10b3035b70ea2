//! `gameday history [DIR]`: every run under DIR (default `./reports`) in a
//! table, each compared with the previous run of the same drill and
//! environment (see `report::history`).

use crate::engine::exit;
use crate::report::history::{self, Format};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Directory holding run directories, or an S3 state (`s3://BUCKET/PREFIX`).
    #[arg(value_name = "DIR", default_value = "reports")]
    pub dir: PathBuf,
    /// Only runs of this drill.
    #[arg(long, value_name = "NAME")]
    pub drill: Option<String>,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "table", value_parser = ["table", "md", "json", "csv"])]
    pub format: String,
    /// Also draw TTD, TTR and RPO per run to FILE (SVG) and its PNG beside it.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
}

pub fn history(a: HistoryArgs) -> i32 {
    let format = Format::parse(&a.format).unwrap_or(Format::Table);
    let mut a = a;
    if let Some(url) = a.dir.to_str().filter(|s| crate::state::Location::is_s3(s)) {
        match super::remote::fetch_runs(url) {
            Ok(d) => a.dir = d,
            Err(e) => {
                eprintln!("gameday: {e}");
                return exit::INVALID;
            }
        }
    }
    let (runs, warnings) = match history::scan(&a.dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "gameday: cannot read {}: {e}\n  = hint: name the directory that holds the run directories (`gameday run --out DIR`; default ./reports)",
                a.dir.display()
            );
            return exit::INVALID;
        }
    };
    for w in &warnings {
        eprintln!("gameday: {w}");
    }
    let rows = history::rows(&runs, a.drill.as_deref());
    if rows.is_empty() {
        match &a.drill {
            Some(d) => eprintln!("gameday: no run of drill `{d}` under {}", a.dir.display()),
            None => eprintln!("gameday: no run under {}", a.dir.display()),
        }
    }
    print!("{}", history::render(&rows, format));
    if let Some(file) = &a.chart {
        match crate::report::trend::write_trend(file, &rows) {
            Ok((svg, png)) => eprintln!(
                "gameday: chart written to {} and {}",
                svg.display(),
                png.display()
            ),
            Err(e) => {
                eprintln!(
                    "gameday: cannot write the chart {}: {e}\n  = hint: name a file in a directory that exists, such as history.svg",
                    file.display()
                );
                return exit::INVALID;
            }
        }
    }
    exit::PASSED
}
