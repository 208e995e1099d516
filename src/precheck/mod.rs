//! Command pre-check (DESIGN.md 2.3): blocked and allowed command patterns
//! matched against commands as a shell would run them, not against text.
//!
//! The command line is parsed ([`shell`]), wrappers are seen through
//! (`env`, `nice`, `timeout`, `xargs`, `find -exec`, `sudo`, `sh -c`, ...),
//! and flags are compared by meaning. This is a courtesy layer that gives
//! agents an early, clear refusal; the kernel layers contain the command
//! whether or not it is fooled.

pub mod shell;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::plan::Origin;
use crate::policy::{Located, Policy};
use shell::{Script, Word};

/// Shells: `a|b` with `b` a shell matches any of them.
pub const SHELLS: [&str; 11] = [
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "posh", "yash", "fish", "csh",
];

pub fn is_shell(name: &str) -> bool {
    SHELLS.contains(&name) || name == "tcsh"
}

/// Long and short spellings of the same flag, per command: (commands,
/// spellings, canonical).
const ALIASES: &[(&[&str], &[&str], &str)] = &[
    (&["rm"], &["recursive", "R"], "r"),
    (&["rm"], &["force"], "f"),
    (&["rm"], &["dir"], "d"),
    (&["rm"], &["interactive"], "i"),
    (
        &["rm", "cp", "mv", "chmod", "chown", "chgrp"],
        &["verbose"],
        "v",
    ),
    (&["cp"], &["recursive", "R"], "r"),
    (&["cp", "mv", "ln"], &["force"], "f"),
    (&["chmod", "chown", "chgrp"], &["recursive"], "R"),
    (&["git"], &["force"], "f"),
    (&["git"], &["delete"], "d"),
    (&["curl"], &["output"], "o"),
    (&["curl"], &["silent"], "s"),
    (&["curl"], &["location"], "L"),
    (&["curl"], &["insecure"], "k"),
    (&["wget"], &["output-document"], "O"),
    (&["wget"], &["quiet"], "q"),
    (&["sudo"], &["user"], "u"),
    (&["sudo"], &["login"], "i"),
    (&["sudo"], &["shell"], "s"),
    (&["grep"], &["recursive"], "r"),
    (&["ls"], &["recursive"], "R"),
];

/// Long options of GNU tools that accept any unambiguous prefix
/// (`rm --rec --for`), so a prefix is expanded before comparing.
const LONG_OPTIONS: &[(&[&str], &[&str])] = &[
    (
        &["rm"],
        &[
            "force",
            "interactive",
            "one-file-system",
            "no-preserve-root",
            "preserve-root",
            "recursive",
            "dir",
            "verbose",
            "help",
            "version",
        ],
    ),
    (
        &["cp"],
        &[
            "archive",
            "attributes-only",
            "backup",
            "copy-contents",
            "dereference",
            "force",
            "interactive",
            "link",
            "no-clobber",
            "no-dereference",
            "preserve",
            "no-preserve",
            "parents",
            "recursive",
            "reflink",
            "remove-destination",
            "sparse",
            "strip-trailing-slashes",
            "symbolic-link",
            "suffix",
            "target-directory",
            "no-target-directory",
            "update",
            "verbose",
            "one-file-system",
            "help",
            "version",
        ],
    ),
    (
        &["mv"],
        &[
            "backup",
            "force",
            "interactive",
            "no-clobber",
            "no-copy",
            "strip-trailing-slashes",
            "suffix",
            "target-directory",
            "no-target-directory",
            "update",
            "verbose",
            "help",
            "version",
        ],
    ),
    (
        &["chmod", "chown", "chgrp"],
        &[
            "changes",
            "dereference",
            "no-dereference",
            "from",
            "no-preserve-root",
            "preserve-root",
            "quiet",
            "silent",
            "reference",
            "recursive",
            "verbose",
            "help",
            "version",
        ],
    ),
    (
        &["sudo"],
        &[
            "askpass",
            "background",
            "bell",
            "close-from",
            "chdir",
            "preserve-env",
            "edit",
            "group",
            "set-home",
            "help",
            "host",
            "login",
            "remove-timestamp",
            "reset-timestamp",
            "list",
            "non-interactive",
            "preserve-groups",
            "prompt",
            "chroot",
            "role",
            "stdin",
            "shell",
            "type",
            "command-timeout",
            "other-user",
            "user",
            "version",
            "validate",
        ],
    ),
];

