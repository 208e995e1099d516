//! Simulation (`run --simulate`) and policy learning (`learn`), issue 9.
//!
//! Pure parts live here: turning a plan into its simulation plan, judging
//! an observed action against the plan that *would* be enforced, folding
//! observations into a report, and writing the tightest policy that would
//! have let a run succeed. The observation itself happens in the kernel
//! (seccomp user notification, `sandbox/notify.rs`) and in the proxy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::fsview::{FsView, Kind};
use crate::plan::{FsAccess, LandlockRule, Mount, MountOp, Origin, Plan, SYSTEM_BASE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
    Exec,
}

/// One observed action of the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    File {
        path: PathBuf,
        access: Access,
    },
    Network {
        host: String,
        port: u16,
        would_allow: bool,
        reason: String,
    },
}

/// Top-level host directories never shown in a simulation: the sandbox
/// has its own /proc, /dev and /tmp, and /sys stays hidden.
const NOT_SHOWN: [&str; 4] = ["proc", "dev", "tmp", "sys"];

/// The simulation plan: the host visible read-only (except /sys), the
/// sandbox's own /proc, /dev and /tmp, and the workdir writable; the
/// namespaces, capability drop, no_new_privs and seccomp stay as planned.
pub fn simulation_plan(plan: &Plan, fs: &dyn FsView) -> Plan {
    let builtin = || Origin::builtin("simulation: host visible read-only");
    let mut mounts: Vec<Mount> = Vec::new();
    for (name, kind) in fs.list(Path::new("/")) {
        let Some(n) = name.to_str() else { continue };
        if NOT_SHOWN.contains(&n) {
            continue;
        }
        let path = Path::new("/").join(n);
        match kind {
            Kind::Dir => mounts.push(Mount {
                path,
                op: MountOp::BindRo,
                origin: builtin(),
            }),
            Kind::Symlink => {
                if let Some(target) = fs.read_link(&path) {
                    mounts.push(Mount {
                        path,
                        op: MountOp::Symlink { target },
                        origin: builtin(),
                    });
                }
            }
            _ => {}
        }
    }
    for m in &plan.mounts {
        match &m.op {
            MountOp::Proc | MountOp::Dev => mounts.push(m.clone()),
            _ if m.path.starts_with("/proc/") => mounts.push(m.clone()),
            // The host's /tmp is seen; writes go to a private layer.
            MountOp::Tmpfs { size_mb } if m.path == Path::new("/tmp") => mounts.push(Mount {
                path: m.path.clone(),
                op: MountOp::Overlay { size_mb: *size_mb },
                origin: builtin(),
            }),
            _ => {}
        }
    }
    mounts.push(Mount {
        path: plan.workdir.clone(),
        op: MountOp::BindRw,
        origin: Origin::builtin("simulation: workdir writable"),
    });
    mounts.sort_by_key(|m| m.path.components().count());
    let mut sim = plan.clone();
    sim.mounts = mounts;
    let rule = |path: &str, access| LandlockRule {
        path: path.into(),
        access,
        origin: builtin(),
    };
    sim.landlock.rules = vec![
        rule("/", FsAccess::ReadExec),
        rule("/tmp", FsAccess::ReadWrite),
        rule("/dev", FsAccess::Device),
        rule("/dev/shm", FsAccess::ReadWrite),
        rule("/proc", FsAccess::ReadOnly),
        LandlockRule {
            path: plan.workdir.clone(),
            access: FsAccess::ReadWrite,
            origin: builtin(),
        },
    ];
    // Every destination goes through the proxy, which records what the
    // policy would have refused.
    sim.network.proxy_port = Some(crate::plan::PROXY_PORT);
    sim.landlock.tcp_connect = vec![crate::plan::PROXY_PORT];
    if !sim.env.iter().any(|v| v.name == "HTTP_PROXY") {
        let url = format!("http://127.0.0.1:{}", crate::plan::PROXY_PORT);
        for (name, value) in [
            ("HTTP_PROXY", url.clone()),
            ("HTTPS_PROXY", url.clone()),
            ("http_proxy", url.clone()),
            ("https_proxy", url),
            ("NO_PROXY", "localhost,127.0.0.1".into()),
            ("no_proxy", "localhost,127.0.0.1".into()),
        ] {
            sim.env.push(crate::plan::EnvVar {
                name: name.into(),
                value,
                origin: Origin::builtin("simulation: egress proxy"),
            });
        }
    }
    sim
}

