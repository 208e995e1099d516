//! The filesystem view: a new root built only from the plan's mounts.
//!
//! Runs in init, inside the new user and mount namespaces. Sequence:
//! 1. make every mount private, so nothing propagates back to the host;
//! 2. put a staging tmpfs on /tmp and pivot into it, so the host root sits
//!    at /oldroot, reachable only by descriptors below it;
//! 3. mount a fresh tmpfs as the sandbox root and attach each planned mount,
//!    resolving every source and target with openat2(RESOLVE_NO_SYMLINKS |
//!    RESOLVE_BENEATH) and attaching by descriptor (open_tree/move_mount),
//!    so no symlink or `..` can redirect a mount outside what the plan named;
//! 4. make the root read-only, pivot into it and detach the host root.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use super::sys::{self, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use crate::plan::{Mount, MountOp, Plan};

/// Why a mount step failed.
#[derive(Debug)]
pub struct MountError {
    pub path: PathBuf,
    pub step: &'static str,
    pub err: io::Error,
}

impl std::fmt::Display for MountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.step, self.path.display(), self.err)
    }
}

type Result<T> = std::result::Result<T, MountError>;

fn at<'a>(path: &'a Path, step: &'static str) -> impl FnOnce(io::Error) -> MountError + 'a {
    move |err| MountError {
        path: path.to_path_buf(),
        step,
        err,
    }
}

const STAGE: &str = "/tmp";
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

struct Builder {
    root: OwnedFd,
    host: OwnedFd,
    empty_file: OwnedFd,
    empty_dir: OwnedFd,
    /// Devices of the tmpfs mounts made here: only in these may missing
    /// mount points be created (never in a host tree).
    own_devs: Vec<u64>,
    /// /etc as [`rootless_etc`] prepared it, for [`MountOp::BindRoRootless`].
    rootless_etc: Option<OwnedFd>,
}

fn rel(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

fn dev_of(fd: RawFd) -> io::Result<u64> {
    // SAFETY: fstat writes into a valid stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    sys::errno_result(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_dev)
}

fn is_dir(fd: RawFd) -> io::Result<bool> {
    // SAFETY: as above.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    sys::errno_result(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Host ids as a root invoker's /etc shows them: 0 becomes nobody (65534),
/// every other id stays itself (65534 itself is left unmapped, which shows
/// as nobody too).
const ROOTLESS_IDS: &str = "0 65534 1\n1 1 65533\n65535 65535 4294901760\n";

/// For a root invoker, prepared by the supervisor (which is real root) in
/// the host's namespaces: a detached, read-only, idmapped copy of /etc, in
/// which files of uid or gid 0 belong to nobody. Root inside keeps uid 0
/// without capabilities, so it reads there only what others may read; the
/// kernel decides at each access, not a list made at start-up. Fails where
/// the filesystem under /etc cannot be idmapped; the plan then masks each
/// root-only entry instead.
pub fn rootless_etc() -> io::Result<OwnedFd> {
    let ids = id_namespace(ROOTLESS_IDS)?;
    let etc = sys::open_path(Path::new("/etc"))?;
    if !is_dir(etc.as_raw_fd())? {
        return Err(io::Error::other("/etc is not a directory"));
    }
    let tree = sys::clone_tree(etc.as_raw_fd(), true)?;
    sys::set_mount_idmap(
        tree.as_raw_fd(),
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        ids.as_raw_fd(),
        true,
    )?;
    sys::dup_high(tree.as_raw_fd())
}

/// A user namespace with `map` as its uid and gid maps, held by a
/// descriptor. A child is born in it and leaves at once; its maps are
/// written and its namespace opened while it awaits reaping (the
/// namespace lives as long as the zombie's credentials, then as long as
/// the descriptor).
fn id_namespace(map: &str) -> io::Result<OwnedFd> {
    let pid = sys::spawn_empty(libc::CLONE_NEWUSER)?;
    let ns = (|| {
        std::fs::write(format!("/proc/{pid}/uid_map"), map)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), map)?;
        std::fs::File::open(format!("/proc/{pid}/ns/user")).map(OwnedFd::from)
    })();
    let mut status = 0;
    // SAFETY: reaping the child we just made.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    ns
}

