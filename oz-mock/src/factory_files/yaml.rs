//! A small subset of YAML, enough for Factory files, parsed into JSON values with the source
//! position of every key and list item.
//!
//! Understood:
//!
//! - block mappings (`key: value`, nested by indentation with spaces) and block sequences
//!   (`- item`, including `- key: value` items and sequences at the indentation of their key);
//! - scalars: plain (`null`/`~`/empty, `true`/`false`, integers, decimals, otherwise text),
//!   `"double-quoted"` (escapes `\" \\ \n \t \/`) and `'single-quoted'` (`''` for `'`);
//! - flow collections of scalars: `[a, "b", 3]`, `{key: value, other: 2}`, `[]`, `{}`;
//! - block scalars `|` and `>` with the chomping indicators `-` and `+`;
//! - comments (`#` at the start of a line or after a space), a leading `---` and a final `...`.
//!
//! Refused with a clear message (code `FF_PARSE_ERROR`): tabs in indentation, anchors, aliases
//! and tags (`&`, `*`, `!`), nested flow collections, several documents, and plain values
//! containing `: ` (quote them). A repeated key is `FF_DUPLICATE_KEY`.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

/// Deepest nesting of mappings and sequences accepted (as deep as serde_json goes), so that a
/// hostile file cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

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

struct Line<'a> {
    /// 1-based line number in the file.
    no: usize,
    raw: &'a str,
    indent: usize,
    /// The content after the indentation, without a trailing comment or spaces.
    text: String,
    tab_in_indent: bool,
}

/// Parses `source`; its first line is line `first_line` of the file (front matter).
pub(crate) fn parse(source: &str, first_line: usize) -> Result<Document, Vec<ParseError>> {
    let lines = source
        .lines()
        .enumerate()
        .map(|(i, raw)| {
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let rest = &raw[indent..];
            Line {
                no: first_line + i,
                raw,
                indent,
                tab_in_indent: rest.starts_with('\t'),
                text: strip_comment(rest).trim_end().to_owned(),
            }
        })
        .collect();
    let mut parser = Parser {
        lines,
        pos: 0,
        depth: 0,
        positions: HashMap::new(),
        errors: Vec::new(),
    };
    parser.skip_document_start();
    let value = match parser.block(0, "") {
        Ok(value) => value,
        Err(e) => return Err(vec![e]),
    };
    if let Err(e) = parser.expect_end() {
        return Err(vec![e]);
    }
    if !parser.errors.is_empty() {
        return Err(parser.errors);
    }
    Ok(Document {
        value,
        positions: parser.positions,
    })
}

/// The text before a `#` that starts a comment (outside quotes, at the start or after a space).
fn strip_comment(text: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && previous.is_whitespace() => return &text[..i],
            None => {}
        }
        previous = c;
    }
    text
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn is_sequence_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
    positions: HashMap<String, (usize, usize)>,
    errors: Vec<ParseError>,
}

