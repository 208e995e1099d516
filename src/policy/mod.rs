//! Policy file, version 1 (DESIGN.md section 2): strict loading into typed,
//! located values. Every value keeps the line and column it came from so
//! that the plan, `check` and every refusal can name it.

pub mod net_rule;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use net_rule::NetRule;
use yaml::{is_null, Mark, Node, Value};

/// The embedded default policy (DESIGN.md 2.6), also shipped as
/// `policies/default.yaml`.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/default.yaml");
/// The name the embedded policy goes by in messages and plans.
pub const DEFAULT_POLICY_NAME: &str = "<default policy>";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
    pub col: usize,
}

impl<T> Located<T> {
    fn at(value: T, mark: Mark) -> Self {
        Located {
            value,
            line: mark.line,
            col: mark.col,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Strict,
    BestEffort,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Where the policy came from: a file path, or `<default policy>`.
    pub name: String,
    pub path: Option<PathBuf>,
    pub sha256: String,
    pub version: u32,
    pub isolation: Located<Mode>,
    pub network_allow: Vec<Located<NetRule>>,
    pub writable: Vec<Located<String>>,
    pub readonly: Vec<Located<String>>,
    pub blocked: Vec<Located<String>>,
    pub exec_blocked: Vec<Located<String>>,
    pub exec_allow: Option<Vec<Located<String>>>,
    pub resources: Resources,
    pub env_allow: Vec<Located<String>>,
    pub env_set: Vec<(Located<String>, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    pub max_memory_mb: Option<Located<u64>>,
    pub max_cpu_percent: Option<Located<u64>>,
    pub max_file_size_mb: Option<Located<u64>>,
    pub max_processes: Option<Located<u64>>,
    pub timeout_s: Option<Located<u64>>,
    pub enforcement: Option<Located<Mode>>,
}

impl Resources {
    pub fn enforcement(&self) -> Mode {
        self.enforcement.as_ref().map_or(Mode::Strict, |m| m.value)
    }
}

/// A policy that could not be loaded: the file, where in it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Largest accepted value of each limit; far above any machine, low enough
/// that unit conversions cannot overflow.
pub const MAX_LIMIT: u64 = 1 << 40;

/// Read and validate a policy file.
pub fn load_file(path: &Path) -> Result<Policy, PolicyError> {
    let name = path.display().to_string();
    let whole = |message: String| PolicyError {
        file: name.clone(),
        line: None,
        col: None,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| whole(format!("cannot read policy: {e}")))?;
    if !meta.is_file() {
        return Err(whole("policy is not a regular file".into()));
    }
    if meta.len() > yaml::MAX_INPUT_BYTES as u64 {
        return Err(whole(format!(
            "policy is {} bytes; the limit is {} bytes",
            meta.len(),
            yaml::MAX_INPUT_BYTES
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| whole(format!("cannot read policy: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole(format!(
            "policy is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    load_str(&text, &name, Some(canonical))
}

/// The embedded default policy.
pub fn load_default() -> Result<Policy, PolicyError> {
    load_str(DEFAULT_POLICY, DEFAULT_POLICY_NAME, None)
}

/// Validate policy text. `name` is used in messages.
pub fn load_str(text: &str, name: &str, path: Option<PathBuf>) -> Result<Policy, PolicyError> {
    let at = |mark: Mark, message: String| PolicyError {
        file: name.to_string(),
        line: Some(mark.line),
        col: Some(mark.col),
        message,
    };
    if text.contains('\0') {
        return Err(PolicyError {
            file: name.to_string(),
            line: None,
            col: None,
            message: "policy contains a NUL byte".into(),
        });
    }
    let root = yaml::parse(text)
        .map_err(|e| at(e.mark, e.message))?
        .ok_or_else(|| {
            at(
                Mark { line: 1, col: 1 },
                "policy is empty; it needs at least `version: 1`".into(),
            )
        })?;
    let mut policy = Schema { name }
        .policy(&root)
        .map_err(|(m, msg)| at(m, msg))?;
    policy.sha256 = crate::util::sha256_hex(text.as_bytes());
    policy.path = path;
    Ok(policy)
}

type SchemaResult<T> = Result<T, (Mark, String)>;

struct Schema<'a> {
    name: &'a str,
}

fn map<'n>(node: &'n Node, what: &str) -> SchemaResult<&'n [(Node, Node)]> {
    match &node.value {
        Value::Map(entries) => Ok(entries),
        _ => Err((
            node.mark,
            format!("`{what}` must be a mapping, found {}", node.kind()),
        )),
    }
}

/// Iterate a mapping's entries, refusing keys not in `allowed`.
fn keys<'n>(
    entries: &'n [(Node, Node)],
    section: &str,
    allowed: &[&str],
) -> SchemaResult<Vec<(&'n str, &'n Node, Mark)>> {
    let mut out = Vec::new();
    for (k, v) in entries {
        let key = yaml::scalar_text(k).unwrap_or_default();
        if !allowed.contains(&key) {
            let place = if section.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in `{section}`")
            };
            return Err((
                k.mark,
                format!(
                    "unknown key `{key}` {place} (expected one of: {})",
                    allowed.join(", ")
                ),
            ));
        }
        out.push((key, v, k.mark));
    }
    Ok(out)
}

fn string(node: &Node, what: &str) -> SchemaResult<String> {
    match &node.value {
        Value::Scalar { text, plain } if !(*plain && is_null(text)) => Ok(text.clone()),
        _ => Err((
            node.mark,
            format!("`{what}` must be a string, found {}", node.kind()),
        )),
    }
}

fn nonempty_string(node: &Node, what: &str) -> SchemaResult<String> {
    let s = string(node, what)?;
    if s.trim().is_empty() {
        return Err((node.mark, format!("`{what}` entries must not be empty")));
    }
    Ok(s)
}

fn list<'n>(node: &'n Node, what: &str) -> SchemaResult<&'n [Node]> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => Err((
            node.mark,
            format!(
                "`{what}` must be a list, found {} (write [] for none)",
                node.kind()
            ),
        )),
    }
}