/// Would the enforced plan allow `access` to `path`? `Err` names the rule.
/// `fs` is the host: in the sandbox's private /tmp and home, the host's
/// own files are not there, while what the command creates itself is.
pub fn judge_file(plan: &Plan, path: &Path, access: Access, fs: &dyn FsView) -> Result<(), String> {
    if path.starts_with("/proc") || path.starts_with("/dev") {
        return Ok(());
    }
    let covering = plan
        .mounts
        .iter()
        .filter(|m| path.starts_with(&m.path))
        .max_by_key(|m| m.path.components().count());
    match covering.map(|m| (&m.op, &m.origin, &m.path)) {
        Some((MountOp::MaskFile | MountOp::MaskDir, origin, _)) => {
            Err(format!("blocked [{origin}]"))
        }
        Some((
            MountOp::BindRo
            | MountOp::BindRoRootless
            | MountOp::ReadOnly
            | MountOp::CreateDirReadOnly,
            origin,
            _,
        )) if access == Access::Write => Err(format!("read-only [{origin}]")),
        Some((MountOp::Tmpfs { .. }, origin, at)) => {
            // The host's object (or, for a write, the directory it goes
            // into) is not in the private tmpfs.
            let host_object = if access == Access::Write {
                path.parent().filter(|p| *p != at.as_path())
            } else {
                Some(path)
            };
            match host_object {
                Some(p) if fs.kind(p).is_some() => Err(format!("not visible: {} is private and empty [{origin}]; list {} under filesystem.readonly or writable", at.display(), p.display())),
                _ => Ok(()),
            }
        }
        Some(_) => Ok(()),
        None => {
            // Directories leading to visible trees exist (empty) in the root.
            if access != Access::Write && plan.mounts.iter().any(|m| m.path.starts_with(path)) {
                return Ok(());
            }
            Err("not visible in the sandbox (not listed in filesystem.readonly or writable)".into())
        }
    }
}

/// One line of the simulation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldDeny {
    pub layer: String,
    pub what: String,
    pub rule: String,
    pub count: usize,
}

/// Fold observations into distinct would-be denials with counts. Reads of
/// paths that do not exist on the host are probes, not denials.
pub fn report(plan: &Plan, events: &[Event], fs: &dyn FsView) -> Vec<WouldDeny> {
    let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for e in events {
        let key = match e {
            Event::File {
                access: Access::Read | Access::Exec,
                path,
            } if fs.kind(path).is_none() => continue,
            Event::File { path, access } => match judge_file(plan, path, *access, fs) {
                Ok(()) => continue,
                Err(rule) => (
                    "filesystem".to_string(),
                    format!("{} {}", access_word(*access), path.display()),
                    rule,
                ),
            },
            Event::Network {
                host,
                port,
                would_allow: false,
                reason,
            } => (
                "network".to_string(),
                format!("{host}:{port}"),
                reason.clone(),
            ),
            Event::Network { .. } => continue,
        };
        *seen.entry(key).or_default() += 1;
    }
    seen.into_iter()
        .map(|((layer, what, rule), count)| WouldDeny {
            layer,
            what,
            rule,
            count,
        })
        .collect()
}

fn access_word(a: Access) -> &'static str {
    match a {
        Access::Read => "read",
        Access::Write => "write",
        Access::Exec => "exec",
    }
}

/// What a run used, beyond files and hosts, for limits with headroom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub peak_memory_bytes: Option<u64>,
    pub wall_ms: u64,
    pub processes: usize,
}