pub fn build_root(plan: &Plan, rootless_etc: Option<OwnedFd>) -> Result<()> {
    let slash = Path::new("/");
    let c = |s: &str| sys::cstr(s).map_err(at(slash, "path"));
    // 1. Nothing we do may propagate to the host.
    sys::mount(None, &c("/")?, None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(at(slash, "make private"))?;
    // 2. Staging tmpfs, then pivot so the host root is at /oldroot.
    sys::mount(
        Some(&c("tmpfs")?),
        &c(STAGE)?,
        Some(&c("tmpfs")?),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&c("size=64k,mode=0755")?),
    )
    .map_err(at(Path::new(STAGE), "mount staging tmpfs"))?;
    // SAFETY: chdir/mkdir with valid C strings.
    sys::errno_result(unsafe { libc::chdir(c(STAGE)?.as_ptr()) })
        .map_err(at(Path::new(STAGE), "chdir"))?;
    for d in ["newroot", "oldroot"] {
        sys::errno_result(unsafe { libc::mkdir(c(d)?.as_ptr(), 0o755) })
            .map_err(at(Path::new(d), "mkdir"))?;
    }
    sys::pivot_root(&c(".")?, &c("oldroot")?).map_err(at(slash, "pivot_root to staging"))?;
    sys::errno_result(unsafe { libc::chdir(c("/")?.as_ptr()) }).map_err(at(slash, "chdir"))?;

    let empty_file = c("/empty-file")?;
    // SAFETY: creating staging objects in our own tmpfs.
    let fd = unsafe {
        libc::open(
            empty_file.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0,
        )
    };
    sys::errno_result(fd).map_err(at(Path::new("/empty-file"), "create"))?;
    unsafe { libc::close(fd) };
    sys::errno_result(unsafe { libc::mkdir(c("/empty-dir")?.as_ptr(), 0) })
        .map_err(at(Path::new("/empty-dir"), "mkdir"))?;

    let root_fs = sys::fresh_fs(
        "tmpfs",
        &[("size", "16m"), ("mode", "0755")],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
    .map_err(at(slash, "create sandbox root tmpfs"))?;
    let staging =
        sys::open_path(Path::new("/newroot")).map_err(at(Path::new("/newroot"), "open"))?;
    sys::attach(root_fs.as_raw_fd(), staging.as_raw_fd())
        .map_err(at(Path::new("/newroot"), "attach root"))?;
    drop(staging);

    let open = |p: &str| sys::open_path(Path::new(p)).map_err(at(Path::new(p), "open"));
    let root = open("/newroot")?;
    let mut b = Builder {
        own_devs: vec![dev_of(root.as_raw_fd()).map_err(at(slash, "stat root"))?],
        host: open("/oldroot")?,
        empty_file: open("/empty-file")?,
        empty_dir: open("/empty-dir")?,
        root,
        rootless_etc,
    };
    for m in &plan.mounts {
        b.apply(m, plan)?;
    }
    // 4. The root itself is read-only: nothing can be created beside the plan.
    sys::set_mount_attrs(
        b.root.as_raw_fd(),
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        false,
    )
    .map_err(at(slash, "make root read-only"))?;
    drop(b);
    sys::errno_result(unsafe { libc::chdir(c("/newroot")?.as_ptr()) })
        .map_err(at(slash, "chdir"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; the
    // detach below removes it and the staging tmpfs with it.
    sys::pivot_root(&c(".")?, &c(".")?).map_err(at(slash, "pivot_root"))?;
    sys::errno_result(unsafe { libc::umount2(c(".")?.as_ptr(), libc::MNT_DETACH) })
        .map_err(at(slash, "detach host root"))?;
    sys::errno_result(unsafe { libc::chdir(c("/")?.as_ptr()) }).map_err(at(slash, "chdir"))?;
    Ok(())
}

impl Builder {
    fn apply(&mut self, m: &Mount, plan: &Plan) -> Result<()> {
        let path = m.path.as_path();
        let r = rel(path);
        match &m.op {
            MountOp::BindRo | MountOp::BindRw => {
                let src = sys::openat_strict(self.host.as_raw_fd(), &r, libc::O_PATH)
                    .map_err(at(path, "open host path"))?;
                let dir = is_dir(src.as_raw_fd()).map_err(at(path, "stat"))?;
                let tree =
                    sys::clone_tree(src.as_raw_fd(), true).map_err(at(path, "clone mount tree"))?;
                let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
                if m.op == MountOp::BindRo {
                    attrs |= MOUNT_ATTR_RDONLY;
                }
                sys::set_mount_attrs(tree.as_raw_fd(), attrs, true)
                    .map_err(at(path, "set mount flags"))?;
                let target = self.target(&r, dir, path)?;
                sys::attach(tree.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach"))
            }
            MountOp::BindRoRootless => {
                let tree = self.rootless_etc.take().ok_or_else(|| {
                    at(path, "attach")(io::Error::other(
                        "the supervisor prepared no idmapped view of it",
                    ))
                })?;
                let target = self.target(&r, true, path)?;
                sys::attach(tree.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach"))
            }
            MountOp::ReadOnly | MountOp::CreateDirReadOnly => {
                if m.op == MountOp::CreateDirReadOnly {
                    self.create_host_dir(&r, path)?;
                }
                let target = match sys::openat_strict(self.root.as_raw_fd(), &r, libc::O_PATH) {
                    Ok(fd) => fd,
                    // Kernel files that this kernel does not have.
                    Err(e)
                        if e.raw_os_error() == Some(libc::ENOENT) && path.starts_with("/proc") =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(at(path, "open")(e)),
                };
                let tree = sys::clone_tree(target.as_raw_fd(), true)
                    .map_err(at(path, "clone mount tree"))?;
                sys::set_mount_attrs(
                    tree.as_raw_fd(),
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                    true,
                )
                .map_err(at(path, "make read-only"))?;
                sys::attach(tree.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach"))
            }
            MountOp::MaskFile | MountOp::MaskDir => {
                let target = match sys::openat_strict(self.root.as_raw_fd(), &r, libc::O_PATH) {
                    Ok(fd) => fd,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                    Err(e) => return Err(at(path, "open")(e)),
                };
                let dir = is_dir(target.as_raw_fd()).map_err(at(path, "stat"))?;
                let cover = if dir {
                    &self.empty_dir
                } else {
                    &self.empty_file
                };
                let tree =
                    sys::clone_tree(cover.as_raw_fd(), false).map_err(at(path, "clone mask"))?;
                sys::set_mount_attrs(
                    tree.as_raw_fd(),
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                    false,
                )
                .map_err(at(path, "mask flags"))?;
                sys::attach(tree.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach mask"))
            }
            MountOp::Symlink { target } => {
                let parent =
                    self.target(&rel(path.parent().unwrap_or(Path::new("/"))), true, path)?;
                let name = path.file_name().unwrap_or_else(|| OsStr::new(""));
                let t = sys::cpath(target).map_err(at(path, "symlink"))?;
                let n = sys::cpath(Path::new(name)).map_err(at(path, "symlink"))?;
                let dirfd = sys::openat_strict(
                    parent.as_raw_fd(),
                    Path::new("."),
                    libc::O_DIRECTORY | libc::O_RDONLY,
                )
                .map_err(at(path, "open parent"))?;
                // SAFETY: valid C strings and directory descriptor.
                sys::errno_result(unsafe {
                    libc::symlinkat(t.as_ptr(), dirfd.as_raw_fd(), n.as_ptr())
                })
                .map_err(at(path, "symlink"))
            }
            MountOp::Proc => {
                let fs = sys::fresh_fs(
                    "proc",
                    &[],
                    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                )
                .map_err(at(path, "mount proc"))?;
                let target = self.target(&r, true, path)?;
                sys::attach(fs.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach proc"))
            }
            MountOp::Tmpfs { size_mb } => {
                let size = format!("{size_mb}m");
                let mode = if path == Path::new("/tmp") {
                    "1777"
                } else {
                    "0700"
                };
                let fs = sys::fresh_fs(
                    "tmpfs",
                    &[("size", &size), ("mode", mode)],
                    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                )
                .map_err(at(path, "mount tmpfs"))?;
                self.own_devs
                    .push(dev_of(fs.as_raw_fd()).map_err(at(path, "stat"))?);
                let target = self.target(&r, true, path)?;
                sys::attach(fs.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach tmpfs"))
            }
            MountOp::Dev => self.dev(path, plan),
            MountOp::Overlay { size_mb } => self.overlay(&r, path, *size_mb),
        }
    }

    /// A minimal /dev: a small tmpfs holding binds of the harmless host
    /// device nodes (a user namespace cannot mknod), a private devpts, and
    /// a /dev/shm tmpfs. The tmpfs is then made read-only.
    fn dev(&mut self, path: &Path, plan: &Plan) -> Result<()> {
        let fs = sys::fresh_fs(
            "tmpfs",
            &[("size", "64k"), ("mode", "0755")],
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        )
        .map_err(at(path, "mount /dev tmpfs"))?;
        self.own_devs
            .push(dev_of(fs.as_raw_fd()).map_err(at(path, "stat"))?);
        let target = self.target(Path::new("dev"), true, path)?;
        sys::attach(fs.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach /dev"))?;
        for name in DEVICES {
            let host_rel = Path::new("dev").join(name);
            let src = match sys::openat_strict(self.host.as_raw_fd(), &host_rel, libc::O_PATH) {
                Ok(fd) => fd,
                Err(_) if name == "tty" => continue,
                Err(e) => return Err(at(path, "open host device")(e)),
            };
            let tree = sys::clone_tree(src.as_raw_fd(), false).map_err(at(path, "clone device"))?;
            sys::set_mount_attrs(
                tree.as_raw_fd(),
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                false,
            )
            .map_err(at(path, "device flags"))?;
            let t = self.target(&host_rel, false, path)?;
            sys::attach(tree.as_raw_fd(), t.as_raw_fd()).map_err(at(path, "attach device"))?;
        }
        let pts = sys::fresh_fs(
            "devpts",
            &[("newinstance", ""), ("ptmxmode", "0666"), ("mode", "0620")],
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
        )
        .map_err(at(path, "mount devpts"))?;
        let t = self.target(Path::new("dev/pts"), true, path)?;
        sys::attach(pts.as_raw_fd(), t.as_raw_fd()).map_err(at(path, "attach devpts"))?;
        let size = format!("{}m", plan.limits.tmp_size_mb);
        let shm = sys::fresh_fs(
            "tmpfs",
            &[("size", &size), ("mode", "1777")],
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
        .map_err(at(path, "mount /dev/shm"))?;
        let t = self.target(Path::new("dev/shm"), true, path)?;
        sys::attach(shm.as_raw_fd(), t.as_raw_fd()).map_err(at(path, "attach /dev/shm"))?;
        let dev = sys::openat_strict(
            self.root.as_raw_fd(),
            Path::new("dev"),
            libc::O_DIRECTORY | libc::O_RDONLY,
        )
        .map_err(at(path, "open /dev"))?;
        for (link, target) in [
            ("ptmx", "pts/ptmx"),
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            let l = sys::cstr(link).map_err(at(path, "symlink"))?;
            let t = sys::cstr(target).map_err(at(path, "symlink"))?;
            // SAFETY: valid strings and directory descriptor.
            sys::errno_result(unsafe { libc::symlinkat(t.as_ptr(), dev.as_raw_fd(), l.as_ptr()) })
                .map_err(at(path, "symlink"))?;
        }
        let devmount = sys::openat_strict(self.root.as_raw_fd(), Path::new("dev"), libc::O_PATH)
            .map_err(at(path, "open /dev"))?;
        sys::set_mount_attrs(
            devmount.as_raw_fd(),
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            false,
        )
        .map_err(at(path, "make /dev read-only"))
    }

    /// overlayfs with the host's `path` (seen at /oldroot during the build)
    /// as the read-only lower layer and a fresh tmpfs as the upper one.
    fn overlay(&mut self, r: &Path, path: &Path, size_mb: u64) -> Result<()> {
        let size = format!("{size_mb}m");
        let layer = sys::fresh_fs(
            "tmpfs",
            &[("size", &size), ("mode", "0755")],
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
        .map_err(at(path, "mount overlay layer"))?;
        let dir = Path::new("/overlay-layer");
        let c = sys::cpath(dir).map_err(at(path, "path"))?;
        // SAFETY: creating a directory in our own staging tmpfs.
        sys::errno_result(unsafe { libc::mkdir(c.as_ptr(), 0o755) })
            .map_err(at(path, "mkdir overlay layer"))?;
        let holder = sys::open_path(dir).map_err(at(path, "open overlay layer"))?;
        sys::attach(layer.as_raw_fd(), holder.as_raw_fd())
            .map_err(at(path, "attach overlay layer"))?;
        for d in ["upper", "work"] {
            let p = sys::cpath(&dir.join(d)).map_err(at(path, "path"))?;
            // SAFETY: creating directories in the layer tmpfs.
            sys::errno_result(unsafe { libc::mkdir(p.as_ptr(), 0o1777) })
                .map_err(at(path, "mkdir overlay dirs"))?;
        }
        let lower = Path::new("/oldroot").join(r);
        let lower = lower.to_string_lossy();
        let fs = sys::fresh_fs(
            "overlay",
            &[
                ("lowerdir", lower.as_ref()),
                ("upperdir", "/overlay-layer/upper"),
                ("workdir", "/overlay-layer/work"),
            ],
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
        .map_err(at(path, "mount overlayfs"))?;
        self.own_devs
            .push(dev_of(fs.as_raw_fd()).map_err(at(path, "stat"))?);
        let target = self.target(r, true, path)?;
        sys::attach(fs.as_raw_fd(), target.as_raw_fd()).map_err(at(path, "attach overlay"))
    }

    /// Open the mount point `r` below the new root, creating missing
    /// components only inside tmpfs mounts made here.
    fn target(&self, r: &Path, dir: bool, shown: &Path) -> Result<OwnedFd> {
        let mut cur = sys::openat_strict(self.root.as_raw_fd(), Path::new("."), libc::O_PATH)
            .map_err(at(shown, "open root"))?;
        let parts: Vec<_> = r.components().collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let name = Path::new(part.as_os_str());
            match sys::openat_strict(cur.as_raw_fd(), name, libc::O_PATH) {
                Ok(fd) => cur = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let dev = dev_of(cur.as_raw_fd()).map_err(at(shown, "stat"))?;
                    if !self.own_devs.contains(&dev) {
                        return Err(at(shown, "mount point missing in a host tree")(e));
                    }
                    let dirfd = sys::openat_strict(
                        cur.as_raw_fd(),
                        Path::new("."),
                        libc::O_DIRECTORY | libc::O_RDONLY,
                    )
                    .map_err(at(shown, "open parent"))?;
                    let n = sys::cpath(name).map_err(at(shown, "name"))?;
                    // SAFETY: valid descriptor and name.
                    let rc = if dir || !last {
                        unsafe { libc::mkdirat(dirfd.as_raw_fd(), n.as_ptr(), 0o755) }
                    } else {
                        let fd = unsafe {
                            libc::openat(
                                dirfd.as_raw_fd(),
                                n.as_ptr(),
                                libc::O_CREAT
                                    | libc::O_EXCL
                                    | libc::O_WRONLY
                                    | libc::O_CLOEXEC
                                    | libc::O_NOFOLLOW,
                                0o644,
                            )
                        };
                        if fd >= 0 {
                            unsafe { libc::close(fd) };
                        }
                        fd
                    };
                    sys::errno_result(rc).map_err(at(shown, "create mount point"))?;
                    cur = sys::openat_strict(cur.as_raw_fd(), name, libc::O_PATH)
                        .map_err(at(shown, "open mount point"))?;
                }
                Err(e) => return Err(at(shown, "open mount point")(e)),
            }
        }
        Ok(cur)
    }

    /// `.git/hooks` inside a writable tree: create it (as git would) so a
    /// read-only mount can cover it and no hook can be planted.
    fn create_host_dir(&self, r: &Path, shown: &Path) -> Result<()> {
        let parent = r.parent().unwrap_or(Path::new(""));
        let name = r.file_name().unwrap_or_else(|| OsStr::new(""));
        let dirfd = sys::openat_strict(
            self.root.as_raw_fd(),
            if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            },
            libc::O_DIRECTORY | libc::O_RDONLY,
        )
        .map_err(at(shown, "open parent"))?;
        let n = sys::cpath(Path::new(name)).map_err(at(shown, "name"))?;
        // SAFETY: valid descriptor and name.
        let rc = unsafe { libc::mkdirat(dirfd.as_raw_fd(), n.as_ptr(), 0o755) };
        if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
            return Err(at(shown, "create")(io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// Bring up `lo` in the new network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket/ioctl on a zero-initialised ifreq.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let rc = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
        let err = io::Error::last_os_error();
        libc::close(sock);
        if rc < 0 {
            return Err(err);
        }
    }
    Ok(())
}
