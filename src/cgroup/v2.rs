//! cgroup v2: `memory.max` + `memory.swap.max=0`, `cpu.max`, `pids.max`,
//! `cgroup.kill`.
//!
//! The "no internal processes" rule means controllers can be enabled for
//! children only in a cgroup that holds no processes. When sandboxctl's own
//! cgroup does not already delegate the controllers, the supervisor moves
//! itself into a leaf `sandboxctl-<pid>-supervisor` beside the sandbox's
//! cgroup and enables them, as rootless container runtimes do.

use std::io;
use std::path::{Path, PathBuf};

use super::{keyed, read_u64, under, Backend, LimitReport, Stats, OWN_PROCESSES};
use crate::plan::Limits;

pub struct V2 {
    root: PathBuf,
    own: PathBuf,
    dir: Option<PathBuf>,
    moved_to: Option<PathBuf>,
}

impl V2 {
    pub fn new(root: PathBuf, own: PathBuf) -> V2 {
        V2 {
            root,
            own,
            dir: None,
            moved_to: None,
        }
    }

    fn base(&self) -> PathBuf {
        under(&self.root, &self.own)
    }

    fn enabled(base: &Path) -> Vec<String> {
        std::fs::read_to_string(base.join("cgroup.subtree_control"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|c| c.trim_start_matches('+').to_string())
            .collect()
    }

    fn enable(&mut self, base: &Path, wanted: &[&str], name: &str) -> io::Result<()> {
        let have = Self::enabled(base);
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|w| !have.iter().any(|h| h == w))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let line = missing
            .iter()
            .map(|m| format!("+{m}"))
            .collect::<Vec<_>>()
            .join(" ");
        match std::fs::write(base.join("cgroup.subtree_control"), &line) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // We live in `base`: move into a leaf of our own first.
                let leaf = base.join(format!("{}-supervisor", name));
                std::fs::create_dir(&leaf)?;
                self.moved_to = Some(leaf.clone());
                std::fs::write(leaf.join("cgroup.procs"), "0")?;
                std::fs::write(base.join("cgroup.subtree_control"), &line)
            }
            Err(e) => Err(e),
        }
    }
}

impl Backend for V2 {
    fn kind(&self) -> &'static str {
        "v2"
    }

    fn create(&mut self, limits: &Limits, name: &str) -> io::Result<Vec<LimitReport>> {
        let base = self.base();
        let wanted = super::wanted_controllers(limits);
        self.enable(&base, &wanted, name)?;
        let dir = base.join(name);
        std::fs::create_dir(&dir)?;
        self.dir = Some(dir.clone());
        let mut r = Vec::new();
        if let Some(m) = &limits.memory_mb {
            std::fs::write(dir.join("memory.max"), (m.value * 1024 * 1024).to_string())?;
            // Swap must not stretch the limit.
            match std::fs::write(dir.join("memory.swap.max"), "0") {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // kernel without swap accounting: no swap to stretch into
                Err(e) => return Err(e),
            }
            r.push(LimitReport {
                limit: "max_memory_mb".into(),
                value: m.value,
                enforced: true,
                how: "cgroup v2 memory.max, memory.swap.max=0".into(),
            });
        }
        if let Some(c) = &limits.cpu_percent {
            std::fs::write(dir.join("cpu.max"), format!("{} 100000", c.value * 1000))?;
            r.push(LimitReport {
                limit: "max_cpu_percent".into(),
                value: c.value,
                enforced: true,
                how: "cgroup v2 cpu.max".into(),
            });
        }
        if let Some(p) = &limits.processes {
            std::fs::write(dir.join("pids.max"), (p.value + OWN_PROCESSES).to_string())?;
            r.push(LimitReport {
                limit: "max_processes".into(),
                value: p.value,
                enforced: true,
                how: "cgroup v2 pids.max".into(),
            });
        }
        Ok(r)
    }

    fn join_files(&self) -> Vec<PathBuf> {
        self.dir.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    fn kill(&self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::write(d.join("cgroup.kill"), "1");
        }
    }

    fn stats(&self) -> Stats {
        let Some(d) = &self.dir else {
            return Stats::default();
        };
        Stats {
            peak_memory_bytes: read_u64(&d.join("memory.peak")),
            oom_killed: keyed(&d.join("memory.events"), "oom_kill ").unwrap_or(0) > 0,
            pids_limited: keyed(&d.join("pids.events"), "max ").unwrap_or(0) > 0,
            cpu_usec: keyed(&d.join("cpu.stat"), "usage_usec "),
        }
    }

    fn remove(&mut self) {
        if let Some(d) = self.dir.take() {
            super::v1::rmdir_when_empty(&d);
        }
        if let Some(leaf) = self.moved_to.take() {
            // Move back and drop the leaf; if another run still needs the
            // controllers enabled, the leaf stays until a later cleanup.
            let base = self.base();
            let _ = std::fs::write(base.join("cgroup.procs"), "0");
            let _ = std::fs::remove_dir(leaf);
        }
    }

    fn is_empty(&self) -> bool {
        self.dir.as_ref().is_some_and(|d| {
            std::fs::read_to_string(d.join("cgroup.events"))
                .is_ok_and(|e| e.lines().any(|l| l.trim() == "populated 0"))
        })
    }

    fn bases(&self) -> Vec<PathBuf> {
        vec![self.base()]
    }
}
