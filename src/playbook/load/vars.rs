//! Vars, secrets and `${...}` interpolation over the node tree.

use super::*;

pub(super) fn resolve(
    r: Ref<'_>,
    values: &BTreeMap<String, String>,
    declared: &BTreeMap<String, (Option<String>, Pos)>,
    secrets: &BTreeMap<String, Option<String>>,
) -> Result<String, (String, Option<String>)> {
    match r {
        Ref::Var(n) => match values.get(n) {
            Some(v) => Ok(v.clone()),
            None if declared.contains_key(n) => Err((
                format!("var `{n}` has no value"),
                Some(format!(
                    "give it a default under `vars:`, set it in the --env file, or pass --var {n}=VALUE"
                )),
            )),
            None => Err((
                format!("undefined var `{n}`"),
                Some(match did_you_mean(n, declared.keys().map(|s| s.as_str())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("declare it under `vars:` or pass --var {n}=VALUE"),
                }),
            )),
        },
        Ref::Env(n) => std::env::var(n).map_err(|_| {
            (
                format!("environment variable `{n}` is not set"),
                Some(format!("export {n}=... before running")),
            )
        }),
        Ref::Secret(n) => match secrets.get(n) {
            Some(Some(v)) => Ok(v.clone()),
            Some(None) => Ok(format!("<secret:{n}>")),
            None => Err((
                format!("undefined secret `{n}`"),
                Some(format!(
                    "declare it under `secrets:` as `{n}: {{ env: VAR }}` or `{{ file: PATH }}`"
                )),
            )),
        },
    }
}

/// Column offset (in characters) of byte `offset` within the single-line
/// scalar starting at `pos`.
pub(super) fn text_col(src: &str, pos: Pos, offset: usize) -> usize {
    src.lines()
        .nth(pos.line.saturating_sub(1))
        .and_then(|l| l.get(pos.col.saturating_sub(1)..))
        .map_or(offset, |rest| {
            let rest = rest.trim_start_matches(['"', '\'']);
            rest.get(..offset.min(rest.len()))
                .map_or(offset, |p| p.chars().count())
        })
}

type InterpResult = Result<String, (Pos, interp::InterpError)>;

/// A secret in a shell step's `argv` would be readable by every local user
/// in `/proc/PID/cmdline` while the command runs: refused, with the way to
/// pass it through the environment instead.
pub(super) fn refuse_secrets_in_argv(b: &mut Builder<'_>, node: &Node) {
    match node {
        Node::Mapping(m) => {
            let is_shell = m.get_scalar("kind").is_some_and(|k| k.as_str() == "shell");
            if is_shell {
                let undo_argv = m.get_mapping("undo").and_then(|u| u.get_node("argv"));
                for argv in [m.get_node("argv"), undo_argv].into_iter().flatten() {
                    let Some(seq) = argv.as_sequence() else {
                        continue;
                    };
                    for arg in seq.iter().filter_map(|a| a.as_scalar()) {
                        let Some(at) = arg.as_str().find("${secret.") else {
                            continue;
                        };
                        let name: String = arg.as_str()[at + 9..]
                            .chars()
                            .take_while(|c| *c != '}')
                            .collect();
                        b.at(
                            pos_of(arg.span()),
                            format!(
                                "secret `{name}` in a shell step's `argv`: other local users can read a command line in /proc/PID/cmdline"
                            ),
                            Some(format!(
                                "pass it through the environment: `env: {{ {}: \"${{secret.{name}}}\" }}`, read by the program or by a `script:` as \"${}\" (secrets also reach commands as environment variables under their own name)",
                                name.to_uppercase().replace('-', "_"),
                                name.to_uppercase().replace('-', "_")
                            )),
                        );
                    }
                }
            }
            for (_, v) in m.iter() {
                refuse_secrets_in_argv(b, v);
            }
        }
        Node::Sequence(seq) => seq.iter().for_each(|v| refuse_secrets_in_argv(b, v)),
        Node::Scalar(_) => {}
    }
}

pub(super) fn interpolate_node(
    node: &mut Node,
    f: &mut dyn FnMut(Pos, &str) -> InterpResult,
    diags: &mut Vec<(Pos, interp::InterpError, bool)>,
) {
    match node {
        Node::Scalar(s) => {
            if !s.as_str().contains('$') {
                return;
            }
            let pos = pos_of(s.span());
            match f(pos, s.as_str()) {
                Ok(v) => *s = MarkedScalarNode::new(*s.span(), v),
                Err((p, e)) => diags.push((p, e, false)),
            }
        }
        Node::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                if k.as_str() == "script" {
                    continue;
                }
                interpolate_node(v, f, diags);
            }
        }
        Node::Sequence(seq) => {
            for v in seq.iter_mut() {
                interpolate_node(v, f, diags);
            }
        }
    }
}
