//! `sandboxctl doctor`: what this kernel and this user can enforce, found
//! by really trying each thing in a throw-away child process.

use std::path::Path;

use serde::Serialize;

use crate::cgroup;
use crate::sandbox::{landlock, seccomp, sys};

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// What to do when it is not ok.
    pub fix: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub uid: u32,
    pub kernel: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    pub fn human(&self) -> String {
        let mut o = format!(
            "sandboxctl doctor (uid {}, kernel {})\n",
            self.uid, self.kernel
        );
        for c in &self.checks {
            o.push_str(&format!(
                "  {:<4} {:<28} {}\n",
                if c.ok { "ok" } else { "MISSING" },
                c.name,
                c.detail
            ));
            if !c.ok && !c.fix.is_empty() {
                o.push_str(&format!("       {:<28} fix: {}\n", "", c.fix));
            }
        }
        o
    }
}

/// Run `f` in a forked child and report whether it returned Ok.
fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut pipe = [0; 2];
    // SAFETY: pipe2 fills two descriptors.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err("pipe failed".into());
    }
    // SAFETY: doctor runs single-threaded; the child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let msg = match f() {
            Ok(()) => String::new(),
            Err(e) => e,
        };
        // SAFETY: writing the message and leaving the child.
        unsafe {
            libc::write(pipe[1], msg.as_ptr().cast(), msg.len());
            libc::_exit(if msg.is_empty() { 0 } else { 1 });
        }
    }
    // SAFETY: closing our write end, reading the child's message, reaping it.
    unsafe { libc::close(pipe[1]) };
    let mut buf = [0u8; 512];
    let n = unsafe { libc::read(pipe[0], buf.as_mut_ptr().cast(), buf.len()) };
    unsafe { libc::close(pipe[0]) };
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if n > 0 {
        Err(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    } else {
        Err("the probe process died".into())
    }
}

fn enter_userns() -> Result<(), String> {
    // SAFETY: plain getters and unshare.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } < 0 {
        return Err(format!(
            "unshare(CLONE_NEWUSER): {}",
            std::io::Error::last_os_error()
        ));
    }
    let _ = std::fs::write("/proc/self/setgroups", "deny");
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))
        .map_err(|e| format!("uid_map: {e}"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))
        .map_err(|e| format!("gid_map: {e}"))?;
    Ok(())
}