/// Expand an abbreviated GNU long option when it is unambiguous.
fn expand_long(cmd: &str, flag: &str) -> String {
    for (cmds, longs) in LONG_OPTIONS {
        if !cmds.contains(&cmd) || longs.contains(&flag) {
            continue;
        }
        let mut hits = longs.iter().filter(|l| l.starts_with(flag));
        if let (Some(only), None) = (hits.next(), hits.next()) {
            return (*only).to_string();
        }
    }
    flag.to_string()
}

fn canonical_flag(cmd: &str, flag: &str) -> String {
    for (cmds, spellings, canon) in ALIASES {
        if cmds.contains(&cmd) && spellings.contains(&flag) {
            return (*canon).to_string();
        }
    }
    flag.to_string()
}

/// A command name as patterns see it: the basename.
pub fn base_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// A command's flags (canonical) and operands.
fn split_args(name: &str, args: &[Word]) -> (BTreeSet<String>, Vec<Word>) {
    let mut flags = BTreeSet::new();
    let mut operands = Vec::new();
    let mut end = false;
    for a in args {
        let t = match a {
            Word::Lit(t) if !end => t.as_str(),
            _ => {
                operands.push(a.clone());
                continue;
            }
        };
        if t == "--" {
            end = true;
        } else if let Some(long) = t.strip_prefix("--") {
            let key = long.split('=').next().unwrap_or(long);
            flags.insert(canonical_flag(name, &expand_long(name, key)));
        } else if t.len() > 1 && t.starts_with('-') && !(name == "chmod" && is_mode(t)) {
            for c in t[1..].chars() {
                flags.insert(canonical_flag(name, &c.to_string()));
            }
        } else {
            operands.push(a.clone());
        }
    }
    (flags, operands)
}

fn is_mode(t: &str) -> bool {
    normalise_mode(t).is_some()
        || t.trim_start_matches(['-', '+', '='])
            .chars()
            .all(|c| "ugoarwxXst,+-=".contains(c))
            && t.len() > 1
            && t[1..].chars().any(|c| "rwxXst".contains(c))
}

/// chmod modes compared by effect: `777`, `0777`, `a+rwx`, `ugo+rwx`,
/// `a=rwx`, `+rwx` are all "777".
pub fn normalise_mode(m: &str) -> Option<String> {
    if !m.is_empty() && m.len() <= 5 && m.chars().all(|c| ('0'..='7').contains(&c)) {
        let v = u32::from_str_radix(m, 8).ok()?;
        return Some(format!("{:o}", v & 0o777));
    }
    let mut bits = [0u8; 3]; // u, g, o: rwx as 4|2|1
    for clause in m.split(',') {
        let op_at = clause.find(['+', '=', '-'])?;
        let who = &clause[..op_at];
        let op = clause.as_bytes()[op_at];
        let perms = &clause[op_at + 1..];
        let mut p = 0u8;
        for c in perms.chars() {
            p |= match c {
                'r' => 4,
                'w' => 2,
                'x' | 'X' => 1,
                's' | 't' => 0,
                _ => return None,
            };
        }
        let targets: Vec<usize> = if who.is_empty() || who.contains('a') {
            vec![0, 1, 2]
        } else {
            who.chars()
                .filter_map(|c| match c {
                    'u' => Some(0),
                    'g' => Some(1),
                    'o' => Some(2),
                    _ => None,
                })
                .collect()
        };
        for t in targets {
            match op {
                b'+' => bits[t] |= p,
                b'=' => bits[t] = p,
                _ => bits[t] &= !p,
            }
        }
    }
    Some(format!("{}{}{}", bits[0], bits[1], bits[2]))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    name: String,
    flags: BTreeSet<String>,
    operands: Vec<String>,
    wildcard: bool,
}

/// A compiled `exec.blocked` / `exec.allow` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
    segments: Vec<Segment>,
}

