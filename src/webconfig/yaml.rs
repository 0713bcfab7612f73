//! The subset of YAML that web configuration files are written in, parsed into a [`Node`]
//! tree that keeps line numbers for error messages.
//!
//! Understood: block mappings and block sequences at any consistent indentation (a sequence
//! may sit at its key's indentation, as `key:\n- a`), flow sequences and mappings
//! (`[a, b]`, `{k: v}`), plain, single-quoted and double-quoted scalars on one line, literal
//! block scalars (`|`, with the chomping indicators `-` `+` and an indentation indicator, as
//! PEM certificates are written inline), comments, blank lines and a leading `---`. Everything
//! else (folded scalars `>`, anchors, aliases, tags, multi-line plain or quoted scalars,
//! several documents) is refused with its line rather than guessed at: a misread security
//! setting is worse than a refused one.
//!
//! Owns syntax only; what the keys mean is `webconfig`'s.

/// One value, with the line (1-based) of its key or `-`, where errors about it point.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    /// An empty value, `~` or `null`.
    Null,
    /// `quoted` (also set for a block scalar) keeps `"true"` a string where a boolean is
    /// expected.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Keys in file order; duplicates are refused while parsing.
    Map(Vec<(String, Node)>),
}

/// A line with its comment and trailing blanks removed.
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
    /// The value of a literal block scalar this line's `key: |` or `- |` starts, taken from
    /// the lines below it (which are not [`Line`]s of their own).
    literal: Option<String>,
}

/// Parses a whole file. An empty file (or one of comments only) is [`Value::Null`].
pub(super) fn parse(text: &str) -> Result<Node, String> {
    let raw: Vec<&str> = text.lines().collect();
    let mut lines = Vec::new();
    let mut next = 0;
    while let Some(line) = raw.get(next) {
        next += 1;
        let number = next;
        let content = strip_comment(line).trim_end();
        let body = content.trim_start_matches(' ');
        if body.is_empty() {
            continue;
        }
        if body.starts_with('\t') {
            return Err(format!("line {number}: tabs cannot indent YAML"));
        }
        if lines.is_empty() && body == "---" {
            continue;
        }
        if body == "---" || body == "..." {
            return Err(format!(
                "line {number}: only one YAML document is supported"
            ));
        }
        let indent = content.len() - body.len();
        let literal = match block_header(body, number)? {
            Some(header) => {
                let (text, taken) = literal(&raw[next..], indent, header);
                next += taken;
                Some(text)
            }
            None => None,
        };
        lines.push(Line {
            number,
            indent,
            text: body,
            literal,
        });
    }
    let Some(first) = lines.first() else {
        return Ok(Node {
            line: 1,
            value: Value::Null,
        });
    };
    let mut parser = Parser {
        lines: &lines,
        at: 0,
    };
    let node = parser.block(first.indent)?;
    match parser.lines.get(parser.at) {
        Some(line) => Err(format!(
            "line {}: unexpected text after the top-level block",
            line.number
        )),
        None => Ok(node),
    }
}

/// `raw` up to a `#` that starts a comment: at the start or after a blank, outside quotes.
fn strip_comment(raw: &str) -> &str {
    let bytes = raw.as_bytes();
    let mut quote = None;
    let mut prev = b' ';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            // `''` inside single quotes is a quote, not the end.
            Some(b'\'') if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            Some(b'"') if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'#' && (prev == b' ' || prev == b'\t') => return &raw[..i],
            // A quote opens a quoted scalar only where one can begin, not inside `it's`.
            None if (b == b'"' || b == b'\'') && matches!(prev, b' ' | b'[' | b'{' | b',') => {
                quote = Some(b)
            }
            None => {}
        }
        prev = b;
        i += 1;
    }
    raw
}

/// How a literal block scalar ends: `|-` strips its final line breaks, `|+` keeps them all,
/// `|` keeps one.
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// What a `|` header says: chomping, and the content's indentation relative to its parent
/// (found from the first non-blank line when not given).
struct BlockHeader {
    chomp: Chomp,
    indent: Option<usize>,
}