fn string_list(node: &Node, what: &str) -> SchemaResult<Vec<Located<String>>> {
    list(node, what)?
        .iter()
        .map(|item| Ok(Located::at(nonempty_string(item, what)?, item.mark)))
        .collect()
}

fn positive(node: &Node, what: &str) -> SchemaResult<Located<u64>> {
    let bad = |why: &str| Err((node.mark, format!("`{what}` {why}")));
    let Value::Scalar { text, plain } = &node.value else {
        return bad(&format!("must be a whole number, found {}", node.kind()));
    };
    if !plain {
        return bad("must be a whole number, not a quoted string");
    }
    let t = text.trim();
    if t.starts_with('-') && t.len() > 1 && t[1..].bytes().all(|b| b.is_ascii_digit()) {
        return bad("must be positive");
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return bad(&format!("must be a whole number, found `{t}`"));
    }
    match t.parse::<u64>() {
        Ok(0) => bad("must be at least 1 (leave the key out for no limit)"),
        Ok(n) if n > MAX_LIMIT => bad(&format!("is too large (at most {MAX_LIMIT})")),
        Ok(n) => Ok(Located::at(n, node.mark)),
        Err(_) => bad(&format!("is too large (at most {MAX_LIMIT})")),
    }
}

fn mode(node: &Node, what: &str) -> SchemaResult<Located<Mode>> {
    match string(node, what)?.as_str() {
        "strict" => Ok(Located::at(Mode::Strict, node.mark)),
        "best_effort" => Ok(Located::at(Mode::BestEffort, node.mark)),
        other => Err((
            node.mark,
            format!("`{what}` must be `strict` or `best_effort`, found `{other}`"),
        )),
    }
}

