//! A dialplan from an `extensions.conf`-style file, read the way Asterisk 22's `pbx_config`
//! reads it (`pbx_load_config`).
//!
//! ```
//! use amiwire_sim::dialplan::{split_args, Dialplan};
//!
//! let dp = Dialplan::default(); // the built-in etc/extensions.conf
//! assert_eq!(dp.global("TESTGLOBAL"), Some("initial"));
//! let step = dp.lookup("test", "200").unwrap().step(1).unwrap();
//! assert_eq!((step.app.as_str(), step.args.as_str()), ("Dial", "Local/100@test,10"));
//! assert_eq!(split_args(&step.args), ["Local/100@test", "10"]);
//! ```
//!
//! # What is read
//!
//! The file syntax is Asterisk's config syntax ([`crate::conf`]). Then:
//!
//! * `[general]` (the first one, any case) is kept as it is ([`Dialplan::general`]);
//! * `[globals]` (the first one, any case) sets global variables, a later line replacing an
//!   earlier one of the same (case-sensitive) name ([`Dialplan::globals`]); `${...}` in values
//!   is not substituted;
//! * every other non-template section is a context; two sections with the same name (compared
//!   case-sensitively, as Asterisk compares context names) are the same context.
//!
//! In a context:
//!
//! * `exten => <ext>[/<callerid>],<priority>,<app>(<args>)`: the extension is split off at the
//!   first `,` outside `[...]` (`pbx_strsep`), the priority at the next `,`, and the rest is the
//!   application: the text before the first `(` (leading blanks skipped) is its name and the
//!   text up to the **last** `)` its argument string. Without `(` the whole rest is the name and
//!   the arguments are empty. When the name part holds `${` or `$[`, the whole rest is the
//!   name (as Asterisk does for hints like `DAHDI/${VAR}`).
//! * `same => <priority>,<app>(<args>)` (any key starting with `same`, any case) continues
//!   the last `exten` of the section.
//! * Priorities: a number (read with `sscanf("%d")`, so `2x` is 2), `n`/`next` (the previous
//!   priority plus one), `s`/`same` (the previous priority), `hint`, or the label of an earlier
//!   priority of the same extension; `(<label>)` after it names the step, `+<number>` after it
//!   is added. "The previous priority" is the last one of the section, whatever its extension,
//!   as in Asterisk.
//! * `include`, `ignorepat`, `switch`, `lswitch`, `eswitch` are kept ([`Context::includes`],
//!   [`Context::ignorepats`], [`Context::switches`]); `include`s are followed by
//!   [`Dialplan::lookup`].
//!
//! Where `pbx_config` logs a warning and skips a line (an unknown key, a label without `)`,
//! `n` on the first line, an invalid priority, a missing `)` after the arguments, a priority or
//! label already in use), this parser fails with the line number instead.

use crate::conf::{self, ConfError, ConfFile, Entry};

/// The built-in `extensions.conf`: the dialplan the corpus was recorded with (context
/// `test`). [`Dialplan::default`] parses it.
pub const DEFAULT_EXTENSIONS_CONF: &str = include_str!("../etc/extensions.conf");

/// One priority of an extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The priority number (1 or more).
    pub priority: u32,
    /// The label given with `n(label)` or `1(label)`.
    pub label: Option<String>,
    /// The application name as written (`Dial`), leading blanks skipped.
    pub app: String,
    /// The argument string between the parentheses, as written (`Local/100@test,10`); split it
    /// with [`split_args`].
    pub args: String,
    /// The 1-based line it was defined on.
    pub line: usize,
}

impl Step {
    /// The arguments split as applications split them ([`split_args`]).
    pub fn split_args(&self) -> Vec<String> {
        split_args(&self.args)
    }
}

/// One extension of a context: its priorities in ascending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The extension as written (`100`, `s`, `_X.`), without the caller-ID part.
    pub name: String,
    /// The caller-ID match of `exten => 100/5551234,...`, if any.
    pub callerid: Option<String>,
    /// The value of a `hint` priority (`exten => 100,hint,PJSIP/100`).
    pub hint: Option<String>,
    steps: Vec<Step>,
}

impl Extension {
    /// The step at `priority`.
    pub fn step(&self, priority: u32) -> Option<&Step> {
        self.steps
            .binary_search_by_key(&priority, |s| s.priority)
            .ok()
            .map(|i| &self.steps[i])
    }

