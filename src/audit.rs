//! The audit log (DESIGN.md section 3): JSON Lines, one record per run
//! written once at the end as a single append, plus denial records as they
//! happen, all tied together by a run id. The file is opened (and created)
//! before the sandbox starts, with O_APPEND and O_NOFOLLOW, and each record
//! is one write(2) under an exclusive flock, so concurrent runs never
//! interleave and nothing is ever rewritten.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::failure::Failure;
use crate::plan::Plan;
use crate::precheck::Decision;
use crate::sandbox::Outcome;

pub const SCHEMA: &str = "sandboxctl.audit/1";

pub struct AuditLog {
    file: Option<File>,
    path: Option<PathBuf>,
    run_id: String,
}

pub fn default_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("sandboxctl").join("audit.jsonl"))
}

fn new_run_id() -> String {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom fills the buffer.
    unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    crate::util::hex(&bytes)
}

/// RFC 3339 UTC time with milliseconds.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now();
    let ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_millis();
    rfc3339_at(now).replace(".000Z", &format!(".{ms:03}Z"))
}

impl AuditLog {
    pub fn open(flag: Option<&Path>, disabled: bool) -> Result<AuditLog, Failure> {
        let run_id = new_run_id();
        if disabled {
            return Ok(AuditLog {
                file: None,
                path: None,
                run_id,
            });
        }
        let path = flag
            .map(Path::to_path_buf)
            .or_else(default_path)
            .ok_or_else(|| {
                Failure::setup(
                    "audit",
                    "no audit log location (neither XDG_STATE_HOME nor HOME is set)",
                    "pass --audit FILE, or --no-audit to run without a record",
                )
            })?;
        let fail = |e: std::io::Error| {
            Failure::setup(
                "audit",
                format!("cannot write the audit log {}: {e}", path.display()),
                "pass a writable --audit FILE, or --no-audit to run without a record",
            )
        };
        if flag.is_none() {
            if let Some(dir) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(fail)?;
            }
        }
        use std::os::unix::fs::DirBuilderExt;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(fail)?;
        let meta = file.metadata().map_err(fail)?;
        if !meta.is_file() {
            return Err(fail(std::io::Error::other("not a regular file")));
        }
        let path = path.canonicalize().unwrap_or(path);
        Ok(AuditLog {
            file: Some(file),
            path: Some(path),
            run_id,
        })
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// What must stay read-only inside the sandbox: the log, and
    /// sandboxctl's own state directory when the log lives there (so
    /// nothing can be planted beside it).
    pub fn protected(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.path.iter().cloned().collect();
        if let (Some(p), Some(default)) = (&self.path, default_path()) {
            let default = default.canonicalize().unwrap_or(default);
            if *p == default {
                out.extend(p.parent().map(Path::to_path_buf));
            }
        }
        out
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn append(&self, record: Value) {
        if let Some(file) = &self.file {
            append_to(file, &self.run_id, record);
        }
    }

    /// A handle other threads (the egress proxy) use to record denials as
    /// they happen, under the same run id.
    pub fn sink(&self) -> Option<AuditSink> {
        let file = self.file.as_ref()?.try_clone().ok()?;
        Some(AuditSink {
            file,
            run_id: self.run_id.clone(),
        })
    }

    fn base(&self, plan: &Plan, kind: &str) -> Value {
        json!({
            "type": kind,
            "time": now_rfc3339(),
            "sandboxctl_version": env!("CARGO_PKG_VERSION"),
            "user": { "name": plan.user.name, "uid": plan.user.uid },
            "workdir": plan.workdir,
            "command": plan.command,
            "policy": { "name": plan.policy_name, "path": plan.policy_path, "sha256": plan.policy_sha256 },
        })
    }

    /// A pre-check denial, written at once.
    pub fn denied(&self, plan: &Plan, decision: &Decision) {
        let mut r = self.base(plan, "denial");
        r["layer"] = "exec".into();
        r["decision"] = serde_json::to_value(decision).unwrap_or_default();
        self.append(r.clone());
        let mut run = self.base(plan, "run");
        run["exit_code"] = 126.into();
        run["ended_by"] = "denied by pre-check".into();
        run["denials"] = json!([r["decision"]]);
        run["binary_sha256"] = binary_sha256_cached().into();
        self.append(run);
    }

    /// The run record, written once at the end.
    pub fn record(&self, plan: &Plan, outcome: &Result<Outcome, Failure>) {
        if self.file.is_none() {
            return;
        }
        let mut r = self.base(plan, "run");
        r["binary_sha256"] = binary_sha256_cached().into();
        r["isolation"] = serde_json::to_value(plan.isolation).unwrap_or_default();
        match outcome {
            Ok(o) => {
                let mut denials = Vec::new();
                if let Some(hit) = &o.limit_hit {
                    let d = json!({ "layer": "resources", "what": hit });
                    self.append(json!({ "type": "denial", "time": now_rfc3339(), "layer": "resources", "what": hit }));
                    denials.push(d);
                }
                for n in &o.network {
                    if n.get("allowed") == Some(&Value::Bool(false)) {
                        denials.push(n.clone());
                    }
                }
                r["exit_code"] = o.exit_code.into();
                r["ended_by"] = o.ended_by.clone().into();
                r["signal"] = o.signal.into();
                r["wall_ms"] = o.wall_ms.into();
                r["cpu_ms"] = o.cpu_ms.into();
                r["peak_memory_bytes"] = o.peak_memory_bytes.into();
                r["layers"] = serde_json::to_value(&o.layers).unwrap_or_default();
                r["limits"] = serde_json::to_value(&o.limits).unwrap_or_default();
                r["warnings"] = serde_json::to_value(&o.warnings).unwrap_or_default();
                r["network"] = Value::Array(o.network.clone());
                if !o.simulation.is_empty() {
                    r["simulation"] = serde_json::to_value(&o.simulation).unwrap_or_default();
                }
                r["denials"] = Value::Array(denials);
            }
            Err(f) => {
                r["exit_code"] = f.exit_code().into();
                r["ended_by"] = "setup error".into();
                r["error"] = f.line().into();
            }
        }
        self.append(r);
    }
}

fn append_to(file: &File, run_id: &str, mut record: Value) {
    record["schema"] = SCHEMA.into();
    record["run_id"] = run_id.into();
    let mut line = record.to_string();
    line.push('\n');
    // SAFETY: flock on our own descriptor.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    let mut f = file;
    let _ = f.write_all(line.as_bytes());
    // SAFETY: as above.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
}

/// Appends records of one run from any thread.
pub struct AuditSink {
    file: File,
    run_id: String,
}

impl AuditSink {
    pub fn denial(&self, layer: &str, mut detail: Value) {
        detail["type"] = "denial".into();
        detail["layer"] = layer.into();
        detail["time"] = now_rfc3339().into();
        append_to(&self.file, &self.run_id, detail);
    }
}

/// SHA-256 of the running binary, cached beside the audit log's default
/// location and keyed by the binary's device, inode, size and times, so a
/// run does not rehash megabytes. `seal`/`verify` always hash in full.
pub fn binary_sha256_cached() -> String {
    let Ok(meta) = std::fs::metadata("/proc/self/exe") else {
        return String::new();
    };
    let key = format!(
        "{}:{}:{}:{}:{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
        meta.ctime_nsec() + meta.ctime() * 1_000_000_000
    );
    let cache = default_path().map(|p| p.with_file_name("binary-sha256.cache"));
    let known = cache
        .as_ref()
        .and_then(|c| std::fs::read_to_string(c).ok())
        .unwrap_or_default();
    if let Some(sum) = known.lines().find_map(|l| {
        l.split_once(' ')
            .filter(|(k, _)| *k == key)
            .map(|(_, s)| s.to_string())
    }) {
        return sum;
    }
    let sum = crate::integrity::binary_sha256()
        .map(|(s, _)| s)
        .unwrap_or_default();
    if let Some(c) = &cache {
        if let Some(dir) = c.parent() {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        // Keep the last few binaries (release, debug, test copies).
        let mut lines: Vec<&str> = known.lines().rev().take(15).collect();
        lines.reverse();
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("{key} {sum}\n"));
        // Never follow a link planted at the temporary name.
        let tmp = c.with_extension(format!("tmp{}", std::process::id()));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if written.is_ok() {
            let _ = std::fs::rename(&tmp, c);
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    sum
}

/// `--since`: an RFC 3339 time (or its prefix, `2026-11-21`), or an age
/// like `30m`, `2h`, `7d`. Returns the earliest time to show.
pub fn since_bound(s: &str) -> Result<String, String> {
    let s = s.trim();
    let units = [('s', 1u64), ('m', 60), ('h', 3600), ('d', 86_400)];
    if let Some((_, mult)) = units.iter().find(|(u, _)| s.ends_with(*u)) {
        if let Ok(n) = s[..s.len() - 1].parse::<u64>() {
            let now = std::time::SystemTime::now();
            let then = now
                .checked_sub(std::time::Duration::from_secs(n.saturating_mul(*mult)))
                .unwrap_or(std::time::UNIX_EPOCH);
            return Ok(rfc3339_at(then));
        }
    }
    if s.len() >= 4 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return Ok(s.to_string());
    }
    Err(format!(
        "--since takes a time like 2026-11-21T10:00 or an age like 30m, 2h, 7d (got `{s}`)"
    ))
}

fn rfc3339_at(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `sandboxctl audit`: recent runs and what they were refused, as a table.
pub fn table(path: &Path, since: Option<&str>, denied_only: bool) -> Result<String, Failure> {
    let bound = since
        .map(since_bound)
        .transpose()
        .map_err(|e| Failure::setup("audit", e, ""))?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::setup(
            "audit",
            format!("cannot read {}: {e}", path.display()),
            "pass the log with `sandboxctl audit FILE`",
        )
    })?;
    let mut runs: Vec<Value> = Vec::new();
    let mut denials: std::collections::BTreeMap<String, Vec<Value>> =
        std::collections::BTreeMap::new();
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            bad += 1;
            continue;
        };
        if let Some(b) = &bound {
            if v["time"].as_str().is_some_and(|t| t < b.as_str()) {
                continue;
            }
        }
        let id = v["run_id"].as_str().unwrap_or_default().to_string();
        match v["type"].as_str() {
            Some("run") => runs.push(v),
            Some("denial") => denials.entry(id).or_default().push(v),
            _ => {}
        }
    }
    let mut out = format!(
        "{:<20} {:<16} {:>4}  {:<14} {}\n",
        "TIME", "RUN", "EXIT", "ENDED BY", "COMMAND"
    );
    for r in &runs {
        let id = r["run_id"].as_str().unwrap_or_default();
        let ds = denials.get(id).cloned().unwrap_or_default();
        let has_denial = !ds.is_empty()
            || r["exit_code"] == 126
            || r["denials"].as_array().is_some_and(|d| !d.is_empty());
        if denied_only && !has_denial {
            continue;
        }
        let cmd = r["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(crate::util::shell_quote)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let cmd: String = if cmd.chars().count() > 60 {
            cmd.chars().take(57).collect::<String>() + "..."
        } else {
            cmd
        };
        let time: String = r["time"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(19)
            .collect();
        out.push_str(&format!(
            "{:<20} {:<16} {:>4}  {:<14} {}\n",
            time,
            id,
            r["exit_code"],
            r["ended_by"].as_str().unwrap_or_default(),
            cmd
        ));
        for d in &ds {
            let what = d["decision"]["reason"]
                .as_str()
                .or_else(|| d["reason"].as_str())
                .or_else(|| d["what"].as_str())
                .unwrap_or_default();
            let layer = d["layer"].as_str().unwrap_or_default();
            let target = match (d["host"].as_str(), d["port"].as_u64()) {
                (Some(h), Some(p)) => format!("{h}:{p}: "),
                _ => String::new(),
            };
            out.push_str(&format!("    denied: {layer}: {target}{what}\n"));
        }
    }
    if bad > 0 {
        out.push_str(&format!("({bad} unreadable lines skipped)\n"));
    }
    Ok(out)
}
