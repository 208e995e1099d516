//! cgroup v1 (hybrid hosts): memory with memsw where present, the CFS
//! quota of the cpu controller, and pids. v1 has no `cgroup.kill`; the
//! processes listed in `cgroup.procs` are killed one by one (the pid
//! namespace's death normally got them already).

use std::io;
use std::path::{Path, PathBuf};

use super::{keyed, read_u64, under, Backend, LimitReport, Stats, OWN_PROCESSES};
use crate::plan::Limits;

pub struct V1 {
    root: PathBuf,
    /// controller → (mount directory, our cgroup path)
    mounts: Vec<(String, PathBuf, PathBuf)>,
    created: Vec<(String, PathBuf)>,
}

impl V1 {
    pub fn new(root: PathBuf, proc_cgroup: &[(Vec<String>, PathBuf)]) -> V1 {
        let mut mounts = Vec::new();
        for (ctrls, path) in proc_cgroup {
            for c in ctrls {
                if !["memory", "cpu", "pids", "cpuacct"].contains(&c.as_str()) {
                    continue;
                }
                // Mounted as /sys/fs/cgroup/memory or /sys/fs/cgroup/cpu,cpuacct.
                let joined = root.join(ctrls.join(","));
                let single = root.join(c);
                let dir = if single.join("cgroup.procs").exists() {
                    single
                } else {
                    joined
                };
                if dir.join("cgroup.procs").exists() {
                    mounts.push((c.clone(), dir, path.clone()));
                }
            }
        }
        V1 {
            root,
            mounts,
            created: Vec::new(),
        }
    }

    pub fn has(&self, controller: &str) -> bool {
        self.mounts.iter().any(|(c, _, _)| c == controller)
    }

    fn dir_for(&self, controller: &str) -> Option<&PathBuf> {
        self.created
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, d)| d)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Remove a cgroup directory once its processes are gone (at most ~1 s).
pub fn rmdir_when_empty(dir: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

impl Backend for V1 {
    fn kind(&self) -> &'static str {
        "v1"
    }

    fn create(&mut self, limits: &Limits, name: &str) -> io::Result<Vec<LimitReport>> {
        let mut wanted = super::wanted_controllers(limits);
        // cpuacct is not a limit; joined when present, for CPU time (the
        // kernel reaps what is left at the end of a pid namespace without
        // adding its CPU time to anyone's rusage).
        wanted.push("cpuacct");
        for (c, mount, own) in &self.mounts {
            if !wanted.contains(&c.as_str()) || self.created.iter().any(|(cc, _)| cc == c) {
                continue;
            }
            let dir = under(mount, own).join(name);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                // Co-mounted controllers (cpu,cpuacct) share the directory.
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists
                        && self.created.iter().any(|(_, d)| d == &dir) => {}
                Err(_) if c == "cpuacct" => continue, // accounting only
                Err(e) => return Err(e),
            }
            self.created.push((c.clone(), dir));
        }
        let mut r = Vec::new();
        if let (Some(m), Some(d)) = (&limits.memory_mb, self.dir_for("memory")) {
            let bytes = (m.value * 1024 * 1024).to_string();
            std::fs::write(d.join("memory.limit_in_bytes"), &bytes)?;
            let memsw = d.join("memory.memsw.limit_in_bytes");
            let how = if memsw.exists() {
                std::fs::write(&memsw, &bytes)?;
                "cgroup v1 memory.limit_in_bytes and memory.memsw.limit_in_bytes"
            } else {
                // No swap accounting: keep the group from swapping at all.
                let _ = std::fs::write(d.join("memory.swappiness"), "0");
                "cgroup v1 memory.limit_in_bytes, memory.swappiness=0"
            };
            r.push(LimitReport {
                limit: "max_memory_mb".into(),
                value: m.value,
                enforced: true,
                how: how.into(),
            });
        }
        if let (Some(c), Some(d)) = (&limits.cpu_percent, self.dir_for("cpu")) {
            std::fs::write(d.join("cpu.cfs_period_us"), "100000")?;
            std::fs::write(d.join("cpu.cfs_quota_us"), (c.value * 1000).to_string())?;
            r.push(LimitReport {
                limit: "max_cpu_percent".into(),
                value: c.value,
                enforced: true,
                how: "cgroup v1 cpu.cfs_quota_us".into(),
            });
        }
        if let (Some(p), Some(d)) = (&limits.processes, self.dir_for("pids")) {
            std::fs::write(d.join("pids.max"), (p.value + OWN_PROCESSES).to_string())?;
            r.push(LimitReport {
                limit: "max_processes".into(),
                value: p.value,
                enforced: true,
                how: "cgroup v1 pids.max".into(),
            });
        }
        Ok(r)
    }

    fn join_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.created.iter().map(|(_, d)| d.join("tasks")).collect();
        files.dedup();
        files
    }

    fn kill(&self) {
        // One counter read answers the usual case: nothing is left.
        if self
            .dir_for("pids")
            .and_then(|d| read_u64(&d.join("pids.current")))
            == Some(0)
        {
            return;
        }
        for _ in 0..3 {
            let mut any = false;
            for (_, d) in &self.created {
                for pid in std::fs::read_to_string(d.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                {
                    if let Ok(pid) = pid.trim().parse::<i32>() {
                        any = true;
                        // SAFETY: the pid is in our sandbox's cgroup.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
            if !any {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn stats(&self) -> Stats {
        let mem = self.dir_for("memory");
        Stats {
            peak_memory_bytes: mem.and_then(|d| read_u64(&d.join("memory.max_usage_in_bytes"))),
            oom_killed: mem
                .and_then(|d| keyed(&d.join("memory.oom_control"), "oom_kill "))
                .unwrap_or(0)
                > 0,
            pids_limited: self
                .dir_for("pids")
                .and_then(|d| keyed(&d.join("pids.events"), "max "))
                .unwrap_or(0)
                > 0,
            cpu_usec: self
                .created
                .iter()
                .find_map(|(_, d)| read_u64(&d.join("cpuacct.usage")))
                .map(|ns| ns / 1000),
        }
    }

    fn remove(&mut self) {
        let mut dirs: Vec<PathBuf> = self.created.drain(..).map(|(_, d)| d).collect();
        dirs.dedup();
        for d in dirs {
            rmdir_when_empty(&d);
        }
    }

    fn is_empty(&self) -> bool {
        match self.dir_for("pids") {
            Some(d) => read_u64(&d.join("pids.current")) == Some(0),
            None => self.created.first().is_some_and(|(_, d)| {
                std::fs::read_to_string(d.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty())
            }),
        }
    }

    fn bases(&self) -> Vec<PathBuf> {
        let mut bases: Vec<PathBuf> = self
            .created
            .iter()
            .filter_map(|(_, d)| d.parent().map(Path::to_path_buf))
            .collect();
        bases.dedup();
        bases
    }
}