    /// Every step, by ascending priority (priorities may have gaps).
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The priority of the step labelled `label` (case-sensitive, as Asterisk compares labels).
    pub fn priority_of_label(&self, label: &str) -> Option<u32> {
        self.steps
            .iter()
            .find(|s| s.label.as_deref() == Some(label))
            .map(|s| s.priority)
    }

    /// A pattern (`_` followed by `X`, `Z`, `N`, `[...]`, `.`, `!` and literal characters).
    pub fn is_pattern(&self) -> bool {
        self.name.starts_with('_')
    }

    /// Whether a dialled extension matches this one, as `extension_match_core` decides a full
    /// match: a literal extension must be equal; in a pattern, `X` is 0-9, `Z` 1-9, `N` 2-9
    /// (any case), `[...]` a set with `a-b` ranges, `.` one or more characters, `!` zero or more,
    /// a `-` or blank in the pattern and a `-` in the dialled number are ignored, and other
    /// characters must be equal (case-sensitive).
    pub fn matches(&self, exten: &str) -> bool {
        match self.name.strip_prefix('_') {
            Some(p) => pattern_matches(p.as_bytes(), exten.as_bytes()),
            None => self.name == exten,
        }
    }

    fn insert(&mut self, step: Step) {
        let i = self.steps.partition_point(|s| s.priority < step.priority);
        self.steps.insert(i, step);
    }
}

/// One context: its extensions in order of first appearance, and its other directives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The name as written in the section header.
    pub name: String,
    /// The line of the (first) section header.
    pub line: usize,
    extensions: Vec<Extension>,
    /// `include => <context>[,<time spec>]` values, in order.
    pub includes: Vec<String>,
    /// `ignorepat` values, in order.
    pub ignorepats: Vec<String>,
    /// `switch`, `lswitch` and `eswitch` lines as (key in lowercase, value), in order.
    pub switches: Vec<(String, String)>,
}

impl Context {
    fn new(name: &str, line: usize) -> Context {
        Context {
            name: name.to_owned(),
            line,
            extensions: Vec::new(),
            includes: Vec::new(),
            ignorepats: Vec::new(),
            switches: Vec::new(),
        }
    }

    /// The extensions, in order of first appearance.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The extension written exactly `name`, without a caller-ID match.
    pub fn extension(&self, name: &str) -> Option<&Extension> {
        self.extensions
            .iter()
            .find(|e| e.callerid.is_none() && e.name == name)
    }

    /// The extension of this context (includes not followed) that a call to `exten` runs,
    /// ignoring caller-ID matches: an equal literal extension first, else the most specific
    /// matching pattern, in Asterisk's order (`ext_cmp`: position by position, a literal
    /// character before `N`, `Z`, `X` and smaller sets, those before `.` and `!`).
    pub fn lookup_here(&self, exten: &str) -> Option<&Extension> {
        if let Some(e) = self
            .extensions
            .iter()
            .find(|e| e.callerid.is_none() && !e.is_pattern() && e.name == exten)
        {
            return Some(e);
        }
        let mut best: Option<(Vec<u32>, &Extension)> = None;
        for e in &self.extensions {
            if e.callerid.is_some() || !e.is_pattern() || !e.matches(exten) {
                continue;
            }
            let key = pattern_key(&e.name.as_bytes()[1..]);
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, e));
            }
        }
        best.map(|(_, e)| e)
    }

    fn position(&self, name: &str, callerid: Option<&str>) -> Option<usize> {
        self.extensions
            .iter()
            .position(|e| e.name == name && e.callerid.as_deref() == callerid)
    }
}

