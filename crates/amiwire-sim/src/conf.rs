//! Asterisk's configuration file syntax (`main/config.c`, `config_text_file_load` and
//! `process_text_line`), shared by `manager.conf`, `extensions.conf` and `queues.conf`.
//!
//! * Lines end at `\n` (a `\r` before it is stripped with the other blanks). Line numbers
//!   are 1-based. A NUL byte ends the line, as it ends the C string.
//! * `;` starts a comment; `\;` is a literal `;` (the backslash is removed). `;--` opens a
//!   comment block (nestable, up to 128 deep; `;---` does not open one) and `--;` closes
//!   it; text before the opening and after the closing on the same lines is kept, joined.
//!   Asterisk also takes a `--;` outside any block for a block end, which then hides the rest
//!   of the file: that is an error here ([`ConfError::StrayCommentEnd`]).
//! * Each line is stripped of "blanks" (bytes below 33, Asterisk's `ast_strip`) at both
//!   ends; an empty line is skipped.
//! * `[name]` opens a section (the name is taken as written between `[` and the first `]`,
//!   anything after the `]` is ignored), optionally followed by `(options)`: `!` makes it a
//!   template (not seen by [`ConfFile::sections`] or [`ConfFile::section`], only inherited
//!   from), `+` appends the following lines to the first section of that name, any other
//!   word names a section (any case, templates included) whose entries are copied first.
//! * `#include`, `#tryinclude` and `#exec` are not supported (an error); another `#word` is
//!   an unknown directive (an error; Asterisk logs a warning).
//! * Every other line is `name = value`, `name => value` (the `>` is skipped and remembered
//!   in [`Entry::object`]) or `name += value` (appends `value` to the last entry of that
//!   name in the section, or adds an entry when there is none). Name and value are stripped
//!   of blanks. A first character `\` escapes the next one, so that a name can start with
//!   `[` or `#`.

/// One `name = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name, stripped of blanks, case kept.
    pub name: String,
    /// The value, stripped of blanks.
    pub value: String,
    /// The 1-based line number.
    pub line: usize,
    /// Written with `=>` instead of `=` (no difference in meaning for the files read
    /// here).
    pub object: bool,
}

/// One `[section]` with its entries in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The name as written between the brackets.
    pub name: String,
    /// The 1-based line number of the header.
    pub line: usize,
    /// Declared a template with `(!)`.
    pub template: bool,
    /// The entries, inherited ones first.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The value of the first entry called `name` (any case), as `ast_variable_retrieve`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
            .map(|e| e.value.as_str())
    }
}

/// A parsed configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfFile {
    /// Every section in file order, templates included.
    pub sections: Vec<Section>,
}

/// Why a configuration file could not be read. Every variant carries the 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfError {
    /// `[name` without `]`.
    #[error("line {line}: section header without a closing ']'")]
    UnclosedSection {
        /// The line.
        line: usize,
    },
    /// `[name](options` without `)`.
    #[error("line {line}: section options without a closing ')'")]
    UnclosedOptions {
        /// The line.
        line: usize,
    },
    /// `[name](base)` where no section `base` was defined before.
    #[error("line {line}: section [{name}] inherits from [{base}], which is not defined above")]
    UnknownBase {
        /// The line.
        line: usize,
        /// The section being defined.
        name: String,
        /// The missing base.
        base: String,
    },
    /// `[name](+)` where no section `name` was defined before.
    #[error("line {line}: [{name}](+) adds to a section [{name}] that is not defined above")]
    NothingToAppend {
        /// The line.
        line: usize,
        /// The section name.
        name: String,
    },
    /// A `name = value` line before the first section header.
    #[error("line {line}: {text:?} is not inside any [section]")]
    OutsideSection {
        /// The line.
        line: usize,
        /// The line's text.
        text: String,
    },
    /// A line starting with `\` followed by a blank or nothing.
    #[error(
        "line {line}: a '\\' at the start of a line must be followed by a printable character"
    )]
    InvalidEscape {
        /// The line.
        line: usize,
    },
    /// A line with no `=` (Asterisk logs a warning and skips it).
    #[error("line {line}: no '=' in {text:?}")]
    MissingEquals {
        /// The line.
        line: usize,
        /// The line's text.
        text: String,
    },
    /// A line starting with `=` (Asterisk logs a warning and skips it).
    #[error("line {line}: no name before '='")]
    MissingName {
        /// The line.
        line: usize,
    },
    /// `#include`, `#tryinclude` or `#exec`.
    #[error("line {line}: #{directive} is not supported here; put the text in the file itself")]
    UnsupportedDirective {
        /// The line.
        line: usize,
        /// The directive, without `#`.
        directive: String,
    },
    /// Any other `#word`.
    #[error("line {line}: unknown directive #{directive}")]
    UnknownDirective {
        /// The line.
        line: usize,
        /// The directive, without `#`.
        directive: String,
    },
    /// A `;--` block that is still open at the end of the file.
    #[error("line {line}: the ';--' comment block opened here is never closed")]
    UnclosedComment {
        /// The line of the opening `;--`.
        line: usize,
    },
    /// A `--;` outside any comment block.
    #[error("line {line}: '--;' closes a comment block that was never opened")]
    StrayCommentEnd {
        /// The line.
        line: usize,
    },
    /// More than 128 nested `;--` blocks (Asterisk loops forever on this one).
    #[error("line {line}: comment blocks nested more than 128 deep")]
    CommentTooDeep {
        /// The line.
        line: usize,
    },
}

