//! The plan: everything `run` will apply, as plain data (DESIGN.md section 4).
//!
//! [`build`] is a pure function of the policy, the command, the workdir, the
//! invoking user, the host environment and a read-only view of the host
//! filesystem. It needs no privileges, and every item it produces carries the
//! policy line (or built-in rule) it came from, which `check` prints.

pub mod fsview;
pub mod render;
pub mod seccomp_rules;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths;
use crate::policy::{Located, Mode, NetRule, Policy};
use crate::precheck;
use fsview::{FsView, Kind};
pub use seccomp_rules::{SeccompAction, SeccompArg, SeccompRule};

/// Fixed system base, visible read-only (DESIGN.md 2.1).
pub const SYSTEM_BASE: [&str; 6] = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"];

/// Secrets of `/etc` that are always masked, as absolute globs.
pub const ETC_SECRETS: [&str; 12] = [
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh/*key*",
    "/etc/ssl/private",
    "/etc/security/opasswd",
    "/etc/krb5.keytab",
    "/etc/wireguard",
    "/etc/NetworkManager/system-connections",
];

/// Kernel interfaces under the sandbox's own `/proc` that are masked or
/// made read-only, as container runtimes do (Docker's masked/readonly paths).
pub const PROC_MASKED: [&str; 9] = [
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
    "/proc/acpi",
    "/proc/scsi",
    "/proc/asound",
    "/proc/sysrq-trigger",
];
pub const PROC_READONLY: [&str; 4] = ["/proc/sys", "/proc/bus", "/proc/irq", "/proc/fs"];

/// Names inside writable trees that run code later, outside the sandbox.
pub const LATER_EXEC_NAMES: [&str; 4] = [".git/hooks", ".git/config", ".envrc", ".vscode"];

/// TCP port of the egress proxy on the sandbox's own loopback.
pub const PROXY_PORT: u16 = 3128;

/// Most directory entries the start-up scan for name patterns may visit.
pub const MAX_SCAN_ENTRIES: usize = 1_000_000;

/// Where a plan item came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Origin {
    Policy {
        file: String,
        line: usize,
        col: usize,
        key: String,
    },
    Builtin {
        rule: String,
    },
    CommandLine {
        flag: String,
    },
}

impl Origin {
    pub fn policy<T>(policy: &Policy, located: &Located<T>, key: &str) -> Origin {
        Origin::Policy {
            file: policy.name.clone(),
            line: located.line,
            col: located.col,
            key: key.to_string(),
        }
    }
    pub fn builtin(rule: &str) -> Origin {
        Origin::Builtin {
            rule: rule.to_string(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Policy {
                file,
                line,
                col,
                key,
            } => write!(f, "{file}:{line}:{col} {key}"),
            Origin::Builtin { rule } => write!(f, "built-in: {rule}"),
            Origin::CommandLine { flag } => write!(f, "command line {flag}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MountOp {
    /// Bind the host path of the same name, read-only, recursively.
    BindRo,
    /// The host path read-only through the view the executor prepared,
    /// where files of the host's uid and gid 0 belong to nobody (65534):
    /// a root invoker reads only what others may.
    BindRoRootless,
    /// Bind the host path of the same name, writable.
    BindRw,
    /// Make an already visible path read-only in place.
    ReadOnly,
    /// Create a symlink.
    Symlink { target: PathBuf },
    /// A fresh procfs for the sandbox's pid namespace.
    Proc,
    /// A minimal `/dev`: null, zero, full, random, urandom, tty, pts, shm.
    Dev,
    /// A private tmpfs.
    Tmpfs { size_mb: u64 },
    /// Hide a file: an empty, unreadable, read-only file on top.
    MaskFile,
    /// Hide a directory: an empty, unreadable, read-only directory on top.
    MaskDir,
    /// The host directory of the same path as a read-only lower layer under
    /// a private writable tmpfs (simulation's /tmp): host files are seen,
    /// writes stay in the sandbox.
    Overlay { size_mb: u64 },
    /// Create an empty directory on the host to hold a protective mount
    /// (`.git/hooks` that git would create anyway), then make it read-only.
    CreateDirReadOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub path: PathBuf,
    #[serde(flatten)]
    pub op: MountOp,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsAccess {
    /// List directories only (the sandbox root).
    ListDir,
    /// Read, list and execute.
    ReadExec,
    /// Everything except creating device nodes.
    ReadWrite,
    /// Read and write existing device files, with their ioctls.
    Device,
    /// Read only (procfs).
    ReadOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockRule {
    pub path: PathBuf,
    pub access: FsAccess,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockPlan {
    pub rules: Vec<LandlockRule>,
    /// TCP ports `connect` may reach; empty means none at all.
    pub tcp_connect: Vec<u16>,
    /// Abstract unix sockets and signals limited to the sandbox (ABI 6).
    pub scoped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub value: u64,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub memory_mb: Option<Limit>,
    pub cpu_percent: Option<Limit>,
    pub file_size_mb: Option<Limit>,
    pub processes: Option<Limit>,
    pub timeout_s: Option<Limit>,
    pub enforcement: Mode,
    /// `RLIMIT_NOFILE` soft and hard.
    pub nofile: u64,
    pub tmp_size_mb: u64,
}

impl Limits {
    pub fn needs_cgroup(&self) -> bool {
        self.memory_mb.is_some() || self.cpu_percent.is_some() || self.processes.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyRule {
    pub rule: NetRule,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPlan {
    /// Empty: no proxy runs and nothing leaves the sandbox.
    pub allow: Vec<ProxyRule>,
    pub proxy_port: Option<u16>,
}

/// A path the plan leaves alone, with the reason (shown by `check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub message: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: PathBuf,
}

/// Facts about the host that shape the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub mem_total_mb: u64,
    pub nofile_hard: u64,
    /// For a root invoker: how root-only files in /etc are kept out.
    #[serde(default)]
    pub root_etc: RootEtc,
}

/// A root invoker keeps uid 0 inside (without capabilities), so owner and
/// group permission bits would still let it read root's files in /etc.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootEtc {
    /// Nothing was prepared: mask each root-only entry.
    #[default]
    Unprobed,
    /// The executor holds an idmapped view of /etc in which the host's uid
    /// and gid 0 belong to nobody, so only what others may read is
    /// readable, whatever changes in /etc after planning.
    Idmapped,
    /// Idmapped mounts are unavailable (why): mask each root-only entry.
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub policy_name: String,
    pub policy_path: Option<PathBuf>,
    pub policy_sha256: String,
    pub isolation: Mode,
    /// Where `isolation` was set (or that strict is the default).
    pub isolation_origin: Origin,
    pub workdir: PathBuf,
    pub user: UserInfo,
    pub command: Vec<String>,
    pub precheck: Option<precheck::Decision>,
    pub mounts: Vec<Mount>,
    pub landlock: LandlockPlan,
    pub seccomp: Vec<SeccompRule>,
    pub limits: Limits,
    pub network: NetworkPlan,
    pub env: Vec<EnvVar>,
    pub hostname: String,
    pub notes: Vec<Note>,
}

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Policy {
                file, line, col, ..
            } => write!(f, "{file}:{line}:{col}: {}", self.message),
            other => write!(f, "{} ({other})", self.message),
        }
    }
}

impl std::error::Error for PlanError {}

/// Everything the plan is made from.
pub struct Invocation<'a> {
    pub policy: &'a Policy,
    pub command: &'a [String],
    /// Canonical working directory.
    pub workdir: &'a Path,
    pub user: &'a UserInfo,
    pub env: &'a [(String, String)],
    pub host: &'a HostInfo,
    pub timeout_override: Option<u64>,
    /// Files that must never be writable from inside (audit log, ...).
    pub protected: &'a [PathBuf],
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    Ro,
    Rw,
}

struct Tree {
    path: PathBuf,
    want: Want,
    origin: Origin,
}

pub fn build(inv: &Invocation<'_>, fs: &dyn FsView) -> Result<Plan, PlanError> {
    let policy = inv.policy;
    let home = inv.user.home.as_path();
    let mut notes = Vec::new();

    // 1. Listed paths and patterns.
    let mut trees: Vec<Tree> = Vec::new();
    for (list, want, key) in [
        (&policy.readonly, Want::Ro, "filesystem.readonly"),
        (&policy.writable, Want::Rw, "filesystem.writable"),
    ] {
        for entry in list {
            let origin = Origin::policy(policy, entry, key);
            // A bare name here is a workdir-relative path; only globs are refused.
            if paths::has_glob(&entry.value) {
                return Err(PlanError {
                    origin,
                    message: format!(
                        "`{}` is a glob; `{key}` takes paths (patterns belong in filesystem.blocked)",
                        entry.value
                    ),
                });
            }
            let path = listed_path(fs, &entry.value, inv.workdir, home, &origin)?;
            check_listable(&path, &origin)?;
            trees.push(Tree { path, want, origin });
        }
    }

    let mut blocked_paths: Vec<(PathBuf, Origin)> = Vec::new();
    let mut globs: Vec<(String, Origin)> = Vec::new();
    for entry in &policy.blocked {
        let origin = Origin::policy(policy, entry, "filesystem.blocked");
        if paths::is_pattern(&entry.value) {
            globs.push((paths::pattern_glob(&entry.value, inv.workdir, home), origin));
            continue;
        }
        let lexical = paths::expand(&entry.value, inv.workdir, home);
        // A blocked path is honoured at its real location: through any
        // symlink in its spelling, and at its target if it is a symlink.
        match fsview::resolve(fs, &lexical) {
            Some(real) => blocked_paths.push((real, origin)),
            None => notes.push(Note {
                message: format!("{} does not exist; nothing to mask", lexical.display()),
                origin,
            }),
        }
    }
    for secret in ETC_SECRETS {
        globs.push((
            secret.to_string(),
            Origin::builtin("/etc secrets are masked"),
        ));
    }

    // 2. The host trees that will be visible, for the pattern scan.
    let mut visible: Vec<PathBuf> = SYSTEM_BASE
        .iter()
        .filter(|d| fs.kind(Path::new(d)) == Some(Kind::Dir))
        .map(PathBuf::from)
        .collect();
    visible.extend(trees.iter().map(|t| t.path.clone()));

    let mut scan = Scan {
        fs,
        globs: &globs,
        masks: Vec::new(),
        protect: Vec::new(),
        visited: 0,
    };
    let writable: Vec<&Path> = trees
        .iter()
        .filter(|t| t.want == Want::Rw)
        .map(|t| t.path.as_path())
        .collect();
    let mut scan_roots: Vec<(PathBuf, bool)> = Vec::new();
    for t in &trees {
        if fs.kind(&t.path) == Some(Kind::Dir) {
            scan_roots.push((t.path.clone(), t.want == Want::Rw));
        } else {
            scan.visit_file(
                &t.path,
                fs.kind(&t.path).unwrap_or(Kind::Other),
                t.want == Want::Rw,
            );
        }
    }
    // System trees are never walked for `**` patterns (that would mask
    // every CA certificate as `*.pem`): only absolute patterns aimed at
    // them are checked, literal ones directly and globs from their root.
    let mut system_globs: Vec<(String, Origin)> = Vec::new();
    for (glob, origin) in &globs {
        let Some(root) = paths::glob_root(glob) else {
            continue;
        };
        if !SYSTEM_BASE.iter().any(|b| root.starts_with(b)) {
            continue;
        }
        if !paths::has_glob(glob) {
            let p = PathBuf::from(glob);
            if let Some(kind) = fs.kind(&p) {
                scan.masks.push((p, kind, origin.clone()));
            }
        } else {
            system_globs.push((glob.clone(), origin.clone()));
        }
    }
    scan_roots.sort();
    scan_roots.dedup();
    let roots: Vec<(PathBuf, bool)> = scan_roots
        .iter()
        .filter(|(p, _)| !scan_roots.iter().any(|(q, _)| q != p && p.starts_with(q)))
        .cloned()
        .collect();
    for (root, _) in &roots {
        let in_writable = writable.iter().any(|w| root.starts_with(w));
        scan.walk(root, in_writable).map_err(|message| PlanError {
            origin: Origin::builtin("name-pattern scan"),
            message,
        })?;
    }
    let mut system_scan = Scan {
        fs,
        globs: &system_globs,
        masks: Vec::new(),
        protect: Vec::new(),
        visited: 0,
    };
    let mut system_roots: Vec<PathBuf> = system_globs
        .iter()
        .filter_map(|(g, _)| paths::glob_root(g))
        .filter(|r| fs.kind(r) == Some(Kind::Dir))
        .collect();
    system_roots.sort();
    system_roots.dedup();
    for root in &system_roots {
        system_scan.walk(root, false).map_err(|message| PlanError {
            origin: Origin::builtin("name-pattern scan"),
            message,
        })?;
    }
    scan.masks.append(&mut system_scan.masks);
    let etc_rootless = inv.user.uid == 0 && inv.host.root_etc == RootEtc::Idmapped;
    if inv.user.uid == 0 && !etc_rootless {
        if let RootEtc::Unavailable(why) = &inv.host.root_etc {
            notes.push(Note {
                message: format!("root-only files in /etc are masked one by one, as planned now (an idmapped /etc is unavailable: {why})"),
                origin: Origin::builtin("root-only file in /etc (the invoker is root)"),
            });
        }
        root_only_files(fs, Path::new("/etc"), &mut scan.masks);
    }
    for (path, kind, origin) in std::mem::take(&mut scan.masks) {
        let target = if kind == Kind::Symlink {
            match fsview::resolve(fs, &path) {
                Some(real) => real,
                None => continue,
            }
        } else {
            path
        };
        blocked_paths.push((target, origin));
    }

    // 3. Mounts.
    let mut mounts: Vec<Mount> = Vec::new();
    for base in SYSTEM_BASE {
        let p = Path::new(base);
        let origin = Origin::builtin("system base, read-only");
        match fs.kind(p) {
            Some(Kind::Dir) if etc_rootless && base == "/etc" => mounts.push(Mount {
                path: p.into(),
                op: MountOp::BindRoRootless,
                origin: Origin::builtin("system base, read-only; host root's files belong to nobody (the invoker is root)"),
            }),
            Some(Kind::Dir) => mounts.push(Mount {
                path: p.into(),
                op: MountOp::BindRo,
                origin,
            }),
            Some(Kind::Symlink) => {
                if let Some(target) = fs.read_link(p) {
                    mounts.push(Mount {
                        path: p.into(),
                        op: MountOp::Symlink { target },
                        origin,
                    });
                }
            }
            _ => {}
        }
    }
    let proc_origin = Origin::builtin("own /proc for the pid namespace");
    mounts.push(Mount {
        path: "/proc".into(),
        op: MountOp::Proc,
        origin: proc_origin.clone(),
    });
    for p in PROC_READONLY {
        mounts.push(Mount {
            path: p.into(),
            op: MountOp::ReadOnly,
            origin: proc_origin.clone(),
        });
    }
    for p in PROC_MASKED {
        // Whether each is a file or a directory depends on the kernel; the
        // executor masks what it finds.
        mounts.push(Mount {
            path: p.into(),
            op: MountOp::MaskFile,
            origin: proc_origin.clone(),
        });
    }
    mounts.push(Mount {
        path: "/dev".into(),
        op: MountOp::Dev,
        origin: Origin::builtin("minimal /dev"),
    });

    let limits = limits(inv)?;
    mounts.push(Mount {
        path: "/tmp".into(),
        op: MountOp::Tmpfs {
            size_mb: limits.tmp_size_mb,
        },
        origin: Origin::builtin("private, size-limited /tmp"),
    });
    let home_visible = trees.iter().any(|t| home.starts_with(&t.path));
    let private_home = !home_visible && home != Path::new("/") && !home.starts_with("/tmp");
    if private_home {
        mounts.push(Mount {
            path: home.to_path_buf(),
            op: MountOp::Tmpfs {
                size_mb: limits.tmp_size_mb,
            },
            origin: Origin::builtin("private, empty home directory"),
        });
    }

    // Blocked beats writable beats readonly.
    let is_blocked = |p: &Path| blocked_paths.iter().any(|(b, _)| p.starts_with(b));
    let mut seen = BTreeSet::new();
    let mut ordered: Vec<&Tree> = trees.iter().filter(|t| t.want == Want::Rw).collect();
    ordered.extend(trees.iter().filter(|t| t.want == Want::Ro));
    for t in ordered {
        if !seen.insert(t.path.clone()) {
            continue; // the same path listed writable wins over readonly
        }
        if is_blocked(&t.path) {
            notes.push(Note {
                message: format!(
                    "{} lies in a blocked path; it stays hidden",
                    t.path.display()
                ),
                origin: t.origin.clone(),
            });
            continue;
        }
        let op = if t.want == Want::Rw {
            MountOp::BindRw
        } else {
            MountOp::BindRo
        };
        mounts.push(Mount {
            path: t.path.clone(),
            op,
            origin: t.origin.clone(),
        });
    }

    let within_visible = |p: &Path| {
        trees.iter().any(|t| p.starts_with(&t.path)) || visible.iter().any(|v| p.starts_with(v))
    };
    let within_writable = |p: &Path| writable.iter().any(|w| p.starts_with(w));

    // Later-exec places and the files sandboxctl itself trusts.
    let mut protect: Vec<(PathBuf, MountOp, Origin)> = std::mem::take(&mut scan.protect);
    let mut own_files: Vec<PathBuf> = inv.protected.to_vec();
    if let Some(p) = &policy.path {
        own_files.push(p.clone());
        own_files.push(crate::integrity::manifest_path(p));
    }
    for f in own_files {
        if within_writable(&f) && fs.kind(&f).is_some() {
            protect.push((
                f,
                MountOp::ReadOnly,
                Origin::builtin("sandboxctl's own files are read-only inside"),
            ));
        }
    }
    for (path, op, origin) in protect {
        if !is_blocked(&path) {
            mounts.push(Mount { path, op, origin });
        }
    }

    let mut masked = BTreeSet::new();
    for (path, origin) in &blocked_paths {
        if !masked.insert(path.clone()) {
            continue;
        }
        if !within_visible(path) {
            continue;
        }
        let op = match fs.kind(path) {
            Some(Kind::Dir) => MountOp::MaskDir,
            Some(_) => MountOp::MaskFile,
            None => continue,
        };
        mounts.push(Mount {
            path: path.clone(),
            op,
            origin: origin.clone(),
        });
    }
    // Parents before children; the order among equals is the order above.
    mounts.sort_by_key(|m| m.path.components().count());

    // 4. Landlock: the same trees, as a second, independent wall.
    let mut rules = vec![LandlockRule {
        path: "/".into(),
        access: FsAccess::ListDir,
        origin: Origin::builtin("list the sandbox root"),
    }];
    for m in &mounts {
        let access = match &m.op {
            MountOp::BindRo | MountOp::BindRoRootless => FsAccess::ReadExec,
            MountOp::BindRw => FsAccess::ReadWrite,
            MountOp::Tmpfs { .. } => FsAccess::ReadWrite,
            MountOp::Proc => FsAccess::ReadOnly,
            MountOp::Dev => FsAccess::Device,
            _ => continue,
        };
        rules.push(LandlockRule {
            path: m.path.clone(),
            access,
            origin: m.origin.clone(),
        });
    }
    rules.push(LandlockRule {
        path: "/dev/shm".into(),
        access: FsAccess::ReadWrite,
        origin: Origin::builtin("minimal /dev"),
    });

    let network = NetworkPlan {
        proxy_port: (!policy.network_allow.is_empty()).then_some(PROXY_PORT),
        allow: policy
            .network_allow
            .iter()
            .map(|r| ProxyRule {
                rule: r.value.clone(),
                origin: Origin::policy(policy, r, "network.allow"),
            })
            .collect(),
    };
    let landlock = LandlockPlan {
        rules,
        tcp_connect: network.proxy_port.into_iter().collect(),
        scoped: true,
    };

    let precheck = if inv.command.is_empty() {
        None
    } else {
        Some(precheck::decide(policy, inv.command))
    };

    Ok(Plan {
        policy_name: policy.name.clone(),
        policy_path: policy.path.clone(),
        policy_sha256: policy.sha256.clone(),
        isolation: policy.isolation.value,
        isolation_origin: if policy.isolation.line == 0 {
            Origin::builtin("isolation: strict is the default")
        } else {
            Origin::policy(policy, &policy.isolation, "isolation")
        },
        workdir: inv.workdir.to_path_buf(),
        user: inv.user.clone(),
        command: inv.command.to_vec(),
        precheck,
        mounts,
        landlock,
        seccomp: seccomp_rules::rules(),
        env: environment(inv, &network),
        limits,
        network,
        hostname: "sandbox".into(),
        notes,
    })
}

/// Landlock rules for running without a mount namespace: only what the
/// plan binds from the host (the private /tmp and home would be the host's
/// own), read-only /proc, and the individual harmless devices.
pub fn host_landlock(plan: &Plan) -> LandlockPlan {
    let mut rules: Vec<LandlockRule> = plan
        .landlock
        .rules
        .iter()
        .filter(|r| {
            r.path == Path::new("/proc")
                || r.path == Path::new("/")
                || plan.mounts.iter().any(|m| {
                    m.path == r.path
                        && matches!(
                            m.op,
                            MountOp::BindRo | MountOp::BindRoRootless | MountOp::BindRw
                        )
                })
        })
        .cloned()
        .collect();
    for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
        rules.push(LandlockRule {
            path: Path::new("/dev").join(dev),
            access: FsAccess::Device,
            origin: Origin::builtin("minimal /dev (host devices, without namespaces)"),
        });
    }
    LandlockPlan {
        rules,
        ..plan.landlock.clone()
    }
}

/// Without an idmapped /etc (see [`RootEtc`]): every file or directory in
/// /etc that root owns (user or group) and others may not read is masked,
/// whatever its name.
fn root_only_files(fs: &dyn FsView, dir: &Path, out: &mut Vec<(PathBuf, Kind, Origin)>) {
    let mut stack = vec![dir.to_path_buf()];
    let mut visited = 0usize;
    while let Some(d) = stack.pop() {
        for (name, kind, owner) in fs.list_owned(&d) {
            visited += 1;
            if visited > 50_000 {
                return;
            }
            let Some((mode, uid, gid)) = owner else {
                continue;
            };
            if kind == Kind::Symlink {
                continue;
            }
            let path = d.join(&name);
            if (uid == 0 || gid == 0) && mode & 0o004 == 0 {
                if !out.iter().any(|(p, _, _)| path.starts_with(p)) {
                    out.push((
                        path,
                        kind,
                        Origin::builtin("root-only file in /etc (the invoker is root)"),
                    ));
                }
            } else if kind == Kind::Dir {
                stack.push(path);
            }
        }
    }
}

/// Resolve a `writable`/`readonly` entry: its base (workdir, home, `/`) may
/// be reached through symlinks, but nothing below it may be one, so a link
/// planted by an earlier run cannot redirect a mount.
fn listed_path(
    fs: &dyn FsView,
    entry: &str,
    workdir: &Path,
    home: &Path,
    origin: &Origin,
) -> Result<PathBuf, PlanError> {
    let fail = |message: String| PlanError {
        origin: origin.clone(),
        message,
    };
    let base = paths::base_of(entry, workdir, home);
    let base_real = fsview::resolve(fs, base)
        .ok_or_else(|| fail(format!("{} does not exist", base.display())))?;
    let path = paths::expand(entry, workdir, home);
    let rest = path.strip_prefix(base).unwrap_or(&path);
    let mut cur = base_real;
    for part in rest.components() {
        cur.push(part);
        match fs.kind(&cur) {
            None => {
                return Err(fail(format!(
                    "{} does not exist (create it, or remove the entry)",
                    cur.display()
                )))
            }
            Some(Kind::Symlink) => {
                let target = fs.read_link(&cur).unwrap_or_default();
                return Err(fail(format!(
                    "{} is a symlink to {}; list the real path instead (symlinks in listed paths are refused so a planted link cannot redirect a mount)",
                    cur.display(),
                    target.display()
                )));
            }
            Some(_) => {}
        }
    }
    if fs.kind(&cur).is_none() {
        return Err(fail(format!("{} does not exist", cur.display())));
    }
    Ok(cur)
}

fn check_listable(path: &Path, origin: &Origin) -> Result<(), PlanError> {
    let fail = |message: String| {
        Err(PlanError {
            origin: origin.clone(),
            message,
        })
    };
    if path == Path::new("/") {
        return fail("`/` cannot be listed: it would expose /sys, /run and every home; list the directories the command needs (if this is the workdir, run from a project directory or pass -w DIR)".into());
    }
    for own in ["/proc", "/dev"] {
        if path.starts_with(own) {
            return fail(format!(
                "{own} is provided by sandboxctl and cannot be listed"
            ));
        }
    }
    Ok(())
}

struct Scan<'a> {
    fs: &'a dyn FsView,
    globs: &'a [(String, Origin)],
    masks: Vec<(PathBuf, Kind, Origin)>,
    protect: Vec<(PathBuf, MountOp, Origin)>,
    visited: usize,
}

impl Scan<'_> {
    fn visit_file(&mut self, path: &Path, kind: Kind, in_writable: bool) {
        for (glob, origin) in self.globs {
            if paths::glob_match(glob, path) {
                self.masks.push((path.to_path_buf(), kind, origin.clone()));
                return;
            }
        }
        if !in_writable {
            return;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let origin = || Origin::builtin("runs code outside the sandbox later: read-only inside");
        match (name, kind) {
            (".git", Kind::Dir) => {
                let hooks = path.join("hooks");
                match self.fs.kind(&hooks) {
                    Some(Kind::Dir) => self.protect.push((hooks, MountOp::ReadOnly, origin())),
                    None => self
                        .protect
                        .push((hooks, MountOp::CreateDirReadOnly, origin())),
                    _ => {}
                }
                let config = path.join("config");
                if self.fs.kind(&config).is_some() {
                    self.protect.push((config, MountOp::ReadOnly, origin()));
                }
            }
            (".envrc", _) | (".vscode", _) if kind != Kind::Symlink => {
                self.protect
                    .push((path.to_path_buf(), MountOp::ReadOnly, origin()));
            }
            _ => {}
        }
    }

    fn walk(&mut self, root: &Path, in_writable: bool) -> Result<(), String> {
        self.visit_file(root, Kind::Dir, in_writable);
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for (name, kind) in self.fs.list(&dir) {
                self.visited += 1;
                if self.visited > MAX_SCAN_ENTRIES {
                    return Err(format!(
                        "more than {MAX_SCAN_ENTRIES} entries under the listed trees; list narrower trees so name patterns can be checked at start-up"
                    ));
                }
                let path = dir.join(&name);
                self.visit_file(&path, kind, in_writable);
                let masked = self.masks.last().is_some_and(|(p, _, _)| p == &path);
                if kind == Kind::Dir && !masked {
                    stack.push(path);
                }
            }
        }
        Ok(())
    }
}

fn limits(inv: &Invocation<'_>) -> Result<Limits, PlanError> {
    let r = &inv.policy.resources;
    let from = |l: &Option<Located<u64>>, key: &str| {
        l.as_ref().map(|v| Limit {
            value: v.value,
            origin: Origin::policy(inv.policy, v, &format!("resources.{key}")),
        })
    };
    let timeout_s = match inv.timeout_override {
        Some(0) => {
            return Err(PlanError {
                origin: Origin::CommandLine {
                    flag: "--timeout".into(),
                },
                message: "--timeout must be at least 1 second".into(),
            })
        }
        Some(t) if t > crate::policy::MAX_LIMIT => {
            return Err(PlanError {
                origin: Origin::CommandLine {
                    flag: "--timeout".into(),
                },
                message: format!(
                    "--timeout must be at most {} seconds",
                    crate::policy::MAX_LIMIT
                ),
            })
        }
        Some(t) => Some(Limit {
            value: t,
            origin: Origin::CommandLine {
                flag: "--timeout".into(),
            },
        }),
        None => from(&r.timeout_s, "timeout_s"),
    };
    let memory_mb = from(&r.max_memory_mb, "max_memory_mb");
    // /tmp is tmpfs: its pages are charged to the memory cgroup, and its
    // size is capped so that even without one it cannot fill host memory.
    let quarter = (inv.host.mem_total_mb / 4).max(64);
    let tmp_size_mb = memory_mb.as_ref().map_or(1024, |m| m.value).min(quarter);
    Ok(Limits {
        memory_mb,
        cpu_percent: from(&r.max_cpu_percent, "max_cpu_percent"),
        file_size_mb: from(&r.max_file_size_mb, "max_file_size_mb"),
        processes: from(&r.max_processes, "max_processes"),
        timeout_s,
        enforcement: r.enforcement(),
        nofile: inv.host.nofile_hard.clamp(1024, 65536),
        tmp_size_mb,
    })
}

/// The scrubbed environment (DESIGN.md 2.5).
fn environment(inv: &Invocation<'_>, network: &NetworkPlan) -> Vec<EnvVar> {
    let policy = inv.policy;
    let host = |name: &str| {
        inv.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let builtin = |name: &str, value: String| EnvVar {
        name: name.into(),
        value,
        origin: Origin::builtin("sandbox environment"),
    };
    let mut env = vec![
        builtin(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        builtin("HOME", inv.user.home.display().to_string()),
        builtin("USER", inv.user.name.clone()),
        builtin("LOGNAME", inv.user.name.clone()),
        builtin("TERM", host("TERM").unwrap_or_else(|| "dumb".into())),
        builtin("LANG", host("LANG").unwrap_or_else(|| "C.UTF-8".into())),
    ];
    if let Some(port) = network.proxy_port {
        let url = format!("http://127.0.0.1:{port}");
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            env.push(EnvVar {
                name: name.into(),
                value: url.clone(),
                origin: Origin::builtin("egress proxy"),
            });
        }
        for name in ["ALL_PROXY", "all_proxy"] {
            env.push(EnvVar {
                name: name.into(),
                value: format!("socks5h://127.0.0.1:{port}"),
                origin: Origin::builtin("egress proxy"),
            });
        }
        for name in ["NO_PROXY", "no_proxy"] {
            env.push(EnvVar {
                name: name.into(),
                value: "localhost,127.0.0.1".into(),
                origin: Origin::builtin("egress proxy"),
            });
        }
    }
    let mut set = |name: &str, value: String, origin: Origin| {
        env.retain(|v| v.name != name);
        env.push(EnvVar {
            name: name.into(),
            value,
            origin,
        });
    };
    for allow in &policy.env_allow {
        let origin = Origin::policy(policy, allow, "env.allow");
        for (k, v) in inv.env {
            let hit = match allow.value.strip_suffix('*') {
                Some(prefix) => k.starts_with(prefix),
                None => *k == allow.value,
            };
            if hit {
                set(k, v.clone(), origin.clone());
            }
        }
    }
    for (name, value) in &policy.env_set {
        set(
            &name.value,
            value.clone(),
            Origin::policy(policy, name, "env.set"),
        );
    }
    env
}

#[cfg(test)]
mod tests;