/// The header of a literal block scalar when `body` (a line without its comment) is
/// `key: |...` or `- |...`.
fn block_header(body: &str, number: usize) -> Result<Option<BlockHeader>, String> {
    let value = if is_seq_item(body) {
        body[1..].trim_start_matches(' ')
    } else {
        match split_key(body) {
            Some((_, value)) => value,
            None => return Ok(None),
        }
    };
    let Some(indicators) = value.strip_prefix('|') else {
        return Ok(None);
    };
    let (mut chomp, mut indent) = (None, None);
    // At most one of each, in either order.
    for c in indicators.chars() {
        match c {
            '-' if chomp.is_none() => chomp = Some(Chomp::Strip),
            '+' if chomp.is_none() => chomp = Some(Chomp::Keep),
            '1'..='9' if indent.is_none() => indent = c.to_digit(10).map(|d| d as usize),
            _ => {
                return Err(format!(
                    "line {number}: bad block scalar header {value:?}; expected |, |-, |+ \
                     or one of them with an indentation digit"
                ))
            }
        }
    }
    Ok(Some(BlockHeader {
        chomp: chomp.unwrap_or(Chomp::Clip),
        indent,
    }))
}

/// The text of a literal block scalar whose `key:` or `-` is indented `parent`, from the
/// `raw` lines that follow it, and how many of them it takes. Its lines are those more
/// indented than `parent` (blank lines included), taken verbatim after the indentation: `#`
/// there is text, not a comment.
fn literal(raw: &[&str], parent: usize, header: BlockHeader) -> (String, usize) {
    let mut indent = header.indent.map(|m| parent + m);
    let mut taken = 0;
    for line in raw {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        if spaces < line.len() {
            let want = indent.unwrap_or(spaces);
            if spaces < want || want <= parent {
                break;
            }
            indent = Some(want);
        }
        taken += 1;
    }
    // Without a line of text, the blank lines taken are empty whatever their blanks.
    let indent = indent.unwrap_or(usize::MAX);
    let mut text = String::new();
    for line in &raw[..taken] {
        text.push_str(line.get(indent..).unwrap_or(""));
        text.push('\n');
    }
    match header.chomp {
        Chomp::Keep => {}
        Chomp::Strip => text.truncate(text.trim_end_matches('\n').len()),
        Chomp::Clip => {
            text.truncate(text.trim_end_matches('\n').len());
            if !text.is_empty() {
                text.push('\n');
            }
        }
    }
    (text, taken)
}

struct Parser<'a> {
    lines: &'a [Line<'a>],
    at: usize,
}

