//! A YAML tree that remembers where every node came from (file and line), so that every later
//! stage (interpolation, merge, validation) can report `file:line`. Built from yaml-rust2's
//! event parser; anchors, aliases and merge keys (`<<: *x`) are resolved here, and the compose
//! tags `!reset` / `!override` are kept for the merge step.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::error::{Error, Result};

/// The file a node was read from.
#[derive(Debug)]
pub(crate) struct Src {
    /// Name shown in errors.
    pub name: String,
    /// Directory of the file (for `extends.file`, `include`).
    pub dir: PathBuf,
    /// Directory relative paths in service definitions resolve against.
    pub base: PathBuf,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub v: V,
    pub line: usize,
    pub src: Arc<Src>,
    /// `!reset` or `!override` (compose merge tags).
    pub tag: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum V {
    Null,
    /// Text and whether it was a plain (unquoted) scalar.
    Str(String, bool),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_line: usize,
    pub val: Node,
}

impl Node {
    pub fn new(v: V, line: usize, src: &Arc<Src>) -> Node {
        Node {
            v,
            line,
            src: src.clone(),
            tag: None,
        }
    }

    pub fn err(&self, message: impl Into<String>) -> Error {
        err_at(&self.src, self.line, message)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.v, V::Null)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.v {
            V::Map(es) => es.iter().find(|e| e.key == key).map(|e| &e.val),
            _ => None,
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.v {
            V::Map(es) => es.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        match &mut self.v {
            V::Map(es) => {
                let i = es.iter().position(|e| e.key == key)?;
                Some(es.remove(i).val)
            }
            _ => None,
        }
    }

    /// Sets `key` (replacing in place, or appending).
    pub fn set(&mut self, key: &str, key_line: usize, val: Node) {
        if let V::Map(es) = &mut self.v {
            if let Some(e) = es.iter_mut().find(|e| e.key == key) {
                e.val = val;
            } else {
                es.push(Entry {
                    key: key.to_string(),
                    key_line,
                    val,
                });
            }
        }
    }

    pub fn map(&self, path: &str) -> Result<&[Entry]> {
        match &self.v {
            V::Map(es) => Ok(es),
            _ => Err(self.err(format!("{path} must be a mapping"))),
        }
    }

    /// A mapping, or null taken as an empty mapping.
    pub fn map_or_empty(&self, path: &str) -> Result<&[Entry]> {
        match &self.v {
            V::Null => Ok(&[]),
            _ => self.map(path),
        }
    }

    pub fn seq(&self, path: &str) -> Result<&[Node]> {
        match &self.v {
            V::Seq(items) => Ok(items),
            _ => Err(self.err(format!("{path} must be a list"))),
        }
    }

    pub fn scalar(&self) -> Option<&str> {
        match &self.v {
            V::Str(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn str(&self, path: &str) -> Result<&str> {
        self.scalar()
            .ok_or_else(|| self.err(format!("{path} must be a string")))
    }

    pub fn string(&self, path: &str) -> Result<String> {
        self.str(path).map(str::to_string)
    }

    pub fn opt_string(&self, path: &str) -> Result<Option<String>> {
        if self.is_null() {
            return Ok(None);
        }
        self.string(path).map(Some)
    }

    pub fn bool(&self, path: &str) -> Result<bool> {
        match self.scalar().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "on") => Ok(true),
            Some("false" | "no" | "off") => Ok(false),
            _ => Err(self.err(format!("{path} must be a boolean"))),
        }
    }

    pub fn int(&self, path: &str) -> Result<i64> {
        self.scalar()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| self.err(format!("{path} must be an integer")))
    }

    pub fn uint<T: TryFrom<i64>>(&self, path: &str) -> Result<T> {
        let n = self.int(path)?;
        T::try_from(n).map_err(|_| self.err(format!("{path}: {n} is out of range")))
    }

    pub fn float(&self, path: &str) -> Result<f64> {
        self.scalar()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|f| f.is_finite())
            .ok_or_else(|| self.err(format!("{path} must be a number")))
    }

    /// A string or a list of strings.
    pub fn str_or_list(&self, path: &str) -> Result<Vec<String>> {
        match &self.v {
            V::Null => Ok(Vec::new()),
            V::Str(s, _) => Ok(vec![s.clone()]),
            V::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| n.string(&format!("{path}[{i}]")))
                .collect(),
            V::Map(_) => Err(self.err(format!("{path} must be a string or a list"))),
        }
    }