impl Pattern {
    pub fn compile(text: &str) -> Result<Pattern, String> {
        let script = shell::parse(text).map_err(|e| format!("cannot be parsed: {e}"))?;
        if script.cmds.is_empty() {
            return Err("empty pattern".into());
        }
        let pipeline = script.cmds[0].pipeline;
        if script.cmds.iter().any(|c| c.pipeline != pipeline) || !script.feeds.is_empty() {
            return Err(
                "a pattern is one command or one pipeline `a|b` (no `;`, `&&` or substitutions)"
                    .into(),
            );
        }
        let mut segments = Vec::new();
        for c in &script.cmds {
            let mut words = Vec::new();
            for w in &c.words {
                words.push(
                    w.lit()
                        .ok_or_else(|| format!("`{}` is not literal text", w.text()))?
                        .to_string(),
                );
            }
            let name = base_name(&words[0]).to_string();
            if name.is_empty() || name.contains(['*', '?']) {
                return Err("the command name must be literal".into());
            }
            let mut wildcard = false;
            if words.last().is_some_and(|w| w == "*") && words.len() > 1 {
                words.pop();
                wildcard = true;
            }
            if words.iter().any(|w| w == "*") {
                return Err("`*` may only stand last, for the remaining arguments".into());
            }
            let args: Vec<Word> = words[1..].iter().map(|w| Word::Lit(w.clone())).collect();
            let (flags, operands) = split_args(&name, &args);
            let operands = operands.iter().map(|o| o.text().to_string()).collect();
            segments.push(Segment {
                name,
                flags,
                operands,
                wildcard,
            });
        }
        Ok(Pattern {
            text: text.to_string(),
            segments,
        })
    }
}

fn name_matches(pattern: &str, actual: &str, any_shell: bool) -> bool {
    pattern == actual
        || (pattern == "mkfs"
            && (actual.starts_with("mkfs.")
                || actual == "mke2fs"
                || actual == "mkdosfs"
                || actual == "mkswap"))
        // `source <(curl ...)` runs fetched code in the current shell.
        || (any_shell && is_shell(pattern) && (is_shell(actual) || actual == "source" || actual == "."))
}

fn operand_matches(cmd: &str, pattern: &str, actual: &Word) -> bool {
    let Some(a) = actual.lit() else { return false };
    if cmd == "chmod" {
        if let (Some(p), Some(x)) = (normalise_mode(pattern), normalise_mode(a)) {
            return p == x;
        }
    }
    if pattern.ends_with('=') {
        return a.starts_with(pattern);
    }
    if crate::paths::has_glob(pattern) {
        return crate::paths::match_name(pattern.as_bytes(), a.as_bytes());
    }
    pattern == a
}

/// Does a layer (one command to be run) match a segment?
fn segment_matches(seg: &Segment, layer: &Layer, exact: bool, any_shell: bool) -> bool {
    if !name_matches(&seg.name, &layer.name, any_shell) {
        return false;
    }
    let (flags, operands) = split_args(&layer.name, &layer.args);
    if !seg.flags.is_subset(&flags) {
        return false;
    }
    if exact && !seg.wildcard {
        return flags == seg.flags
            && operands.len() == seg.operands.len()
            && seg
                .operands
                .iter()
                .zip(&operands)
                .all(|(p, a)| operand_matches(&layer.name, p, a));
    }
    if exact {
        return seg
            .operands
            .iter()
            .zip(&operands)
            .all(|(p, a)| operand_matches(&layer.name, p, a))
            && operands.len() >= seg.operands.len();
    }
    seg.operands
        .iter()
        .all(|p| operands.iter().any(|a| operand_matches(&layer.name, p, a)))
}

/// One command that will run: a simple command, or what a wrapper runs.
#[derive(Debug, Clone)]
struct Layer {
    cmd: usize,
    name: String,
    args: Vec<Word>,
    /// `env`, `nice`, ... need no allow entry of their own.
    transparent: bool,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// The pattern that decided, as written in the policy.
    pub pattern: Option<String>,
    pub origin: Option<Origin>,
    /// The part of the command line that matched.
    pub matched: Option<String>,
    pub reason: String,
    /// Constructs whose command cannot be known before running.
    pub unknowable: Vec<String>,
}

impl Decision {
    pub fn summary(&self) -> String {
        if self.allowed {
            format!("allowed: {}", self.reason)
        } else {
            format!("denied: {}", self.reason)
        }
    }
}