/// Collapse paths to the directories a policy should list: a file's
/// directory, never a system tree or the sandbox's own places, and no
/// entry inside another.
fn collapse(
    paths: impl Iterator<Item = PathBuf>,
    workdir: &Path,
    home: &Path,
    fs: &dyn FsView,
) -> Vec<PathBuf> {
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for p in paths {
        // Under /tmp only what exists on the host (the command's own temp
        // files do not) can be listed; /proc, /dev and /sys never.
        if ["/proc", "/dev", "/sys"].iter().any(|n| p.starts_with(n))
            || p == Path::new("/tmp")
            || SYSTEM_BASE.iter().any(|b| p.starts_with(b))
            || p.starts_with(workdir)
        {
            continue;
        }
        let dir = match fs.kind(&p) {
            Some(Kind::Dir) => p.clone(),
            Some(_) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => continue, // probed but absent
        };
        if dir == Path::new("/") || dir == home {
            continue; // never list a whole root or home for one file
        }
        dirs.insert(dir);
    }
    let all: Vec<PathBuf> = dirs.iter().cloned().collect();
    all.into_iter()
        .filter(|d| !dirs.iter().any(|o| o != d && d.starts_with(o)))
        .collect()
}

fn home_relative(p: &Path, home: &Path) -> String {
    match p.strip_prefix(home) {
        Ok(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => p.display().to_string(),
    }
}

fn yaml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| format!("\"{}\"", i.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// The tightest policy that would have let the observed run succeed, as
/// commented YAML; `base` supplies what learning cannot observe (blocked
/// paths and patterns, exec rules, env).
pub fn learned_policy(
    base: &crate::policy::Policy,
    plan: &Plan,
    events: &[Event],
    usage: &Usage,
    fs: &dyn FsView,
) -> String {
    let home = plan.user.home.as_path();
    let workdir = plan.workdir.as_path();
    let writes = events.iter().filter_map(|e| match e {
        Event::File {
            path,
            access: Access::Write,
        } => Some(path.clone()),
        _ => None,
    });
    let writable_dirs = collapse(writes, workdir, home, fs);
    let reads = events.iter().filter_map(|e| match e {
        Event::File {
            path,
            access: Access::Read | Access::Exec,
        } => Some(path.clone()),
        _ => None,
    });
    let readonly_dirs: Vec<PathBuf> = collapse(reads, workdir, home, fs)
        .into_iter()
        .filter(|d| !writable_dirs.iter().any(|w| d.starts_with(w)))
        .collect();
    let mut hosts: BTreeSet<String> = BTreeSet::new();
    for e in events {
        if let Event::Network { host, port, .. } = e {
            let entry = match (host.parse::<std::net::IpAddr>(), port) {
                (Ok(_), p) => format!("{host}:{p}"),
                (Err(_), 80 | 443) => host.clone(),
                (Err(_), p) => format!("{host}:{p}"),
            };
            hosts.insert(entry);
        }
    }
    let mut writable = vec![".".to_string()];
    writable.extend(writable_dirs.iter().map(|d| home_relative(d, home)));
    let readonly: Vec<String> = readonly_dirs
        .iter()
        .map(|d| home_relative(d, home))
        .collect();
    let blocked: Vec<String> = base.blocked.iter().map(|b| b.value.clone()).collect();
    let exec_blocked: Vec<String> = base.exec_blocked.iter().map(|b| b.value.clone()).collect();
    let mem_mb = usage.peak_memory_bytes.map_or(1024, |b| {
        ((b * 2) / (1024 * 1024)).max(256).next_power_of_two()
    });
    let procs = (usage.processes * 4).max(64);
    let timeout = ((usage.wall_ms / 1000 + 1) * 5).max(60);
    let mut o = String::new();
    o.push_str("# Learned by `sandboxctl learn` from one observed run");
    o.push_str(&format!(
        " of: {}\n",
        crate::util::shell_join(&plan.command)
    ));
    o.push_str("# Review before use: it allows exactly what that run touched.\n");
    o.push_str("version: 1\nisolation: strict\nnetwork:\n  default: deny\n");
    if hosts.is_empty() {
        o.push_str("  # no network destinations were used\n");
    } else {
        o.push_str("  # destinations the run reached through the proxy\n");
        o.push_str(&format!(
            "  allow: {}\n",
            yaml_list(&hosts.into_iter().collect::<Vec<_>>())
        ));
    }
    o.push_str("filesystem:\n  # the workdir, and directories the run wrote to\n");
    o.push_str(&format!("  writable: {}\n", yaml_list(&writable)));
    if !readonly.is_empty() {
        o.push_str("  # directories the run read outside the system base\n");
        o.push_str(&format!("  readonly: {}\n", yaml_list(&readonly)));
    }
    if !blocked.is_empty() {
        o.push_str("  # kept from the base policy\n");
        o.push_str(&format!("  blocked: {}\n", yaml_list(&blocked)));
    }
    if !exec_blocked.is_empty() {
        o.push_str(&format!("exec:\n  blocked: {}\n", yaml_list(&exec_blocked)));
    }
    o.push_str("resources:\n  # limits with headroom over what the run used\n");
    o.push_str(&format!(
        "  max_memory_mb: {mem_mb}\n  max_processes: {procs}\n  timeout_s: {timeout}\n"
    ));
    o.push_str(&format!(
        "  enforcement: {}\n",
        if base.resources.enforcement() == crate::policy::Mode::Strict {
            "strict"
        } else {
            "best_effort"
        }
    ));
    let env_allow: Vec<String> = base.env_allow.iter().map(|e| e.value.clone()).collect();
    if !env_allow.is_empty() {
        o.push_str(&format!("env:\n  allow: {}\n", yaml_list(&env_allow)));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fsview::fake::FakeFs;
    use crate::plan::{build, HostInfo, Invocation, UserInfo};

    fn setup() -> (FakeFs, crate::policy::Policy, Plan) {
        let mut fs = FakeFs::new();
        fs.dir("/usr/bin")
            .dir("/etc")
            .dir("/opt/data")
            .file("/opt/data/in.csv")
            .dir("/home/u/.ssh")
            .file("/home/u/.ssh/id_rsa")
            .file("/home/u/notes.txt")
            .dir("/work/p")
            .file("/work/p/.env")
            .dir("/var/cache/x")
            .file("/var/cache/x/c");
        let policy = crate::policy::load_str("version: 1\nfilesystem:\n  writable: [\".\"]\n  blocked: [\"~/.ssh\", \".env\"]\nexec:\n  blocked: [sudo]\n", "base.yaml", None).unwrap();
        let user = UserInfo {
            uid: 1,
            gid: 1,
            name: "u".into(),
            home: "/home/u".into(),
        };
        let host = HostInfo {
            mem_total_mb: 4096,
            nofile_hard: 4096,
            root_etc: crate::plan::RootEtc::Unprobed,
        };
        let plan = build(
            &Invocation {
                policy: &policy,
                command: &["x".into()],
                workdir: Path::new("/work/p"),
                user: &user,
                env: &[],
                host: &host,
                timeout_override: None,
                protected: &[],
            },
            &fs,
        )
        .unwrap();
        (fs, policy, plan)
    }

    #[test]
    fn simulation_shows_the_host_read_only() {
        let (fs, _, plan) = setup();
        let sim = simulation_plan(&plan, &fs);
        let op = |p: &str| {
            sim.mounts
                .iter()
                .find(|m| m.path == Path::new(p))
                .map(|m| m.op.clone())
        };
        assert_eq!(op("/home"), Some(MountOp::BindRo));
        assert_eq!(op("/opt"), Some(MountOp::BindRo));
        assert_eq!(op("/work/p"), Some(MountOp::BindRw));
        assert_eq!(op("/proc"), Some(MountOp::Proc));
        assert!(op("/sys").is_none());
        assert_eq!(sim.network.proxy_port, Some(crate::plan::PROXY_PORT));
    }

    #[test]
    fn judging_against_the_enforced_plan() {
        let (fs, _, plan) = setup();
        assert!(judge_file(&plan, Path::new("/work/p/src.rs"), Access::Write, &fs).is_ok());
        assert!(judge_file(&plan, Path::new("/usr/bin/env"), Access::Exec, &fs).is_ok());
        assert!(
            judge_file(&plan, Path::new("/usr/bin/x"), Access::Write, &fs)
                .unwrap_err()
                .starts_with("read-only")
        );
        assert!(
            judge_file(&plan, Path::new("/work/p/.env"), Access::Read, &fs)
                .unwrap_err()
                .starts_with("blocked")
        );
        assert!(
            judge_file(&plan, Path::new("/opt/data/in.csv"), Access::Read, &fs)
                .unwrap_err()
                .contains("not visible")
        );
        assert!(
            judge_file(&plan, Path::new("/work"), Access::Read, &fs).is_ok(),
            "a directory on the way to the workdir"
        );
        assert!(
            judge_file(&plan, Path::new("/home/u/notes.txt"), Access::Read, &fs)
                .unwrap_err()
                .contains("private and empty")
        );
        assert!(
            judge_file(&plan, Path::new("/home/u/.cache/new"), Access::Write, &fs).is_ok(),
            "the command's own files in the private home"
        );
        assert!(
            judge_file(&plan, Path::new("/home/u/.ssh/new"), Access::Write, &fs).is_err(),
            "writing into a host directory of the home"
        );
        assert!(judge_file(&plan, Path::new("/opt/data/out"), Access::Write, &fs).is_err());
    }

    #[test]
    fn report_counts_distinct_denials() {
        let (fs, _, plan) = setup();
        let ev = |p: &str, a| Event::File {
            path: p.into(),
            access: a,
        };
        let events = vec![
            ev("/opt/data/in.csv", Access::Read),
            ev("/opt/data/in.csv", Access::Read),
            ev("/home/u/notes.txt", Access::Read),
            ev("/home/u/.cache/x", Access::Write),
            ev("/home/u/.curlrc", Access::Read),
            ev("/work/p/ok", Access::Write),
            Event::Network {
                host: "example.org".into(),
                port: 443,
                would_allow: false,
                reason: "not listed".into(),
            },
            Event::Network {
                host: "ok.org".into(),
                port: 443,
                would_allow: true,
                reason: String::new(),
            },
        ];
        let r = report(&plan, &events, &fs);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r
            .iter()
            .any(|d| d.what == "read /opt/data/in.csv" && d.count == 2));
        assert!(r
            .iter()
            .any(|d| d.layer == "network" && d.what == "example.org:443"));
    }

    #[test]
    fn learned_policy_is_tight_valid_and_keeps_blocks() {
        let (fs, base, plan) = setup();
        let events = vec![
            Event::File {
                path: "/opt/data/in.csv".into(),
                access: Access::Read,
            },
            Event::File {
                path: "/home/u/.ssh/id_rsa".into(),
                access: Access::Read,
            },
            Event::File {
                path: "/var/cache/x/c".into(),
                access: Access::Write,
            },
            Event::File {
                path: "/usr/bin/python3".into(),
                access: Access::Exec,
            },
            Event::File {
                path: "/opt/missing/file".into(),
                access: Access::Read,
            },
            Event::Network {
                host: "api.example.com".into(),
                port: 443,
                would_allow: false,
                reason: String::new(),
            },
        ];
        let y = learned_policy(
            &base,
            &plan,
            &events,
            &Usage {
                peak_memory_bytes: Some(300 << 20),
                wall_ms: 2500,
                processes: 3,
            },
            &fs,
        );
        let p = crate::policy::load_str(&y, "learned.yaml", None)
            .unwrap_or_else(|e| panic!("{e}\n{y}"));
        let ro: Vec<&str> = p.readonly.iter().map(|l| l.value.as_str()).collect();
        assert!(ro.contains(&"/opt/data"), "{y}");
        assert!(
            !ro.iter()
                .any(|r| r.contains("missing") || r.starts_with("/usr")),
            "{y}"
        );
        assert!(p.writable.iter().any(|w| w.value == "/var/cache/x"), "{y}");
        assert!(p.blocked.iter().any(|b| b.value == "~/.ssh"), "{y}");
        assert_eq!(p.network_allow.len(), 1);
        assert_eq!(
            p.resources.max_memory_mb.as_ref().map(|m| m.value),
            Some(1024)
        );
        assert_eq!(p.resources.timeout_s.as_ref().map(|m| m.value), Some(60));
    }
}