    /// A list of strings.
    pub fn list(&self, path: &str) -> Result<Vec<String>> {
        match &self.v {
            V::Null => Ok(Vec::new()),
            V::Seq(_) => self.str_or_list(path),
            _ => Err(self.err(format!("{path} must be a list"))),
        }
    }

    /// Rejects keys not in `allowed` (extension keys `x-*` are always allowed).
    pub fn check_keys(&self, path: &str, allowed: &[&str]) -> Result<()> {
        for e in self.map(path)? {
            if !allowed.contains(&e.key.as_str()) && !e.key.starts_with("x-") {
                let at = if path.is_empty() {
                    e.key.clone()
                } else {
                    format!("{path}.{}", e.key)
                };
                return Err(err_at(
                    &self.src,
                    e.key_line,
                    format!("{at}: additional property {} is not allowed", e.key),
                ));
            }
        }
        Ok(())
    }

    /// Number of nodes in this tree.
    pub fn count(&self) -> usize {
        1 + match &self.v {
            V::Seq(items) => items.iter().map(Node::count).sum(),
            V::Map(es) => es.iter().map(|e| e.val.count()).sum(),
            _ => 0,
        }
    }

    /// A text rendering of the value, independent of positions (for de-duplication).
    pub fn canon(&self) -> String {
        match &self.v {
            V::Null => "~".into(),
            V::Str(s, _) => format!("{s:?}"),
            V::Seq(items) => {
                let inner: Vec<String> = items.iter().map(Node::canon).collect();
                format!("[{}]", inner.join(","))
            }
            V::Map(es) => {
                let mut inner: Vec<String> = es
                    .iter()
                    .map(|e| format!("{:?}:{}", e.key, e.val.canon()))
                    .collect();
                inner.sort();
                format!("{{{}}}", inner.join(","))
            }
        }
    }
}

pub(crate) fn err_at(src: &Src, line: usize, message: impl Into<String>) -> Error {
    Error::At {
        file: src.name.clone(),
        line,
        message: message.into(),
    }
}

