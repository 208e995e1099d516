//! A parser for command lines as a POSIX shell or bash reads them, far
//! enough to know which commands will run: lists (`;` `&&` `||` newlines),
//! pipelines, subshells and groups, `$(...)` and backticks, process
//! substitution, here-documents and here-strings, quoting (single, double,
//! `$'...'`, backslashes), `${IFS}` word splitting, brace expansion, and
//! reserved words. Everything it cannot resolve to literal text is marked
//! dynamic, never guessed.
//!
//! The result is flat: every simple command, wherever it was nested, with
//! the pipeline it belongs to and "feeds" edges for text that one command
//! produces and another executes (`bash <(curl ...)`, `sh -c "$(curl ...)"`).

use std::fmt;

/// Deepest nesting of substitutions and `sh -c` strings followed.
pub const MAX_DEPTH: usize = 16;
/// Most simple commands one line may contain.
pub const MAX_COMMANDS: usize = 4096;
/// Most words one brace expansion may produce.
const MAX_BRACE: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Fully known text.
    Lit(String),
    /// Contains an expansion whose value is unknown before running; the
    /// string is the source text, for messages.
    Dyn(String),
}

impl Word {
    pub fn lit(&self) -> Option<&str> {
        match self {
            Word::Lit(s) => Some(s),
            Word::Dyn(_) => None,
        }
    }
    pub fn text(&self) -> &str {
        match self {
            Word::Lit(s) | Word::Dyn(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub words: Vec<Word>,
    /// Which pipeline (of the flattened script) and where in it.
    pub pipeline: usize,
    pub position: usize,
    /// A here-string or here-document feeds this command.
    pub stdin_text: Option<Word>,
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .words
            .iter()
            .map(|w| crate::util::shell_quote(w.text()))
            .collect();
        f.write_str(&words.join(" "))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub cmds: Vec<Cmd>,
    /// (from, to): the output of `from` becomes code or input of `to`.
    pub feeds: Vec<(usize, usize)>,
    next_pipeline: usize,
}

impl Script {
    /// Does command `a` feed command `b`, through a pipeline or an edge?
    pub fn flows(&self, a: usize, b: usize) -> bool {
        let (ca, cb) = (&self.cmds[a], &self.cmds[b]);
        if ca.pipeline == cb.pipeline && ca.position < cb.position {
            return true;
        }
        let mut seen = vec![false; self.cmds.len()];
        let mut stack = vec![a];
        while let Some(x) = stack.pop() {
            for &(f, t) in &self.feeds {
                if f == x && !seen[t] {
                    if t == b {
                        return true;
                    }
                    seen[t] = true;
                    stack.push(t);
                    // Whatever t pipes into also receives a's output.
                    for (i, c) in self.cmds.iter().enumerate() {
                        if c.pipeline == self.cmds[t].pipeline
                            && c.position > self.cmds[t].position
                            && !seen[i]
                        {
                            if i == b {
                                return true;
                            }
                            seen[i] = true;
                            stack.push(i);
                        }
                    }
                }
            }
        }
        false
    }

    pub fn new_pipeline(&mut self) -> usize {
        self.next_pipeline += 1;
        self.next_pipeline
    }

    /// Add a simple command given as already-split words (an argv).
    pub fn push_argv(&mut self, words: Vec<Word>, pipeline: usize, position: usize) -> usize {
        self.cmds.push(Cmd {
            words,
            pipeline,
            position,
            stdin_text: None,
        });
        self.cmds.len() - 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, ParseError>;

/// Messages of the two safety limits; hitting one is a refusal, unlike a
/// syntax error (which the shell itself would refuse).
pub const LIMIT_DEPTH: &str = "commands nest too deeply to check";
pub const LIMIT_COUNT: &str = "too many commands to check";

impl ParseError {
    pub fn is_limit(&self) -> bool {
        self.0 == LIMIT_DEPTH || self.0 == LIMIT_COUNT
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(ParseError(msg.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(WordTok),
    Op(&'static str),
    Newline,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct WordTok {
    text: String,
    /// Per character of `text`: was it quoted (so not subject to braces).
    quoted: Vec<bool>,
    dynamic: bool,
    /// Indices of commands parsed out of substitutions inside this word.
    inner: Vec<usize>,
    /// The raw source, for messages.
    raw: String,
    /// The word contained any quoting at all (a quoted heredoc delimiter).
    any_quote: bool,
}

impl WordTok {
    fn push(&mut self, c: char, quoted: bool) {
        self.text.push(c);
        self.quoted.push(quoted);
    }
}

const OPS: [&str; 20] = [
    "<<<", "<<-", "&>>", ";;", "&&", "||", "|&", "<<", ">>", "<&", ">&", "&>", "<>", ">|", "|",
    "&", ";", "<", ">", "(",
];

struct Lexer<'a> {
    s: Vec<char>,
    i: usize,
    depth: usize,
    out: &'a mut Script,
}

pub fn parse(text: &str) -> Result<Script> {
    let mut script = Script::default();
    parse_into(text, 0, &mut script)?;
    Ok(script)
}

/// Parse `text` and append its commands to `out`; returns their indices.
pub fn parse_into(text: &str, depth: usize, out: &mut Script) -> Result<Vec<usize>> {
    if depth > MAX_DEPTH {
        return err(LIMIT_DEPTH);
    }
    let first = out.cmds.len();
    let mut lx = Lexer {
        s: text.chars().collect(),
        i: 0,
        depth,
        out,
    };
    let toks = lx.tokens()?;
    let mut p = Builder::new(lx.out, depth);
    p.build(toks)?;
    Ok((first..out.cmds.len()).collect())
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn starts_with(&self, pat: &str) -> bool {
        pat.chars()
            .enumerate()
            .all(|(k, c)| self.peek(k) == Some(c))
    }

    fn tokens(&mut self) -> Result<Vec<Tok>> {
        let mut toks = Vec::new();
        let mut word: Option<WordTok> = None;
        let mut heredocs: Vec<(String, bool, bool, usize)> = Vec::new(); // (delimiter, strip tabs, quoted, token index)
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' => {
                    flush(&mut toks, &mut word);
                    self.i += 1;
                }
                '\\' if self.peek(1) == Some('\n') => self.i += 2,
                '\n' => {
                    flush(&mut toks, &mut word);
                    self.i += 1;
                    toks.push(Tok::Newline);
                    for (delim, strip, quoted, at) in std::mem::take(&mut heredocs) {
                        let body = self.heredoc_body(&delim, strip);
                        let mut w = WordTok {
                            any_quote: true,
                            ..WordTok::default()
                        };
                        if !quoted && body.contains(['$', '`']) {
                            // An unquoted delimiter: the body expands like a
                            // double-quoted string.
                            let mut inner: Vec<char> = body.chars().collect();
                            inner.push('"');
                            let mut sub = Lexer {
                                s: inner,
                                i: 0,
                                depth: self.depth,
                                out: self.out,
                            };
                            sub.double_quoted(&mut w)?;
                            w.raw = body.clone();
                        } else {
                            for ch in body.chars() {
                                w.push(ch, true);
                            }
                        }
                        if let Some(slot) = toks.get_mut(at) {
                            *slot = Tok::Word(w);
                        }
                    }
                }
                '#' if word.is_none() => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                '|' | '&' | ';' | '<' | '>' | '(' | ')' => {
                    // `2>` and friends: a word of digits right before is an fd.
                    if matches!(c, '<' | '>') {
                        if let Some(w) = &word {
                            if !w.text.is_empty()
                                && w.text.chars().all(|d| d.is_ascii_digit())
                                && !w.dynamic
                                && w.raw == w.text
                            {
                                word = None;
                            }
                        }
                    }
                    if c == '(' {
                        if let Some(w) = &word {
                            // `<(`/`>(` are handled below; `name(` starts a function.
                            let _ = w;
                        }
                    }
                    if matches!(c, '<' | '>') && self.peek(1) == Some('(') {
                        // Process substitution: part of a word.
                        self.i += 2;
                        let inner = self.balanced(')')?;
                        let w = word.get_or_insert_with(WordTok::default);
                        self.substitute(w, &inner, &format!("{c}({inner})"))?;
                        continue;
                    }
                    flush(&mut toks, &mut word);
                    if c == ')' {
                        self.i += 1;
                        toks.push(Tok::Op(")"));
                        continue;
                    }
                    let op = OPS
                        .iter()
                        .find(|op| self.starts_with(op))
                        .copied()
                        .unwrap_or("&");
                    self.i += op.chars().count();
                    toks.push(Tok::Op(op));
                    if op == "<<" || op == "<<-" {
                        // The delimiter word follows; its body comes after the next newline.
                        while matches!(self.peek(0), Some(' ' | '\t')) {
                            self.i += 1;
                        }
                        let mut d = WordTok::default();
                        self.word_chars(&mut d)?;
                        let delim = d.text.clone();
                        let quoted = d.any_quote;
                        toks.push(Tok::Word(WordTok::default()));
                        heredocs.push((delim, op == "<<-", quoted, toks.len() - 1));
                    }
                }
                _ => {
                    let w = word.get_or_insert_with(WordTok::default);
                    self.word_chars(w)?;
                }
            }
        }
        flush(&mut toks, &mut word);
        if !heredocs.is_empty() {
            for (_, _, _, at) in heredocs {
                if let Some(Tok::Word(w)) = toks.get_mut(at) {
                    w.text.clear();
                }
            }
        }
        Ok(toks)
    }

    /// Read word characters (quotes, escapes, expansions) until a
    /// separator; appends to `w`.
    fn word_chars(&mut self, w: &mut WordTok) -> Result<()> {
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\n' | '|' | '&' | ';' | '<' | '>' | '(' | ')' => break,
                '\\' => {
                    if self.peek(1) == Some('\n') {
                        self.i += 2;
                        continue;
                    }
                    w.any_quote = true;
                    if let Some(n) = self.peek(1) {
                        w.push(n, true);
                        w.raw.push('\\');
                        w.raw.push(n);
                    }
                    self.i += 2;
                }
                '\'' => {
                    w.any_quote = true;
                    self.i += 1;
                    let start = self.i;
                    while self.peek(0).is_some_and(|c| c != '\'') {
                        self.i += 1;
                    }
                    if self.peek(0).is_none() {
                        return err("unterminated single quote");
                    }
                    let body: String = self.s[start..self.i].iter().collect();
                    self.i += 1;
                    for ch in body.chars() {
                        w.push(ch, true);
                    }
                    w.raw.push_str(&format!("'{body}'"));
                }
                '"' => {
                    w.any_quote = true;
                    self.i += 1;
                    self.double_quoted(w)?;
                }
                '`' => {
                    self.i += 1;
                    let start = self.i;
                    while let Some(ch) = self.peek(0) {
                        if ch == '\\' {
                            self.i += 2;
                            continue;
                        }
                        if ch == '`' {
                            break;
                        }
                        self.i += 1;
                    }
                    if self.peek(0).is_none() {
                        return err("unterminated backquote");
                    }
                    let inner: String = self.s[start..self.i].iter().collect();
                    self.i += 1;
                    let inner = inner
                        .replace("\\`", "`")
                        .replace("\\\\", "\\")
                        .replace("\\$", "$");
                    self.substitute(w, &inner, &format!("`{inner}`"))?;
                }
                '$' => self.dollar(w, false)?,
                _ => {
                    w.push(c, false);
                    w.raw.push(c);
                    self.i += 1;
                }
            }
        }
        Ok(())
    }

    fn double_quoted(&mut self, w: &mut WordTok) -> Result<()> {
        w.raw.push('"');
        loop {
            match self.peek(0) {
                None => return err("unterminated double quote"),
                Some('"') => {
                    self.i += 1;
                    w.raw.push('"');
                    return Ok(());
                }
                Some('\\') => {
                    match self.peek(1) {
                        Some(n @ ('$' | '`' | '"' | '\\')) => {
                            w.push(n, true);
                            w.raw.push(n);
                        }
                        Some('\n') => {}
                        Some(n) => {
                            w.push('\\', true);
                            w.push(n, true);
                            w.raw.push(n);
                        }
                        None => return err("unterminated double quote"),
                    }
                    self.i += 2;
                }
                Some('`') => {
                    self.i += 1;
                    let start = self.i;
                    while self.peek(0).is_some_and(|c| c != '`') {
                        self.i += 1;
                    }
                    if self.peek(0).is_none() {
                        return err("unterminated backquote");
                    }
                    let inner: String = self.s[start..self.i].iter().collect();
                    self.i += 1;
                    self.substitute(w, &inner, &format!("`{inner}`"))?;
                }
                Some('$') => self.dollar(w, true)?,
                Some(c) => {
                    w.push(c, true);
                    w.raw.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// `$...` at the current position.
    fn dollar(&mut self, w: &mut WordTok, in_quotes: bool) -> Result<()> {
        self.i += 1;
        match self.peek(0) {
            Some('(') if self.peek(1) == Some('(') => {
                self.i += 2;
                let inner = self.balanced(')')?;
                if self.peek(0) == Some(')') {
                    self.i += 1;
                }
                w.dynamic = true;
                w.raw.push_str(&format!("$(({inner}))"));
                Ok(())
            }
            Some('(') => {
                self.i += 1;
                let inner = self.balanced(')')?;
                self.substitute(w, &inner, &format!("$({inner})"))
            }
            Some('{') => {
                self.i += 1;
                let inner = self.balanced('}')?;
                if inner == "IFS" && !in_quotes {
                    // Unquoted ${IFS} splits words like a space.
                    w.push('\u{0}', false);
                } else {
                    w.dynamic = true;
                    w.raw.push_str(&format!("${{{inner}}}"));
                }
                Ok(())
            }
            Some('\'') if !in_quotes => {
                self.i += 1;
                w.any_quote = true;
                let decoded = self.ansi_c()?;
                for ch in decoded.chars() {
                    w.push(ch, true);
                }
                w.raw.push_str(&format!("$'{decoded}'"));
                Ok(())
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.i;
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.i += 1;
                }
                let name: String = self.s[start..self.i].iter().collect();
                if name == "IFS" && !in_quotes {
                    w.push('\u{0}', false);
                } else {
                    w.dynamic = true;
                    w.raw.push('$');
                    w.raw.push_str(&name);
                }
                Ok(())
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.i += 1;
                w.dynamic = true;
                w.raw.push('$');
                w.raw.push(c);
                Ok(())
            }
            _ => {
                w.push('$', in_quotes);
                w.raw.push('$');
                Ok(())
            }
        }
    }

    /// Decode `$'...'` (bash ANSI-C quoting) up to the closing quote.
    fn ansi_c(&mut self) -> Result<String> {
        let mut out = String::new();
        loop {
            match self.peek(0) {
                None => return err("unterminated $'...' quote"),
                Some('\'') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    let n = self.peek(1).unwrap_or('\\');
                    self.i += 2;
                    match n {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'e' | 'E' => out.push('\u{1b}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        'x' | 'u' | 'U' => {
                            let max = match n {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let mut v = 0u32;
                            let mut k = 0;
                            while k < max && self.peek(0).is_some_and(|c| c.is_ascii_hexdigit()) {
                                v = v * 16 + self.peek(0).and_then(|c| c.to_digit(16)).unwrap_or(0);
                                self.i += 1;
                                k += 1;
                            }
                            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        }
                        '0'..='7' => {
                            let mut v = n.to_digit(8).unwrap_or(0);
                            let mut k = 1;
                            while k < 3 && self.peek(0).is_some_and(|c| ('0'..='7').contains(&c)) {
                                v = v * 8 + self.peek(0).and_then(|c| c.to_digit(8)).unwrap_or(0);
                                self.i += 1;
                                k += 1;
                            }
                            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        }
                        other => out.push(other),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// Read up to the `close` that balances an opening already consumed,
    /// respecting quotes; returns the text between.
    fn balanced(&mut self, close: char) -> Result<String> {
        let open = if close == ')' { '(' } else { '{' };
        let start = self.i;
        let mut depth = 1;
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => self.i += 1,
                '\'' => {
                    self.i += 1;
                    while self.peek(0).is_some_and(|c| c != '\'') {
                        self.i += 1;
                    }
                }
                '"' => {
                    self.i += 1;
                    while let Some(c) = self.peek(0) {
                        if c == '\\' {
                            self.i += 1;
                        } else if c == '"' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        let inner: String = self.s[start..self.i].iter().collect();
                        self.i += 1;
                        return Ok(inner);
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        err(format!("unbalanced `{open}`"))
    }

    /// A command or process substitution inside a word: its commands run
    /// and their output feeds the word's command.
    fn substitute(&mut self, w: &mut WordTok, inner: &str, raw: &str) -> Result<()> {
        let idx = parse_into(inner, self.depth + 1, self.out)?;
        w.inner.extend(idx);
        w.dynamic = true;
        w.raw.push_str(raw);
        Ok(())
    }

    fn heredoc_body(&mut self, delim: &str, strip: bool) -> String {
        let mut body = String::new();
        loop {
            let start = self.i;
            while self.peek(0).is_some_and(|c| c != '\n') {
                self.i += 1;
            }
            let line: String = self.s[start..self.i].iter().collect();
            let had_newline = self.peek(0).is_some();
            if had_newline {
                self.i += 1;
            }
            let cmp = if strip {
                line.trim_start_matches('\t')
            } else {
                &line
            };
            if cmp == delim || !had_newline && line.is_empty() {
                break;
            }
            body.push_str(cmp);
            body.push('\n');
            if !had_newline {
                break;
            }
        }
        body
    }
}

fn flush(toks: &mut Vec<Tok>, word: &mut Option<WordTok>) {
    if let Some(w) = word.take() {
        if w.raw.is_empty() {
            let _ = &w;
        }
        toks.push(Tok::Word(w));
    }
}

/// Split a word at unquoted ${IFS} markers and apply brace expansion.
fn expand(w: &WordTok) -> Vec<Word> {
    let mut parts: Vec<(String, Vec<bool>)> = vec![(String::new(), Vec::new())];
    for (c, q) in w.text.chars().zip(w.quoted.iter()) {
        if c == '\u{0}' && !q {
            parts.push((String::new(), Vec::new()));
        } else if let Some(last) = parts.last_mut() {
            last.0.push(c);
            last.1.push(*q);
        }
    }
    let mut out = Vec::new();
    for (text, quoted) in parts {
        if text.is_empty() && !w.any_quote {
            continue;
        }
        for t in braces(&text, &quoted) {
            out.push(if w.dynamic {
                Word::Dyn(if w.raw.is_empty() { t } else { w.raw.clone() })
            } else {
                Word::Lit(t)
            });
        }
    }
    if out.is_empty() && (w.any_quote || w.dynamic) {
        out.push(if w.dynamic {
            Word::Dyn(w.raw.clone())
        } else {
            Word::Lit(String::new())
        });
    }
    out
}

/// Bash brace expansion of unquoted `{a,b}` and `{1..3}`, capped.
fn braces(text: &str, quoted: &[bool]) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut depth = 0;
    let mut open = None;
    let mut commas = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        if quoted.get(i).copied().unwrap_or(true) {
            continue;
        }
        match c {
            '{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if depth == 1 => commas.push(i),
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let Some(o) = open else { continue };
                    let pre: String = chars[..o].iter().collect();
                    let post: String = chars[i + 1..].iter().collect();
                    let post_q = &quoted[i + 1..];
                    let mut alts = Vec::new();
                    if commas.is_empty() {
                        let body: String = chars[o + 1..i].iter().collect();
                        if let Some((a, b)) = body.split_once("..") {
                            if let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) {
                                let (lo, hi) = (a.min(b), a.max(b));
                                if hi - lo < MAX_BRACE as i64 {
                                    alts = (lo..=hi).map(|n| n.to_string()).collect();
                                }
                            }
                        }
                        if alts.is_empty() {
                            open = None;
                            continue;
                        }
                    } else {
                        let mut start = o + 1;
                        for &c in commas.iter().chain(std::iter::once(&i)) {
                            alts.push(chars[start..c].iter().collect::<String>());
                            start = c + 1;
                        }
                    }
                    let mut out = Vec::new();
                    for a in alts {
                        for rest in braces(&post, post_q) {
                            if out.len() >= MAX_BRACE {
                                return out;
                            }
                            out.push(format!("{pre}{a}{rest}"));
                        }
                    }
                    return out;
                }
            }
            _ => {}
        }
    }
    vec![text.to_string()]
}

/// Turns tokens into commands, pipelines and feed edges.
struct Builder<'a> {
    out: &'a mut Script,
    depth: usize,
    pipeline: usize,
    position: usize,
    words: Vec<Word>,
    inner: Vec<usize>,
    stdin_text: Option<WordTok>,
    started: bool,
    skip_until: Option<&'static str>,
    case_patterns: bool,
}

const RESERVED_PREFIX: [&str; 9] = [
    "if", "then", "else", "elif", "do", "while", "until", "!", "{",
];
const RESERVED_END: [&str; 4] = ["fi", "done", "esac", "}"];

impl<'a> Builder<'a> {
    fn new(out: &'a mut Script, depth: usize) -> Self {
        let pipeline = out.new_pipeline();
        Builder {
            out,
            depth,
            pipeline,
            position: 0,
            words: Vec::new(),
            inner: Vec::new(),
            stdin_text: None,
            started: false,
            skip_until: None,
            case_patterns: false,
        }
    }

    fn build(&mut self, toks: Vec<Tok>) -> Result<()> {
        let mut it = toks.into_iter().peekable();
        while let Some(tok) = it.next() {
            if self.out.cmds.len() > MAX_COMMANDS {
                return err(LIMIT_COUNT);
            }
            match tok {
                Tok::Newline | Tok::Op(";") | Tok::Op("&") | Tok::Op("&&") | Tok::Op("||") => {
                    self.end_command()?;
                    self.new_pipeline();
                }
                Tok::Op(";;") => {
                    self.end_command()?;
                    self.new_pipeline();
                    self.case_patterns = true;
                }
                Tok::Op("|") | Tok::Op("|&") => {
                    self.end_command()?;
                    self.position += 1;
                }
                Tok::Op("(") => {
                    if !self.words.is_empty() {
                        // `name() { ...; }`: a function definition.
                        if matches!(it.peek(), Some(Tok::Op(")"))) {
                            it.next();
                            self.words.clear();
                            self.started = false;
                            continue;
                        }
                    }
                    self.end_command()?;
                }
                Tok::Op(")") => {
                    if self.case_patterns {
                        self.case_patterns = false;
                        self.words.clear();
                        self.inner.clear();
                        continue;
                    }
                    self.end_command()?;
                }
                Tok::Op(op @ ("<<<" | "<<" | "<<-")) => {
                    if let Some(Tok::Word(w)) = it.next() {
                        self.inner.extend(w.inner.iter().copied());
                        let _ = op;
                        self.stdin_text = Some(w);
                    }
                }
                Tok::Op(_redirect) => {
                    // The target is a file name, not a command word.
                    if let Some(Tok::Word(w)) = it.next() {
                        self.inner.extend(w.inner.iter().copied());
                    }
                }
                Tok::Word(w) => self.word(w),
            }
        }
        self.end_command()?;
        Ok(())
    }

    fn new_pipeline(&mut self) {
        self.pipeline = self.out.new_pipeline();
        self.position = 0;
    }

    fn word(&mut self, w: WordTok) {
        if let Some(until) = self.skip_until {
            if w.text == until && !w.dynamic {
                self.skip_until = None;
                if until == "in" && self.words.is_empty() {
                    self.case_patterns = true;
                }
            }
            self.inner.extend(w.inner.iter().copied());
            return;
        }
        if self.case_patterns {
            if !w.dynamic && w.text == "esac" {
                self.case_patterns = false;
            }
            return;
        }
        if self.words.is_empty() && !w.dynamic && !w.any_quote {
            let t = w.text.as_str();
            if RESERVED_PREFIX.contains(&t) || RESERVED_END.contains(&t) || t == "time" {
                return;
            }
            if t == "for" || t == "select" {
                self.skip_until = Some("do");
                return;
            }
            if t == "case" {
                self.skip_until = Some("in");
                return;
            }
            if t == "function" {
                self.skip_until = Some("{");
                return;
            }
            // Assignments before the command word.
            if let Some(eq) = t.find('=') {
                if eq > 0
                    && t[..eq]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !t.starts_with(|c: char| c.is_ascii_digit())
                {
                    self.inner.extend(w.inner.iter().copied());
                    return;
                }
            }
        }
        if self.words.is_empty() && w.dynamic {
            // `A=$(cmd)` assignment with a substitution.
            if let Some(eq) = w.raw.find('=') {
                let name = &w.raw[..eq];
                if eq > 0 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    self.inner.extend(w.inner.iter().copied());
                    return;
                }
            }
        }
        self.inner.extend(w.inner.iter().copied());
        self.words.extend(expand(&w));
        self.started = true;
    }

    fn end_command(&mut self) -> Result<()> {
        let inner = std::mem::take(&mut self.inner);
        let stdin_text = self.stdin_text.take();
        if self.words.is_empty() {
            return Ok(());
        }
        let words = std::mem::take(&mut self.words);
        let idx = self.out.push_argv(words, self.pipeline, self.position);
        for i in inner {
            self.out.feeds.push((i, idx));
        }
        if let Some(text) = stdin_text {
            for &i in &text.inner {
                self.out.feeds.push((i, idx));
            }
            self.out.cmds[idx].stdin_text = Some(if text.dynamic {
                Word::Dyn(text.raw.clone())
            } else {
                Word::Lit(text.text.clone())
            });
        }
        let _ = self.depth;
        self.started = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<String>> {
        parse(s)
            .unwrap()
            .cmds
            .iter()
            .map(|c| c.words.iter().map(|w| w.text().to_string()).collect())
            .collect()
    }

    #[test]
    fn lists_pipelines_and_quotes() {
        assert_eq!(
            words("a b; c 'd e' \"f g\" && h || i\nj"),
            vec![
                vec!["a", "b"],
                vec!["c", "d e", "f g"],
                vec!["h"],
                vec!["i"],
                vec!["j"]
            ]
        );
        assert_eq!(words("r\\m -r\\f x"), vec![vec!["rm", "-rf", "x"]]);
        assert_eq!(words("echo \"rm -rf /\""), vec![vec!["echo", "rm -rf /"]]);
        assert_eq!(words("$'\\x72m' -rf /"), vec![vec!["rm", "-rf", "/"]]);
    }

    #[test]
    fn ifs_and_braces_split_words() {
        assert_eq!(words("rm${IFS}-rf${IFS}/"), vec![vec!["rm", "-rf", "/"]]);
        assert_eq!(words("rm$IFS-rf /"), vec![vec!["rm", "-rf", "/"]]);
        assert_eq!(words("{rm,-rf,/tmp}"), vec![vec!["rm", "-rf", "/tmp"]]);
        assert_eq!(words("echo a{1..3}"), vec![vec!["echo", "a1", "a2", "a3"]]);
        assert_eq!(words("echo '{a,b}'"), vec![vec!["echo", "{a,b}"]]);
    }

    #[test]
    fn substitutions_are_parsed_and_feed_their_command() {
        let s = parse("sh -c \"$(curl -s x)\"").unwrap();
        assert_eq!(s.cmds.len(), 2);
        assert_eq!(s.cmds[0].words[0].text(), "curl");
        assert!(s.flows(0, 1));
        let s = parse("bash <(curl x)").unwrap();
        assert!(s.flows(0, 1));
        let s = parse("curl x | tee f | sudo bash").unwrap();
        assert!(s.flows(0, 2) && !s.flows(2, 0));
        let s = parse("echo `id`").unwrap();
        assert_eq!(s.cmds.len(), 2);
    }

    #[test]
    fn redirections_heredocs_and_reserved_words() {
        assert_eq!(words("cat < in > out 2>&1"), vec![vec!["cat"]]);
        assert_eq!(
            words("if true; then rm -rf x; fi"),
            vec![vec!["true"], vec!["rm", "-rf", "x"]]
        );
        assert_eq!(
            words("for f in a b; do rm -rf $f; done"),
            vec![vec!["rm", "-rf", "$f"]]
        );
        assert_eq!(
            words("case x in a|b) rm -rf y;; *) ls;; esac"),
            vec![vec!["rm", "-rf", "y"], vec!["ls"]]
        );
        assert_eq!(words("X=1 Y=$(id) env"), vec![vec!["id"], vec!["env"]]);
        assert_eq!(
            words("f() { rm -rf z; }; f"),
            vec![vec!["rm", "-rf", "z"], vec!["f"]]
        );
        let s = parse("bash <<EOF\nrm -rf /\nEOF\necho done").unwrap();
        assert_eq!(s.cmds[0].stdin_text, Some(Word::Lit("rm -rf /\n".into())));
        assert_eq!(s.cmds[1].words[0].text(), "echo");
        let s = parse("bash <<< 'rm -rf /'").unwrap();
        assert_eq!(s.cmds[0].stdin_text, Some(Word::Lit("rm -rf /".into())));
        assert_eq!(
            words("(cd x && rm -rf y) | cat # comment rm -rf"),
            vec![vec!["cd", "x"], vec!["rm", "-rf", "y"], vec!["cat"]]
        );
    }

    #[test]
    fn dynamic_words_are_marked() {
        let s = parse("$CMD -rf /; ${X} y").unwrap();
        assert!(s.cmds.iter().all(|c| matches!(c.words[0], Word::Dyn(_))));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in ["echo 'x", "echo \"x", "echo $(x", "echo `x", "echo ${x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "$(".repeat(40) + &")".repeat(40);
        assert!(parse(&deep).is_err());
    }
}
