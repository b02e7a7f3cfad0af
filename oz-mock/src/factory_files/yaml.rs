//! YAML 1.2 Factory files as JSON values, with the source position of every key and item.
//!
//! The events and their positions come from `saphyr-parser`, plain scalars are resolved by the
//! core schema with `saphyr` (`null`/`~`/empty, `true`/`false`, integers, floats, otherwise
//! text; quoted scalars are always text). This module only turns the events into a
//! [`serde_json::Value`] and records where each JSON pointer starts, so every diagnostic can
//! name a line and a column. Everything the YAML specification allows is accepted: block and
//! flow collections at any nesting, anchors and aliases, tags, block scalars, comments, and
//! the `<<` merge key of YAML 1.1 (which YAML 1.2 dropped but Factory authors copy from
//! Kubernetes and CI files).
//!
//! **Several documents.** A Factory file describes one resource. A file that is a stream of
//! several documents is read the way a decoder that takes the first document does (such as
//! Go's `yaml.Unmarshal`, which the service is expected to use; its behaviour with several
//! documents is not documented): the resource is the first document that is not empty, the
//! others must parse but are otherwise ignored. Empty documents (a lone `---`, comments only)
//! are skipped, so a file may start with a `---` header and end with `...`.
//!
//! Refused, with the position (code `FF_PARSE_ERROR`): what is not YAML (the parser's
//! message), mapping keys that are collections (JSON has text keys only), aliases of unknown
//! anchors, alias expansion past [`MAX_ALIAS_NODES`] and nesting deeper than [`MAX_DEPTH`]. A
//! repeated key is `FF_DUPLICATE_KEY` at the repetition.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::Scalar;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Tag};
use serde_json::{Map, Number, Value};

/// Deepest nesting of mappings and sequences accepted (as deep as serde_json goes), so that a
/// hostile file cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Most nodes that aliases may copy in one file, so that a few nested anchors cannot expand
/// into billions of nodes.
const MAX_ALIAS_NODES: usize = 100_000;

/// A parsed document and the position (line, column; both 1-based) of each JSON pointer.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) value: Value,
    pub(crate) positions: HashMap<String, (usize, usize)>,
}

