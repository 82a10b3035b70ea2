//! Typed values from a YAML node tree, with every error at the node it is
//! about.
//!
//! marked-yaml's deserializer puts a position on the errors it raises
//! itself (a number that does not parse, a bad boolean), but not on the
//! ones raised by the types being built: an unknown or missing field, a
//! wrong type, or our own scalars refusing their text (`Duration`, `Rate`,
//! `Comparison`, a URL, …) arrive without one. Its `serde-path` feature
//! fixes that by running every deserialization through
//! `serde_path_to_error` and walking the path back down the tree; that
//! wrapper instantiates every `Deserialize` impl of the playbook model a
//! second, heavier time, and cost about a minute of every clean release
//! build (ARCHITECTURE.md, *Build profile*).
//!
//! [`from_node`] gets the same positions more cheaply. Its deserializer
//! walks mappings and sequences itself, handing each value and element to a
//! deserializer over that node, and an error leaving a node's
//! deserialization without a position takes that node's: the key for an
//! unknown field, the value for a value its type refuses (also when the
//! type refuses it after reading it, as `Duration` does with its text), the
//! mapping for a missing field. The innermost node wins. Scalars, enums and
//! `Spanned` values are read by marked-yaml's own deserializer, so what a
//! value means is unchanged; only where its errors point.

use marked_yaml::types::MarkedScalarNode;
use marked_yaml::{Error, Node, Span};
use serde::Deserialize;
use serde::de::{DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// Deserialize `node` into `T`; an error carries the position of the node
/// it is about (see the module docs).
pub fn from_node<'de, T: Deserialize<'de>>(node: &'de Node) -> Result<T, Error> {
    T::deserialize(Located(node)).map_err(|e| at(node.span(), e))
}

/// `e`, with `span` as its position unless it already has one.
fn at(span: &Span, e: Error) -> Error {
    if e.start_mark().is_some() || span.start().is_none() {
        return e;
    }
    let span = *span;
    match e {
        Error::NotBoolean(_) => Error::NotBoolean(span),
        Error::IntegerParseFailure(p, _) => Error::IntegerParseFailure(p, span),
        Error::FloatParseFailure(p, _) => Error::FloatParseFailure(p, span),
        Error::UnknownFieldError(f, expected, _) => Error::UnknownFieldError(f, expected, span),
        Error::Other(m, _) => Error::Other(m, span),
    }
}

/// The deserializer over one node.
struct Located<'de>(&'de Node);

/// `marked_yaml::Spanned<T>` asks for a struct of this name; marked-yaml
/// answers it with the node's span.
fn is_spanned(name: &str) -> bool {
    name.starts_with("$___::marked_data::serde::Spanned")
}

macro_rules! by_node {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
                match self.0 {
                    Node::Mapping(_) | Node::Sequence(_) => self.deserialize_any(visitor),
                    node => node.into_deserializer().$method($($arg,)* visitor),
                }
            }
        )*
    };
}

impl<'de> serde::Deserializer<'de> for Located<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Node::Mapping(m) => visitor.visit_map(Entries {
                items: m.iter(),
                value: None,
            }),
            Node::Sequence(s) => visitor.visit_seq(Elements(s.iter())),
            node => node.into_deserializer().deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Node::Mapping(_) if !is_spanned(name) => self.deserialize_any(visitor),
            node => node
                .into_deserializer()
                .deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            // As marked-yaml: a mapping or a sequence is always `Some`.
            Node::Mapping(_) | Node::Sequence(_) => visitor.visit_some(self),
            node => node.into_deserializer().deserialize_option(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0
            .into_deserializer()
            .deserialize_enum(name, variants, visitor)
    }

    by_node! {
        deserialize_bool()
        deserialize_i8()
        deserialize_i16()
        deserialize_i32()
        deserialize_i64()
        deserialize_i128()
        deserialize_u8()
        deserialize_u16()
        deserialize_u32()
        deserialize_u64()
        deserialize_u128()
        deserialize_f32()
        deserialize_f64()
        deserialize_char()
        deserialize_str()
        deserialize_string()
        deserialize_bytes()
        deserialize_byte_buf()
        deserialize_unit()
        deserialize_unit_struct(name: &'static str)
        deserialize_newtype_struct(name: &'static str)
        deserialize_seq()
        deserialize_tuple(len: usize)
        deserialize_tuple_struct(name: &'static str, len: usize)
        deserialize_map()
        deserialize_identifier()
        deserialize_ignored_any()
    }
}

/// A mapping's entries, in document order.
struct Entries<'de, I> {
    items: I,
    value: Option<&'de Node>,
}

impl<'de, I> MapAccess<'de> for Entries<'de, I>
where
    I: Iterator<Item = (&'de MarkedScalarNode, &'de Node)>,
{
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.items.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(key.into_deserializer())
            .map(Some)
            .map_err(|e| at(key.span(), e))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.value.take().ok_or_else(|| {
            <Error as serde::de::Error>::custom("a value asked for before its key")
        })?;
        seed.deserialize(Located(value))
            .map_err(|e| at(value.span(), e))
    }
}