pub fn probe() -> Report {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut checks = Vec::new();

    let userns = in_child(|| {
        enter_userns()?;
        // SAFETY: unshare with flag constants.
        if unsafe {
            libc::unshare(
                libc::CLONE_NEWNS
                    | libc::CLONE_NEWPID
                    | libc::CLONE_NEWNET
                    | libc::CLONE_NEWIPC
                    | libc::CLONE_NEWUTS
                    | libc::CLONE_NEWCGROUP,
            )
        } < 0
        {
            return Err(format!(
                "unshare(mount, pid, net, ipc, uts, cgroup): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    });
    checks.push(Check {
        name: "user namespaces".into(),
        ok: userns.is_ok(),
        detail: userns.clone().map_or_else(|e| e, |()| "user, mount, pid, net, ipc, uts and cgroup namespaces can be created".into()),
        fix: "allow unprivileged user namespaces (user.max_user_namespaces > 0; Debian: kernel.unprivileged_userns_clone=1; Ubuntu: kernel.apparmor_restrict_unprivileged_userns=0), or use `isolation: best_effort`".into(),
    });

    let abi = landlock::kernel_abi();
    let created = in_child(|| {
        let status = landlock::apply(
            &crate::plan::LandlockPlan {
                rules: Vec::new(),
                tcp_connect: Vec::new(),
                scoped: true,
            },
            None,
        );
        match status.enforced {
            crate::sandbox::proto::Enforced::Not => Err(status.detail),
            _ => Ok(()),
        }
    });
    checks.push(Check {
        name: "landlock".into(),
        ok: abi >= landlock::WANTED as u8 && created.is_ok(),
        detail: match &created {
            Ok(()) => {
                let lost = landlock::lost_features(abi);
                if lost.is_empty() { format!("ABI {abi}: ruleset created and enforced") } else { format!("ABI {abi}: ruleset created; missing: {}", lost.join(", ")) }
            }
            Err(e) => format!("ABI {abi}: {e}"),
        },
        fix: "Linux 6.12 or later with Landlock enabled (lsm=...,landlock on the kernel command line); else `isolation: best_effort`".into(),
    });

    let filter = in_child(|| {
        crate::sandbox::sys::errno_result(unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        })
        .map_err(|e| e.to_string())?;
        seccomp::install(&seccomp::compile(&crate::plan::seccomp_rules::rules()))
            .map_err(|e| format!("seccomp: {e}"))
    });
    checks.push(Check {
        name: "seccomp".into(),
        ok: filter.is_ok(),
        detail: filter
            .clone()
            .map_or_else(|e| e, |()| "the sandbox's filter loads".into()),
        fix: "a kernel built with CONFIG_SECCOMP_FILTER".into(),
    });

    checks.extend(cgroup_checks());

    let overlay = if userns.is_ok() {
        overlay_probe()
    } else {
        Err("needs user namespaces".into())
    };
    checks.push(Check {
        name: "overlayfs in user namespace".into(),
        ok: overlay.is_ok(),
        detail: overlay.map_or_else(
            |e| e,
            |()| "overlayfs mounts inside a user namespace".into(),
        ),
        fix: "Linux 5.11 or later".into(),
    });
    Report {
        uid,
        kernel,
        checks,
    }
}

fn writable(p: &Path) -> bool {
    let Ok(c) = sys::cpath(p) else { return false };
    // SAFETY: access with a valid path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

fn cgroup_checks() -> Vec<Check> {
    let root = Path::new(cgroup::DEFAULT_ROOT);
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let lines = cgroup::parse_proc_cgroup(&text);
    let mut out = Vec::new();
    let own_v2 = lines
        .iter()
        .find(|(c, _)| c.is_empty())
        .map(|(_, p)| p.clone());
    let v2_root = [root.to_path_buf(), root.join("unified")]
        .into_iter()
        .find(|r| r.join("cgroup.controllers").exists());
    let v2_detail = match (&v2_root, &own_v2) {
        (Some(r), Some(own)) => {
            let dir = cgroup::under(r, own);
            let ctrls = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            let ok = writable(&dir)
                && ["memory", "cpu", "pids"]
                    .iter()
                    .all(|c| ctrls.split_whitespace().any(|x| x == *c));
            (
                ok,
                format!(
                    "{} (controllers: {}; {})",
                    dir.display(),
                    if ctrls.trim().is_empty() {
                        "none"
                    } else {
                        ctrls.trim()
                    },
                    if writable(&dir) {
                        "writable"
                    } else {
                        "not writable"
                    }
                ),
            )
        }
        _ => (false, "not mounted".into()),
    };
    let v1 = cgroup::v1::V1::new(root.to_path_buf(), &lines);
    let mut v1_parts = Vec::new();
    let mut v1_ok = true;
    for c in ["memory", "cpu", "pids"] {
        let w = lines
            .iter()
            .find(|(cs, _)| cs.iter().any(|x| x == c))
            .map(|(cs, p)| {
                let single = root.join(c);
                let base = if single.exists() {
                    single
                } else {
                    root.join(cs.join(","))
                };
                writable(&cgroup::under(&base, p))
            });
        let state = match (v1.has(c), w) {
            (true, Some(true)) => "writable",
            (true, _) => "not writable",
            _ => "absent",
        };
        v1_ok &= state == "writable";
        v1_parts.push(format!("{c}: {state}"));
    }
    out.push(Check {
        name: "cgroup v2 limits".into(),
        ok: v2_detail.0 || v1_ok,
        detail: v2_detail.1,
        fix: "run as root, or start inside a delegated cgroup (`systemd-run --user --scope -p Delegate=yes ...`), or use `resources.enforcement: best_effort`".into(),
    });
    out.push(Check {
        name: "cgroup v1 limits".into(),
        ok: v2_detail.0 || v1_ok,
        detail: v1_parts.join(", "),
        fix: "as above; v1 controllers are writable by root only on most hosts".into(),
    });
    out
}

fn overlay_probe() -> Result<(), String> {
    let base = std::env::temp_dir().join(format!("sandboxctl-doctor-{}", std::process::id()));
    let dirs = ["lower", "upper", "work", "merged"].map(|d| base.join(d));
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let result = in_child(|| {
        enter_userns()?;
        // SAFETY: unshare with a flag constant.
        if unsafe { libc::unshare(libc::CLONE_NEWNS) } < 0 {
            return Err(format!(
                "unshare(CLONE_NEWNS): {}",
                std::io::Error::last_os_error()
            ));
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            dirs[0].display(),
            dirs[1].display(),
            dirs[2].display()
        );
        let c = |s: &str| sys::cstr(s).map_err(|e| e.to_string());
        sys::mount(
            Some(&c("overlay")?),
            &sys::cpath(&dirs[3]).map_err(|e| e.to_string())?,
            Some(&c("overlay")?),
            0,
            Some(&c(&opts)?),
        )
        .map_err(|e| format!("mount overlay: {e}"))
    });
    remove_probe_tree(&base);
    result
}

/// Remove the probe's directories. overlayfs leaves `work/work` with mode
/// 000, which an ordinary user cannot list (root can), so every directory
/// is first made the owner's to read and enter.
fn remove_probe_tree(base: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![base.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(rd) = std::fs::read_dir(&dir) {
            stack.extend(rd.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    let _ = std::fs::remove_dir_all(base);
}