/// Why an `extensions.conf` could not be read. Every variant carries the 1-based line number
/// ([`DialplanError::line`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialplanError {
    /// The file's syntax ([`conf`]).
    #[error(transparent)]
    Syntax(#[from] ConfError),
    /// `same =>` before any `exten =>` in the section.
    #[error("line {line}: 'same' with no 'exten' before it in context [{context}]")]
    SameWithoutExten {
        /// The line.
        line: usize,
        /// The context.
        context: String,
    },
    /// `exten => ,1,...`.
    #[error("line {line}: empty extension")]
    EmptyExtension {
        /// The line.
        line: usize,
    },
    /// `n(label` without `)`.
    #[error("line {line}: label without a closing ')' in priority {priority:?}")]
    UnclosedLabel {
        /// The line.
        line: usize,
        /// The priority field.
        priority: String,
    },
    /// `n` or `s` on the first line of a section.
    #[error(
        "line {line}: can't use '{priority}' priority on the first entry of context [{context}]"
    )]
    NoPreviousPriority {
        /// The line.
        line: usize,
        /// The priority field.
        priority: String,
        /// The context.
        context: String,
    },
    /// A priority that is neither a number of 1 or more, nor `n`, `s`, `hint`, nor a known
    /// label.
    #[error("line {line}: invalid priority or unknown label {priority:?}")]
    InvalidPriority {
        /// The line.
        line: usize,
        /// The priority field.
        priority: String,
    },
    /// `App(args` without `)`.
    #[error("line {line}: no closing parenthesis in {text:?}")]
    UnclosedArguments {
        /// The line.
        line: usize,
        /// The application text.
        text: String,
    },
    /// The same priority twice in an extension.
    #[error("line {line}: extension {exten} priority {priority} of context [{context}] is already defined at line {first}")]
    DuplicatePriority {
        /// The line.
        line: usize,
        /// The context.
        context: String,
        /// The extension.
        exten: String,
        /// The priority.
        priority: u32,
        /// Where it was defined first.
        first: usize,
    },
    /// Two hints for one extension.
    #[error("line {line}: extension {exten} of context [{context}] already has a hint")]
    DuplicateHint {
        /// The line.
        line: usize,
        /// The context.
        context: String,
        /// The extension.
        exten: String,
    },
    /// The same label on two priorities of an extension.
    #[error("line {line}: label {label:?} of extension {exten} in context [{context}] is already used at priority {priority}")]
    DuplicateLabel {
        /// The line.
        line: usize,
        /// The context.
        context: String,
        /// The extension.
        exten: String,
        /// The label.
        label: String,
        /// The priority that has it.
        priority: u32,
    },
    /// A key other than `exten`, `same`, `include`, `ignorepat`, `switch`, `lswitch`,
    /// `eswitch` in a context.
    #[error("line {line}: unknown directive {key:?} in context [{context}]")]
    UnknownDirective {
        /// The line.
        line: usize,
        /// The key as written.
        key: String,
        /// The context.
        context: String,
    },
}

impl DialplanError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            DialplanError::Syntax(e) => e.line(),
            DialplanError::SameWithoutExten { line, .. }
            | DialplanError::EmptyExtension { line }
            | DialplanError::UnclosedLabel { line, .. }
            | DialplanError::NoPreviousPriority { line, .. }
            | DialplanError::InvalidPriority { line, .. }
            | DialplanError::UnclosedArguments { line, .. }
            | DialplanError::DuplicatePriority { line, .. }
            | DialplanError::DuplicateHint { line, .. }
            | DialplanError::DuplicateLabel { line, .. }
            | DialplanError::UnknownDirective { line, .. } => *line,
        }
    }
}

/// A parsed `extensions.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialplan {
    general: Vec<(String, String)>,
    globals: Vec<(String, String)>,
    contexts: Vec<Context>,
}

impl Default for Dialplan {
    /// The built-in dialplan: [`DEFAULT_EXTENSIONS_CONF`].
    fn default() -> Dialplan {
        Dialplan::parse(DEFAULT_EXTENSIONS_CONF).expect("the built-in extensions.conf parses")
    }
}

/// The priority of a `hint` line.
const PRIORITY_HINT: i64 = -1;

