//! Where each key of a YAML document stands: a map from JSON Pointer
//! (`/printers/1/station`) to the 1-based line of that key or item, so a
//! schema error found on the JSON value can name its line in the file.

use std::collections::HashMap;

use yaml_rust2::{
    Event, ScanError,
    parser::{MarkedEventReceiver, Parser},
    scanner::Marker,
};

/// Line numbers of every node in one YAML document, and what in the text a
/// JSON value cannot show: keys given twice, a second document, aliases.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
    /// (pointer, first line, repeated line) of each key given twice in one mapping.
    pub duplicates: Vec<(String, usize, usize)>,
    /// The line of a second document (`---`), if the text has one.
    pub second_document: Option<usize>,
    /// Aliases (`*name`) used, and the line of the first one.
    pub aliases: (usize, Option<usize>),
}

enum Frame {
    /// In a mapping: the pointer of the mapping, the key awaiting its value, and the keys seen with their lines.
    Map { pointer: String, key: Option<String>, seen: HashMap<String, usize> },
    /// In a sequence: the pointer of the sequence and the next index.
    Seq { pointer: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
    duplicates: Vec<(String, usize, usize)>,
    documents: usize,
    second_document: Option<usize>,
    aliases: (usize, Option<usize>),
    /// Depth of nested collections used as mapping keys (not JSON-able; skipped).
    complex_key_depth: usize,
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Builder {
    /// The pointer a new node at this position gets, recording its line.
    /// Returns `None` when the node is a mapping key (not a value).
    fn place(&mut self, line: usize) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { pointer, next }) => {
                let p = format!("{pointer}/{next}");
                *next += 1;
                self.lines.insert(p.clone(), line);
                Some(p)
            }
            Some(Frame::Map { pointer, key, .. }) => key.take().map(|k| format!("{pointer}/{}", escape(&k))),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        if self.complex_key_depth > 0 {
            match ev {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.complex_key_depth += 1,
                Event::MappingEnd | Event::SequenceEnd => self.complex_key_depth -= 1,
                _ => {}
            }
            return;
        }
        match ev {
            Event::Scalar(value, ..) => {
                // `place` records a value's position; `None` means this scalar is a mapping key.
                let is_key = self.place(line).is_none();
                if let (true, Some(Frame::Map { pointer, key, seen })) = (is_key, self.stack.last_mut()) {
                    let p = format!("{pointer}/{}", escape(&value));
                    match seen.get(&value) {
                        // The first occurrence keeps the line; the repeat is reported with both.
                        Some(first) => self.duplicates.push((p, *first, line)),
                        None => {
                            seen.insert(value.clone(), line);
                            self.lines.insert(p, line);
                        }
                    }
                    *key = Some(value);
                }
            }
            Event::Alias(_) => {
                self.aliases.0 += 1;
                self.aliases.1.get_or_insert(line);
                self.place(line);
            }
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_document = Some(line);
                }
            }
            Event::MappingStart(..) => match self.place(line) {
                Some(pointer) => {
                    self.lines.entry(pointer.clone()).or_insert(line);
                    self.stack.push(Frame::Map { pointer, key: None, seen: HashMap::new() });
                }
                None => self.complex_key_depth = 1,
            },
            Event::SequenceStart(..) => match self.place(line) {
                Some(pointer) => {
                    self.lines.entry(pointer.clone()).or_insert(line);
                    self.stack.push(Frame::Seq { pointer, next: 0 });
                }
                None => self.complex_key_depth = 1,
            },
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl LineIndex {
    /// Indexes a YAML text; a syntax error comes back with its position.
    pub fn build(text: &str) -> Result<Self, ScanError> {
        let mut builder = Builder::default();
        Parser::new_from_str(text).load(&mut builder, true)?;
        Ok(Self {
            lines: builder.lines,
            duplicates: builder.duplicates,
            second_document: builder.second_document,
            aliases: builder.aliases,
        })
    }

    /// The line of the node at `pointer`, or of its nearest ancestor that has one.
    pub fn line_of(&self, pointer: &str) -> Option<usize> {
        let mut p = pointer;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn finds_keys_items_and_nested_keys() {
        let text = "a: 1\nb:\n  c: x\n  d:\n    - p\n    - q: 1\n      r: 2\ne: {f: 1}\n";
        let idx = LineIndex::build(text).expect("valid yaml");
        assert_eq!(idx.line_of("/a"), Some(1));
        assert_eq!(idx.line_of("/b/c"), Some(3));
        assert_eq!(idx.line_of("/b/d/0"), Some(5));
        assert_eq!(idx.line_of("/b/d/1/r"), Some(7));
        assert_eq!(idx.line_of("/e/f"), Some(8));
        assert_eq!(idx.line_of("/b/d/1/missing"), Some(6));
    }

    #[test]
    fn keys_given_twice_are_found_with_both_lines() {
        let idx = LineIndex::build("a: 1\nb:\n  password: x\n  password: y\na: 2\n").expect("valid yaml");
        assert_eq!(idx.duplicates, vec![("/b/password".to_owned(), 3, 4), ("/a".to_owned(), 1, 5)]);
        assert_eq!(idx.line_of("/a"), Some(1), "the first occurrence keeps its line");
        let two = LineIndex::build("a: 1\n---\nb: 2\n").expect("valid yaml");
        assert_eq!(two.second_document, Some(2));
    }

    #[test]
    fn reports_syntax_errors_with_a_line() {
        let err = LineIndex::build("a: 1\nb: [1, 2\nc: 3\n").expect_err("unclosed flow sequence");
        assert!(err.marker().line() >= 2, "{err}");
    }
}