impl ConfError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            ConfError::UnclosedSection { line }
            | ConfError::UnclosedOptions { line }
            | ConfError::UnknownBase { line, .. }
            | ConfError::NothingToAppend { line, .. }
            | ConfError::OutsideSection { line, .. }
            | ConfError::InvalidEscape { line }
            | ConfError::MissingEquals { line, .. }
            | ConfError::MissingName { line }
            | ConfError::UnsupportedDirective { line, .. }
            | ConfError::UnknownDirective { line, .. }
            | ConfError::UnclosedComment { line }
            | ConfError::StrayCommentEnd { line }
            | ConfError::CommentTooDeep { line } => *line,
        }
    }
}

/// Asterisk's `MAX_NESTED_COMMENTS`.
const MAX_NESTED_COMMENTS: usize = 128;

/// A "blank" as `ast_strip` and `ast_skip_blanks` see it: any byte below 33.
pub fn is_blank(b: u8) -> bool {
    b < 33
}

/// `ast_strip`: drops blanks (bytes below 33) at both ends.
pub fn strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_blank(c as u8))
}

/// `ast_skip_blanks`: drops blanks (bytes below 33) at the start.
pub fn skip_blanks(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii() && is_blank(c as u8))
}

/// `ast_true`: `yes`, `true`, `y`, `t`, `1` or `on`, in any case, nothing else (no
/// stripping).
pub fn is_true(s: &str) -> bool {
    ["yes", "true", "y", "t", "1", "on"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// `ast_false`: `no`, `false`, `n`, `f`, `0` or `off`, in any case, nothing else.
pub fn is_false(s: &str) -> bool {
    ["no", "false", "n", "f", "0", "off"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// C's `atoi` as glibc has it (`(int) strtol(s, NULL, 10)`): leading white space, an
/// optional sign, digits, anything after them ignored; no digit gives 0; an overflow of
/// `long` saturates, then the value is truncated to 32 bits.
pub fn atoi(s: &str) -> i32 {
    scan_long(s).map_or(0, |v| v as i32)
}

/// `sscanf(s, "%d", &v) == 1`: like [`atoi`], but `None` when there is no digit.
pub fn scan_int(s: &str) -> Option<i32> {
    scan_long(s).map(|v| v as i32)
}

fn scan_long(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: i64 = 0;
    let mut overflow = false;
    while i < b.len() && b[i].is_ascii_digit() {
        let d = i64::from(b[i] - b'0');
        match v.checked_mul(10).and_then(|x| x.checked_add(d)) {
            Some(x) if !overflow => v = x,
            _ => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return None;
    }
    Some(match (overflow, neg) {
        (true, false) => i64::MAX,
        (true, true) => i64::MIN,
        (false, false) => v,
        (false, true) => -v,
    })
}

impl ConfFile {
    /// Parses a whole file.
    pub fn parse(text: &str) -> Result<ConfFile, ConfError> {
        let mut p = Parser::default();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            if let Some(content) = p.strip_comments(raw, line)? {
                let t = strip(&content);
                if !t.is_empty() {
                    p.process_line(t, line)?;
                }
            }
        }
        if let Some(&line) = p.nest.first() {
            return Err(ConfError::UnclosedComment { line });
        }
        Ok(ConfFile {
            sections: p.sections,
        })
    }

    /// The sections that are not templates, in file order (`ast_category_browse`).
    pub fn sections(&self) -> impl Iterator<Item = &Section> + '_ {
        self.sections.iter().filter(|s| !s.template)
    }

    /// The first section that is not a template and is called `name` in any case
    /// (`ast_category_get`, used by `ast_variable_browse`).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections().find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Default)]
struct Parser {
    sections: Vec<Section>,
    /// Index of the section lines go to.
    current: Option<usize>,
    /// Lines of the open `;--` blocks.
    nest: Vec<usize>,
}

/// Index of the first `;` at or after `from`, before the next NUL.
fn find_semicolon(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() && b[i] != 0 {
        if b[i] == b';' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Index of the first NUL at or after `from` (there is always one at the end).
fn c_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() && b[i] != 0 {
        i += 1;
    }
    i
}

impl Parser {
    /// The comment loop of `config_text_file_load`, on a copy of the line kept as a C
    /// string (NUL-terminated, NULs written where Asterisk writes them). Returns the text
    /// to process, `None` when the whole line is inside a comment block.
    fn strip_comments(&mut self, raw: &str, line: usize) -> Result<Option<String>, ConfError> {
        let mut b: Vec<u8> = raw.bytes().take_while(|&c| c != 0).collect();
        b.push(0);
        let mut process: Option<usize> = if self.nest.is_empty() { Some(0) } else { None };
        let mut nb = 0usize;
        while let Some(p) = find_semicolon(&b, nb) {
            if p > nb && b[p - 1] == b'\\' {
                // Escaped semicolon: drop the backslash, go on after the ';'.
                b.remove(p - 1);
                nb = p;
            } else if b[p + 1] == b'-' && b[p + 2] == b'-' && b[p + 3] != b'-' {
                // ";--": a comment block starts.
                if self.nest.len() >= MAX_NESTED_COMMENTS {
                    return Err(ConfError::CommentTooDeep { line });
                }
                b[p] = 0;
                nb = p + 3;
                self.nest.push(line);
            } else if p >= nb + 2 && b[p - 1] == b'-' && b[p - 2] == b'-' {
                // "--;": a comment block ends.
                if self.nest.pop().is_none() {
                    return Err(ConfError::StrayCommentEnd { line });
                }
                nb = p + 1;
                if self.nest.is_empty() {
                    match process {
                        Some(ps) => {
                            // Move what follows over the end of the text before the block.
                            let old = c_end(&b, ps);
                            let end = c_end(&b, nb);
                            let tail: Vec<u8> = b[nb..=end].to_vec();
                            b.truncate(old);
                            b.extend_from_slice(&tail);
                            nb = old;
                        }
                        None => process = Some(nb),
                    }
                }
            } else if self.nest.is_empty() {
                // A plain comment: the line ends here.
                b[p] = 0;
                break;
            } else {
                nb = p + 1;
            }
        }
        Ok(process.map(|ps| {
            let end = c_end(&b, ps);
            String::from_utf8_lossy(&b[ps..end]).into_owned()
        }))
    }

    /// `process_text_line`, on a stripped, non-empty line.
    fn process_line(&mut self, cur: &str, line: usize) -> Result<(), ConfError> {
        if let Some(rest) = cur.strip_prefix('[') {
            return self.section_header(rest, line);
        }
        if let Some(rest) = cur.strip_prefix('#') {
            let directive: String = rest
                .chars()
                .take_while(|&c| !c.is_ascii() || !is_blank(c as u8))
                .collect();
            let lower = directive.to_ascii_lowercase();
            return Err(
                if matches!(lower.as_str(), "include" | "tryinclude" | "exec") {
                    ConfError::UnsupportedDirective { line, directive }
                } else {
                    ConfError::UnknownDirective { line, directive }
                },
            );
        }
        let Some(idx) = self.current else {
            return Err(ConfError::OutsideSection {
                line,
                text: cur.to_owned(),
            });
        };
        let mut cur = cur;
        let escaped = cur.starts_with('\\');
        if escaped {
            cur = &cur[1..];
            match cur.bytes().next() {
                Some(c) if !is_blank(c) => {}
                _ => return Err(ConfError::InvalidEscape { line }),
            }
        }
        // The '=' is searched for after the escaped character.
        let skip = if escaped {
            cur.chars().next().map_or(0, char::len_utf8)
        } else {
            0
        };
        let Some(eq) = cur[skip..].find('=').map(|i| i + skip) else {
            return Err(ConfError::MissingEquals {
                line,
                text: cur.to_owned(),
            });
        };
        let section = &mut self.sections[idx];
        if eq > skip && cur.as_bytes()[eq - 1] == b'+' {
            // "name += value"
            let name = strip(&cur[..eq - 1]);
            let add = &cur[eq + 1..];
            if let Some(e) = section.entries.iter_mut().rev().find(|e| e.name == name) {
                let joined = format!("{}{}", e.value, add);
                let joined = joined.trim_end_matches(|c: char| c.is_ascii() && is_blank(c as u8));
                e.value = skip_blanks(joined).to_owned();
                return Ok(());
            }
            if name.is_empty() {
                return Err(ConfError::MissingName { line });
            }
            section.entries.push(Entry {
                name: name.to_owned(),
                value: strip(add).to_owned(),
                line,
                object: false,
            });
            return Ok(());
        }
        let name = strip(&cur[..eq]);
        let mut value = &cur[eq + 1..];
        let object = value.starts_with('>');
        if object {
            value = &value[1..];
        }
        if name.is_empty() {
            return Err(ConfError::MissingName { line });
        }
        section.entries.push(Entry {
            name: name.to_owned(),
            value: strip(value).to_owned(),
            line,
            object,
        });
        Ok(())
    }

    fn section_header(&mut self, rest: &str, line: usize) -> Result<(), ConfError> {
        let Some(close) = rest.find(']') else {
            return Err(ConfError::UnclosedSection { line });
        };
        let name = rest[..close].to_owned();
        let after = &rest[close + 1..];
        let mut new = Some(Section {
            name: name.clone(),
            line,
            template: false,
            entries: Vec::new(),
        });
        let mut target: Option<usize> = None;
        if let Some(opts) = after.strip_prefix('(') {
            let Some(end) = opts.find(')') else {
                return Err(ConfError::UnclosedOptions { line });
            };
            for item in opts[..end].split(',') {
                let item = strip(item);
                if item == "!" {
                    match (&mut new, target) {
                        (Some(n), _) => n.template = true,
                        (None, Some(t)) => self.sections[t].template = true,
                        (None, None) => {}
                    }
                } else if item == "+" {
                    let Some(t) = self.find_any(&name) else {
                        return Err(ConfError::NothingToAppend { line, name });
                    };
                    if let Some(n) = new.take() {
                        self.sections[t].entries.extend(n.entries);
                    }
                    target = Some(t);
                } else {
                    let Some(b) = self.find_any(item) else {
                        return Err(ConfError::UnknownBase {
                            line,
                            name,
                            base: item.to_owned(),
                        });
                    };
                    let inherited = self.sections[b].entries.clone();
                    match (&mut new, target) {
                        (Some(n), _) => n.entries.extend(inherited),
                        (None, Some(t)) => self.sections[t].entries.extend(inherited),
                        (None, None) => {}
                    }
                }
            }
        }
        if let Some(n) = new {
            self.sections.push(n);
            target = Some(self.sections.len() - 1);
        }
        self.current = target;
        Ok(())
    }

    /// `category_get(cfg, name, 1)`: the first section of that name in any case,
    /// templates included.
    fn find_any(&self, name: &str) -> Option<usize> {
        self.sections
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }
}
