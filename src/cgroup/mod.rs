//! Resource limits as cgroups (DESIGN.md 2.4): memory (no swap), CPU and
//! process count on the whole tree, placed before the command starts.
//!
//! One [`Backend`] trait, two implementations, each rooted at a path so
//! that tests run against fixture trees: [`v2::V2`] (unified hierarchy,
//! including systemd-delegated subtrees) and [`v1::V1`] (hybrid hosts).
//! The sandbox's cgroup is always created beneath sandboxctl's own cgroup,
//! so limits that already apply to the caller keep applying.

pub mod v1;
pub mod v2;

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::failure::Failure;
use crate::plan::{Limits, Plan};
use crate::policy::Mode;

pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// Prefix of every cgroup sandboxctl creates: `sandboxctl-<pid>-<n>`.
pub const PREFIX: &str = "sandboxctl-";
/// init (or the degraded stage) counts against `pids.max` too.
pub const OWN_PROCESSES: u64 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub peak_memory_bytes: Option<u64>,
    pub oom_killed: bool,
    pub pids_limited: bool,
    pub cpu_usec: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitReport {
    pub limit: String,
    pub value: u64,
    pub enforced: bool,
    pub how: String,
}

/// One cgroup implementation.
pub trait Backend: Send {
    fn kind(&self) -> &'static str;
    /// Create the sandbox cgroup(s) and write the limits.
    fn create(&mut self, limits: &Limits, name: &str) -> io::Result<Vec<LimitReport>>;
    /// The files init writes "0" into to join, single-threaded: v1's
    /// per-thread `tasks` (moving the only thread moves the process, and
    /// unlike `cgroup.procs` it does not wait for an RCU grace period,
    /// which costs 5-15 ms after an idle spell), v2's `cgroup.procs`.
    fn join_files(&self) -> Vec<PathBuf>;
    /// Kill every process in the sandbox cgroup.
    fn kill(&self);
    fn stats(&self) -> Stats;
    /// Remove what `create` made (after `kill`).
    fn remove(&mut self);
    /// The directories the run's cgroups were made in.
    fn bases(&self) -> Vec<PathBuf>;
    /// No process is in the run's cgroups.
    fn is_empty(&self) -> bool;
}

/// Parsed `/proc/self/cgroup`: (controllers, path) per line.
pub fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, PathBuf)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let ctrls = parts.next()?;
            let path = parts.next()?;
            let list = if ctrls.is_empty() {
                Vec::new()
            } else {
                ctrls.split(',').map(str::to_string).collect()
            };
            Some((list, PathBuf::from(path)))
        })
        .collect()
}

/// Join a cgroup path (absolute, as in /proc/self/cgroup) below a root.
pub fn under(root: &Path, cgroup: &Path) -> PathBuf {
    root.join(cgroup.strip_prefix("/").unwrap_or(cgroup))
}

/// Pick the backend for this host: v2 when the unified hierarchy offers the
/// controllers, else v1 when its controllers are mounted.
pub fn detect(root: &Path, proc_cgroup: &str, limits: &Limits) -> Result<Box<dyn Backend>, String> {
    let lines = parse_proc_cgroup(proc_cgroup);
    let wanted = wanted_controllers(limits);
    let unified = lines
        .iter()
        .find(|(c, _)| c.is_empty())
        .map(|(_, p)| p.clone());
    for v2_root in [root.to_path_buf(), root.join("unified")] {
        if !v2_root.join("cgroup.controllers").exists() {
            continue;
        }
        if let Some(own) = &unified {
            let available =
                std::fs::read_to_string(under(&v2_root, own).join("cgroup.controllers"))
                    .unwrap_or_default();
            if wanted
                .iter()
                .all(|w| available.split_whitespace().any(|a| a == *w))
            {
                return Ok(Box::new(v2::V2::new(v2_root, own.clone())));
            }
        }
    }
    let v1 = v1::V1::new(root.to_path_buf(), &lines);
    if wanted.iter().all(|w| v1.has(w)) {
        return Ok(Box::new(v1));
    }
    Err(format!(
        "no cgroup hierarchy offers the controllers {} for this process (checked v2 at {} and {}/unified, and v1 under {})",
        wanted.join(", "),
        root.display(),
        root.display(),
        root.display()
    ))
}

pub fn wanted_controllers(limits: &Limits) -> Vec<&'static str> {
    let mut w = Vec::new();
    if limits.memory_mb.is_some() {
        w.push("memory");
    }
    if limits.cpu_percent.is_some() {
        w.push("cpu");
    }
    if limits.processes.is_some() {
        w.push("pids");
    }
    w
}

/// Remove empty `sandboxctl-<pid>-*` cgroups whose supervisor is gone
/// (left by a sandboxctl that was killed with SIGKILL).
pub fn remove_stale(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks for existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

pub fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file like memory.events.
pub fn keyed(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.trim().parse().ok()))
}

/// The cgroup side of one run.
pub struct CgroupRun {
    backend: Option<Box<dyn Backend>>,
    reports: Vec<LimitReport>,
    pub warnings: Vec<String>,
    /// Statistics read by [`CgroupRun::settle`] before it removed the cgroups.
    settled: Option<Stats>,
}

