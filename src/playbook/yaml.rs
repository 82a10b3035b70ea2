//! YAML text → a node tree with a position on every node (marked-yaml's
//! `Node`), built from yaml-rust2's events so that anchors (`&x`), aliases
//! (`*x`) and merge keys (`<<: *x`) work: an alias is a copy of the anchored
//! node, positions included, so a diagnostic about a value reached through
//! an alias points at the line where the value is written.
//!
//! Copies are counted: a document may hold at most [`MAX_NODES`] nodes after
//! expansion, so an alias bomb (aliases of aliases, each doubling the size)
//! is refused at the alias that crosses the bound instead of eating memory.
//! Tags, duplicate keys (after merging, explicit keys win over merged ones)
//! and non-scalar keys are refused with their positions.

use crate::diag::Diagnostic;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, MarkedSequenceNode};
use marked_yaml::{Marker, Node, Span};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker as YamlMarker;

/// Most nodes one document may expand to (aliases copied).
pub const MAX_NODES: usize = 100_000;

const MERGE_KEY: &str = "<<";

enum Open {
    Seq(Marker, Vec<Node>, usize),
    Map(
        Marker,
        Vec<(MarkedScalarNode, Node)>,
        Option<MarkedScalarNode>,
        usize,
    ),
}

struct Builder<'a> {
    file: &'a str,
    src: &'a str,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    done: Option<Node>,
    error: Option<Diagnostic>,
}

fn marker(m: YamlMarker) -> Marker {
    Marker::new(0, m.index(), m.line(), m.col() + 1)
}

fn size(n: &Node) -> usize {
    match n {
        Node::Scalar(_) => 1,
        Node::Sequence(s) => 1 + s.iter().map(size).sum::<usize>(),
        Node::Mapping(m) => 1 + m.iter().map(|(_, v)| 1 + size(v)).sum::<usize>(),
    }
}

impl Builder<'_> {
    fn fail(&mut self, m: Marker, msg: impl Into<String>, hint: Option<&str>) {
        if self.error.is_none() {
            let mut d = Diagnostic::at(self.file, self.src, m.line(), m.column(), msg);
            d.hint = hint.map(str::to_string);
            self.error = Some(d);
        }
    }

    fn count(&mut self, n: usize, at: Marker) -> bool {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            self.fail(
                at,
                format!("the document expands to more than {MAX_NODES} nodes (aliases are copied)"),
                Some("an alias of an alias of … multiplies the size: refer to smaller blocks"),
            );
            return false;
        }
        true
    }

    /// A finished node goes where the innermost open collection wants it.
    fn place(&mut self, node: Node, anchor: usize, at: Marker) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.done = Some(node),
            Some(Open::Seq(_, items, _)) => items.push(node),
            Some(Open::Map(_, _, key @ None, _)) => match node {
                Node::Scalar(s) => *key = Some(s),
                _ => self.fail(at, "mapping keys must be plain text", None),
            },
            Some(Open::Map(_, entries, key @ Some(_), _)) => {
                let k = key.take().expect("matched Some");
                entries.push((k, node));
            }
        }
    }

    fn close_map(
        &mut self,
        start: Marker,
        entries: Vec<(MarkedScalarNode, Node)>,
        end: Marker,
    ) -> Option<Node> {
        let mut explicit = MarkedMappingNode::new_empty(Span::new_with_marks(start, end));
        let mut merged: Vec<(MarkedScalarNode, Node)> = vec![];
        for (k, v) in entries {
            if k.as_str() == MERGE_KEY {
                let sources: Vec<Node> = match v {
                    Node::Mapping(_) => vec![v],
                    Node::Sequence(s) => s.iter().cloned().collect(),
                    Node::Scalar(_) => vec![v],
                };
                for s in sources {
                    match s {
                        Node::Mapping(m) => {
                            merged.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())))
                        }
                        other => {
                            let at = other.span().start().copied().unwrap_or(start);
                            self.fail(
                                at,
                                "`<<` merges a mapping or a list of mappings",
                                Some("write `<<: *anchor` where `&anchor` names a mapping"),
                            );
                            return None;
                        }
                    }
                }
                continue;
            }
            if let Some((prev, _)) = explicit.iter().find(|(p, _)| p.as_str() == k.as_str()) {
                let first = prev.span().start().map_or(0, |m| m.line());
                let at = k.span().start().copied().unwrap_or(start);
                let key = k.as_str().to_string();
                self.fail(
                    at,
                    format!("duplicate key `{key}`"),
                    Some(&format!("`{key}` is already set on line {first}; keep one")),
                );
                return None;
            }
            explicit.insert(k, v);
        }
        // Merged keys fill in only what the mapping does not say itself;
        // earlier merge sources win over later ones.
        for (k, v) in merged {
            if explicit.get_node(k.as_str()).is_none() {
                explicit.insert(k, v);
            }
        }
        Some(Node::from(explicit))
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: YamlMarker) {
        if self.error.is_some() {
            return;
        }
        let at = marker(mark);
        match ev {
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => {
                    if self.count(size(&node), at) {
                        self.place(node, 0, at);
                    }
                }
                None => self.fail(
                    at,
                    "alias of an anchor not defined before it",
                    Some("define `&name` before using `*name`"),
                ),
            },
            Event::Scalar(value, style, anchor, tag) => {
                if tag.is_some() {
                    return self.fail(at, "YAML tags (`!tag`) are not supported", None);
                }
                if !self.count(1, at) {
                    return;
                }
                // Quoted or not, a scalar may be read as a number or a boolean
                // (as marked-yaml's own loader does): `retries: "2"` is 2.
                let _ = style;
                let s = MarkedScalarNode::new(Span::new_start(at), value);
                self.place(Node::from(s), anchor, at);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)
                if tag.is_some() =>
            {
                let _ = anchor;
                self.fail(at, "YAML tags (`!tag`) are not supported", None)
            }
            Event::SequenceStart(anchor, _) => {
                if matches!(self.stack.last(), Some(Open::Map(_, _, None, _))) {
                    return self.fail(at, "mapping keys must be plain text", None);
                }
                if self.count(1, at) {
                    self.stack.push(Open::Seq(at, vec![], anchor));
                }
            }
            Event::MappingStart(anchor, _) => {
                if matches!(self.stack.last(), Some(Open::Map(_, _, None, _))) {
                    return self.fail(at, "mapping keys must be plain text", None);
                }
                if self.count(1, at) {
                    self.stack.push(Open::Map(at, vec![], None, anchor));
                }
            }
            Event::SequenceEnd => {
                if let Some(Open::Seq(start, items, anchor)) = self.stack.pop() {
                    let node = Node::from(MarkedSequenceNode::new(
                        Span::new_with_marks(start, at),
                        items,
                    ));
                    self.place(node, anchor, at);
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(start, entries, _, anchor)) = self.stack.pop()
                    && let Some(node) = self.close_map(start, entries, at)
                {
                    self.place(node, anchor, at);
                }
            }
        }
    }
}

