//! The plan as `check` prints it for people.

use std::fmt::Write;

use super::{FsAccess, MountOp, Plan};
use crate::policy::Mode;

fn mode(m: Mode) -> &'static str {
    match m {
        Mode::Strict => "strict",
        Mode::BestEffort => "best_effort",
    }
}

pub fn human(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "policy:    {} (sha256 {})",
        plan.policy_name, plan.policy_sha256
    );
    let _ = writeln!(o, "isolation: {}", mode(plan.isolation));
    let _ = writeln!(o, "workdir:   {}", plan.workdir.display());
    let _ = writeln!(
        o,
        "user:      {} (uid {}, gid {}), home {}",
        plan.user.name,
        plan.user.uid,
        plan.user.gid,
        plan.user.home.display()
    );
    let _ = writeln!(
        o,
        "namespaces: user, mount, pid, network, ipc, uts, cgroup; hostname {}",
        plan.hostname
    );

    let _ = writeln!(o, "\nmounts (in order):");
    for m in &plan.mounts {
        let what = match &m.op {
            MountOp::BindRo => "bind read-only".to_string(),
            MountOp::BindRoRootless => "bind read-only, uid/gid 0 as nobody".to_string(),
            MountOp::BindRw => "bind writable".to_string(),
            MountOp::ReadOnly => "make read-only".to_string(),
            MountOp::Symlink { target } => format!("symlink -> {}", target.display()),
            MountOp::Proc => "procfs".to_string(),
            MountOp::Dev => "minimal devices".to_string(),
            MountOp::Tmpfs { size_mb } => format!("tmpfs {size_mb} MiB"),
            MountOp::Overlay { size_mb } => {
                format!("host, writes to a private {size_mb} MiB layer")
            }
            MountOp::MaskFile | MountOp::MaskDir => "mask (empty, unreadable)".to_string(),
            MountOp::CreateDirReadOnly => "create empty, read-only".to_string(),
        };
        let _ = writeln!(o, "  {:<40} {:<26} [{}]", m.path.display(), what, m.origin);
    }

    let _ = writeln!(o, "\nlandlock (filesystem rights; everything else denied):");
    for r in &plan.landlock.rules {
        let access = match r.access {
            FsAccess::ListDir => "list",
            FsAccess::ReadExec => "read+exec",
            FsAccess::ReadWrite => "read+write+exec",
            FsAccess::Device => "device read+write+ioctl",
            FsAccess::ReadOnly => "read",
        };
        let _ = writeln!(
            o,
            "  {:<40} {:<26} [{}]",
            r.path.display(),
            access,
            r.origin
        );
    }
    let ports = if plan.landlock.tcp_connect.is_empty() {
        "none".to_string()
    } else {
        plan.landlock
            .tcp_connect
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        o,
        "  tcp connect: {ports}; abstract unix sockets and signals scoped to the sandbox"
    );

    let _ = writeln!(
        o,
        "\nseccomp (default allow; x32 numbers ENOSYS; foreign architectures killed):"
    );
    for r in &plan.seccomp {
        let cond = if r.when.is_empty() {
            String::new()
        } else {
            " when args match".to_string()
        };
        let _ = writeln!(
            o,
            "  {:<20} {:<7}{} [{}]",
            r.syscall,
            format!("{:?}", r.action).to_uppercase(),
            cond,
            r.reason
        );
    }

    let _ = writeln!(
        o,
        "\nlimits (enforcement {}):",
        mode(plan.limits.enforcement)
    );
    let show = |name: &str, l: &Option<super::Limit>, unit: &str, o: &mut String| {
        let _ = match l {
            Some(l) => writeln!(o, "  {name:<14} {}{unit} [{}]", l.value, l.origin),
            None => writeln!(o, "  {name:<14} none"),
        };
    };
    show("memory", &plan.limits.memory_mb, " MiB", &mut o);
    show("cpu", &plan.limits.cpu_percent, "% of one core", &mut o);
    show("processes", &plan.limits.processes, "", &mut o);
    show("file size", &plan.limits.file_size_mb, " MiB", &mut o);
    show("time", &plan.limits.timeout_s, " s", &mut o);
    let _ = writeln!(o, "  open files     {} [built-in]", plan.limits.nofile);
    let _ = writeln!(o, "  core dumps     0 [built-in]");

    let _ = writeln!(o, "\nnetwork:");
    if plan.network.allow.is_empty() {
        let _ = writeln!(o, "  loopback only; no proxy, nothing leaves the sandbox");
    } else {
        let _ = writeln!(
            o,
            "  egress proxy on 127.0.0.1:{} inside; allowed:",
            plan.network.proxy_port.unwrap_or_default()
        );
        for r in &plan.network.allow {
            let _ = writeln!(o, "    {} [{}]", r.rule.describe(), r.origin);
        }
    }

    let _ = writeln!(o, "\nenvironment (all other host variables dropped):");
    for v in &plan.env {
        let _ = writeln!(o, "  {}={} [{}]", v.name, v.value, v.origin);
    }

    if !plan.notes.is_empty() {
        let _ = writeln!(o, "\nnotes:");
        for n in &plan.notes {
            let _ = writeln!(o, "  {} [{}]", n.message, n.origin);
        }
    }
    if let Some(d) = &plan.precheck {
        let _ = writeln!(o, "\ncommand: {}", crate::util::shell_join(&plan.command));
        let _ = writeln!(o, "  {}", d.summary());
        for u in &d.unknowable {
            let _ = writeln!(o, "  cannot be known before running: {u}");
        }
    }
    o
}