/// Wrappers whose options are skipped to find the command they run.
/// (name, options that take a value, transparent in allow mode)
const WRAPPERS: &[(&str, &[&str], bool)] = &[
    (
        "env",
        &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"],
        true,
    ),
    ("nice", &["-n", "--adjustment"], true),
    ("nohup", &[], true),
    ("timeout", &["-s", "--signal", "-k", "--kill-after"], true),
    (
        "stdbuf",
        &["-i", "-o", "-e", "--input", "--output", "--error"],
        true,
    ),
    (
        "ionice",
        &["-c", "--class", "-n", "--classdata", "-p", "-P", "-u"],
        true,
    ),
    ("setsid", &[], true),
    ("command", &[], true),
    ("exec", &["-a"], true),
    ("time", &["-f", "--format", "-o", "--output"], true),
    ("chrt", &[], true),
    ("taskset", &[], true),
    (
        "sudo",
        &[
            "-u",
            "--user",
            "-g",
            "--group",
            "-C",
            "--close-from",
            "-D",
            "--chdir",
            "-h",
            "--host",
            "-p",
            "--prompt",
            "-r",
            "--role",
            "-t",
            "--type",
            "-T",
            "--command-timeout",
            "-U",
            "--other-user",
        ],
        false,
    ),
    ("doas", &["-u", "-C"], false),
    (
        "xargs",
        &[
            "-I",
            "-i",
            "-n",
            "--max-args",
            "-P",
            "--max-procs",
            "-d",
            "--delimiter",
            "-E",
            "-e",
            "-L",
            "-l",
            "-s",
            "--max-chars",
            "-a",
            "--arg-file",
        ],
        false,
    ),
    ("busybox", &[], false),
    (
        "flock",
        &["-w", "--timeout", "-E", "--conflict-exit-code"],
        true,
    ),
];

/// The state of one analysis: the script and the layers found so far.
struct Analysis {
    script: Script,
    layers: Vec<Layer>,
    unknowable: Vec<String>,
    /// A safety limit (depth, count) was hit: refuse rather than guess.
    over_limit: Option<String>,
}

impl Analysis {
    fn new(argv: &[String]) -> Analysis {
        let mut script = Script::default();
        let p = script.new_pipeline();
        script.push_argv(argv.iter().map(|a| Word::Lit(a.clone())).collect(), p, 0);
        let mut a = Analysis {
            script,
            layers: Vec::new(),
            unknowable: Vec::new(),
            over_limit: None,
        };
        let mut i = 0;
        while i < a.script.cmds.len() && i < shell::MAX_COMMANDS {
            let words = a.script.cmds[i].words.clone();
            a.peel(i, &words, 0, false);
            i += 1;
        }
        a
    }

    fn parse_text(&mut self, text: &str, depth: usize, what: &str) -> Vec<usize> {
        match shell::parse_into(text, depth, &mut self.script) {
            Ok(idx) => idx,
            Err(e) => {
                if e.is_limit() {
                    self.over_limit = Some(format!("{what}: {e}"));
                }
                self.unknowable
                    .push(format!("{what} cannot be parsed ({e}): {text}"));
                Vec::new()
            }
        }
    }