impl Schema<'_> {
    fn policy(&self, root: &Node) -> SchemaResult<Policy> {
        let top = map(root, "policy")?;
        let mut p = Policy {
            name: self.name.to_string(),
            path: None,
            sha256: String::new(),
            version: 0,
            isolation: Located {
                value: Mode::Strict,
                line: 0,
                col: 0,
            },
            network_allow: Vec::new(),
            writable: Vec::new(),
            readonly: Vec::new(),
            blocked: Vec::new(),
            exec_blocked: Vec::new(),
            exec_allow: None,
            resources: Resources::default(),
            env_allow: Vec::new(),
            env_set: Vec::new(),
        };
        let allowed = [
            "version",
            "isolation",
            "network",
            "filesystem",
            "exec",
            "resources",
            "env",
        ];
        let mut saw_version = false;
        for (key, value, _) in keys(top, "", &allowed)? {
            match key {
                "version" => {
                    let v = positive(value, "version")
                        .map_err(|(m, _)| (m, "`version` must be 1".to_string()))?;
                    if v.value != 1 {
                        return Err((
                            value.mark,
                            format!(
                                "unsupported policy version {}; this sandboxctl reads version 1",
                                v.value
                            ),
                        ));
                    }
                    p.version = 1;
                    saw_version = true;
                }
                "isolation" => p.isolation = mode(value, "isolation")?,
                "network" => self.network(value, &mut p)?,
                "filesystem" => self.filesystem(value, &mut p)?,
                "exec" => self.exec(value, &mut p)?,
                "resources" => p.resources = self.resources(value)?,
                "env" => self.env(value, &mut p)?,
                _ => {}
            }
        }
        if !saw_version {
            return Err((root.mark, "missing `version: 1`".into()));
        }
        Ok(p)
    }

    fn network(&self, node: &Node, p: &mut Policy) -> SchemaResult<()> {
        for (key, value, _) in keys(map(node, "network")?, "network", &["default", "allow"])? {
            match key {
                "default" => {
                    let d = string(value, "network.default")?;
                    if d != "deny" {
                        return Err((
                            value.mark,
                            format!(
                                "`network.default` must be `deny` (found `{d}`); list what may be reached under `network.allow`"
                            ),
                        ));
                    }
                }
                _ => {
                    for item in list(value, "network.allow")? {
                        let text = nonempty_string(item, "network.allow")?;
                        let rule = NetRule::parse(&text).map_err(|why| {
                            (
                                item.mark,
                                format!("bad `network.allow` entry `{text}`: {why}"),
                            )
                        })?;
                        p.network_allow.push(Located::at(rule, item.mark));
                    }
                }
            }
        }
        Ok(())
    }

    fn filesystem(&self, node: &Node, p: &mut Policy) -> SchemaResult<()> {
        let section = "filesystem";
        for (key, value, _) in keys(
            map(node, section)?,
            section,
            &["writable", "readonly", "blocked"],
        )? {
            let what = format!("filesystem.{key}");
            let entries = string_list(value, &what)?;
            for e in &entries {
                crate::paths::validate_entry(&e.value).map_err(|why| {
                    (
                        Mark {
                            line: e.line,
                            col: e.col,
                        },
                        format!("bad `{what}` entry `{}`: {why}", e.value),
                    )
                })?;
            }
            match key {
                "writable" => p.writable = entries,
                "readonly" => p.readonly = entries,
                _ => p.blocked = entries,
            }
        }
        Ok(())
    }

    fn exec(&self, node: &Node, p: &mut Policy) -> SchemaResult<()> {
        for (key, value, _) in keys(map(node, "exec")?, "exec", &["blocked", "allow"])? {
            let what = format!("exec.{key}");
            let entries = string_list(value, &what)?;
            for e in &entries {
                crate::precheck::Pattern::compile(&e.value).map_err(|why| {
                    (
                        Mark {
                            line: e.line,
                            col: e.col,
                        },
                        format!("bad `{what}` pattern `{}`: {why}", e.value),
                    )
                })?;
            }
            if key == "blocked" {
                p.exec_blocked = entries;
            } else {
                p.exec_allow = Some(entries);
            }
        }
        Ok(())
    }

    fn resources(&self, node: &Node) -> SchemaResult<Resources> {
        let allowed = [
            "max_memory_mb",
            "max_cpu_percent",
            "max_file_size_mb",
            "max_processes",
            "timeout_s",
            "enforcement",
        ];
        let mut r = Resources::default();
        for (key, value, _) in keys(map(node, "resources")?, "resources", &allowed)? {
            let what = format!("resources.{key}");
            match key {
                "enforcement" => r.enforcement = Some(mode(value, &what)?),
                "max_memory_mb" => r.max_memory_mb = Some(positive(value, &what)?),
                "max_cpu_percent" => r.max_cpu_percent = Some(positive(value, &what)?),
                "max_file_size_mb" => r.max_file_size_mb = Some(positive(value, &what)?),
                "max_processes" => r.max_processes = Some(positive(value, &what)?),
                _ => r.timeout_s = Some(positive(value, &what)?),
            }
        }
        Ok(r)
    }

    fn env(&self, node: &Node, p: &mut Policy) -> SchemaResult<()> {
        for (key, value, _) in keys(map(node, "env")?, "env", &["allow", "set"])? {
            if key == "allow" {
                let names = string_list(value, "env.allow")?;
                for n in &names {
                    let bare = n.value.strip_suffix('*').unwrap_or(&n.value);
                    if !valid_env_name(bare) {
                        return Err((
                            Mark { line: n.line, col: n.col },
                            format!(
                                "bad `env.allow` entry `{}`: a variable name ([A-Za-z_][A-Za-z0-9_]*), optionally ending in `*`",
                                n.value
                            ),
                        ));
                    }
                }
                p.env_allow = names;
            } else {
                for (k, v) in map(value, "env.set")? {
                    let name = yaml::scalar_text(k).unwrap_or_default().to_string();
                    if !valid_env_name(&name) {
                        return Err((k.mark, format!("bad `env.set` name `{name}`")));
                    }
                    let Value::Scalar { text, .. } = &v.value else {
                        return Err((
                            v.mark,
                            format!("`env.set.{name}` must be a string, found {}", v.kind()),
                        ));
                    };
                    p.env_set.push((Located::at(name, k.mark), text.clone()));
                }
            }
        }
        Ok(())
    }
}

pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}
