//! Thin, checked wrappers over the syscalls the executor needs and libc
//! does not wrap: openat2, the new mount API, pivot_root, close_range.
//! Each returns `io::Result` with errno; callers add the context.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub fn cpath(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = check(rc)? as RawFd;
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
/// Walk strictly below `dirfd`, through no symlink of any kind.
pub const RESOLVE_STRICT: u64 = RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;

/// openat2(2) with `RESOLVE_STRICT`: `rel` is resolved below `dir` and may
/// not pass through any symlink, so a planted link cannot redirect it.
pub fn openat_strict(dir: RawFd, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    let path = cpath(rel)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64,
        mode: 0,
        resolve: RESOLVE_STRICT,
    };
    // SAFETY: path is NUL-terminated; how is a valid open_how of the size given.
    owned(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })
}

/// open(2) with O_PATH|O_NOFOLLOW, for paths in our own staging tmpfs.
pub fn open_path(path: &Path) -> io::Result<OwnedFd> {
    let p = cpath(path)?;
    // SAFETY: NUL-terminated path.
    owned(unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    } as libc::c_long)
}

pub const OPEN_TREE_CLONE: u32 = 1;
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
pub const AT_RECURSIVE: u32 = 0x8000;
pub const AT_EMPTY_PATH: u32 = libc::AT_EMPTY_PATH as u32;

/// open_tree(2): a detached copy of the mount tree at `fd` (recursive).
pub fn clone_tree(fd: RawFd, recursive: bool) -> io::Result<OwnedFd> {
    let empty = c"";
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: empty is a valid C string; the kernel returns a new fd.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, fd, empty.as_ptr(), flags) })
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2): set `attrs` on the mount at `fd` (and below it).
pub fn set_mount_attrs(fd: RawFd, attrs: u64, recursive: bool) -> io::Result<()> {
    mount_setattr(fd, attrs, 0, recursive)
}

pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// mount_setattr(2) with MOUNT_ATTR_IDMAP: ids on the mount at `fd` (and
/// below it) are shown through the maps of the user namespace `userns`.
/// Only a detached tree that was never attached may be idmapped.
pub fn set_mount_idmap(fd: RawFd, attrs: u64, userns: RawFd, recursive: bool) -> io::Result<()> {
    mount_setattr(fd, attrs | MOUNT_ATTR_IDMAP, userns as u64, recursive)
}

fn mount_setattr(fd: RawFd, attrs: u64, userns_fd: u64, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd,
    };
    let mut flags = AT_EMPTY_PATH;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    let empty = c"";
    // SAFETY: attr is a valid mount_attr of the size given.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// move_mount(2): attach the detached mount `from` on top of `to`.
pub fn attach(from: RawFd, to: RawFd) -> io::Result<()> {
    let empty = c"";
    // SAFETY: both descriptors are open; paths are empty C strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            empty.as_ptr(),
            to,
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })?;
    Ok(())
}

const FSOPEN_CLOEXEC: u32 = 1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSMOUNT_CLOEXEC: u32 = 1;

/// A new, detached filesystem instance (tmpfs, proc, devpts) with options.
pub fn fresh_fs(fstype: &str, options: &[(&str, &str)], attrs: u64) -> io::Result<OwnedFd> {
    let name = cstr(fstype)?;
    // SAFETY: name is NUL-terminated.
    let fsfd = owned(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })?;
    for (key, value) in options {
        let k = cstr(key)?;
        let v = cstr(value)?;
        // SAFETY: strings are NUL-terminated; a flag takes a NULL value.
        check(unsafe {
            if value.is_empty() {
                libc::syscall(
                    libc::SYS_fsconfig,
                    fsfd.as_raw_fd(),
                    FSCONFIG_SET_FLAG,
                    k.as_ptr(),
                    std::ptr::null::<u8>(),
                    0,
                )
            } else {
                libc::syscall(
                    libc::SYS_fsconfig,
                    fsfd.as_raw_fd(),
                    FSCONFIG_SET_STRING,
                    k.as_ptr(),
                    v.as_ptr(),
                    0,
                )
            }
        })?;
    }
    // SAFETY: command without arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fsfd.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<u8>(),
            std::ptr::null::<u8>(),
            0,
        )
    })?;
    // SAFETY: fsfd is a configured filesystem context.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fsfd.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

