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
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
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
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
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

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    fn append(&self, mut record: Value) {
        let Some(file) = &self.file else { return };
        record["schema"] = SCHEMA.into();
        record["run_id"] = self.run_id.clone().into();
        let mut line = record.to_string();
        line.push('\n');
        // SAFETY: flock on our own descriptor.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        let mut f = file;
        let _ = f.write_all(line.as_bytes());
        // SAFETY: as above.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
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
    if let Some(c) = &cache {
        if let Ok(text) = std::fs::read_to_string(c) {
            if let Some((k, sum)) = text.trim().split_once(' ') {
                if k == key {
                    return sum.to_string();
                }
            }
        }
    }
    let sum = crate::integrity::binary_sha256()
        .map(|(s, _)| s)
        .unwrap_or_default();
    if let Some(c) = &cache {
        let _ = std::fs::write(c, format!("{key} {sum}\n"));
    }
    sum
}
