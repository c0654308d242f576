//! YAML to a tree that keeps every node's position, from saphyr-parser's
//! events. Anchors, aliases and merge keys (`<<`) are resolved here, so the
//! rest of the loader sees plain mappings, sequences and scalars.

use crate::compose::error::{ComposeError, Pos, Result};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// `plain` is false for quoted and block scalars: those are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub val: Val,
    pub pos: Pos,
    /// A local tag such as compose's `!reset` and `!override`.
    pub tag: Option<String>,
}

impl Node {
    pub fn new(val: Val, pos: Pos) -> Node {
        Node {
            val,
            pos,
            tag: None,
        }
    }

    pub fn str(text: impl Into<String>, pos: Pos) -> Node {
        Node::new(
            Val::Scalar {
                text: text.into(),
                plain: false,
            },
            pos,
        )
    }

    /// A plain scalar: typed like YAML's core schema (numbers, bools, null).
    pub fn plain(text: impl Into<String>, pos: Pos) -> Node {
        Node::new(
            Val::Scalar {
                text: text.into(),
                plain: true,
            },
            pos,
        )
    }

    pub fn null(pos: Pos) -> Node {
        Node::plain("null", pos)
    }

    pub fn map(entries: Vec<(Key, Node)>, pos: Pos) -> Node {
        Node::new(Val::Map(entries), pos)
    }