impl Parser<'_> {
    fn error(line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            column,
            code: "FF_PARSE_ERROR",
            message: message.into(),
        }
    }

    fn skip_document_start(&mut self) {
        if let Some(i) = self.next_index()
            && self.lines[i].indent == 0
            && self.lines[i].text == "---"
        {
            self.pos = i + 1;
        }
    }

    /// Index of the next line with content.
    fn next_index(&self) -> Option<usize> {
        (self.pos..self.lines.len()).find(|&i| !self.lines[i].text.is_empty())
    }

    /// The next line with content, refusing tab indentation; `None` at the end of the
    /// document.
    fn peek(&mut self) -> Result<Option<usize>, ParseError> {
        let Some(i) = self.next_index() else {
            self.pos = self.lines.len();
            return Ok(None);
        };
        self.pos = i;
        let line = &self.lines[i];
        if line.tab_in_indent {
            return Err(Self::error(
                line.no,
                line.indent + 1,
                "tabs are not allowed in indentation; indent with spaces",
            ));
        }
        // A document marker ends every node; `expect_end` looks at it.
        if line.indent == 0 && (line.text == "---" || line.text == "...") {
            return Ok(None);
        }
        Ok(Some(i))
    }

    fn expect_end(&mut self) -> Result<(), ParseError> {
        let Some(i) = self.next_index() else {
            return Ok(());
        };
        let line = &self.lines[i];
        if line.indent == 0 && line.text == "..." {
            self.pos = i + 1;
            return match self.next_index() {
                None => Ok(()),
                Some(j) => Err(self.unexpected(j)),
            };
        }
        if line.indent == 0 && line.text == "---" {
            return Err(Self::error(
                line.no,
                1,
                "a file holds one YAML document; remove the second `---`",
            ));
        }
        Err(self.unexpected(i))
    }

    fn unexpected(&self, i: usize) -> ParseError {
        let line = &self.lines[i];
        Self::error(
            line.no,
            line.indent + 1,
            format!("unexpected content `{}` (check the indentation)", line.text),
        )
    }

    /// A node whose lines are indented at least `min_indent`; absent → null.
    fn block(&mut self, min_indent: usize, pointer: &str) -> Result<Value, ParseError> {
        if self.depth >= MAX_DEPTH {
            let line = self.lines.get(self.pos).map_or(1, |l| l.no);
            return Err(Self::error(
                line,
                1,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let node = self.node(min_indent, pointer);
        self.depth -= 1;
        node
    }

    fn node(&mut self, min_indent: usize, pointer: &str) -> Result<Value, ParseError> {
        let Some(i) = self.peek()? else {
            return Ok(Value::Null);
        };
        let indent = self.lines[i].indent;
        if indent < min_indent {
            return Ok(Value::Null);
        }
        let text = self.lines[i].text.clone();
        if is_sequence_item(&text) {
            self.sequence(indent, pointer)
        } else if key_split(&text).is_some() {
            self.mapping(indent, pointer)
        } else {
            let no = self.lines[i].no;
            self.pos = i + 1;
            if text.starts_with('|') || text.starts_with('>') {
                return self.block_scalar(&text, indent.saturating_sub(1), no, indent + 1);
            }
            inline(&text, no, indent + 1)
        }
    }

    fn mapping(&mut self, indent: usize, pointer: &str) -> Result<Value, ParseError> {
        let mut map = Map::new();
        while let Some(i) = self.peek()? {
            let line = &self.lines[i];
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return Err(Self::error(
                    line.no,
                    line.indent + 1,
                    "unexpected indentation",
                ));
            }
            if is_sequence_item(&line.text) {
                return Err(Self::error(
                    line.no,
                    line.indent + 1,
                    "a list item where a `key: value` was expected",
                ));
            }
            let (no, text) = (line.no, line.text.clone());
            let Some((key, rest, rest_offset)) = key_split(&text) else {
                return Err(Self::error(
                    no,
                    indent + 1,
                    format!("expected `key: value`, got `{text}`"),
                ));
            };
            let key = parse_key(&key, no, indent + 1)?;
            let child = format!("{pointer}/{}", escape_pointer(&key));
            self.pos = i + 1;
            let value = if rest.is_empty() {
                match self.peek()? {
                    Some(j) if self.lines[j].indent > indent => self.block(indent + 1, &child)?,
                    Some(j)
                        if self.lines[j].indent == indent
                            && is_sequence_item(&self.lines[j].text) =>
                    {
                        self.sequence(indent, &child)?
                    }
                    _ => Value::Null,
                }
            } else if rest.starts_with('|') || rest.starts_with('>') {
                self.block_scalar(&rest, indent, no, indent + rest_offset + 1)?
            } else {
                inline(&rest, no, indent + rest_offset + 1)?
            };
            if map.contains_key(&key) {
                self.errors.push(ParseError {
                    line: no,
                    column: indent + 1,
                    code: "FF_DUPLICATE_KEY",
                    message: format!("`{key}` is given more than once"),
                });
                continue;
            }
            self.positions.insert(child, (no, indent + 1));
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    fn sequence(&mut self, indent: usize, pointer: &str) -> Result<Value, ParseError> {
        let mut items = Vec::new();
        while let Some(i) = self.peek()? {
            let line = &self.lines[i];
            if line.indent < indent || !is_sequence_item(&line.text) {
                if line.indent > indent {
                    return Err(Self::error(
                        line.no,
                        line.indent + 1,
                        "unexpected indentation",
                    ));
                }
                break;
            }
            if line.indent > indent {
                return Err(Self::error(
                    line.no,
                    line.indent + 1,
                    "unexpected indentation",
                ));
            }
            let no = line.no;
            let after_dash = &line.text[1..];
            let item_text = after_dash.trim_start();
            let offset = 1 + after_dash.len() - item_text.len();
            let item_text = item_text.to_owned();
            let child = format!("{pointer}/{}", items.len());
            self.positions.insert(child.clone(), (no, indent + 1));
            let value = if item_text.is_empty() {
                self.pos = i + 1;
                self.block(indent + 1, &child)?
            } else if is_sequence_item(&item_text) || key_split(&item_text).is_some() {
                // `- key: value`: the item is a node that starts on this line, indented to
                // where its text starts.
                self.lines[i].indent = indent + offset;
                self.lines[i].text = item_text;
                self.block(indent + offset, &child)?
            } else {
                self.pos = i + 1;
                if item_text.starts_with('|') || item_text.starts_with('>') {
                    self.block_scalar(&item_text, indent, no, indent + offset + 1)?
                } else {
                    inline(&item_text, no, indent + offset + 1)?
                }
            };
            items.push(value);
        }
        Ok(Value::Array(items))
    }

    /// `|` or `>` (with `-` or `+`): the following lines indented deeper than `parent_indent`.
    fn block_scalar(
        &mut self,
        header: &str,
        parent_indent: usize,
        no: usize,
        column: usize,
    ) -> Result<Value, ParseError> {
        let folded = header.starts_with('>');
        let chomp = match &header[1..] {
            "" => ' ',
            "-" => '-',
            "+" => '+',
            other => {
                return Err(Self::error(
                    no,
                    column,
                    format!("unsupported block scalar header `{}{other}`", &header[..1]),
                ));
            }
        };
        let mut content: Vec<&str> = Vec::new();
        let mut block_indent = None;
        let mut end = self.pos;
        while end < self.lines.len() {
            let line = &self.lines[end];
            if line.raw.trim().is_empty() {
                content.push("");
                end += 1;
                continue;
            }
            if line.indent <= parent_indent {
                break;
            }
            let indent = *block_indent.get_or_insert(line.indent);
            if line.indent < indent {
                break;
            }
            content.push(&line.raw[indent..]);
            end += 1;
        }
        self.pos = end;
        // Trailing blank lines belong to the scalar only with `+`.
        let trailing = content.iter().rev().take_while(|l| l.is_empty()).count();
        let body = &content[..content.len() - trailing];
        let mut text = if folded {
            // Lines fold into one with spaces; a blank line stands for a line break.
            let mut out = String::new();
            for (k, line) in body.iter().enumerate() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    if k > 0 && !body[k - 1].is_empty() {
                        out.push(' ');
                    }
                    out.push_str(line);
                }
            }
            out
        } else {
            body.join("\n")
        };
        match chomp {
            '-' => {}
            '+' => {
                text.push('\n');
                text.push_str(&"\n".repeat(trailing));
            }
            _ if !text.is_empty() => text.push('\n'),
            _ => {}
        }
        Ok(Value::String(text))
    }
}

/// Splits `key: rest` at the first `:` followed by a space or the end of the text, outside
/// quotes. Returns the key text, the rest (trimmed) and the byte offset where the rest starts.
fn key_split(text: &str) -> Option<(String, String, usize)> {
    if text.starts_with('[') || text.starts_with('{') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if (b == b'"' || b == b'\'') && i == 0 => quote = Some(b),
            None if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') => {
                let rest = &text[i + 1..];
                let trimmed = rest.trim_start();
                let offset = i + 1 + (rest.len() - trimmed.len());
                return Some((text[..i].trim_end().to_owned(), trimmed.to_owned(), offset));
            }
            None => {}
        }
    }
    None
}

