//! The file side of loading: read an input file (missing, directory, size,
//! encoding, emptiness checked) and parse its YAML with a position on every
//! node, refusing tabs in indentation and nesting that is too deep.

use super::*;

/// Playbooks, environment files and sim configs are limited to this size.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Deepest nesting accepted (flow `[`/`{` levels, or indentation levels).
pub const MAX_DEPTH: usize = 64;

/// Read a playbook or environment file, refusing what no playbook can be
/// (also an empty file).
pub fn read_source(path: &Path) -> Result<String, Diagnostic> {
    let text = read_file(path)?;
    if text.trim().is_empty() {
        return Err(Diagnostic::file(path.display().to_string(), "is empty")
            .with_hint("a playbook needs at least `name:` and `phases:`"));
    }
    Ok(text)
}

/// Read any YAML input file (playbook, environment file, simulator config):
/// it exists, is a file of at most [`MAX_FILE_BYTES`], and is UTF-8.
pub fn read_file(path: &Path) -> Result<String, Diagnostic> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        let msg = if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            format!("cannot read the file: {e}")
        };
        Diagnostic::file(&file, msg).with_hint("check the path")
    })?;
    if meta.is_dir() {
        return Err(Diagnostic::file(&file, "is a directory, not a file")
            .with_hint("name a YAML file, such as drills/examples/hello.yaml"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::file(
            &file,
            format!("is {} bytes; files are limited to 1 MiB", meta.len()),
        )
        .with_hint("split the drill into several playbooks"));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Diagnostic::file(&file, format!("cannot read the file: {e}")))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let good = String::from_utf8_lossy(good);
            let line = good.matches('\n').count() + 1;
            let col = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let bad = e.as_bytes()[e.utf8_error().valid_up_to()];
            let src = String::from_utf8_lossy(e.as_bytes()).into_owned();
            return Err(Diagnostic::at(
                &file,
                &src,
                line,
                col,
                format!("is not valid UTF-8 (byte 0x{bad:02x})"),
            )
            .with_hint("save the file as UTF-8"));
        }
    };
    Ok(text)
}

/// Parse YAML text into a node tree with positions (the one YAML front end
/// of playbooks, environment files, simulator configs and rule files); rejects tabs used for
/// indentation, duplicate keys, tags and nesting deeper than [`MAX_DEPTH`].
/// Anchors, aliases and merge keys are expanded, bounded in size
/// (`super::yaml`).
pub fn parse_yaml(file: &str, src: &str) -> Result<Node, Diagnostic> {
    check_shape(file, src)?;
    crate::playbook::yaml::parse(file, src)
}

fn check_shape(file: &str, src: &str) -> Result<(), Diagnostic> {
    let mut flow_depth = 0usize;
    for (i, line) in src.lines().enumerate() {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if let Some(tab) = indent.find('\t') {
            return Err(
                Diagnostic::at(file, src, i + 1, tab + 1, "tab character in indentation")
                    .with_hint("YAML indents with spaces; replace the tab with spaces"),
            );
        }
        if indent.len() > MAX_DEPTH * 4 {
            return Err(Diagnostic::at(file, src, i + 1, 1, "nesting is too deep")
                .with_hint(format!("playbooks nest at most {MAX_DEPTH} levels")));
        }
        let (mut single, mut double) = (false, false);
        for (j, c) in line.chars().enumerate() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double => break,
                '[' | '{' if !single && !double => {
                    flow_depth += 1;
                    if flow_depth > MAX_DEPTH {
                        return Err(
                            Diagnostic::at(file, src, i + 1, j + 1, "nesting is too deep")
                                .with_hint(format!("playbooks nest at most {MAX_DEPTH} levels")),
                        );
                    }
                }
                ']' | '}' if !single && !double => flow_depth = flow_depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}