    pub fn seq(items: Vec<Node>, pos: Pos) -> Node {
        Node::new(Val::Seq(items), pos)
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.val, Val::Scalar { text, plain: true } if is_null_text(text))
    }

    pub fn scalar(&self) -> Option<&str> {
        match &self.val {
            Val::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Vec<(Key, Node)>> {
        match &self.val {
            Val::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Vec<(Key, Node)>> {
        match &mut self.val {
            Val::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.val {
            Val::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// Sets `key` (replacing it where it is, else appending).
    pub fn set(&mut self, key: &str, value: Node) {
        let pos = value.pos.clone();
        if let Some(m) = self.as_map_mut() {
            if let Some(slot) = m.iter_mut().find(|(k, _)| k.name == key) {
                slot.1 = value;
            } else {
                m.push((
                    Key {
                        name: key.to_string(),
                        pos,
                    },
                    value,
                ));
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let m = self.as_map_mut()?;
        let i = m.iter().position(|(k, _)| k.name == key)?;
        Some(m.remove(i).1)
    }

    /// A word for error messages: "a mapping", "a list", "a string".
    pub fn kind(&self) -> &'static str {
        match &self.val {
            Val::Map(_) => "a mapping",
            Val::Seq(_) => "a list",
            Val::Scalar { .. } if self.is_null() => "null",
            Val::Scalar { text, plain: true } if parse_bool(text).is_some() => "a boolean",
            Val::Scalar { text, plain: true } if text.parse::<f64>().is_ok() => "a number",
            Val::Scalar { .. } => "a string",
        }
    }

    /// The node as JSON, scalars typed by YAML's core schema.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.val {
            Val::Scalar { text, plain: false } => J::String(text.clone()),
            Val::Scalar { text, plain: true } => {
                if is_null_text(text) {
                    J::Null
                } else if let Some(b) = parse_bool(text) {
                    J::Bool(b)
                } else if let Some(i) = parse_int(text) {
                    J::from(i)
                } else if let Some(f) = text.parse::<f64>().ok().filter(|f| f.is_finite()) {
                    serde_json::Number::from_f64(f)
                        .map(J::Number)
                        .unwrap_or_else(|| J::String(text.clone()))
                } else {
                    J::String(text.clone())
                }
            }
            Val::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Val::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

pub fn is_null_text(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

pub fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

pub fn parse_int(t: &str) -> Option<i64> {
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    if let Some(o) = t.strip_prefix("0o") {
        return i64::from_str_radix(o, 8).ok();
    }
    // go-yaml (compose's parser) reads a leading 0 as octal: `mode: 0440`.
    if t.len() > 1 && t.starts_with('0') && t.bytes().all(|b| b.is_ascii_digit()) {
        return i64::from_str_radix(&t[1..], 8).ok();
    }
    t.parse::<i64>().ok()
}

/// Parses one YAML document. An empty file is an empty mapping.
pub fn parse(src: &str, file: &Arc<str>) -> Result<Node> {
    let mut b = Builder {
        parser: Parser::new_from_str(src),
        file: file.clone(),
        anchors: HashMap::new(),
        peeked: None,
    };
    b.document()
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    file: Arc<str>,
    anchors: HashMap<usize, Node>,
    peeked: Option<(Event<'a>, Span)>,
}

impl<'a> Builder<'a> {
    fn pos(&self, span: &Span) -> Pos {
        Pos {
            file: self.file.clone(),
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Span)> {
        if let Some(e) = self.peeked.take() {
            return Ok(e);
        }
        match self.parser.next_event() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err(ComposeError::Yaml {
                pos: Pos {
                    file: self.file.clone(),
                    line: e.marker().line(),
                    col: e.marker().col() + 1,
                },
                msg: e.info().to_string(),
            }),
            None => Err(ComposeError::Yaml {
                pos: Pos {
                    file: self.file.clone(),
                    line: 0,
                    col: 0,
                },
                msg: "unexpected end of input".into(),
            }),
        }
    }

    fn document(&mut self) -> Result<Node> {
        let empty = Node::map(
            Vec::new(),
            Pos {
                file: self.file.clone(),
                line: 1,
                col: 1,
            },
        );
        let mut root = None;
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::DocumentEnd) {
                        continue;
                    }
                    if root.is_some() {
                        return Err(ComposeError::Yaml {
                            pos: self.pos(&span),
                            msg: "a compose file has one YAML document; this is a second one"
                                .into(),
                        });
                    }
                    root = Some(self.node(ev, span)?);
                }
                _ => {
                    return Err(ComposeError::Yaml {
                        pos: self.pos(&span),
                        msg: "unexpected event".into(),
                    })
                }
            }
        }
        let root = root.unwrap_or(empty);
        if root.is_null() {
            return Ok(Node::map(Vec::new(), root.pos));
        }
        Ok(root)
    }

    fn node(&mut self, ev: Event<'a>, span: Span) -> Result<Node> {
        let pos = self.pos(&span);
        let (node, anchor) = match ev {
            Event::Alias(id) => {
                return self.anchors.get(&id).cloned().ok_or(ComposeError::Yaml {
                    pos,
                    msg: "alias to an unknown anchor".into(),
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = matches!(style, ScalarStyle::Plain) && tag.is_none();
                let mut n = Node::new(
                    Val::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                    pos,
                );
                n.tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                // `!!str 1` is a string; `!!int "1"` a number.
                if let Some(t) = &n.tag {
                    if matches!(
                        t.as_str(),
                        "tag:yaml.org,2002:int"
                            | "tag:yaml.org,2002:float"
                            | "tag:yaml.org,2002:bool"
                            | "tag:yaml.org,2002:null"
                    ) {
                        if let Val::Scalar { plain, .. } = &mut n.val {
                            *plain = true;
                        }
                    }
                }
                (n, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, span)?);
                }
                let mut n = Node::seq(items, pos);
                n.tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                (n, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                let mut n = self.mapping(pos)?;
                n.tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                (n, anchor)
            }
            _ => {
                return Err(ComposeError::Yaml {
                    pos,
                    msg: "unexpected event".into(),
                })
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, pos: Pos) -> Result<Node> {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        let mut merged: Vec<(Key, Node)> = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let kpos = self.pos(&span);
            let key = self.node(ev, span)?;
            let Val::Scalar { text: name, plain } = key.val else {
                return Err(ComposeError::Yaml {
                    pos: kpos,
                    msg: "a mapping key must be a scalar".into(),
                });
            };
            let (ev, span) = self.next()?;
            let value = self.node(ev, span)?;
            if plain && name == "<<" {
                // YAML merge key: earlier sources win over later ones, and the
                // mapping's own keys over all of them.
                let sources = match value.val {
                    Val::Map(m) => vec![m],
                    Val::Seq(items) => {
                        let mut out = Vec::new();
                        for it in items {
                            match it.val {
                                Val::Map(m) => out.push(m),
                                _ => {
                                    return Err(ComposeError::Yaml {
                                        pos: it.pos,
                                        msg: "a merge key (<<) takes mappings".into(),
                                    })
                                }
                            }
                        }
                        out
                    }
                    _ => {
                        return Err(ComposeError::Yaml {
                            pos: value.pos,
                            msg: "a merge key (<<) takes a mapping or a list of mappings".into(),
                        })
                    }
                };
                for m in sources {
                    for (k, v) in m {
                        if !merged.iter().any(|(mk, _)| mk.name == k.name) {
                            merged.push((k, v));
                        }
                    }
                }
                continue;
            }
            if entries.iter().any(|(k, _)| k.name == name) {
                return Err(ComposeError::Yaml {
                    pos: kpos,
                    msg: format!("mapping key \"{name}\" already defined"),
                });
            }
            entries.push((Key { name, pos: kpos }, value));
        }
        for (k, v) in merged {
            if !entries.iter().any(|(ek, _)| ek.name == k.name) {
                entries.push((k, v));
            }
        }
        Ok(Node::map(entries, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(s, &Arc::from("t.yaml")).unwrap()
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("services:\n  web:\n    image: x\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        let (k, v) = &web.as_map().unwrap()[0];
        assert_eq!((k.pos.line, k.pos.col), (3, 5));
        assert_eq!((v.pos.line, v.pos.col), (3, 12));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("x-base: &b\n  image: a\n  tty: true\nservices:\n  web:\n    <<: *b\n    image: c\n  db: *b\n");
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("image").unwrap().scalar(), Some("c"));
        assert_eq!(web.get("tty").unwrap().scalar(), Some("true"));
        let db = n.get("services").unwrap().get("db").unwrap();
        assert_eq!(db.get("image").unwrap().scalar(), Some("a"));
    }

    #[test]
    fn merge_key_list_earlier_wins() {
        let n = p("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n");
        let c = n.get("c").unwrap();
        assert_eq!(c.get("x").unwrap().scalar(), Some("1"));
        assert_eq!(c.get("y").unwrap().scalar(), Some("2"));
    }

    #[test]
    fn duplicate_key_is_an_error_with_its_line() {
        let e = parse("a: 1\na: 2\n", &Arc::from("f.yml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yml:2:1: invalid YAML: mapping key \"a\" already defined"
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("services:\n  web: [a\n", &Arc::from("f.yml")).unwrap_err();
        assert!(e.to_string().starts_with("f.yml:"), "{e}");
        assert!(e.to_string().contains("invalid YAML"), "{e}");
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let n = p("a: '1'\nb: 1\nc: ~\nd: !reset []\n");
        assert_eq!(n.get("a").unwrap().to_json(), serde_json::json!("1"));
        assert_eq!(n.get("b").unwrap().to_json(), serde_json::json!(1));
        assert!(n.get("c").unwrap().is_null());
        assert_eq!(n.get("d").unwrap().tag.as_deref(), Some("!reset"));
    }

    #[test]
    fn empty_file_is_empty_mapping() {
        assert_eq!(p("").as_map().map(Vec::len), Some(0));
        assert_eq!(p("# only a comment\n").as_map().map(Vec::len), Some(0));
    }
}