impl CgroupRun {
    pub fn join_files(&self) -> Vec<PathBuf> {
        self.backend
            .as_ref()
            .map(|b| b.join_files())
            .unwrap_or_default()
    }
    pub fn kill(&self) {
        if let Some(b) = &self.backend {
            b.kill();
        }
    }
    /// Remove cgroups that supervisors which died (SIGKILL) left beside
    /// ours. Not needed to start the run: called once init has its input.
    pub fn sweep_stale(&self) {
        if let Some(b) = &self.backend {
            for base in b.bases() {
                remove_stale(&base);
            }
        }
    }
    pub fn reports(&self) -> Vec<LimitReport> {
        self.reports.clone()
    }
    /// As soon as the command has ended and nothing is left in the run's
    /// cgroups: read the statistics and remove them, while init is still
    /// leaving (nothing can enter an empty cgroup of ours again: init
    /// itself is not in it). A no-op while anything is left.
    pub fn settle(&mut self) {
        if self.settled.is_some() || !self.backend.as_ref().is_some_and(|b| b.is_empty()) {
            return;
        }
        if let Some(mut b) = self.backend.take() {
            self.settled = Some(b.stats());
            b.remove();
        }
    }
    /// Kill what is left, read the statistics, remove the cgroups.
    pub fn finish(&self) -> Stats {
        if let Some(s) = &self.settled {
            return s.clone();
        }
        let Some(b) = &self.backend else {
            return Stats::default();
        };
        b.kill();
        b.stats()
    }
}

impl Drop for CgroupRun {
    fn drop(&mut self) {
        if let Some(b) = &mut self.backend {
            b.kill();
            b.remove();
        }
    }
}

fn always_enforced(limits: &Limits) -> Vec<LimitReport> {
    let mut r = Vec::new();
    if let Some(f) = &limits.file_size_mb {
        r.push(LimitReport {
            limit: "file_size_mb".into(),
            value: f.value,
            enforced: true,
            how: "RLIMIT_FSIZE".into(),
        });
    }
    if let Some(t) = &limits.timeout_s {
        r.push(LimitReport {
            limit: "timeout_s".into(),
            value: t.value,
            enforced: true,
            how: "supervisor kills the whole tree".into(),
        });
    }
    r
}

const FIX: &str = "run as root, or start sandboxctl inside a delegated cgroup (e.g. `systemd-run --user --scope -p Delegate=yes sandboxctl run ...`), or set `resources.enforcement: best_effort` to run without these limits";

/// Create the sandbox cgroup for a plan, failing closed unless the policy
/// says `resources.enforcement: best_effort`.
pub fn prepare(plan: &Plan) -> Result<CgroupRun, Failure> {
    prepare_at(
        plan,
        Path::new(DEFAULT_ROOT),
        &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
    )
}

pub fn prepare_at(plan: &Plan, root: &Path, proc_cgroup: &str) -> Result<CgroupRun, Failure> {
    let limits = &plan.limits;
    let mut reports = always_enforced(limits);
    if !limits.needs_cgroup() {
        return Ok(CgroupRun {
            backend: None,
            reports,
            warnings: Vec::new(),
            settled: None,
        });
    }
    // SAFETY: getpid cannot fail.
    let name = format!(
        "{PREFIX}{}-{}",
        unsafe { libc::getpid() },
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let attempt =
        detect(root, proc_cgroup, limits).and_then(|mut b| match b.create(limits, &name) {
            Ok(r) => Ok((b, r)),
            Err(e) => {
                b.remove();
                Err(format!("cannot create a {} cgroup: {e}", b.kind()))
            }
        });
    match attempt {
        Ok((b, r)) => {
            reports.extend(r);
            Ok(CgroupRun {
                backend: Some(b),
                reports,
                warnings: Vec::new(),
                settled: None,
            })
        }
        Err(why) if limits.enforcement == Mode::BestEffort => {
            let mut lost = Vec::new();
            for (name, l) in [
                ("max_memory_mb", &limits.memory_mb),
                ("max_cpu_percent", &limits.cpu_percent),
                ("max_processes", &limits.processes),
            ] {
                if let Some(l) = l {
                    lost.push(name.to_string());
                    reports.push(LimitReport {
                        limit: name.into(),
                        value: l.value,
                        enforced: false,
                        how: why.clone(),
                    });
                }
            }
            let warning = format!(
                "resource limits NOT enforced ({}): {why} (resources.enforcement: best_effort)",
                lost.join(", ")
            );
            Ok(CgroupRun {
                backend: None,
                reports,
                warnings: vec![warning],
                settled: None,
            })
        }
        Err(why) => {
            let wanted: Vec<String> = [&limits.memory_mb, &limits.cpu_percent, &limits.processes]
                .into_iter()
                .flatten()
                .map(|l| l.origin.to_string())
                .collect();
            Err(Failure::setup(
                "resources",
                format!("{why} [needed by {}]", wanted.join("; ")),
                FIX,
            ))
        }
    }
}

#[cfg(test)]
mod tests;