/// Parse `src` (named `file` in diagnostics) into a node tree; the top level must be a mapping.
pub fn parse(file: &str, src: &str) -> Result<Node, Diagnostic> {
    let mut b = Builder {
        file,
        src,
        stack: vec![],
        anchors: HashMap::new(),
        nodes: 0,
        done: None,
        error: None,
    };
    let mut parser = Parser::new(src.chars());
    if let Err(e) = parser.load(&mut b, false) {
        let m = marker(*e.marker());
        return Err(Diagnostic::at(
            file,
            src,
            m.line(),
            m.column(),
            format!("invalid YAML: {}", e.info()),
        )
        .with_hint("check indentation, quotes and colons on this line"));
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    match b.done {
        Some(n @ Node::Mapping(_)) => Ok(n),
        None => Ok(Node::from(MarkedMappingNode::new_empty(Span::new_blank()))),
        Some(n) => {
            let m = n.span().start().copied().unwrap_or(Marker::new(0, 0, 1, 1));
            Err(Diagnostic::at(
                file,
                src,
                m.line(),
                m.column(),
                "the top level must be a mapping",
            )
            .with_hint("a playbook starts with keys such as `name:` and `phases:`"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_copy_the_anchored_node_with_its_position_and_merge_keys_fill_in() {
        let src = "base: &b\n  every: 1s\n  timeout: 5m\nw:\n  <<: *b\n  timeout: 1m\nlist: [&x one, *x]\n";
        let n = parse("a.yaml", src).unwrap();
        let w = n.as_mapping().unwrap().get_mapping("w").unwrap();
        assert_eq!(
            w.get_scalar("timeout").unwrap().as_str(),
            "1m",
            "explicit keys win"
        );
        let every = w.get_scalar("every").unwrap();
        assert_eq!(every.as_str(), "1s");
        assert_eq!(
            every.span().start().unwrap().line(),
            2,
            "points where it is written"
        );
        let list = n.as_mapping().unwrap().get_sequence("list").unwrap();
        assert_eq!(list.get_scalar(1).unwrap().as_str(), "one");
    }

    #[test]
    fn anchored_steps_load_and_diagnostics_point_into_the_anchored_block() {
        use crate::playbook::{LoadOptions, load_str};
        let ok = [
            "name: anchors",
            "x-checks:",
            "  up: &up",
            "    kind: prometheus",
            "    expr: up",
            "    expect: \"== 1\"",
            "prometheus: { url: \"http://127.0.0.1:9090\" }",
            "phases:",
            "  - kind: precheck",
            "    steps:",
            "      - <<: *up",
            "        name: a",
            "      - <<: *up",
            "        name: b",
            "        expr: up{job=\"x\"}",
            "",
        ]
        .join("\n");
        let pb = load_str("a.yaml", ok.clone(), &LoadOptions::default())
            .unwrap()
            .playbook;
        let steps = &pb.phases[0].steps;
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].spec.kind(), "prometheus");
        let bad = ok.replace(
            "    expect: \"== 1\"\n",
            "    expect: \"== 1\"\n    serie: all\n",
        );
        let d = load_str("a.yaml", bad, &LoadOptions::default()).unwrap_err();
        assert!(
            d.iter().all(|d| d.location().starts_with("a.yaml:7:")),
            "{d:?}"
        );
        assert!(d[0].message.contains("unknown field `serie`"), "{d:?}");
    }

    #[test]
    fn duplicate_keys_tags_and_bombs_are_refused() {
        let e = parse("a.yaml", "a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(e.message.contains("duplicate key `a`"), "{e:?}");
        let e = parse("a.yaml", "a: !!str 1\n").unwrap_err();
        assert!(e.message.contains("tags"), "{e:?}");
        let e = parse("a.yaml", "a: *nope\n").unwrap_err();
        assert!(e.message.contains("unknown anchor"), "{e:?}");
    }
}