/// Name shown for a file in errors: relative to `cwd` when inside it.
pub(crate) fn display_name(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

const MAX_ALIAS_NODES: usize = 1_000_000;

enum Frame {
    Seq {
        line: usize,
        anchor: usize,
        tag: Option<String>,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        anchor: usize,
        tag: Option<String>,
        entries: Vec<Entry>,
        merges: Vec<Node>,
        key: Option<(String, usize, bool)>,
    },
}

struct Builder {
    src: Arc<Src>,
    stack: Vec<Frame>,
    /// Anchored nodes and their node counts.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied by aliases so far.
    expanded: usize,
    doc: Option<Node>,
    docs: usize,
    error: Option<Error>,
}

fn tag_name(tag: &Option<yaml_rust2::parser::Tag>) -> Option<String> {
    tag.as_ref().map(|t| format!("{}{}", t.handle, t.suffix))
}

impl Builder {
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                self.docs += 1;
                if self.doc.is_none() {
                    self.doc = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                None => match &node.v {
                    V::Str(s, plain) => *key = Some((s.clone(), node.line, *plain)),
                    V::Null => *key = Some((String::new(), node.line, true)),
                    _ => {
                        if self.error.is_none() {
                            self.error = Some(node.err("mapping keys must be strings"));
                        }
                    }
                },
                Some((k, line, plain)) => {
                    if k == "<<" && plain {
                        merges.push(node);
                    } else if let Some(prev) = entries.iter().find(|e| e.key == k) {
                        if self.error.is_none() {
                            self.error = Some(err_at(
                                &self.src,
                                line,
                                format!(
                                    "mapping key {k:?} already defined at line {}",
                                    prev.key_line
                                ),
                            ));
                        }
                    } else {
                        entries.push(Entry {
                            key: k,
                            key_line: line,
                            val: node,
                        });
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line().max(1);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain;
                let tag = tag_name(&tag);
                let v = if plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    V::Null
                } else {
                    V::Str(text, plain)
                };
                let mut node = Node::new(v, line, &self.src);
                node.tag = tag;
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), node.count()));
                }
                self.push(node);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((n, count)) => {
                    // Aliases copy their node: bound the total so that nested aliases
                    // ("billion laughs") cannot blow up memory.
                    self.expanded += count;
                    if self.expanded > MAX_ALIAS_NODES {
                        if self.error.is_none() {
                            self.error = Some(err_at(
                                &self.src,
                                line,
                                "too many alias expansions (more than 1000000 nodes)",
                            ));
                        }
                        return;
                    }
                    let n = n.clone();
                    self.push(n);
                }
                None => {
                    if self.error.is_none() {
                        self.error = Some(err_at(&self.src, line, "unknown anchor"));
                    }
                }
            },
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                line,
                anchor,
                tag: tag_name(&tag),
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                line,
                anchor,
                tag: tag_name(&tag),
                entries: Vec::new(),
                merges: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (node, anchor) = match frame {
                    Frame::Seq {
                        line,
                        anchor,
                        tag,
                        items,
                    } => {
                        let mut n = Node::new(V::Seq(items), line, &self.src);
                        n.tag = tag;
                        (n, anchor)
                    }
                    Frame::Map {
                        line,
                        anchor,
                        tag,
                        mut entries,
                        merges,
                        ..
                    } => {
                        // YAML merge keys: explicit keys win, then earlier merged maps.
                        for m in merges {
                            let maps = match m.v {
                                V::Seq(items) => items,
                                _ => vec![m],
                            };
                            for mm in maps {
                                match mm.v {
                                    V::Map(es) => {
                                        for e in es {
                                            if !entries.iter().any(|x| x.key == e.key) {
                                                entries.push(e);
                                            }
                                        }
                                    }
                                    _ => {
                                        if self.error.is_none() {
                                            self.error = Some(
                                                mm.err("merge key <<: value must be a mapping"),
                                            );
                                        }
                                    }
                                }
                            }
                        }
                        let mut n = Node::new(V::Map(entries), line, &self.src);
                        n.tag = tag;
                        (n, anchor)
                    }
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), node.count()));
                }
                self.push(node);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parses YAML text; an empty document is an empty mapping.
pub(crate) fn parse(text: &str, src: &Arc<Src>) -> Result<Node> {
    let mut b = Builder {
        src: src.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
        doc: None,
        docs: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        return Err(err_at(src, e.marker().line().max(1), e.info().to_string()));
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    match b.doc {
        None => Ok(Node::new(V::Map(Vec::new()), 1, src)),
        Some(n) if n.is_null() => Ok(Node::new(V::Map(Vec::new()), 1, src)),
        Some(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Arc<Src> {
        Arc::new(Src {
            name: "compose.yaml".into(),
            dir: "/p".into(),
            base: "/p".into(),
        })
    }

    #[test]
    fn lines_anchors_and_merge_keys() {
        let text = "x-base: &base\n  image: a\n  tty: true\nservices:\n  web:\n    <<: *base\n    image: b\n";
        let n = parse(text, &src()).unwrap();
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("image").unwrap().scalar(), Some("b"));
        assert_eq!(web.get("tty").unwrap().scalar(), Some("true"));
        assert_eq!(web.entry("image").unwrap().key_line, 7);
        assert_eq!(n.entry("services").unwrap().key_line, 4);
    }

    #[test]
    fn duplicate_key_is_an_error_with_line() {
        let e = parse("a: 1\nb: 2\na: 3\n", &src()).unwrap_err();
        assert!(e.to_string().starts_with("compose.yaml:3:"), "{e}");
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse("a: 1\nb: [\n", &src()).unwrap_err();
        assert!(e.to_string().starts_with("compose.yaml:"), "{e}");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let e = parse(&text, &src()).unwrap_err();
        assert!(e.to_string().contains("too many alias expansions"), "{e}");
    }

    #[test]
    fn nulls_and_tags() {
        let n = parse("a:\nb: ~\nc: 'null'\nd: !reset []\n", &src()).unwrap();
        assert!(n.get("a").unwrap().is_null());
        assert!(n.get("b").unwrap().is_null());
        assert_eq!(n.get("c").unwrap().scalar(), Some("null"));
        assert_eq!(n.get("d").unwrap().tag.as_deref(), Some("!reset"));
    }
}
