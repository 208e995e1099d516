//! The seccomp decisions, as data (DESIGN.md 2.5, issue "kernel filters").
//!
//! The filter is a deny-list in front of an allow default, made impossible
//! to side-step by the architecture checks the compiler puts first: any
//! other audit architecture (the i386 `int 0x80` entry point) kills the
//! process, and x32 syscall numbers (bit 30 set) get `ENOSYS`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeccompAction {
    /// Fail with `EPERM`.
    Eperm,
    /// Fail with `ENOSYS`, so that callers fall back (clone3, io_uring).
    Enosys,
}

impl SeccompAction {
    pub fn errno(self) -> i32 {
        match self {
            SeccompAction::Eperm => libc::EPERM,
            SeccompAction::Enosys => libc::ENOSYS,
        }
    }
}

/// A condition on one argument, compared on its low 32 bits, as the kernel
/// reads these arguments as `int`/`unsigned int` (so `TIOCSTI` with the upper
/// 32 bits set is still `TIOCSTI`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum SeccompArg {
    /// `(arg & mask) == value`
    MaskedEq { index: u8, mask: u32, value: u32 },
    /// `(arg & mask) != 0`
    AnyBits { index: u8, mask: u32 },
    /// `arg` is none of `values`
    NotIn { index: u8, values: Vec<u32> },
}

/// Deny `syscall` when every condition in `when` holds (always, if empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompRule {
    pub syscall: String,
    pub action: SeccompAction,
    pub when: Vec<SeccompArg>,
    pub reason: String,
}

/// Namespace flags of clone(2) (CLONE_NEWTIME is not a clone(2) flag; its
/// bit is part of the exit signal there).
pub const CLONE_NS_FLAGS: u32 = 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000; // CLONE_NEWNET
pub const UNSHARE_NS_FLAGS: u32 = CLONE_NS_FLAGS | 0x80; // CLONE_NEWTIME

