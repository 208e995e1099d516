//! Compiling the plan's seccomp rules to classic BPF, and loading it.
//!
//! Layout of the program:
//! 1. the audit architecture must be the native one, else the process is
//!    killed (the i386 `int 0x80` entry point on x86_64 reports
//!    AUDIT_ARCH_I386 and would otherwise reach the kernel with different
//!    syscall numbers);
//! 2. on x86_64, numbers with the x32 bit set get ENOSYS;
//! 3. a binary search over the syscalls that have rules, each leading to a
//!    small body that checks its argument conditions and returns the errno;
//! 4. everything else is allowed.
//!
//! `compile` is pure and unit-tested with a small BPF interpreter.

use std::collections::BTreeMap;
use std::io;

use crate::plan::{SeccompArg, SeccompRule};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;
const AND_K: u16 = 0x54;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
pub const NATIVE_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
pub const NATIVE_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Low 32 bits of argument `i` (little-endian seccomp_data).
fn off_arg(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// Syscall numbers of this architecture, by name.
pub fn syscall_nr(name: &str) -> Option<u32> {
    macro_rules! table {
        ($($n:ident),* $(,)?) => {
            match name {
                $(stringify!($n) => Some(paste_nr!($n)),)*
                _ => arch_only(name),
            }
        };
    }
    macro_rules! paste_nr {
        ($n:ident) => {{
            #[allow(non_upper_case_globals)]
            const N: libc::c_long = libc_nr::$n;
            N as u32
        }};
    }
    table!(
        setns,
        clone3,
        mount,
        umount2,
        pivot_root,
        chroot,
        fsopen,
        fsconfig,
        fsmount,
        fspick,
        open_tree,
        move_mount,
        mount_setattr,
        ptrace,
        process_vm_readv,
        process_vm_writev,
        kcmp,
        pidfd_getfd,
        process_madvise,
        bpf,
        perf_event_open,
        userfaultfd,
        add_key,
        request_key,
        keyctl,
        init_module,
        finit_module,
        delete_module,
        kexec_load,
        kexec_file_load,
        io_uring_setup,
        io_uring_enter,
        io_uring_register,
        open_by_handle_at,
        reboot,
        swapon,
        swapoff,
        acct,
        quotactl,
        quotactl_fd,
        vhangup,
        syslog,
        clock_settime,
        clock_adjtime,
        settimeofday,
        adjtimex,
        clone,
        unshare,
        mknodat,
        ioctl,
        socket,
        personality,
        fanotify_init,
    )
}

mod libc_nr {
    pub use libc::{
        SYS_acct as acct, SYS_add_key as add_key, SYS_adjtimex as adjtimex, SYS_bpf as bpf,
        SYS_chroot as chroot, SYS_clock_adjtime as clock_adjtime,
        SYS_clock_settime as clock_settime, SYS_clone as clone, SYS_clone3 as clone3,
        SYS_delete_module as delete_module, SYS_fanotify_init as fanotify_init,
        SYS_finit_module as finit_module, SYS_fsconfig as fsconfig, SYS_fsmount as fsmount,
        SYS_fsopen as fsopen, SYS_fspick as fspick, SYS_init_module as init_module,
        SYS_io_uring_enter as io_uring_enter, SYS_io_uring_register as io_uring_register,
        SYS_io_uring_setup as io_uring_setup, SYS_ioctl as ioctl, SYS_kcmp as kcmp,
        SYS_kexec_file_load as kexec_file_load, SYS_kexec_load as kexec_load, SYS_keyctl as keyctl,
        SYS_mknodat as mknodat, SYS_mount as mount, SYS_mount_setattr as mount_setattr,
        SYS_move_mount as move_mount, SYS_open_by_handle_at as open_by_handle_at,
        SYS_open_tree as open_tree, SYS_perf_event_open as perf_event_open,
        SYS_personality as personality, SYS_pidfd_getfd as pidfd_getfd,
        SYS_pivot_root as pivot_root, SYS_process_madvise as process_madvise,
        SYS_process_vm_readv as process_vm_readv, SYS_process_vm_writev as process_vm_writev,
        SYS_ptrace as ptrace, SYS_quotactl as quotactl, SYS_quotactl_fd as quotactl_fd,
        SYS_reboot as reboot, SYS_request_key as request_key, SYS_setns as setns,
        SYS_settimeofday as settimeofday, SYS_socket as socket, SYS_swapoff as swapoff,
        SYS_swapon as swapon, SYS_syslog as syslog, SYS_umount2 as umount2, SYS_unshare as unshare,
        SYS_userfaultfd as userfaultfd, SYS_vhangup as vhangup,
    };
}

#[cfg(target_arch = "x86_64")]
fn arch_only(name: &str) -> Option<u32> {
    let nr = match name {
        "mknod" => libc::SYS_mknod,
        "iopl" => libc::SYS_iopl,
        "ioperm" => libc::SYS_ioperm,
        "uselib" => libc::SYS_uselib,
        "lookup_dcookie" => libc::SYS_lookup_dcookie,
        "nfsservctl" => libc::SYS_nfsservctl,
        _ => return None,
    };
    Some(nr as u32)
}

#[cfg(not(target_arch = "x86_64"))]
fn arch_only(_name: &str) -> Option<u32> {
    None
}

fn rule_body(rule: &SeccompRule) -> Vec<Insn> {
    // Conditions jump to the end of this rule (the next rule) on mismatch;
    // offsets are patched once the rule's length is known.
    let mut code: Vec<(Insn, bool)> = Vec::new(); // (insn, jumps-to-next-on-false/true)
    const FAIL_ON_FALSE: bool = false;
    const FAIL_ON_TRUE: bool = true;
    let mut fails: Vec<(usize, bool)> = Vec::new();
    for cond in &rule.when {
        match cond {
            SeccompArg::MaskedEq { index, mask, value } => {
                code.push((stmt(LD_W_ABS, off_arg(*index)), false));
                if *mask != u32::MAX {
                    code.push((stmt(AND_K, *mask), false));
                }
                fails.push((code.len(), FAIL_ON_FALSE));
                code.push((jump(JEQ_K, *value, 0, 0), true));
            }
            SeccompArg::AnyBits { index, mask } => {
                code.push((stmt(LD_W_ABS, off_arg(*index)), false));
                fails.push((code.len(), FAIL_ON_FALSE));
                code.push((jump(JSET_K, *mask, 0, 0), true));
            }
            SeccompArg::NotIn { index, values } => {
                code.push((stmt(LD_W_ABS, off_arg(*index)), false));
                for v in values {
                    fails.push((code.len(), FAIL_ON_TRUE));
                    code.push((jump(JEQ_K, *v, 0, 0), true));
                }
            }
        }
    }
    code.push((
        stmt(RET_K, RET_ERRNO | (rule.action.errno() as u32 & 0xffff)),
        false,
    ));
    let len = code.len();
    for (i, on_true) in fails {
        let off = (len - i - 1) as u8;
        if on_true {
            code[i].0.jt = off;
        } else {
            code[i].0.jf = off;
        }
    }
    code.into_iter().map(|(i, _)| i).collect()
}

fn dispatch(groups: &[(u32, Vec<Insn>)]) -> Vec<Insn> {
    if groups.len() <= 3 {
        let mut out = Vec::new();
        for (nr, body) in groups {
            out.push(jump(JEQ_K, *nr, 0, body.len() as u8));
            out.extend_from_slice(body);
        }
        out.push(stmt(RET_K, RET_ALLOW));
        return out;
    }
    let mid = groups.len() / 2;
    let left = dispatch(&groups[..mid]);
    let right = dispatch(&groups[mid..]);
    let mut out = vec![
        jump(JGE_K, groups[mid].0, 0, 1),
        stmt(JA, left.len() as u32),
    ];
    out.extend(left);
    out.extend(right);
    out
}

/// Compile rules for this architecture. Rules naming a syscall this
/// architecture lacks are dropped (it cannot be called).
pub fn compile(rules: &[SeccompRule]) -> Vec<Insn> {
    let mut by_nr: BTreeMap<u32, Vec<Insn>> = BTreeMap::new();
    for rule in rules {
        let Some(nr) = syscall_nr(&rule.syscall) else {
            continue;
        };
        let body = by_nr.entry(nr).or_default();
        if body
            .last()
            .is_some_and(|i| i.code == RET_K && i.k == RET_ALLOW)
        {
            body.pop();
        }
        body.extend(rule_body(rule));
        body.push(stmt(RET_K, RET_ALLOW));
    }
    let groups: Vec<(u32, Vec<Insn>)> = by_nr.into_iter().collect();
    let mut prog = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, NATIVE_ARCH, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFF_NR),
    ];
    if cfg!(target_arch = "x86_64") {
        prog.push(jump(JGE_K, X32_SYSCALL_BIT, 0, 1));
        prog.push(stmt(RET_K, RET_ERRNO | libc::ENOSYS as u32));
    }
    prog.extend(dispatch(&groups));
    prog
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): returns what the kernel
/// returns (a listener descriptor with NEW_LISTENER, else 0).
pub fn load(prog: &[Insn], flags: libc::c_ulong) -> io::Result<i64> {
    let filter: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    // SAFETY: fprog points at `filter`, alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// Load the filter on every thread of this process. Requires no_new_privs.
pub fn install(prog: &[Insn]) -> io::Result<()> {
    const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1;
    load(prog, SECCOMP_FILTER_FLAG_TSYNC).map(|_| ())
}

/// Run a program on one syscall, as the kernel would (for tests and fuzzing).
pub fn evaluate(prog: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    while pc < prog.len() {
        let i = prog[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => {
                let o = i.k as usize;
                acc = u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
            }
            AND_K => acc &= i.k,
            RET_K => return i.k,
            JA => pc += i.k as usize,
            JEQ_K | JGE_K | JSET_K => {
                let hit = match i.code {
                    JEQ_K => acc == i.k,
                    JGE_K => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                pc += usize::from(if hit { i.jt } else { i.jf });
            }
            _ => return RET_KILL_PROCESS,
        }
    }
    RET_KILL_PROCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::seccomp_rules::rules;

    fn run(nr: i64, args: [u64; 6]) -> u32 {
        evaluate(&compile(&rules()), NATIVE_ARCH, nr as u32, args)
    }
    const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

    #[test]
    fn every_rule_names_a_known_syscall() {
        for r in rules() {
            if cfg!(target_arch = "x86_64") {
                assert!(syscall_nr(&r.syscall).is_some(), "{}", r.syscall);
            }
        }
    }

    #[test]
    fn program_fits_and_ends_in_returns() {
        let prog = compile(&rules());
        assert!(prog.len() < 4096);
        assert!(prog.iter().any(|i| i.code == RET_K));
    }

    #[test]
    fn ordinary_calls_are_allowed() {
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_getpid,
            libc::SYS_execve,
            libc::SYS_exit_group,
            0,
        ] {
            assert_eq!(run(nr, [0; 6]), RET_ALLOW, "syscall {nr}");
        }
    }

    #[test]
    fn denied_calls_get_their_errno() {
        for nr in [
            libc::SYS_mount,
            libc::SYS_ptrace,
            libc::SYS_bpf,
            libc::SYS_setns,
            libc::SYS_keyctl,
            libc::SYS_pivot_root,
            libc::SYS_open_by_handle_at,
            libc::SYS_kexec_load,
            libc::SYS_reboot,
        ] {
            assert_eq!(run(nr, [0; 6]), EPERM, "syscall {nr}");
        }
        assert_eq!(run(libc::SYS_clone3, [0; 6]), ENOSYS);
        assert_eq!(run(libc::SYS_io_uring_setup, [0; 6]), ENOSYS);
    }

    #[test]
    fn foreign_arch_is_killed_and_x32_gets_enosys() {
        let prog = compile(&rules());
        assert_eq!(
            evaluate(&prog, 0x4000_0003, libc::SYS_getpid as u32, [0; 6]),
            RET_KILL_PROCESS
        ); // AUDIT_ARCH_I386
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                evaluate(&prog, NATIVE_ARCH, X32_SYSCALL_BIT | 165, [0; 6]),
                ENOSYS
            ); // x32 mount
            assert_eq!(
                evaluate(&prog, NATIVE_ARCH, X32_SYSCALL_BIT | 39, [0; 6]),
                ENOSYS
            );
        }
    }

    #[test]
    fn clone_checks_namespace_flags() {
        let sigchld = libc::SIGCHLD as u64;
        assert_eq!(run(libc::SYS_clone, [sigchld, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            run(libc::SYS_clone, [0x003d_0f00, 0, 0, 0, 0, 0]),
            RET_ALLOW
        ); // pthread_create flags
        assert_eq!(
            run(
                libc::SYS_clone,
                [libc::CLONE_NEWUSER as u64 | sigchld, 0, 0, 0, 0, 0]
            ),
            EPERM
        );
        assert_eq!(
            run(libc::SYS_clone, [libc::CLONE_NEWNET as u64, 0, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(
            run(libc::SYS_unshare, [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(run(libc::SYS_unshare, [0x80, 0, 0, 0, 0, 0]), EPERM); // CLONE_NEWTIME
        assert_eq!(
            run(libc::SYS_unshare, [libc::CLONE_FILES as u64, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
    }

    #[test]
    fn tiocsti_is_denied_even_with_high_bits() {
        assert_eq!(run(libc::SYS_ioctl, [0, 0x5412, 0, 0, 0, 0]), EPERM);
        assert_eq!(
            run(libc::SYS_ioctl, [0, 0xffff_ffff_0000_5412, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(run(libc::SYS_ioctl, [0, 0x541C, 0, 0, 0, 0]), EPERM);
        assert_eq!(run(libc::SYS_ioctl, [0, 0x5413, 0, 0, 0, 0]), RET_ALLOW); // TIOCGWINSZ
    }

    #[test]
    fn sockets_by_family_type_and_protocol() {
        let s =
            |d: i32, t: i32, p: i32| run(libc::SYS_socket, [d as u64, t as u64, p as u64, 0, 0, 0]);
        assert_eq!(s(libc::AF_INET, libc::SOCK_STREAM, 0), RET_ALLOW);
        assert_eq!(
            s(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0),
            RET_ALLOW
        );
        assert_eq!(s(libc::AF_UNIX, libc::SOCK_STREAM, 0), RET_ALLOW);
        assert_eq!(s(libc::AF_NETLINK, libc::SOCK_RAW, 0), RET_ALLOW);
        assert_eq!(s(libc::AF_NETLINK, libc::SOCK_RAW, 9), EPERM); // NETLINK_AUDIT
        assert_eq!(s(libc::AF_INET, libc::SOCK_RAW, 1), EPERM);
        assert_eq!(
            s(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_NONBLOCK, 58),
            EPERM
        );
        assert_eq!(s(libc::AF_PACKET, libc::SOCK_RAW, 0), EPERM);
        assert_eq!(s(libc::AF_ALG, libc::SOCK_SEQPACKET, 0), EPERM);
        assert_eq!(s(libc::AF_VSOCK, libc::SOCK_STREAM, 0), EPERM);
        assert_eq!(s(libc::AF_INET, libc::SOCK_STREAM, 262), EPERM); // IPPROTO_MPTCP
    }

    #[test]
    fn mknod_only_of_devices_and_personality() {
        let dev = (libc::S_IFCHR | 0o600) as u64;
        assert_eq!(run(libc::SYS_mknodat, [0, 0, dev, 0, 0, 0]), EPERM);
        assert_eq!(
            run(
                libc::SYS_mknodat,
                [0, 0, (libc::S_IFBLK | 0o600) as u64, 0, 0, 0]
            ),
            EPERM
        );
        assert_eq!(
            run(
                libc::SYS_mknodat,
                [0, 0, (libc::S_IFIFO | 0o600) as u64, 0, 0, 0]
            ),
            RET_ALLOW
        );
        assert_eq!(
            run(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
            RET_ALLOW
        );
        assert_eq!(run(libc::SYS_personality, [0, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            run(libc::SYS_personality, [0x0040_0000, 0, 0, 0, 0, 0]),
            EPERM
        ); // READ_IMPLIES_EXEC
        assert_eq!(
            run(libc::SYS_personality, [0x0004_0000, 0, 0, 0, 0, 0]),
            EPERM
        ); // ADDR_NO_RANDOMIZE
    }
}