/// mount(2) with plain arguments, for the few steps that need it.
pub fn mount(
    src: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL or a NUL-terminated string.
    let rc = unsafe { libc::mount(p(src), target.as_ptr(), p(fstype), flags, p(data).cast()) };
    check(rc as libc::c_long).map(|_| ())
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated paths.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(|_| ())
}

/// Close every descriptor from `first` up.
/// Duplicate `fd` to a number of at least 10, close-on-exec: clear of the
/// fixed numbers the sandbox's processes move descriptors to.
pub fn dup_high(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own.
    owned(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) } as libc::c_long)
}

/// A close-on-exec pipe, (read end, write end), both numbered 10 or more.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills two descriptors, which we then own.
    errno_result(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: fresh descriptors from pipe2.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((dup_high(r.as_raw_fd())?, dup_high(w.as_raw_fd())?))
}

/// A child that exits at once, born into the namespaces in `flags`
/// (which must not include CLONE_NEWPID), left as a zombie for the caller
/// to inspect and reap. It shares our memory and runs on its own small
/// stack while we wait (CLONE_VM | CLONE_VFORK, as posix_spawn does), so
/// no address space is copied: about a fifth of a fork.
pub fn spawn_empty(flags: libc::c_int) -> io::Result<libc::pid_t> {
    extern "C" fn leave(_: *mut libc::c_void) -> libc::c_int {
        0
    }
    // 16-byte aligned; the child only enters and returns from `leave`.
    let mut stack = vec![0u128; 1024];
    // SAFETY: the stack outlives the child (we are suspended until it
    // exits), grows down from its end, and the child touches nothing else.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(stack.len()).cast::<libc::c_void>();
        libc::clone(
            leave,
            top,
            flags | libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// A close-on-exec SOCK_SEQPACKET pair, both ends numbered 10 or more.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut pair = [0 as RawFd; 2];
    // SAFETY: socketpair fills two descriptors, which we then own.
    errno_result(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    })?;
    // SAFETY: fresh descriptors from socketpair.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    Ok((dup_high(a.as_raw_fd())?, dup_high(b.as_raw_fd())?))
}

/// `struct clone_args` up to `tls` (CLONE_ARGS_SIZE_VER0).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// fork() into the namespaces in `flags` with one `clone3`: returns the
/// child's pid in the parent and 0 in the child, which runs on a copy of
/// the parent's stack as after fork.
///
/// # Safety
/// The caller must be single-threaded, and the child must leave by
/// `_exit`. No fork handlers run, so the child must not rely on libc's
/// cached thread id (glibc ≥ 2.25 caches no pid; `raise` asks the kernel).
pub unsafe fn clone_process(flags: u64) -> io::Result<libc::pid_t> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: a valid clone_args of the size passed; no stack given, so the
    // child continues on its copy of ours (the caller's contract).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    Ok(check(rc)? as libc::pid_t)
}

pub fn close_from(first: u32) {
    // SAFETY: close_range only closes descriptors; failure (old kernel) is
    // handled by the fallback loop.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if rc != 0 {
        for fd in first..1024 {
            // SAFETY: closing a possibly-unused descriptor number.
            unsafe { libc::close(fd as i32) };
        }
    }
}

pub fn errno_result(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Send bytes plus optional descriptors (SCM_RIGHTS) on a unix socket.
pub fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of_val(fds) as u32) } as usize;
    let mut cbuf = vec![0u8; space.max(1)];
    // SAFETY: msghdr is plain data; zeroed is a valid starting state.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: the control buffer is CMSG_SPACE bytes for fds.len() descriptors.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(cmsg).cast::<RawFd>(),
                fds.len(),
            );
        }
    }
    // SAFETY: msg points at live buffers.
    let rc = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receive one message (up to `buf.len()` bytes) and any descriptors with it.
pub fn recv_with_fds(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u8; 256];
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.len();
    // SAFETY: msg points at live buffers.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel filled in.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let count =
                    ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, fds))
}
