//! Observation for `run --simulate` and `learn`: a seccomp filter that
//! returns SECCOMP_RET_USER_NOTIF for the file syscalls (open, exec,
//! create, remove, rename, link, truncate), and a supervisor thread that
//! receives each notification, reads the path from the process's memory
//! (for reporting only), and lets the call continue unchanged
//! (SECCOMP_USER_NOTIF_FLAG_CONTINUE). The enforcing filter stays loaded;
//! its errno always wins over a notification.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::seccomp::{Insn, NATIVE_ARCH, RET_ALLOW};
use crate::simulate::{Access, Event};

const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: libc::c_ulong = 1 << 3;
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;
const FLAG_CONTINUE: u32 = 1;
/// At most this many observations are kept.
const MAX_EVENTS: usize = 200_000;

/// A path argument: (dirfd argument or None, path argument, access).
type PathArg = (Option<usize>, usize, Access);
/// A watched syscall: (number, its path arguments, its open-flags argument).
type Watched = (u32, Vec<PathArg>, Option<usize>);

/// The syscalls observed, with how to read their path arguments.
fn watched() -> Vec<Watched> {
    use Access::{Exec, Read, Write};
    let mut v: Vec<(i64, Vec<PathArg>, Option<usize>)> = vec![
        (libc::SYS_openat, vec![(Some(0), 1, Read)], Some(2)),
        (libc::SYS_openat2, vec![(Some(0), 1, Read)], None),
        (libc::SYS_execve, vec![(None, 0, Exec)], None),
        (libc::SYS_execveat, vec![(Some(0), 1, Exec)], None),
        (libc::SYS_mkdirat, vec![(Some(0), 1, Write)], None),
        (libc::SYS_unlinkat, vec![(Some(0), 1, Write)], None),
        (
            libc::SYS_renameat,
            vec![(Some(0), 1, Write), (Some(2), 3, Write)],
            None,
        ),
        (
            libc::SYS_renameat2,
            vec![(Some(0), 1, Write), (Some(2), 3, Write)],
            None,
        ),
        (
            libc::SYS_linkat,
            vec![(Some(0), 1, Read), (Some(2), 3, Write)],
            None,
        ),
        (libc::SYS_symlinkat, vec![(Some(1), 2, Write)], None),
        (libc::SYS_truncate, vec![(None, 0, Write)], None),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        (libc::SYS_open, vec![(None, 0, Read)], Some(1)),
        (libc::SYS_creat, vec![(None, 0, Write)], None),
        (libc::SYS_mkdir, vec![(None, 0, Write)], None),
        (libc::SYS_unlink, vec![(None, 0, Write)], None),
        (libc::SYS_rmdir, vec![(None, 0, Write)], None),
        (
            libc::SYS_rename,
            vec![(None, 0, Write), (None, 1, Write)],
            None,
        ),
        (
            libc::SYS_link,
            vec![(None, 0, Read), (None, 1, Write)],
            None,
        ),
        (libc::SYS_symlink, vec![(None, 1, Write)], None),
    ]);
    v.into_iter().map(|(nr, a, f)| (nr as u32, a, f)).collect()
}

