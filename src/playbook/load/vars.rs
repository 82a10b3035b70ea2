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
                Some(suggest(n, declared.keys().map(|s| s.as_str()), || {
                    format!("declare it under `vars:` or pass --var {n}=VALUE")
                })),
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

/// The playbook's vars after every override, and what the environment file
/// adds besides (its `vars` are merged into `values`).
pub(super) struct Vars {
    /// Declared vars: default value and position of the declaration.
    pub(super) declared: BTreeMap<String, (Option<String>, Pos)>,
    /// Final values: defaults < environment file < `--var`.
    pub(super) values: BTreeMap<String, String>,
    /// The environment file's name and connection overrides.
    pub(super) env: EnvValues,
}

/// Vars: defaults, then the environment file, then `--var`.
pub(super) fn merge_vars(
    b: &mut Builder<'_>,
    rootm: &MarkedMappingNode,
    opts: &LoadOptions,
) -> Vars {
    let declared = declared_vars(b, rootm);
    let mut env = EnvValues {
        name: "default".to_string(),
        ..EnvValues::default()
    };
    let mut env_only: BTreeMap<String, String> = BTreeMap::new();
    let mut values: BTreeMap<String, String> = declared
        .iter()
        .filter_map(|(k, (d, _))| d.clone().map(|d| (k.clone(), d)))
        .collect();
    if let Some(env_path) = &opts.env_file {
        match load_env_file(env_path) {
            Ok(mut e) => {
                // Environment files are shared by several drills: vars a
                // playbook does not declare are not the playbook's, but other
                // vars' values may refer to them (`prometheus_url: "${sim_url}"`).
                for (k, v) in std::mem::take(&mut e.vars) {
                    if declared.contains_key(&k) {
                        values.insert(k, v);
                    } else {
                        env_only.insert(k, v);
                    }
                }
                env = e;
            }
            Err(d) => b.diags.extend(d),
        }
    }
    for (k, v) in &opts.vars {
        if declared.contains_key(k) {
            values.insert(k.clone(), v.clone());
        } else if env_only.contains_key(k) {
            env_only.insert(k.clone(), v.clone());
        } else {
            let hint = suggest(k, declared.keys().map(|s| s.as_str()), || {
                format!(
                    "the playbook declares: {}",
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            });
            b.diags.push(
                Diagnostic::file(
                    "command line",
                    format!("--var `{k}` is not a var of {}", b.file),
                )
                .with_hint(hint),
            );
        }
    }
    expand_var_refs(b, &mut values, &env_only);
    Vars {
        declared,
        values,
        env,
    }
}

/// The `vars:` mapping: each name with its default (a scalar, or
/// `{ default: ..., description: ... }`) and position.
fn declared_vars(
    b: &mut Builder<'_>,
    rootm: &MarkedMappingNode,
) -> BTreeMap<String, (Option<String>, Pos)> {
    let mut declared = BTreeMap::new();
    let Some(vars) = rootm.get_node("vars") else {
        return declared;
    };
    match vars.as_mapping() {
        Some(m) => {
            for (k, v) in m.iter() {
                let default = match v {
                    Node::Scalar(s) => Some(s.as_str().to_string()),
                    _ => b.de::<VarDecl>(v, &[]).and_then(|d| d.default),
                };
                declared.insert(k.as_str().to_string(), (default, pos_of(k.span())));
            }
        }
        None => b.at(
            pos_of(vars.span()),
            "`vars` must be a mapping of names to default values",
            None,
        ),
    }
    declared
}

/// A var's value may name other vars (`prometheus_url: "${sim_url}"` in an
/// environment file): resolved once, after every override is known.
fn expand_var_refs(
    b: &mut Builder<'_>,
    values: &mut BTreeMap<String, String>,
    env_only: &BTreeMap<String, String>,
) {
    let snapshot = values.clone();
    for (k, v) in values.iter_mut().filter(|(_, v)| v.contains('$')) {
        let expanded = interp::interpolate(v, |r| match r {
            Ref::Var(n) if n != k.as_str() => snapshot
                .get(n)
                .or_else(|| env_only.get(n))
                .filter(|x| !x.contains("${"))
                .cloned()
                .ok_or_else(|| (format!("var `{n}` has no plain value"), None)),
            Ref::Env(n) => std::env::var(n)
                .map_err(|_| (format!("environment variable `{n}` is not set"), None)),
            _ => Err((
                "only other vars and `${env.NAME}` can be used in a var's value".into(),
                None,
            )),
        });
        match expanded {
            Ok(x) => *v = x,
            Err(e) => b.diags.push(
                Diagnostic::file(b.file, format!("var `{k}` = `{v}`: {}", e.message))
                    .with_hint("a var's value may refer to other vars that have plain values"),
            ),
        }
    }
}

/// Secrets: from environment variables or files, never inline. A secret
/// that cannot be read is `None` (a placeholder for validate and plan), or
/// an error when `require` (run).
pub(super) fn read_secrets(
    b: &mut Builder<'_>,
    rootm: &MarkedMappingNode,
    require: bool,
) -> BTreeMap<String, Option<String>> {
    let mut secret_values: BTreeMap<String, Option<String>> = BTreeMap::new();
    let Some(secrets) = rootm.get_node("secrets") else {
        return secret_values;
    };
    let Some(m) = secrets.as_mapping() else {
        b.at(
            pos_of(secrets.span()),
            "`secrets` must be a mapping such as `token: { env: API_TOKEN }`",
            None,
        );
        return secret_values;
    };
    for (k, v) in m.iter() {
        let Some(decl) = b.de::<SecretDecl>(v, &[]) else {
            continue;
        };
        let pos = pos_of(v.span());
        let name = k.as_str();
        let value = match (&decl.env, &decl.file) {
            (Some(env), None) => std::env::var(env)
                .ok()
                .map(|v| (v, format!("environment variable {env}")))
                .ok_or(format!("environment variable `{env}`")),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map(|v| (v.trim_end().to_string(), f.clone()))
                .map_err(|_| format!("file `{f}`")),
            _ => {
                b.at(
                    pos,
                    format!("secret `{name}` needs exactly one of `env:` or `file:`"),
                    Some("secrets are never written inline".into()),
                );
                continue;
            }
        };
        let value = match value {
            Ok((value, from)) => {
                check_secret_length(b, pos, name, &value, &from, decl.allow_short);
                Some(value)
            }
            Err(from) => {
                if require {
                    b.at(
                        pos,
                        format!("secret `{name}` cannot be read from {from}"),
                        Some("set it before running the drill".into()),
                    );
                }
                None
            }
        };
        secret_values.insert(name.to_string(), value);
    }
    secret_values
}

/// A secret too short to redact safely is refused unless `allow_short`.
fn check_secret_length(
    b: &mut Builder<'_>,
    pos: Pos,
    name: &str,
    value: &str,
    from: &str,
    allow_short: bool,
) {
    let n = value.chars().count();
    if n < crate::redact::MIN_SECRET_LEN && !allow_short {
        b.at(
            pos,
            format!(
                "secret `{name}` from {from} is {n} character{} long: too short to redact safely (minimum {})",
                if n == 1 { "" } else { "s" },
                crate::redact::MIN_SECRET_LEN
            ),
            Some("use a longer secret, or add `allow_short: true` to the declaration if this value may blank out matching text wherever it is printed".into()),
        );
    }
}

/// Interpolate `${...}` everywhere but in `vars`, `secrets` and scripts.
/// Vars left without a value are an error only if something uses them;
/// interpolation reports that use with its position.
pub(super) fn interpolate_tree(
    b: &mut Builder<'_>,
    root: &mut Node,
    vars: &Vars,
    secrets: &BTreeMap<String, Option<String>>,
) {
    let mut interp_diags = vec![];
    if let Some(m) = root.as_mapping_mut() {
        for (k, v) in m.iter_mut() {
            if k.as_str() == "vars" || k.as_str() == "secrets" {
                continue;
            }
            interpolate_node(
                v,
                &mut |pos, text| {
                    interp::interpolate(text, |r| resolve(r, &vars.values, &vars.declared, secrets))
                        .map_err(|e| (pos, e))
                },
                &mut interp_diags,
            );
        }
    }
    for (pos, e, _) in interp_diags {
        let quoted = b
            .src
            .lines()
            .nth(pos.line.saturating_sub(1))
            .and_then(|l| l.chars().nth(pos.col.saturating_sub(1)))
            .is_some_and(|c| c == '"' || c == '\'');
        let col = pos.col + quoted as usize + text_col(b.src, pos, e.offset);
        b.at(
            Pos {
                line: pos.line,
                col,
            },
            e.message,
            e.hint,
        );
    }
}