    /// Record `words` (run by command `cmd`) as a layer and look inside it.
    fn peel(&mut self, cmd: usize, words: &[Word], depth: usize, transparent_parent: bool) {
        let _ = transparent_parent;
        if depth > shell::MAX_DEPTH || words.is_empty() {
            return;
        }
        let text = words
            .iter()
            .map(|w| crate::util::shell_quote(w.text()))
            .collect::<Vec<_>>()
            .join(" ");
        let Some(first) = words[0].lit() else {
            self.unknowable.push(format!(
                "a variable or substitution in command position: `{text}`"
            ));
            return;
        };
        let name = base_name(first).to_string();
        let args = &words[1..];
        let wrapper = WRAPPERS.iter().find(|(w, _, _)| *w == name);
        self.layers.push(Layer {
            cmd,
            name: name.clone(),
            args: args.to_vec(),
            transparent: wrapper.is_some_and(|w| w.2),
            text: text.clone(),
        });

        if let Some((_, valued, _)) = wrapper {
            if let Some(rest) = self.wrapped(&name, args, valued, cmd, depth) {
                self.peel(cmd, &rest, depth + 1, true);
            }
            return;
        }
        match name.as_str() {
            n if is_shell(n) => self.shell(cmd, args, depth),
            "eval" => {
                if args.iter().all(|a| a.lit().is_some()) {
                    let text = args
                        .iter()
                        .filter_map(Word::lit)
                        .collect::<Vec<_>>()
                        .join(" ");
                    self.parse_text(&text, depth + 1, "eval string");
                } else {
                    self.unknowable
                        .push(format!("eval of text not known before running: `{text}`"));
                }
            }
            "source" | "." => self.unknowable.push(format!(
                "sourcing a file runs commands not known before running: `{text}`"
            )),
            "find" => {
                let mut i = 0;
                while i < args.len() {
                    if matches!(args[i].lit(), Some("-exec" | "-execdir" | "-ok" | "-okdir")) {
                        let end = args[i + 1..]
                            .iter()
                            .position(|a| matches!(a.lit(), Some(";" | "+")))
                            .map_or(args.len(), |p| i + 1 + p);
                        self.peel(cmd, &args[i + 1..end], depth + 1, false);
                        i = end;
                    }
                    i += 1;
                }
            }
            "su" | "runuser" | "script" | "watch" => {
                let mut it = args.iter();
                while let Some(a) = it.next() {
                    if matches!(a.lit(), Some("-c" | "--command"))
                        || (name == "watch" && a.lit().is_some_and(|t| !t.starts_with('-')))
                    {
                        let code = if name == "watch" { Some(a) } else { it.next() };
                        match code.and_then(Word::lit) {
                            Some(t) => {
                                self.parse_text(t, depth + 1, "command string");
                            }
                            None => self
                                .unknowable
                                .push(format!("command string not known before running: `{text}`")),
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
        // Text fed to a command's stdin that a shell will run.
        if is_shell(&name) {
            if let Some(stdin) = self.script.cmds[cmd].stdin_text.clone() {
                match stdin {
                    Word::Lit(t) => {
                        let inner = self.parse_text(&t, depth + 1, "here-document");
                        let _ = inner;
                    }
                    Word::Dyn(t) => self.unknowable.push(format!(
                        "a shell reads text not known before running: `{t}`"
                    )),
                }
            }
        }
    }

    /// `sh -c STRING` and friends.
    fn shell(&mut self, cmd: usize, args: &[Word], depth: usize) {
        let mut i = 0;
        while i < args.len() {
            let Some(a) = args[i].lit() else { break };
            if a == "--" || !a.starts_with(['-', '+']) {
                break;
            }
            if a.starts_with('-') && !a.starts_with("--") && a.contains('c') {
                match args.get(i + 1) {
                    Some(Word::Lit(code)) => {
                        let inner = self.parse_text(code, depth + 1, "shell -c string");
                        let _ = inner;
                    }
                    Some(Word::Dyn(code)) => {
                        // `sh -c "$(curl ...)"`: the substitution already feeds this command.
                        self.unknowable.push(format!(
                            "a shell runs text not known before running: {code}"
                        ));
                    }
                    None => {}
                }
                return;
            }
            if matches!(a, "-o" | "+o" | "-O" | "+O") {
                i += 1;
            }
            i += 1;
        }
        let _ = cmd;
    }

    /// The command a wrapper runs, after its options.
    fn wrapped(
        &mut self,
        name: &str,
        args: &[Word],
        valued: &[&str],
        cmd: usize,
        depth: usize,
    ) -> Option<Vec<Word>> {
        let mut i = 0;
        while i < args.len() {
            let Some(a) = args[i].lit() else { break };
            if a == "--" {
                i += 1;
                break;
            }
            if name == "env"
                && (a == "-S"
                    || a == "--split-string"
                    || a.starts_with("--split-string=")
                    || (a.starts_with("-S") && a.len() > 2))
            {
                let s = if a == "-S" || a == "--split-string" {
                    args.get(i + 1).and_then(Word::lit).map(str::to_string)
                } else {
                    Some(
                        a.trim_start_matches("--split-string=")
                            .trim_start_matches("-S")
                            .to_string(),
                    )
                };
                if let Some(s) = s {
                    let mut words: Vec<Word> = s
                        .split_whitespace()
                        .map(|w| Word::Lit(w.to_string()))
                        .collect();
                    let skip = if a == "-S" || a == "--split-string" {
                        2
                    } else {
                        1
                    };
                    words.extend_from_slice(&args[(i + skip).min(args.len())..]);
                    return Some(words);
                }
            }
            if name == "env" && a.contains('=') && !a.starts_with('-') {
                i += 1;
                continue;
            }
            if !a.starts_with('-') || a == "-" {
                break;
            }
            let key = a.split('=').next().unwrap_or(a);
            let takes_value = valued.contains(&key) && !a.contains('=');
            // `-n5` style: value attached to a short option.
            let attached = key.len() > 2 && !key.starts_with("--") && valued.contains(&&key[..2]);
            i += if takes_value && !attached { 2 } else { 1 };
        }
        if name == "timeout" {
            i += 1; // the duration
        }
        if matches!(name, "chrt" | "taskset") {
            i += 1; // priority or mask
        }
        let rest = args.get(i..).unwrap_or_default();
        if rest.is_empty() {
            let _ = (cmd, depth);
            return if name == "xargs" {
                Some(vec![Word::Lit("echo".into())])
            } else {
                None
            };
        }
        Some(rest.to_vec())
    }
}

fn located_origin(policy: &Policy, l: &Located<String>, key: &str) -> Origin {
    Origin::policy(policy, l, key)
}

fn place(o: &Origin) -> String {
    match o {
        Origin::Policy {
            file, line, col, ..
        } => format!("{file}:{line}:{col}"),
        other => other.to_string(),
    }
}

/// Decide whether the pre-check lets `argv` start.
pub fn decide(policy: &Policy, argv: &[String]) -> Decision {
    let a = Analysis::new(argv);
    let unknowable = a.unknowable.clone();
    if let Some(why) = &a.over_limit {
        // Nesting past the limit is how a blocked command would hide.
        return Decision {
            allowed: false,
            pattern: None,
            origin: None,
            matched: None,
            reason: format!(
                "the command line cannot be checked ({why}); refusing what cannot be checked"
            ),
            unknowable,
        };
    }
    let deny = |pattern: &Located<String>, key: &str, matched: String, reason: String| Decision {
        allowed: false,
        pattern: Some(pattern.value.clone()),
        origin: Some(located_origin(policy, pattern, key)),
        matched: Some(matched),
        reason,
        unknowable: unknowable.clone(),
    };

    for blocked in &policy.exec_blocked {
        let Ok(p) = Pattern::compile(&blocked.value) else {
            continue;
        };
        let origin = located_origin(policy, blocked, "exec.blocked");
        if p.segments.len() == 1 {
            if let Some(l) = a
                .layers
                .iter()
                .find(|l| segment_matches(&p.segments[0], l, false, false))
            {
                let reason = format!(
                    "`{}` matches blocked pattern `{}` ({})",
                    l.text,
                    p.text,
                    place(&origin)
                );
                return deny(blocked, "exec.blocked", l.text.clone(), reason);
            }
        } else {
            for (i, la) in a.layers.iter().enumerate() {
                if !segment_matches(&p.segments[0], la, false, false) {
                    continue;
                }
                for lb in &a.layers[..] {
                    let last = p.segments.len() - 1;
                    if segment_matches(&p.segments[last], lb, false, true)
                        && (la.cmd != lb.cmd)
                        && a.script.flows(la.cmd, lb.cmd)
                    {
                        let matched = format!("{} | {}", la.text, lb.text);
                        let reason = format!("`{matched}` matches blocked pattern `{}` ({}): output of `{}` is run by `{}`", p.text, place(&origin), la.name, lb.name);
                        let _ = i;
                        return deny(blocked, "exec.blocked", matched, reason);
                    }
                }
            }
        }
    }

    if let Some(allow) = &policy.exec_allow {
        if let Some(u) = unknowable.first() {
            let first = allow.first();
            return Decision {
                allowed: false,
                pattern: None,
                origin: first.map(|f| located_origin(policy, f, "exec.allow")),
                matched: None,
                reason: format!("exec.allow is set and {u}"),
                unknowable: unknowable.clone(),
            };
        }
        let compiled: Vec<(Pattern, &Located<String>)> = allow
            .iter()
            .filter_map(|l| Pattern::compile(&l.value).ok().map(|p| (p, l)))
            .collect();
        for l in a.layers.iter().filter(|l| !l.transparent) {
            let ok = compiled.iter().any(|(p, _)| {
                p.segments.len() == 1 && segment_matches(&p.segments[0], l, true, false)
            });
            if !ok {
                let first = allow.first();
                let origin = first.map(|f| located_origin(policy, f, "exec.allow"));
                return Decision {
                    allowed: false,
                    pattern: None,
                    reason: format!(
                        "`{}` matches no exec.allow pattern ({})",
                        l.text,
                        origin.as_ref().map(place).unwrap_or_default()
                    ),
                    origin,
                    matched: Some(l.text.clone()),
                    unknowable: unknowable.clone(),
                };
            }
        }
        return Decision {
            allowed: true,
            pattern: None,
            origin: None,
            matched: None,
            reason: "every command matches an exec.allow pattern".into(),
            unknowable,
        };
    }
    Decision {
        allowed: true,
        pattern: None,
        origin: None,
        matched: None,
        reason: "no blocked pattern matches".into(),
        unknowable,
    }
}

#[cfg(test)]
mod tests;