/// The observing filter: notify on the watched syscalls, allow the rest.
pub fn filter() -> Vec<Insn> {
    let w = watched();
    let mut prog = vec![
        Insn {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 4,
        },
        Insn {
            code: 0x15,
            jt: 1,
            jf: 0,
            k: NATIVE_ARCH,
        },
        Insn {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
        Insn {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let n = w.len();
    for (i, (nr, _, _)) in w.iter().enumerate() {
        // Match: jump to the notify return at the end.
        prog.push(Insn {
            code: 0x15,
            jt: (n - i) as u8,
            jf: 0,
            k: *nr,
        });
    }
    prog.push(Insn {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: RET_ALLOW,
    });
    prog.push(Insn {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: RET_USER_NOTIF,
    });
    prog
}

/// Load the observing filter; returns its listener descriptor.
pub fn install() -> io::Result<OwnedFd> {
    let fd = super::seccomp::load(&filter(), SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
    // SAFETY: the kernel returned a new listener descriptor.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as RawFd) })
}

#[repr(C)]
#[derive(Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// Collects what the command did, until stopped.
pub struct Observer {
    pub events: Arc<Mutex<Vec<Event>>>,
    pub pids: Arc<Mutex<std::collections::BTreeSet<u32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Observer {
    pub fn start(listener: OwnedFd) -> io::Result<Observer> {
        let events = Arc::new(Mutex::new(Vec::new()));
        let pids = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (e, p, s) = (events.clone(), pids.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("observe".into())
            .spawn(move || observe(listener, &e, &p, &s))?;
        Ok(Observer {
            events,
            pids,
            stop,
            thread: Some(thread),
        })
    }

    pub fn finish(mut self) -> (Vec<Event>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        let pids = self.pids.lock().map(|p| p.len()).unwrap_or_default();
        (events, pids)
    }
}

fn observe(
    listener: OwnedFd,
    events: &Mutex<Vec<Event>>,
    pids: &Mutex<std::collections::BTreeSet<u32>>,
    stop: &AtomicBool,
) {
    let table = watched();
    let fd = listener.as_raw_fd();
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 100) };
        if n == 0 {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        if n < 0
            || p.revents & (libc::POLLHUP | libc::POLLERR) != 0 && p.revents & libc::POLLIN == 0
        {
            return;
        }
        let mut req = Notif::default();
        // SAFETY: RECV fills a zeroed seccomp_notif.
        if unsafe { libc::ioctl(fd, NOTIF_RECV, &mut req) } < 0 {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        let found = read_paths(&req, &table);
        let mut id = req.id;
        // Only trust what was read if the process is still waiting.
        // SAFETY: ID_VALID reads the id.
        let valid = unsafe { libc::ioctl(fd, NOTIF_ID_VALID, &mut id) } == 0;
        let resp = NotifResp {
            id: req.id,
            val: 0,
            error: 0,
            flags: FLAG_CONTINUE,
        };
        // SAFETY: SEND reads the response.
        unsafe { libc::ioctl(fd, NOTIF_SEND, &resp) };
        if valid {
            if let Ok(mut p) = pids.lock() {
                p.insert(req.pid);
            }
            if let Ok(mut e) = events.lock() {
                if e.len() < MAX_EVENTS {
                    e.extend(found);
                }
            }
        }
    }
}

fn read_paths(req: &Notif, table: &[Watched]) -> Vec<Event> {
    let Some((_, args, flags_arg)) = table.iter().find(|(nr, _, _)| *nr == req.data.nr as u32)
    else {
        return Vec::new();
    };
    let pid = req.pid;
    let Ok(mem) = std::fs::File::open(format!("/proc/{pid}/mem")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (dirfd, path_arg, access) in args {
        let Some(raw) = read_cstr(&mem, req.data.args[*path_arg]) else {
            continue;
        };
        let mut access = *access;
        if let Some(fa) = flags_arg {
            let flags = req.data.args[*fa] as i32;
            if flags & libc::O_ACCMODE != libc::O_RDONLY
                || flags & (libc::O_CREAT | libc::O_TRUNC) != 0
            {
                access = Access::Write;
            }
        }
        if req.data.nr as i64 == libc::SYS_openat2 {
            // struct open_how { u64 flags; ... } at args[2].
            let mut b = [0u8; 8];
            if mem.read_exact_at(&mut b, req.data.args[2]).is_ok() {
                let flags = u64::from_le_bytes(b) as i32;
                if flags & libc::O_ACCMODE != libc::O_RDONLY
                    || flags & (libc::O_CREAT | libc::O_TRUNC) != 0
                {
                    access = Access::Write;
                }
            }
        }
        let path = Path::new(&raw);
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let base = match dirfd.map(|d| req.data.args[d] as i32) {
                Some(d) if d != libc::AT_FDCWD => std::fs::read_link(format!("/proc/{pid}/fd/{d}")),
                _ => std::fs::read_link(format!("/proc/{pid}/cwd")),
            };
            match base {
                Ok(b) => b.join(path),
                Err(_) => continue,
            }
        };
        out.push(Event::File {
            path: lexical(&full),
            access,
        });
    }
    out
}

fn read_cstr(mem: &std::fs::File, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    // Read in pages' worth, stopping at the NUL.
    while got < buf.len() {
        let n = mem.read_at(&mut buf[got..], addr + got as u64).ok()?;
        if n == 0 {
            break;
        }
        if let Some(end) = buf[got..got + n].iter().position(|b| *b == 0) {
            buf.truncate(got + end);
            return String::from_utf8(buf).ok();
        }
        got += n;
    }
    None
}

/// `.` and `..` resolved lexically (for reporting only).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}