fn parse_key(key: &str, line: usize, column: usize) -> Result<String, ParseError> {
    match inline(key, line, column)? {
        Value::String(s) => Ok(s),
        Value::Null if key.is_empty() => {
            Err(Parser::error(line, column, "a key must not be empty"))
        }
        Value::Array(_) | Value::Object(_) => {
            Err(Parser::error(line, column, "keys must be plain text"))
        }
        // `1: x` or `true: x`: the key is its text.
        _ => Ok(key.to_owned()),
    }
}

/// A scalar or flow collection written on one line.
fn inline(text: &str, line: usize, column: usize) -> Result<Value, ParseError> {
    let text = text.trim();
    let error = |message: String| Parser::error(line, column, message);
    match text.chars().next() {
        None => Ok(Value::Null),
        Some('"') => {
            let (value, rest) = double_quoted(&text[1..])
                .ok_or_else(|| error("a double-quoted string is not closed".to_owned()))?;
            if !rest.trim().is_empty() {
                return Err(error(format!(
                    "unexpected `{}` after a quoted string",
                    rest.trim()
                )));
            }
            Ok(Value::String(value))
        }
        Some('\'') => {
            let (value, rest) = single_quoted(&text[1..])
                .ok_or_else(|| error("a single-quoted string is not closed".to_owned()))?;
            if !rest.trim().is_empty() {
                return Err(error(format!(
                    "unexpected `{}` after a quoted string",
                    rest.trim()
                )));
            }
            Ok(Value::String(value))
        }
        Some('[') => {
            let inner = text
                .strip_suffix(']')
                .ok_or_else(|| error("a `[` list is not closed on its line".to_owned()))?;
            flow_items(&inner[1..], line, column)?
                .into_iter()
                .map(|item| flow_scalar(&item, line, column))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Some('{') => {
            let inner = text
                .strip_suffix('}')
                .ok_or_else(|| error("a `{` mapping is not closed on its line".to_owned()))?;
            let mut map = Map::new();
            for item in flow_items(&inner[1..], line, column)? {
                let (key, rest, _) = key_split(&item).ok_or_else(|| {
                    error(format!("expected `key: value` in `{{}}`, got `{item}`"))
                })?;
                let key = parse_key(&key, line, column)?;
                map.insert(key, flow_scalar(&rest, line, column)?);
            }
            Ok(Value::Object(map))
        }
        Some(c @ ('&' | '*' | '!')) => Err(error(format!(
            "YAML {} are not supported here",
            match c {
                '&' => "anchors",
                '*' => "aliases",
                _ => "tags",
            }
        ))),
        Some(c @ ('@' | '`' | '%')) => Err(error(format!("a plain value cannot start with `{c}`"))),
        Some(_) => {
            if text.contains(": ") || text.ends_with(':') {
                return Err(error(format!(
                    "unexpected `:` in `{text}`; quote the value or start a mapping on its own line"
                )));
            }
            Ok(plain(text))
        }
    }
}

/// A flow item: a scalar, never a nested collection.
fn flow_scalar(item: &str, line: usize, column: usize) -> Result<Value, ParseError> {
    if item.starts_with('[') || item.starts_with('{') {
        return Err(Parser::error(
            line,
            column,
            "nested flow collections are not supported; use block style",
        ));
    }
    inline(item, line, column)
}

/// The comma-separated items of a flow collection, outside quotes.
fn flow_items(inner: &str, line: usize, column: usize) -> Result<Vec<String>, ParseError> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in inner.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                current.push(c);
            }
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                current.push(c);
            }
            None if c == ',' => items.push(std::mem::take(&mut current)),
            None => current.push(c),
        }
    }
    if quote.is_some() {
        return Err(Parser::error(line, column, "a quoted string is not closed"));
    }
    items.push(current);
    let items: Vec<String> = items.into_iter().map(|i| i.trim().to_owned()).collect();
    if items.len() == 1 && items[0].is_empty() {
        return Ok(Vec::new());
    }
    if items.iter().any(String::is_empty) {
        return Err(Parser::error(
            line,
            column,
            "an empty item in a flow collection",
        ));
    }
    Ok(items)
}