impl Dialplan {
    /// Reads an `extensions.conf` (see the [module documentation](self)).
    pub fn parse(text: &str) -> Result<Dialplan, DialplanError> {
        let file = ConfFile::parse(text)?;
        let general = file
            .section("general")
            .map(|s| {
                s.entries
                    .iter()
                    .map(|e| (e.name.clone(), e.value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut globals: Vec<(String, String)> = Vec::new();
        if let Some(s) = file.section("globals") {
            for e in &s.entries {
                match globals.iter_mut().find(|(n, _)| *n == e.name) {
                    Some(g) => g.1 = e.value.clone(),
                    None => globals.push((e.name.clone(), e.value.clone())),
                }
            }
        }
        let mut contexts: Vec<Context> = Vec::new();
        for sec in file.sections() {
            if sec.name.eq_ignore_ascii_case("general") || sec.name.eq_ignore_ascii_case("globals")
            {
                continue;
            }
            let ci = match contexts.iter().position(|c| c.name == sec.name) {
                Some(i) => i,
                None => {
                    contexts.push(Context::new(&sec.name, sec.line));
                    contexts.len() - 1
                }
            };
            let ctx = &mut contexts[ci];
            // Reset continuation items at the beginning of each section.
            let mut last_exten: Option<String> = None;
            let mut last_pri: i64 = -2;
            for e in &sec.entries {
                load_entry(ctx, e, &mut last_exten, &mut last_pri)?;
            }
        }
        Ok(Dialplan {
            general,
            globals,
            contexts,
        })
    }

    /// The `[general]` entries as written.
    pub fn general(&self) -> &[(String, String)] {
        &self.general
    }

    /// The global variables of `[globals]`, in order of first definition, each with its last
    /// value.
    pub fn globals(&self) -> &[(String, String)] {
        &self.globals
    }

    /// The value of a global variable (case-sensitive name).
    pub fn global(&self, name: &str) -> Option<&str> {
        self.globals
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The contexts in order of first appearance.
    pub fn contexts(&self) -> &[Context] {
        &self.contexts
    }

    /// The context called `name` (case-sensitive, as Asterisk compares context names).
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// Whether a context called `name` exists (case-sensitive).
    pub fn has_context(&self, name: &str) -> bool {
        self.context(name).is_some()
    }

    /// The extension a call to `exten@context` runs: the context's own extension
    /// ([`Context::lookup_here`]), else one found through its `include`s, depth first, in
    /// order (each context visited once). Caller-ID matches are not considered.
    pub fn lookup(&self, context: &str, exten: &str) -> Option<&Extension> {
        let mut visited: Vec<&str> = Vec::new();
        self.lookup_in(context, exten, &mut visited)
    }

    fn lookup_in<'a>(
        &'a self,
        context: &str,
        exten: &str,
        visited: &mut Vec<&'a str>,
    ) -> Option<&'a Extension> {
        let ctx = self.context(context)?;
        if visited.contains(&ctx.name.as_str()) {
            return None;
        }
        visited.push(&ctx.name);
        if let Some(e) = ctx.lookup_here(exten) {
            return Some(e);
        }
        for inc in &ctx.includes {
            let name = inc.split(',').next().map(conf::strip).unwrap_or("");
            if let Some(e) = self.lookup_in(name, exten, visited) {
                return Some(e);
            }
        }
        None
    }
}

/// `pbx_strsep(&s, ",")`: splits at the first `,` outside `[...]`; a backslash protects the
/// next character (and is kept).
fn pbx_strsep(s: &str) -> (&str, Option<&str>) {
    let b = s.as_bytes();
    let mut square = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'[' => square += 1,
            b']' => square = square.saturating_sub(1),
            b'\\' => i += 1,
            b',' if square == 0 => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
        i += 1;
    }
    (s, None)
}

/// One line of a context (`pbx_load_config`).
fn load_entry(
    ctx: &mut Context,
    e: &Entry,
    last_exten: &mut Option<String>,
    last_pri: &mut i64,
) -> Result<(), DialplanError> {
    let line = e.line;
    let Some((realext, rest)) = directive(ctx, e, last_exten)? else {
        return Ok(());
    };
    let (name, callerid) = match realext.split_once('/') {
        Some((n, c)) => (n.to_owned(), Some(c.to_owned())),
        None => (realext, None),
    };
    if name.is_empty() {
        return Err(DialplanError::EmptyExtension { line });
    }
    // The priority field.
    let (pri_field, app_text) = match rest {
        Some(r) => match r.split_once(',') {
            Some((p, a)) => (p, Some(a)),
            None => (r, None),
        },
        None => ("", None),
    };
    let pri_field = conf::strip(pri_field);
    let (pri, label, plus) = split_priority(pri_field, line)?;
    let existing = ctx.position(&name, callerid.as_deref());
    let mut ipri = priority_number(ctx, existing, pri, pri_field, *last_pri, line)?;
    // Application and arguments.
    let appl = app_text.unwrap_or("");
    let (app, args) = split_app(appl, line)?;
    if let Some(p) = plus {
        ipri += i64::from(conf::atoi(p));
    }
    *last_pri = ipri;
    let idx = match existing {
        Some(i) => i,
        None => {
            ctx.extensions.push(Extension {
                name: name.clone(),
                callerid: callerid.clone(),
                hint: None,
                steps: Vec::new(),
            });
            ctx.extensions.len() - 1
        }
    };
    let context_name = ctx.name.clone();
    let ext = &mut ctx.extensions[idx];
    if pri == "hint" && plus.is_none() {
        if ext.hint.is_some() {
            return Err(DialplanError::DuplicateHint {
                line,
                context: context_name,
                exten: name,
            });
        }
        ext.hint = Some(if args.is_empty() && !appl.contains('(') {
            app.to_owned()
        } else {
            format!("{app}({args})")
        });
        return Ok(());
    }
    let priority = match u32::try_from(ipri) {
        Ok(p) if p >= 1 && ipri <= i64::from(i32::MAX) => p,
        _ => {
            return Err(DialplanError::InvalidPriority {
                line,
                priority: pri_field.to_owned(),
            })
        }
    };
    let step = Step {
        priority,
        label: label.map(str::to_owned),
        app: app.to_owned(),
        args: args.to_owned(),
        line,
    };
    add_step(ext, step, &context_name)
}

/// The extension of an `exten =>` or `same =>` line and the rest of its value; `None` for
/// the other directives of a context (`include`, `ignorepat`, `switch`), which it records.
fn directive<'e>(
    ctx: &mut Context,
    e: &'e Entry,
    last_exten: &mut Option<String>,
) -> Result<Option<(String, Option<&'e str>)>, DialplanError> {
    let line = e.line;
    let key = e.name.as_str();
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("same") {
        let Some(ext) = last_exten.clone() else {
            return Err(DialplanError::SameWithoutExten {
                line,
                context: ctx.name.clone(),
            });
        };
        return Ok(Some((ext, Some(e.value.as_str()))));
    }
    if lower == "exten" {
        let (ext, rest) = pbx_strsep(&e.value);
        let ext = conf::strip(ext).to_owned();
        *last_exten = Some(ext.clone());
        return Ok(Some((ext, rest)));
    }
    match lower.as_str() {
        "include" => ctx.includes.push(e.value.clone()),
        "ignorepat" => ctx.ignorepats.push(e.value.clone()),
        "switch" | "lswitch" | "eswitch" => ctx.switches.push((lower, e.value.clone())),
        _ => {
            return Err(DialplanError::UnknownDirective {
                line,
                key: key.to_owned(),
                context: ctx.name.clone(),
            })
        }
    }
    Ok(None)
}

/// A priority field's parts: the priority, its `(label)` and its `+offset`.
fn split_priority(
    pri_field: &str,
    line: usize,
) -> Result<(&str, Option<&str>, Option<&str>), DialplanError> {
    let mut pri = pri_field;
    let mut label: Option<&str> = None;
    if let Some(open) = pri.find('(') {
        let after = &pri[open + 1..];
        let Some(close) = after.find(')') else {
            return Err(DialplanError::UnclosedLabel {
                line,
                priority: pri_field.to_owned(),
            });
        };
        label = Some(&after[..close]);
        pri = &pri[..open];
    }
    let mut plus: Option<&str> = None;
    if let Some(p) = pri.find('+') {
        plus = Some(&pri[p + 1..]);
        pri = &pri[..p];
    }
    Ok((pri, label, plus))
}

/// The number of a priority: `hint`, `n`/`next` (the last one plus one), `s`/`same` (the
/// last one), a number, or the label of a priority of the extension.
fn priority_number(
    ctx: &Context,
    existing: Option<usize>,
    pri: &str,
    pri_field: &str,
    last_pri: i64,
    line: usize,
) -> Result<i64, DialplanError> {
    let invalid = || DialplanError::InvalidPriority {
        line,
        priority: pri_field.to_owned(),
    };
    if pri == "hint" {
        return Ok(PRIORITY_HINT);
    }
    if pri == "next" || pri == "n" || pri == "same" || pri == "s" {
        if last_pri <= -2 {
            return Err(DialplanError::NoPreviousPriority {
                line,
                priority: pri.to_owned(),
                context: ctx.name.clone(),
            });
        }
        return Ok(if pri.starts_with('n') {
            last_pri + 1
        } else {
            last_pri
        });
    }
    if let Some(n) = conf::scan_int(pri) {
        if n < 1 {
            return Err(invalid());
        }
        return Ok(i64::from(n));
    }
    let found = existing
        .and_then(|i| ctx.extensions[i].priority_of_label(pri))
        .ok_or_else(invalid)?;
    Ok(i64::from(found))
}

/// `App(args)`: the application (leading blanks skipped) and its arguments.
fn split_app(appl: &str, line: usize) -> Result<(&str, &str), DialplanError> {
    let (app, args) = match appl.split_once('(') {
        None => (appl, ""),
        Some((a, _)) if a.contains("${") || a.contains("$[") => (appl, ""),
        Some((a, d)) => match d.rfind(')') {
            Some(end) => (a, &d[..end]),
            None => {
                return Err(DialplanError::UnclosedArguments {
                    line,
                    text: appl.to_owned(),
                })
            }
        },
    };
    Ok((conf::skip_blanks(app), args))
}

/// Adds a step to an extension, refusing a priority or label it has already.
fn add_step(ext: &mut Extension, step: Step, context: &str) -> Result<(), DialplanError> {
    if let Some(s) = ext.step(step.priority) {
        return Err(DialplanError::DuplicatePriority {
            line: step.line,
            context: context.to_owned(),
            exten: ext.name.clone(),
            priority: step.priority,
            first: s.line,
        });
    }
    if let Some(l) = &step.label {
        if let Some(p) = ext.priority_of_label(l) {
            return Err(DialplanError::DuplicateLabel {
                line: step.line,
                context: context.to_owned(),
                exten: ext.name.clone(),
                label: l.clone(),
                priority: p,
            });
        }
    }
    ext.insert(step);
    Ok(())
}

/// `extension_match_core` in `E_MATCH` mode, on a pattern without its `_`.
fn pattern_matches(p: &[u8], d: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    while j < d.len() && i < p.len() && p[i] != b'/' {
        if d[j] == b'-' {
            j += 1;
            continue;
        }
        match p[i].to_ascii_uppercase() {
            b'[' => {
                let Some(end) = p[i + 1..]
                    .iter()
                    .position(|&c| c == b']')
                    .map(|x| x + i + 1)
                else {
                    return false;
                };
                let mut k = i + 1;
                let mut found = false;
                while k < end {
                    if k + 2 < end && p[k + 1] == b'-' {
                        if d[j] >= p[k] && d[j] <= p[k + 2] {
                            found = true;
                            break;
                        }
                        k += 3;
                    } else {
                        if d[j] == p[k] {
                            found = true;
                            break;
                        }
                        k += 1;
                    }
                }
                if !found {
                    return false;
                }
                i = end;
            }
            b'N' => {
                if !(b'2'..=b'9').contains(&d[j]) {
                    return false;
                }
            }
            b'X' => {
                if !d[j].is_ascii_digit() {
                    return false;
                }
            }
            b'Z' => {
                if !(b'1'..=b'9').contains(&d[j]) {
                    return false;
                }
            }
            b'.' | b'!' => return true,
            b' ' | b'-' => {
                i += 1;
                continue;
            }
            _ => {
                if d[j] != p[i] {
                    return false;
                }
            }
        }
        i += 1;
        j += 1;
    }
    if j < d.len() {
        return false;
    }
    i >= p.len() || p[i] == b'/' || p[i] == b'!'
}

/// The sort key of a pattern (without its `_`), from `ext_cmp_pattern_pos`: per position,
/// (number of characters << 8) | lowest character; `.` 0x18000, `!` 0x28000, the end 0x30000,
/// a set without `]` 0x40000. Smaller sorts first and wins.
fn pattern_key(p: &[u8]) -> Vec<u32> {
    let mut key = Vec::new();
    let mut i = 0;
    loop {
        while i < p.len() && p[i] == b'-' {
            i += 1;
        }
        let Some(&c) = p.get(i) else {
            key.push(0x30000);
            return key;
        };
        i += 1;
        let v = match c {
            b'n' | b'N' => 0x0800 | u32::from(b'2'),
            b'x' | b'X' => 0x0A00 | u32::from(b'0'),
            b'z' | b'Z' => 0x0900 | u32::from(b'1'),
            b'.' => 0x18000,
            b'!' => 0x28000,
            b'[' => {
                let Some(end) = p[i..].iter().position(|&x| x == b']').map(|x| x + i) else {
                    key.push(0x40000);
                    return key;
                };
                let mut seen = [false; 256];
                let mut count = 0u32;
                let mut cmin = 0xFFu32;
                let mut k = i;
                while k < end {
                    let c1 = p[k];
                    let c2 = if k + 2 < end && p[k + 1] == b'-' {
                        k += 2;
                        p[k]
                    } else {
                        c1
                    };
                    cmin = cmin.min(u32::from(c1));
                    for ch in u16::from(c1)..=u16::from(c2) {
                        if !seen[usize::from(ch)] {
                            seen[usize::from(ch)] = true;
                            count += 1;
                        }
                    }
                    k += 1;
                }
                i = end + 1;
                if count == 0 {
                    // An empty set is ignored.
                    continue;
                }
                (count << 8) | cmin
            }
            other => 0x0100 | u32::from(other),
        };
        key.push(v);
    }
}

/// Splits an application's argument string as `AST_STANDARD_APP_ARGS` does
/// (`__ast_app_separate_args` in `main/app.c` with `remove_chars`):
///
/// * arguments are separated by `,` outside `"..."`, `(...)` and `[...]` (nesting counted,
///   even inside quotes; a stray `)` or `]` is ignored);
/// * `"` characters are removed; a `\` is removed and the character after it taken literally;
/// * nothing is trimmed; an empty string gives no argument, a trailing `,` an empty last one.
///
/// ```
/// use amiwire_sim::dialplan::split_args;
/// assert_eq!(split_args("Local/100@test,10"), ["Local/100@test", "10"]);
/// assert_eq!(split_args("MyEvent,Foo: bar,Other: baz"), ["MyEvent", "Foo: bar", "Other: baz"]);
/// assert_eq!(split_args("FOO=bar"), ["FOO=bar"]);
/// assert_eq!(split_args(r#"a,"b,c",d(e,f),g\,h,"#), ["a", "b,c", "d(e,f)", "g,h", ""]);
/// assert!(split_args("").is_empty());
/// ```
pub fn split_args(s: &str) -> Vec<String> {
    split_args_limited(s, usize::MAX)
}

/// [`split_args`] for an application that declares `max` arguments: at most `max - 1` are
/// split, and the last one holds the rest of the string unprocessed (quotes and backslashes
/// kept), as Asterisk does. `max == 0` gives no argument.
pub fn split_args_limited(s: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    if max == 0 {
        return out;
    }
    let b: Vec<u8> = s.bytes().take_while(|&c| c != 0).collect();
    let (mut paren, mut bracket, mut quote) = (0usize, 0usize, false);
    let mut i = 0;
    let mut ended_by_delim = false;
    while i < b.len() && out.len() < max - 1 {
        let mut arg: Vec<u8> = Vec::new();
        ended_by_delim = false;
        while i < b.len() {
            let c = b[i];
            match c {
                b'(' => {
                    paren += 1;
                    arg.push(c);
                }
                b')' => {
                    paren = paren.saturating_sub(1);
                    arg.push(c);
                }
                b'[' => {
                    bracket += 1;
                    arg.push(c);
                }
                b']' => {
                    bracket = bracket.saturating_sub(1);
                    arg.push(c);
                }
                b'"' => quote = !quote,
                b'\\' => {
                    i += 1;
                    if let Some(&n) = b.get(i) {
                        arg.push(n);
                    }
                }
                b',' if paren == 0 && bracket == 0 && !quote => {
                    i += 1;
                    ended_by_delim = true;
                    break;
                }
                _ => arg.push(c),
            }
            i += 1;
        }
        out.push(String::from_utf8_lossy(&arg).into_owned());
    }
    if i < b.len() {
        out.push(String::from_utf8_lossy(&b[i..]).into_owned());
    } else if ended_by_delim {
        out.push(String::new());
    }
    out
}