impl Parser<'_> {
    /// The mapping or sequence whose lines are indented exactly `indent`.
    fn block(&mut self, indent: usize) -> Result<Node, String> {
        let line = &self.lines[self.at];
        if is_seq_item(line.text) {
            self.seq(indent)
        } else {
            self.map(indent)
        }
    }

    fn seq(&mut self, indent: usize) -> Result<Node, String> {
        let start = self.lines[self.at].number;
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.indent < indent || !is_seq_item(line.text) {
                break;
            }
            if line.indent > indent {
                return Err(format!("line {}: unexpected indentation", line.number));
            }
            self.at += 1;
            let rest = line.text[1..].trim_start_matches(' ');
            let item = if let Some(text) = &line.literal {
                block_scalar(text, line.number)
            } else if rest.is_empty() {
                self.nested(indent, false, line.number)?
            } else if split_key(rest).is_some() {
                return Err(format!(
                    "line {}: mappings inside sequences are not supported",
                    line.number
                ));
            } else {
                inline(rest, line.number)?
            };
            items.push(item);
        }
        Ok(Node {
            line: start,
            value: Value::Seq(items),
        })
    }

    fn map(&mut self, indent: usize) -> Result<Node, String> {
        let start = self.lines[self.at].number;
        let mut fields: Vec<(String, Node)> = Vec::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.indent < indent || (line.indent == indent && is_seq_item(line.text)) {
                break;
            }
            if line.indent > indent {
                return Err(format!("line {}: unexpected indentation", line.number));
            }
            let (key, rest) = split_key(line.text)
                .ok_or_else(|| format!("line {}: expected `key: value`", line.number))?;
            let key = scalar(key, line.number)?;
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(format!("line {}: key {key:?} given twice", line.number));
            }
            self.at += 1;
            let value = if let Some(text) = &line.literal {
                block_scalar(text, line.number)
            } else if rest.is_empty() {
                self.nested(indent, true, line.number)?
            } else {
                inline(rest, line.number)?
            };
            fields.push((key, value));
        }
        Ok(Node {
            line: start,
            value: Value::Map(fields),
        })
    }

    /// The block under a `key:` or `-` with nothing after it on line `number`: more deeply
    /// indented lines, or (after a key only) a sequence at the key's own indentation.
    fn nested(&mut self, indent: usize, after_key: bool, number: usize) -> Result<Node, String> {
        let block = match self.lines.get(self.at) {
            Some(next) if next.indent > indent => self.block(next.indent)?,
            Some(next) if after_key && next.indent == indent && is_seq_item(next.text) => {
                self.seq(indent)?
            }
            _ => Node {
                line: number,
                value: Value::Null,
            },
        };
        Ok(Node {
            line: number,
            value: block.value,
        })
    }
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: rest` at the first `:` followed by a blank or the end, outside quotes.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut i = match bytes.first() {
        Some(&q @ (b'"' | b'\'')) => 1 + text[1..].find(q as char)? + 1,
        Some(b'[' | b'{') => return None,
        _ => 0,
    };
    while i < bytes.len() {
        if bytes[i] == b':' && bytes.get(i + 1).is_none_or(|&b| b == b' ') {
            return Some((text[..i].trim_end(), text[i + 1..].trim_start()));
        }
        i += 1;
    }
    None
}

/// A value written on the key's line: a scalar or a flow collection.
fn inline(text: &str, line: usize) -> Result<Node, String> {
    if text.starts_with('>') {
        return Err(format!(
            "line {line}: folded block scalars (>) are not supported; write the value on one \
             line or as a literal block scalar (|)"
        ));
    }
    if text.starts_with(['[', '{']) {
        let mut flow = Flow { text, at: 0, line };
        let node = flow.value()?;
        flow.blanks();
        if flow.at != text.len() {
            return Err(format!(
                "line {line}: unexpected text after the closing bracket"
            ));
        }
        return Ok(node);
    }
    Ok(Node {
        line,
        value: scalar_value(text, line)?,
    })
}

/// A literal block scalar's value: always a string, never null or a boolean.
fn block_scalar(text: &str, line: usize) -> Node {
    Node {
        line,
        value: Value::Scalar {
            text: text.to_string(),
            quoted: true,
        },
    }
}

/// A key: a scalar that must not be null.
fn scalar(text: &str, line: usize) -> Result<String, String> {
    match scalar_value(text, line)? {
        Value::Scalar { text, .. } => Ok(text),
        _ => Err(format!("line {line}: empty key")),
    }
}

fn scalar_value(text: &str, line: usize) -> Result<Value, String> {
    let quoted = |text| Ok(Value::Scalar { text, quoted: true });
    match text.as_bytes().first() {
        None => Ok(Value::Null),
        Some(b'"') => quoted(double_quoted(text, line)?),
        Some(b'\'') => match text[1..].strip_suffix('\'') {
            Some(inner) if !inner.replace("''", "").contains('\'') => {
                quoted(inner.replace("''", "'"))
            }
            _ => Err(format!("line {line}: bad single-quoted string {text}")),
        },
        Some(b'&' | b'*' | b'!' | b'%' | b'@' | b'`') => Err(format!(
            "line {line}: {text:?}: anchors, aliases, tags and reserved indicators are not supported"
        )),
        _ if text == "~" || text == "null" || text == "Null" || text == "NULL" => Ok(Value::Null),
        _ => Ok(Value::Scalar {
            text: text.to_string(),
            quoted: false,
        }),
    }
}

/// `"..."` with YAML's common escapes; the whole of `text` must be the one string.
fn double_quoted(text: &str, line: usize) -> Result<String, String> {
    let bad = |why: &str| format!("line {line}: bad double-quoted string {text}: {why}");
    let mut out = String::new();
    let mut chars = text[1..].chars();
    loop {
        match chars.next().ok_or_else(|| bad("no closing quote"))? {
            '"' => break,
            '\\' => {
                let c = match chars.next().ok_or_else(|| bad("no closing quote"))? {
                    c @ ('"' | '\\' | '/' | ' ') => c,
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 4)
                            .and_then(char::from_u32)
                            .ok_or_else(|| bad("bad \\u escape"))?
                    }
                    c => return Err(bad(&format!("unknown escape \\{c}"))),
                };
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if chars.as_str().is_empty() {
        Ok(out)
    } else {
        Err(bad("text after the closing quote"))
    }
}

/// A flow collection (`[a, b]`, `{k: v}`, nested) on one line.
struct Flow<'a> {
    text: &'a str,
    at: usize,
    line: usize,
}