/// The value of `"...` (after the opening quote) and the text after the closing quote.
fn double_quoted(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c => out.push(c),
        }
    }
    None
}

fn single_quoted(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().map(|&(_, n)| n) == Some('\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, &text[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// A plain scalar resolved as YAML 1.2's core schema does.
fn plain(text: &str) -> Value {
    match text {
        "null" | "Null" | "NULL" | "~" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(n) = text.parse::<i64>() {
                return Value::Number(n.into());
            }
            let numeric = text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
                && text.chars().any(|c| c.is_ascii_digit());
            if numeric && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
            Value::String(text.to_owned())
        }
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
        assert_eq!(doc.positions["/secrets/1"], (13, 3));
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
    fn malformed_documents_name_line_and_column() {
        let e = error("name: x\n\tbad: 1\n");
        assert_eq!((e.line, e.column, e.code), (2, 1, "FF_PARSE_ERROR"));
        let e = error("name: x\n   nested: 1\n");
        assert_eq!((e.line, e.column), (2, 4));
        let e = error("name: \"open\n");
        assert_eq!((e.line, e.column), (1, 7));
        assert!(error("a: b: c\n").message.contains("quote"));
        assert!(error("a: &anchor x\n").message.contains("anchors"));
        assert!(error("a: [[1]]\n").message.contains("nested"));
        let duplicate = error("a: 1\na: 2\n");
        assert_eq!((duplicate.line, duplicate.code), (2, "FF_DUPLICATE_KEY"));
        assert!(
            error("a: 1\n---\nb: 2\n")
                .message
                .contains("one YAML document")
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "- ".repeat(100_000) + "x\n";
        assert!(error(&deep).message.contains("nesting deeper"));
        let ok = "- ".repeat(20) + "x\n";
        assert!(parse(&ok, 1).is_ok());
    }
}