/// Why a document does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Parses `source`; its first line is line `first_line` of the file (front matter).
pub(crate) fn parse(source: &str, first_line: usize) -> Result<Document, Vec<ParseError>> {
    let mut builder = Builder {
        first_line,
        ..Builder::default()
    };
    for event in Parser::new_from_str(source) {
        let result = match event {
            Ok((event, span)) => builder.event(event, span.start),
            Err(e) => Err(builder.scan_error(&e)),
        };
        if let Err(e) = result {
            return Err(vec![e]);
        }
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    Ok(builder.document.unwrap_or(Document {
        value: Value::Null,
        positions: HashMap::new(),
    }))
}

/// A collection being read, with the pointer and anchor of the node it becomes.
struct Frame {
    pointer: String,
    anchor: usize,
    collection: Collection,
}

enum Collection {
    Sequence(Vec<Value>),
    Mapping {
        map: Map<String, Value>,
        /// The key read and waiting for its value: text, position, and whether it is `<<`.
        key: Option<(String, (usize, usize), bool)>,
        /// Mappings named by `<<`, whose keys fill in those the mapping does not set.
        merged: Vec<Map<String, Value>>,
    },
}

#[derive(Default)]
struct Builder {
    first_line: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    alias_budget: usize,
    /// Positions of the document being read.
    positions: HashMap<String, (usize, usize)>,
    /// The first document that is not empty.
    document: Option<Document>,
    errors: Vec<ParseError>,
}

impl Builder {
    fn position(&self, mark: Marker) -> (usize, usize) {
        (mark.line() + self.first_line - 1, mark.col() + 1)
    }

    fn error_at(&self, mark: Marker, code: &'static str, message: String) -> ParseError {
        let (line, column) = self.position(mark);
        ParseError {
            line,
            column,
            code,
            message,
        }
    }

    /// The parser's message, with a hint where the usual cause is known.
    fn scan_error(&self, e: &ScanError) -> ParseError {
        let info = e.info();
        let hint = if info.contains("tab") {
            " (YAML indents with spaces, not tabs)"
        } else if info.contains("mapping values are not allowed") {
            " (check the indentation, or quote a value that contains `: `)"
        } else if info.contains("did not find expected") {
            " (check the indentation)"
        } else {
            ""
        };
        self.error_at(*e.marker(), "FF_PARSE_ERROR", format!("{info}{hint}"))
    }

    fn event(&mut self, event: Event<'_>, mark: Marker) -> Result<(), ParseError> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Ok(()),
            Event::DocumentStart(_) => {
                self.positions.clear();
                self.anchors.clear();
                Ok(())
            }
            Event::DocumentEnd => Ok(()),
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(text, style, tag.as_ref());
                self.node(value, anchor, mark)
            }
            Event::Alias(id) => {
                let Some(value) = self.anchors.get(&id) else {
                    return Err(self.error_at(
                        mark,
                        "FF_PARSE_ERROR",
                        "the alias names no anchor before it".into(),
                    ));
                };
                let size = nodes(value);
                if self.alias_budget + size > MAX_ALIAS_NODES {
                    return Err(self.error_at(
                        mark,
                        "FF_PARSE_ERROR",
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    ));
                }
                self.alias_budget += size;
                let value = value.clone();
                self.node(value, 0, mark)
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Collection::Sequence(Vec::new()), anchor, mark)
            }
            Event::MappingStart(anchor, _) => self.open(
                Collection::Mapping {
                    map: Map::new(),
                    key: None,
                    merged: Vec::new(),
                },
                anchor,
                mark,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("the parser balances collections");
                let value = match frame.collection {
                    Collection::Sequence(items) => Value::Array(items),
                    Collection::Mapping {
                        mut map, merged, ..
                    } => {
                        for other in merged {
                            for (k, v) in other {
                                map.entry(k).or_insert(v);
                            }
                        }
                        Value::Object(map)
                    }
                };
                self.finish(value, frame.anchor)
            }
        }
    }

    /// The pointer of a node that starts now, and whether it is a mapping key.
    fn child_pointer(&self) -> (String, bool) {
        match self.stack.last() {
            None => (String::new(), false),
            Some(frame) => match &frame.collection {
                Collection::Sequence(items) => {
                    (format!("{}/{}", frame.pointer, items.len()), false)
                }
                Collection::Mapping { key: None, .. } => (frame.pointer.clone(), true),
                Collection::Mapping {
                    key: Some((key, ..)),
                    ..
                } => (
                    format!(
                        "{}/{}",
                        frame.pointer,
                        key.replace('~', "~0").replace('/', "~1")
                    ),
                    false,
                ),
            },
        }
    }

    fn open(
        &mut self,
        collection: Collection,
        anchor: usize,
        mark: Marker,
    ) -> Result<(), ParseError> {
        let (pointer, is_key) = self.child_pointer();
        if is_key {
            return Err(self.error_at(
                mark,
                "FF_PARSE_ERROR",
                "a mapping key must be a scalar (JSON keys are text)".into(),
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error_at(
                mark,
                "FF_PARSE_ERROR",
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let position = self.position(mark);
        self.positions.entry(pointer.clone()).or_insert(position);
        self.stack.push(Frame {
            pointer,
            anchor,
            collection,
        });
        Ok(())
    }

    /// A scalar or an alias: a key, or a value placed at once.
    fn node(&mut self, value: Value, anchor: usize, mark: Marker) -> Result<(), ParseError> {
        let (pointer, is_key) = self.child_pointer();
        let position = self.position(mark);
        if is_key {
            let merge = value.as_str() == Some("<<");
            let key = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                Value::Object(_) | Value::Array(_) => {
                    return Err(self.error_at(
                        mark,
                        "FF_PARSE_ERROR",
                        "a mapping key must be a scalar (JSON keys are text)".into(),
                    ));
                }
                other => other.to_string(),
            };
            if let Some(Frame {
                pointer,
                collection: Collection::Mapping { key: slot, .. },
                ..
            }) = self.stack.last_mut()
            {
                let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                self.positions.entry(child).or_insert(position);
                *slot = Some((key, position, merge));
            }
            return Ok(());
        }
        self.positions.entry(pointer).or_insert(position);
        self.finish(value, anchor)
    }

    /// Places a complete node in its parent, or ends the document with it.
    fn finish(&mut self, value: Value, anchor: usize) -> Result<(), ParseError> {
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let Some(frame) = self.stack.last_mut() else {
            if self.document.is_none() && !value.is_null() {
                self.document = Some(Document {
                    value,
                    positions: std::mem::take(&mut self.positions),
                });
            }
            return Ok(());
        };
        match &mut frame.collection {
            Collection::Sequence(items) => items.push(value),
            Collection::Mapping { map, key, merged } => {
                let (key, (line, column), merge) = key.take().expect("a value follows its key");
                if merge {
                    match value {
                        Value::Object(other) => merged.push(other),
                        Value::Array(others) if others.iter().all(Value::is_object) => merged
                            .extend(others.into_iter().filter_map(|v| match v {
                                Value::Object(m) => Some(m),
                                _ => None,
                            })),
                        _ => {
                            return Err(ParseError {
                                line,
                                column,
                                code: "FF_PARSE_ERROR",
                                message: "the merge key `<<` takes a mapping or a list of mappings"
                                    .into(),
                            });
                        }
                    }
                } else if map.insert(key.clone(), value).is_some() {
                    self.errors.push(ParseError {
                        line,
                        column,
                        code: "FF_DUPLICATE_KEY",
                        message: format!("the key {key:?} is given twice"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A scalar as JSON, resolved by the YAML 1.2 core schema (quoted scalars stay text). A value
/// JSON cannot hold (`.inf`, `.nan`) keeps its text.
fn scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Cow<'_, Tag>>) -> Value {
    let original = text.to_string();
    match Scalar::parse_from_cow_and_metadata(text, style, tag) {
        Some(Scalar::Null) => Value::Null,
        Some(Scalar::Boolean(b)) => Value::Bool(b),
        Some(Scalar::Integer(n)) => Value::Number(n.into()),
        Some(Scalar::FloatingPoint(f)) => {
            Number::from_f64(f.into_inner()).map_or(Value::String(original), Value::Number)
        }
        Some(Scalar::String(s)) => Value::String(s.into_owned()),
        // A core-schema tag whose text does not fit it (`!!int abc`): keep the text.
        None => Value::String(original),
    }
}

/// How many nodes a value holds, for the alias budget.
fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Object(map) => map.values().map(nodes).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(text: &str) -> Value {
        parse(text, 1).expect("parses").value
    }

    fn error(text: &str) -> ParseError {
        parse(text, 1).expect_err("refused").remove(0)
    }

    #[test]
    fn mappings_sequences_and_scalars() {
        let doc = "---\n# a factory\nname: Web App   # trailing comment\nalias: 'web'\nrepositories:\n  - owner: warp-mock\n    repo: web-app\n  - {owner: x, repo: \"y\"}\ntags: [a, 'b c', 3]\nlimits:\n  max: 5\n  ratio: 0.5\n  on: true\n  none: ~\nlist:\n- one\n- two\nempty: []\n";
        assert_eq!(
            value(doc),
            json!({
                "name": "Web App",
                "alias": "web",
                "repositories": [{"owner": "warp-mock", "repo": "web-app"}, {"owner": "x", "repo": "y"}],
                "tags": ["a", "b c", 3],
                "limits": {"max": 5, "ratio": 0.5, "on": true, "none": null},
                "list": ["one", "two"],
                "empty": [],
            })
        );
    }

    #[test]
    fn positions_point_at_keys_and_items() {
        let doc = parse("name: x\nsecrets:\n  - name: A\n  - name: B\n", 10).expect("parses");
        assert_eq!(doc.positions["/name"], (10, 1));
        assert_eq!(doc.positions["/secrets/1"], (13, 5));
        assert_eq!(doc.positions["/secrets/1/name"], (13, 5));
    }

    #[test]
    fn block_scalars_keep_or_fold_lines() {
        let doc = "prompt: |\n  Line one\n  Line two\n\nfolded: >-\n  a\n  b\nnext: 1\n";
        assert_eq!(
            value(doc),
            json!({"prompt": "Line one\nLine two\n", "folded": "a b", "next": 1})
        );
    }

    #[test]
    fn anchors_aliases_merge_keys_and_nested_flow_collections() {
        let doc = "defaults: &defaults\n  model: claude\n  secrets: [{name: A}, {name: B}]\n\
                   agents:\n  - <<: *defaults\n    name: one\n  - <<: [*defaults]\n    model: gpt\n\
                   matrix: [[1, 2], {a: [3]}]\ntagged: !!str 12\n";
        assert_eq!(
            value(doc),
            json!({
                "defaults": {"model": "claude", "secrets": [{"name": "A"}, {"name": "B"}]},
                "agents": [
                    {"name": "one", "model": "claude", "secrets": [{"name": "A"}, {"name": "B"}]},
                    {"model": "gpt", "secrets": [{"name": "A"}, {"name": "B"}]},
                ],
                "matrix": [[1, 2], {"a": [3]}],
                "tagged": "12",
            })
        );
    }

    #[test]
    fn the_first_document_that_is_not_empty_is_the_resource() {
        assert_eq!(
            value("# header\n---\n---\nname: a\n...\n---\nname: b\n"),
            json!({"name": "a"})
        );
        let doc = parse("---\n---\nname: a\n", 1).expect("parses");
        assert_eq!(doc.positions["/name"], (3, 1));
        assert_eq!(value(""), Value::Null);
        // The documents after the resource must still be YAML.
        let e = error("name: a\n---\nb: [\n");
        assert_eq!((e.line, e.code), (4, "FF_PARSE_ERROR"));
    }

    #[test]
    fn malformed_documents_name_line_and_column() {
        let e = error("name: x\n\tbad: 1\n");
        assert_eq!(
            (e.line, e.column, e.code),
            (1, 7, "FF_PARSE_ERROR"),
            "{e:?}"
        );
        assert!(e.message.contains("not tabs"), "{e:?}");
        let e = error("name: x\n   nested: 1\n");
        assert_eq!((e.line, e.column), (2, 10), "{e:?}");
        assert!(e.message.contains("indentation"), "{e:?}");
        let e = error("name: Web\nrepositories:\n  - owner: a\n   repo: b\n");
        assert_eq!((e.line, e.column), (4, 4), "{e:?}");
        let e = error("name: \"open\n");
        assert_eq!((e.line, e.column), (1, 7), "{e:?}");
        let e = error("a: *nowhere\n");
        assert_eq!((e.line, e.column), (1, 4), "{e:?}");
        assert!(error("{[a]: 1}\n").message.contains("scalar"));
        assert!(error("<<: 3\n").message.contains("merge"));
        let duplicate = error("a: 1\na: 2\n");
        assert_eq!(
            (duplicate.line, duplicate.column, duplicate.code),
            (2, 1, "FF_DUPLICATE_KEY")
        );
    }

    #[test]
    fn hostile_files_are_refused_not_a_stack_overflow_or_an_explosion() {
        let deep = "- ".repeat(100_000) + "x\n";
        assert!(error(&deep).message.contains("nesting deeper"));
        let ok = "- ".repeat(20) + "x\n";
        assert!(parse(&ok, 1).is_ok());
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, name) in ["b", "c", "d", "e", "f", "g"].iter().enumerate() {
            let previous = if i == 0 {
                "a"
            } else {
                ["b", "c", "d", "e", "f"][i - 1]
            };
            laughs += &format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{previous}"); 10].join(", ")
            );
        }
        assert!(error(&laughs).message.contains("expand"));
    }
}