impl Flow<'_> {
    fn err(&self, what: &str) -> String {
        format!("line {}: {what} in {}", self.line, self.text)
    }

    fn blanks(&mut self) {
        while self.text[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Node, String> {
        self.blanks();
        let line = self.line;
        let rest = &self.text[self.at..];
        if rest.starts_with('[') || rest.starts_with('{') {
            let close = if rest.starts_with('[') { ']' } else { '}' };
            self.at += 1;
            let mut items = Vec::new();
            let mut fields = Vec::new();
            loop {
                self.blanks();
                if self.text[self.at..].starts_with(close) {
                    self.at += 1;
                    break;
                }
                if close == ']' {
                    items.push(self.value()?);
                } else {
                    let key = scalar(self.token(true)?, line)?;
                    if !self.text[self.at..].starts_with(':') {
                        return Err(self.err("expected `:` after a key"));
                    }
                    self.at += 1;
                    fields.push((key, self.value()?));
                }
                self.blanks();
                match self.text[self.at..].chars().next() {
                    Some(',') => self.at += 1,
                    Some(c) if c == close => {}
                    _ => return Err(self.err(&format!("expected `,` or `{close}`"))),
                }
            }
            let value = if close == ']' {
                Value::Seq(items)
            } else {
                Value::Map(fields)
            };
            return Ok(Node { line, value });
        }
        let token = self.token(false)?;
        Ok(Node {
            line,
            value: scalar_value(token, line)?,
        })
    }

    /// A scalar's text up to the next flow indicator (and, for keys, `:`), quotes kept.
    fn token(&mut self, key: bool) -> Result<&str, String> {
        self.blanks();
        let start = self.at;
        let bytes = self.text.as_bytes();
        if let Some(&q @ (b'"' | b'\'')) = bytes.get(start) {
            let len = self.text[start + 1..]
                .find(q as char)
                .ok_or_else(|| self.err("no closing quote"))?;
            self.at = start + len + 2;
        } else {
            while let Some(&b) = bytes.get(self.at) {
                if b == b',' || b == b']' || b == b'}' || (key && b == b':') {
                    break;
                }
                self.at += 1;
            }
        }
        Ok(self.text[start..self.at].trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Scalar {
            text: text.into(),
            quoted: false,
        }
    }

    fn q(text: &str) -> Value {
        Value::Scalar {
            text: text.into(),
            quoted: true,
        }
    }

    /// The tree without line numbers, for comparison.
    fn shape(node: &Node) -> String {
        match &node.value {
            Value::Null => "~".into(),
            Value::Scalar { text, quoted } => {
                if *quoted {
                    format!("{text:?}")
                } else {
                    text.clone()
                }
            }
            Value::Seq(items) => {
                let items: Vec<_> = items.iter().map(shape).collect();
                format!("[{}]", items.join(","))
            }
            Value::Map(fields) => {
                let fields: Vec<_> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}={}", shape(v)))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }
        }
    }

    #[test]
    fn parses_the_subset() {
        for (text, want) in [
            ("", "~"),
            ("# only a comment\n\n", "~"),
            ("---\na: b\n", "{a=b}"),
            ("a: b\nc: d", "{a=b,c=d}"),
            (
                "a:\n  b: c\n  d:\n    e: f\ng: h\n",
                "{a={b=c,d={e=f}},g=h}",
            ),
            ("a:\n    b: c\n    d: e\n", "{a={b=c,d=e}}"),
            ("a:\n- x\n- y\nb: z\n", "{a=[x,y],b=z}"),
            ("a:\n  - x\n  -   y\n", "{a=[x,y]}"),
            ("a: [x, 'y z', \"w\"]\n", "{a=[x,\"y z\",\"w\"]}"),
            ("a: []\nb: {}\n", "{a=[],b={}}"),
            ("a: {b: c, d: [e]}\n", "{a={b=c,d=[e]}}"),
            ("a: {\"b\": 'c'}\n", "{a={b=\"c\"}}"),
            ("a:\nb: ~\nc: null\n", "{a=~,b=~,c=~}"),
            ("a: b # comment\n", "{a=b}"),
            ("a: b#not a comment\n", "{a=b#not a comment}"),
            ("a: 'it''s # here'\n", "{a=\"it's # here\"}"),
            ("a: \"x\\\" # y\"\n", "{a=\"x\\\" # y\"}"),
            ("a: it's\n", "{a=it's}"),
            ("a: \"x\\ty\\u00e9\\\"\"\n", "{a=\"x\\ty\u{e9}\\\"\"}"),
            ("a: b: c\n", "{a=b: c}"),
            ("a: http://x:1/y\n", "{a=http://x:1/y}"),
            ("'a b': c\n", "{a b=c}"),
            ("a: $2y$10$abc./\n", "{a=$2y$10$abc./}"),
            ("  a: b\n  c: d\n", "{a=b,c=d}"),
        ] {
            let node = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(shape(&node), want, "{text:?}");
        }
    }

    #[test]
    fn literal_block_scalars() {
        for (text, want) in [
            ("a: |\n  x\n  y\nb: z\n", "{a=\"x\\ny\\n\",b=z}"),
            // Blank lines inside and after; `#` is text; deeper lines keep their extra blanks.
            (
                "a: | # comment\n  x # y\n\n     z\n  #w\n\n\nb: c\n",
                "{a=\"x # y\\n\\n   z\\n#w\\n\",b=c}",
            ),
            ("a: |-\n  x\n\n", "{a=\"x\"}"),
            ("a: |+\n  x\n\n", "{a=\"x\\n\\n\"}"),
            ("a: |\n  x", "{a=\"x\\n\"}"),
            // An indentation indicator lets the text start with blanks.
            ("a: |2\n    x\n  y\n", "{a=\"  x\\ny\\n\"}"),
            ("a: |-1\n  x\n", "{a=\" x\"}"),
            ("a: |+2\n  x\n", "{a=\"x\\n\"}"),
            // Nothing indented under it: an empty string, not null.
            ("a: |\nb: c\n", "{a=\"\",b=c}"),
            ("a: |\n   \n\nb: c\n", "{a=\"\",b=c}"),
            ("k:\n  a: |\n    x\n  b: y\n", "{k={a=\"x\\n\",b=y}}"),
            ("a:\n- |\n  x\n- y\n", "{a=[\"x\\n\",y]}"),
            // A PEM block as the inline certificates are written.
            (
                "cert: |\n  -----BEGIN X-----\n  QUJD\n  -----END X-----\nkey: k\n",
                "{cert=\"-----BEGIN X-----\\nQUJD\\n-----END X-----\\n\",key=k}",
            ),
        ] {
            let node = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(shape(&node), want, "{text:?}");
        }
        let node = parse("a: |\n  true\n\nb: c\n").unwrap();
        let Value::Map(fields) = node.value else {
            panic!("not a map")
        };
        assert_eq!(fields[0].1.value, q("true\n"));
        assert_eq!((fields[0].1.line, fields[1].1.line), (1, 4));
    }

    #[test]
    fn keeps_quotedness_and_lines() {
        let node = parse("a: true\n\nb: 'true'\nc:\n  d: e\n").unwrap();
        let Value::Map(fields) = node.value else {
            panic!("not a map")
        };
        assert_eq!(fields[0].1.value, s("true"));
        assert_eq!(fields[1].1.value, q("true"));
        let lines: Vec<_> = fields.iter().map(|(_, v)| v.line).collect();
        assert_eq!(lines, [1, 3, 4]);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (text, want) in [
            ("a: b\n c: d\n", "line 2: unexpected indentation"),
            ("a:\n  b: c\n    d: e\n", "line 3: unexpected indentation"),
            ("a:\n    b: c\n  d: e\n", "line 3: unexpected indentation"),
            ("a: b\na: c\n", "line 2: key \"a\" given twice"),
            ("junk\n", "line 1: expected `key: value`"),
            ("a: b\njunk\n", "line 2: expected `key: value`"),
            ("a:\n\tb: c\n", "line 2: tabs"),
            ("a: >\n  x\n", "line 1: folded block scalars (>)"),
            ("a: |x\n  x\n", "line 1: bad block scalar header \"|x\""),
            ("a: |--\n  x\n", "bad block scalar header"),
            ("a: |0\n  x\n", "bad block scalar header"),
            ("a: |22\n  x\n", "bad block scalar header"),
            // Text less indented than the first line, yet inside the block.
            (
                "a:\n  b: |\n      x\n    y\n",
                "line 4: unexpected indentation",
            ),
            ("a: |2\n  x\n y\n", "line 3: unexpected indentation"),
            ("a: &x b\n", "anchors"),
            ("a: *x\n", "anchors"),
            ("a: !!str b\n", "tags"),
            ("a:\n- b: c\n", "line 2: mappings inside sequences"),
            ("a: [b, c\n", "expected `,` or `]`"),
            ("a: [b] c\n", "after the closing bracket"),
            ("a: {b}\n", "expected `:`"),
            ("a: \"b\n", "no closing quote"),
            ("a: \"b\" c\n", "text after the closing quote"),
            ("a: \"\\q\"\n", "unknown escape"),
            ("a: 'b\n", "bad single-quoted"),
            ("a: b\n---\nc: d\n", "line 2: only one YAML document"),
            ("- a\nb: c\n", "line 2: unexpected text"),
            ("  a: b\n c: d\n", "line 2: unexpected text"),
            (": b\n", "line 1: empty key"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