const S_IFMT: u32 = 0o170_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;
const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541C;
const AF_UNIX: u32 = 1;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const AF_NETLINK: u32 = 16;
const SOCK_TYPE_MASK: u32 = 0xf;
const SOCK_RAW: u32 = 3;
const SOCK_PACKET: u32 = 10;
const IPPROTO_MPTCP: u32 = 262;
/// personality(2) values Docker's default profile allows: PER_LINUX,
/// UNAME26, PER_LINUX32, their combination, and the query 0xffffffff.
const PERSONALITY_OK: [u32; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

fn always(syscall: &str, action: SeccompAction, reason: &str) -> SeccompRule {
    SeccompRule {
        syscall: syscall.into(),
        action,
        when: Vec::new(),
        reason: reason.into(),
    }
}

fn when(syscall: &str, cond: Vec<SeccompArg>, reason: &str) -> SeccompRule {
    SeccompRule {
        syscall: syscall.into(),
        action: SeccompAction::Eperm,
        when: cond,
        reason: reason.into(),
    }
}

/// The fixed rule set. Every entry names why it is there.
pub fn rules() -> Vec<SeccompRule> {
    use SeccompAction::{Enosys, Eperm};
    let mut r = Vec::new();
    let groups: &[(&[&str], SeccompAction, &str)] = &[
        (&["setns"], Eperm, "joining other namespaces"),
        (
            &["clone3"],
            Enosys,
            "clone3 flags live in memory seccomp cannot read; libc falls back to clone",
        ),
        (
            &[
                "mount",
                "umount2",
                "pivot_root",
                "chroot",
                "fsopen",
                "fsconfig",
                "fsmount",
                "fspick",
                "open_tree",
                "move_mount",
                "mount_setattr",
            ],
            Eperm,
            "changing the mount view",
        ),
        (
            &[
                "ptrace",
                "process_vm_readv",
                "process_vm_writev",
                "kcmp",
                "pidfd_getfd",
                "process_madvise",
            ],
            Eperm,
            "reaching into other processes",
        ),
        (
            &["bpf", "perf_event_open", "userfaultfd"],
            Eperm,
            "kernel attack surface (CVE-rich interfaces)",
        ),
        (
            &["add_key", "request_key", "keyctl"],
            Eperm,
            "kernel keyrings are not namespaced",
        ),
        (
            &[
                "init_module",
                "finit_module",
                "delete_module",
                "kexec_load",
                "kexec_file_load",
            ],
            Eperm,
            "kernel modules and kexec",
        ),
        (
            &["io_uring_setup", "io_uring_enter", "io_uring_register"],
            Enosys,
            "io_uring bypasses seccomp for the operations it queues",
        ),
        (
            &["open_by_handle_at"],
            Eperm,
            "escapes the mount view by file handle (the 'shocker' attack)",
        ),
        (
            &[
                "reboot",
                "swapon",
                "swapoff",
                "acct",
                "quotactl",
                "quotactl_fd",
                "vhangup",
                "iopl",
                "ioperm",
                "uselib",
                "syslog",
                "lookup_dcookie",
                "nfsservctl",
                "fanotify_init",
            ],
            Eperm,
            "host administration",
        ),
        (
            &["clock_settime", "clock_adjtime", "settimeofday", "adjtimex"],
            Eperm,
            "setting the host clock",
        ),
    ];
    for (names, action, reason) in groups {
        for name in *names {
            r.push(always(name, *action, reason));
        }
    }
    r.push(when(
        "clone",
        vec![SeccompArg::AnyBits {
            index: 0,
            mask: CLONE_NS_FLAGS,
        }],
        "creating namespaces",
    ));
    r.push(when(
        "unshare",
        vec![SeccompArg::AnyBits {
            index: 0,
            mask: UNSHARE_NS_FLAGS,
        }],
        "creating namespaces",
    ));
    for (name, index) in [("mknod", 1u8), ("mknodat", 2u8)] {
        for kind in [S_IFCHR, S_IFBLK] {
            r.push(when(
                name,
                vec![SeccompArg::MaskedEq {
                    index,
                    mask: S_IFMT,
                    value: kind,
                }],
                "creating device nodes",
            ));
        }
    }
    for (req, what) in [
        (TIOCSTI, "TIOCSTI pushes input into a terminal"),
        (TIOCLINUX, "TIOCLINUX can read and inject console input"),
    ] {
        r.push(when(
            "ioctl",
            vec![SeccompArg::MaskedEq {
                index: 1,
                mask: u32::MAX,
                value: req,
            }],
            what,
        ));
    }
    r.push(when(
        "socket",
        vec![SeccompArg::NotIn {
            index: 0,
            values: vec![AF_UNIX, AF_INET, AF_INET6, AF_NETLINK],
        }],
        "only unix, inet, inet6 and route netlink sockets (no packet, alg, vsock, ...)",
    ));
    r.push(when(
        "socket",
        vec![
            SeccompArg::MaskedEq {
                index: 0,
                mask: u32::MAX,
                value: AF_NETLINK,
            },
            SeccompArg::NotIn {
                index: 2,
                values: vec![0],
            },
        ],
        "netlink other than NETLINK_ROUTE",
    ));
    for family in [AF_INET, AF_INET6] {
        for ty in [SOCK_RAW, SOCK_PACKET] {
            r.push(when(
                "socket",
                vec![
                    SeccompArg::MaskedEq {
                        index: 0,
                        mask: u32::MAX,
                        value: family,
                    },
                    SeccompArg::MaskedEq {
                        index: 1,
                        mask: SOCK_TYPE_MASK,
                        value: ty,
                    },
                ],
                "raw and packet sockets",
            ));
        }
    }
    r.push(when(
        "socket",
        vec![SeccompArg::MaskedEq {
            index: 2,
            mask: u32::MAX,
            value: IPPROTO_MPTCP,
        }],
        "MPTCP sockets",
    ));
    r.push(when(
        "personality",
        vec![SeccompArg::NotIn {
            index: 0,
            values: PERSONALITY_OK.to_vec(),
        }],
        "personality flags beyond the harmless ones (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE)",
    ));
    r
}
