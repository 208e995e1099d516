//! A small, location-carrying YAML tree built from `saphyr-parser` events.
//!
//! Policies need only mappings, sequences and scalars. Everything else YAML
//! can express is refused here, before any schema check runs:
//! - aliases (`*a`), so an alias bomb ("billion laughs") fails on its first
//!   alias instead of expanding;
//! - explicit tags (`!!binary`, `!foo`), which would change a value's type;
//! - more than one document;
//! - duplicate keys in a mapping.
//!
//! The input size and nesting depth are capped so a hostile document cannot
//! exhaust memory or stack. A panic inside the parser is caught and reported
//! as an error rather than taking the process down.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// Largest policy file accepted, in bytes. Real policies are a few KiB.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;
/// Deepest nesting accepted. The schema needs three levels.
pub const MAX_DEPTH: usize = 32;
/// Most nodes accepted in one document.
pub const MAX_NODES: usize = 20_000;

/// A position in the source, both 1-based as editors show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { text: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, plain: true } if is_null(text) => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A plain scalar that YAML reads as null.
pub fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub mark: Mark,
    pub message: String,
}

fn err(mark: Mark, message: impl Into<String>) -> YamlError {
    YamlError {
        mark,
        message: message.into(),
    }
}

fn mark_of(m: &saphyr_parser::Marker) -> Mark {
    // saphyr lines are 1-based, columns 0-based.
    Mark {
        line: m.line(),
        col: m.col() + 1,
    }
}

enum Frame {
    Seq(Mark, Vec<Node>),
    Map(Mark, Vec<(Node, Node)>, Option<Node>),
}

/// Parse one YAML document into a tree. An empty document yields `None`.
pub fn parse(source: &str) -> Result<Option<Node>, YamlError> {
    let start = Mark { line: 1, col: 1 };
    if source.len() > MAX_INPUT_BYTES {
        return Err(err(
            start,
            format!(
                "policy is {} bytes; the limit is {MAX_INPUT_BYTES} bytes",
                source.len()
            ),
        ));
    }
    match std::panic::catch_unwind(|| build(source)) {
        Ok(result) => result,
        Err(_) => Err(err(start, "the YAML parser failed on this input")),
    }
}

fn build(source: &str) -> Result<Option<Node>, YamlError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;

    for item in Parser::new_from_str(source) {
        let (event, span) = item.map_err(|e| err(mark_of(e.marker()), e.info().to_string()))?;
        let mark = mark_of(&span.start);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(err(mark, "a policy file holds exactly one YAML document"));
                }
                continue;
            }
            Event::Alias(_) => {
                return Err(err(
                    mark,
                    "YAML aliases (*name) are not allowed in a policy; write the value out",
                ))
            }
            Event::Scalar(text, style, _anchor, tag) => {
                reject_tag(tag.is_some(), mark)?;
                Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: matches!(style, ScalarStyle::Plain),
                    },
                    mark,
                }
            }
            Event::SequenceStart(_anchor, tag) => {
                reject_tag(tag.is_some(), mark)?;
                push_frame(&mut stack, Frame::Seq(mark, Vec::new()), mark)?;
                continue;
            }
            Event::MappingStart(_anchor, tag) => {
                reject_tag(tag.is_some(), mark)?;
                push_frame(&mut stack, Frame::Map(mark, Vec::new(), None), mark)?;
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(m, items)) => Node {
                    value: Value::Seq(items),
                    mark: m,
                },
                _ => return Err(err(mark, "unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(m, entries, None)) => Node {
                    value: Value::Map(entries),
                    mark: m,
                },
                _ => return Err(err(mark, "unbalanced mapping")),
            },
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(err(
                mark,
                format!("policy has more than {MAX_NODES} values"),
            ));
        }
        attach(&mut stack, &mut root, node)?;
    }
    Ok(root)
}

fn reject_tag(tagged: bool, mark: Mark) -> Result<(), YamlError> {
    if tagged {
        return Err(err(
            mark,
            "YAML tags (!!type, !name) are not allowed in a policy",
        ));
    }
    Ok(())
}

fn push_frame(stack: &mut Vec<Frame>, frame: Frame, mark: Mark) -> Result<(), YamlError> {
    if stack.len() >= MAX_DEPTH {
        return Err(err(
            mark,
            format!("policy nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    stack.push(frame);
    Ok(())
}

fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node) -> Result<(), YamlError> {
    match stack.last_mut() {
        None => {
            *root = Some(node);
            Ok(())
        }
        Some(Frame::Seq(_, items)) => {
            items.push(node);
            Ok(())
        }
        Some(Frame::Map(_, entries, pending)) => match pending.take() {
            None => {
                let Value::Scalar { text, .. } = &node.value else {
                    return Err(err(node.mark, "mapping keys must be plain words"));
                };
                if let Some((first, _)) = entries.iter().find(|(k, _)| scalar_text(k) == Some(text))
                {
                    return Err(err(
                        node.mark,
                        format!(
                            "duplicate key `{text}` (first at line {}, column {})",
                            first.mark.line, first.mark.col
                        ),
                    ));
                }
                *pending = Some(node);
                Ok(())
            }
            Some(key) => {
                entries.push((key, node));
                Ok(())
            }
        },
    }
}

pub fn scalar_text(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(src: &str) -> YamlError {
        match parse(src) {
            Err(e) => e,
            Ok(tree) => panic!("expected an error, got {tree:?}"),
        }
    }

    #[test]
    fn builds_a_marked_tree() {
        let tree = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap().unwrap();
        let Value::Map(entries) = tree.value else {
            panic!()
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].0.mark, Mark { line: 2, col: 1 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(items[1].mark, Mark { line: 4, col: 5 });
        assert_eq!(
            items[1].value,
            Value::Scalar {
                text: "y".into(),
                plain: false
            }
        );
    }

    #[test]
    fn empty_document_is_none() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn alias_bomb_fails_on_first_alias() {
        let mut src = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for i in 1..9 {
            let prev = (b'a' + i - 1) as char;
            let cur = (b'a' + i) as char;
            src.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        let e = error_of(&src);
        assert!(e.message.contains("aliases"), "{e:?}");
        assert_eq!(e.mark.line, 2);
    }

    #[test]
    fn rejects_tags_duplicates_and_multiple_documents() {
        assert!(error_of("a: !!binary aGk=\n").message.contains("tags"));
        let dup = error_of("a: 1\nb: 2\na: 3\n");
        assert!(dup.message.contains("duplicate key `a`"), "{dup:?}");
        assert_eq!(dup.mark, Mark { line: 3, col: 1 });
        assert!(error_of("a: 1\n---\nb: 2\n")
            .message
            .contains("one YAML document"));
        assert!(error_of("? [a, b]\n: 1\n").message.contains("plain words"));
    }

    #[test]
    fn caps_size_and_depth() {
        let big = "a".repeat(MAX_INPUT_BYTES + 1);
        assert!(error_of(&big).message.contains("limit"));
        let deep = "[".repeat(MAX_DEPTH + 5);
        assert!(error_of(&deep).message.contains("nests deeper"));
    }

    #[test]
    fn syntax_errors_carry_a_location() {
        let e = error_of("a: [1, 2\nb: 3\n");
        assert!(e.mark.line >= 1);
        let e = error_of("a:\n\t- x\n");
        assert!(!e.message.is_empty());
    }
}