/// A sequence's elements, in order.
struct Elements<'de>(std::slice::Iter<'de, Node>);

impl<'de> SeqAccess<'de> for Elements<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some(n) => seed
                .deserialize(Located(n))
                .map(Some)
                .map_err(|e| at(n.span(), e)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn node(src: &str) -> Node {
        crate::playbook::yaml::parse("t.yaml", src).unwrap()
    }

    fn line_col(e: &Error) -> (usize, usize) {
        let m = e.start_mark().expect("the error has a position");
        (m.line(), m.column())
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        every: crate::playbook::duration::Positive,
        #[serde(default)]
        tries: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        #[serde(default)]
        waits: Vec<Inner>,
        #[serde(default)]
        one: Option<Inner>,
    }

    #[test]
    fn a_value_the_type_refuses_is_at_the_value() {
        let n = node("name: x\nwaits:\n  - every: 1s\n  - every: soon\n");
        let e = from_node::<Outer>(&n).unwrap_err();
        assert_eq!(line_col(&e), (4, 12), "{e}");
    }

    #[test]
    fn an_unknown_field_is_at_its_key() {
        let n = node("name: x\none:\n  every: 1s\n  tires: 3\n");
        let e = from_node::<Outer>(&n).unwrap_err();
        assert!(
            matches!(e, Error::UnknownFieldError(ref f, _, _) if f == "tires"),
            "{e}"
        );
        assert_eq!(line_col(&e), (4, 3), "{e}");
    }

    #[test]
    fn a_missing_field_is_at_its_mapping() {
        let n = node("name: x\nwaits:\n  - tries: 2\n");
        let e = from_node::<Outer>(&n).unwrap_err();
        assert!(e.to_string().contains("missing field `every`"), "{e}");
        assert_eq!(line_col(&e).0, 3, "{e}");
    }

    #[test]
    fn a_wrong_type_is_at_the_value_and_numbers_keep_their_own_position() {
        let n = node("name: [a]\n");
        let e = from_node::<Outer>(&n).unwrap_err();
        assert_eq!(line_col(&e), (1, 7), "{e}");
        let n = node("name: x\none: { every: 1s, tries: many }\n");
        let e = from_node::<Outer>(&n).unwrap_err();
        assert!(matches!(e, Error::IntegerParseFailure(..)), "{e:?}");
        assert_eq!(line_col(&e), (2, 26), "{e}");
    }

    #[test]
    fn values_read_as_marked_yaml_reads_them() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct All {
            b: bool,
            n: Option<u8>,
            #[serde(default)]
            none: Option<u8>,
            list: Vec<String>,
            empty: Vec<String>,
            span: marked_yaml::Spanned<String>,
            map: std::collections::BTreeMap<String, f64>,
        }
        let n = node("b: true\nn: 7\nlist: [a, b]\nempty: []\nspan: here\nmap: { x: 1.5 }\n");
        let v: All = from_node(&n).unwrap();
        assert!(v.b);
        assert_eq!((v.n, v.none), (Some(7), None));
        assert_eq!(v.list, ["a", "b"]);
        assert!(v.empty.is_empty());
        assert_eq!(v.span.span().start().map(|m| m.line()), Some(5));
        assert_eq!(v.map["x"], 1.5);
    }
}
