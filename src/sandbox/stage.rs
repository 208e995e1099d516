//! Inside the sandbox: init and the command.
//!
//! *init* is pid 1 of the sandbox and the supervisor's direct child, so no
//! intermediate process costs time. Usually `run` clones it into new user
//! and pid namespaces before the policy is read ([`Early`]); init unshares
//! the mount, network, ipc and uts namespaces itself while the supervisor
//! plans, then receives its input on the control socket. Without that head
//! start, one `clone3` creates all of them ([`spawn`]); a supervisor that
//! already runs threads executes this binary afresh as a *stage*
//! ([`stage_main`]), which clones init that way and forwards signals.
//! init maps the invoker's ids, enters a cgroup namespace, forks the
//! *command* process and builds the filesystem view. Meanwhile the command
//! applies, in this fixed order: session, rlimits, capabilities dropped,
//! no_new_privs, seccomp; then, once init says the view is finished
//! (pivot_root moved the command's root along with init's): the run's
//! cgroups, terminal, workdir, Landlock, exec.
//!
//! init is non-dumpable and outside the command's Landlock domain, so the
//! command cannot ptrace it, signal it, or open `/proc/1/exe`; and the
//! sandboxctl binary is not mounted in the view at all.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::proto::{self, Enforced, LayerReport, Report, StageInput, CONTROL_FD, ETC_FD, PLAN_FD};

/// Where init keeps its lifeline (the plan descriptor is consumed by then).
const LIFE_FD: RawFd = PLAN_FD;
use super::{caps, landlock, mounts, seccomp, sys};
use crate::policy::Mode;

/// Signals the stage and init wait for and forward.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

pub struct Fail {
    layer: &'static str,
    message: String,
    fix: String,
    code: u8,
}

fn fail(layer: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Fail {
    Fail {
        layer,
        message: message.into(),
        fix: fix.into(),
        code: 125,
    }
}

impl From<Fail> for crate::failure::Failure {
    fn from(f: Fail) -> Self {
        crate::failure::Failure::Setup {
            layer: f.layer.into(),
            message: f.message,
            fix: f.fix,
            code: f.code,
        }
    }
}

fn report_fail(f: Fail) -> u8 {
    let _ = proto::send(
        CONTROL_FD,
        &Report::Error {
            layer: f.layer.into(),
            message: f.message,
            fix: f.fix,
            code: f.code,
        },
        &[],
    );
    f.code
}

/// Entry of `sandboxctl __stage`, the route for a supervisor that already
/// runs threads: a fresh single-threaded process that starts init and
/// stays as its parent, forwarding signals.
pub fn stage_main() -> u8 {
    // Nothing the caller had open may reach the command, and the control
    // socket (placed by dup2, which clears close-on-exec) must not either.
    sys::close_from(ETC_FD as u32 + 1);
    for fd in [CONTROL_FD, ETC_FD] {
        // SAFETY: setting a descriptor flag on our own descriptor (EBADF
        // for an absent /etc view is fine).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    proto::stamp("stage started");
    let input = match read_input() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("sandboxctl: error: stage: cannot read the plan: {e}");
            return 125;
        }
    };
    if !input.etc_view {
        // SAFETY: nothing of ours is there.
        unsafe { libc::close(ETC_FD) };
    }
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } != input.supervisor_pid {
        return 125; // the supervisor died before we set PDEATHSIG
    }
    let set = block_signals();
    let etc = input.etc_view.then_some(ETC_FD);
    match spawn(&input, CONTROL_FD, etc) {
        Ok(child) => {
            if !child.degraded {
                let _ = proto::send(CONTROL_FD, &Report::Init { pid: child.pid }, &[]);
            }
            if let Some(fd) = etc {
                // SAFETY: init holds its own copy.
                unsafe { libc::close(fd) };
            }
            let code = supervise_child(child.pid, &set);
            drop(child.life);
            code
        }
        Err(f) => report_fail(f),
    }
}

fn read_input() -> io::Result<StageInput> {
    // SAFETY: the supervisor placed the plan memfd at PLAN_FD; we own it now.
    let mut file = unsafe { std::fs::File::from_raw_fd(PLAN_FD) };
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    serde_json::from_slice(&buf).map_err(io::Error::other)
}

fn write_file(path: &str, data: &str) -> io::Result<()> {
    std::fs::write(path, data)
}

fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn unblock_all() {
    // SAFETY: as above.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// A started init (or, without user namespaces, the degraded stage).
pub struct Spawned {
    pub pid: libc::pid_t,
    /// init's lifeline: init leaves when this end closes, which also covers
    /// a parent that died before init could set its death signal.
    pub life: OwnedFd,
    /// No namespaces (`isolation: best_effort` without user namespaces):
    /// the child is a subreaper in the host's namespaces.
    pub degraded: bool,
}

/// Namespaces init is born into. The cgroup namespace comes later, once
/// init has joined the run's cgroups, so that they are its root.
const NAMESPACES: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS) as u64;

/// Start init as pid 1 of new namespaces, with one `clone3`: no
/// intermediate process. The caller must be single-threaded (the
/// supervisor before it starts the proxy, or the executed stage), because
/// the child goes on running ordinary code until it execs. `control` is
/// the control socket; the child moves it to [`CONTROL_FD`], and the
/// prepared /etc view, if any, to [`ETC_FD`].
pub fn spawn(input: &StageInput, control: RawFd, etc: Option<RawFd>) -> Result<Spawned, Fail> {
    let plan = &input.plan;
    // SAFETY: getuid/getgid cannot fail. Read before the clone: inside the
    // new user namespace they are unmapped until init writes its maps.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid == 0 {
        // Root's supplementary groups would stay in force inside, and init
        // cannot clear them there (its setgroups is denied so that it may
        // map its own gid). Root's caller needs none of them: it has
        // CAP_DAC_OVERRIDE. SAFETY: an empty group list.
        sys::errno_result(unsafe { libc::setgroups(0, std::ptr::null()) }).map_err(|e| {
            fail(
                "isolation",
                format!("cannot drop root's supplementary groups: {e}"),
                "",
            )
        })?;
    }
    let (life_r, life_w) = sys::pipe().map_err(|e| fail("process", format!("pipe: {e}"), ""))?;
    let cloned = if input.hooks.no_userns {
        Err(io::Error::from_raw_os_error(libc::EPERM))
    } else {
        // SAFETY: the caller is single-threaded, so the child is a
        // consistent copy; it leaves by _exit and never returns here.
        unsafe { sys::clone_process(NAMESPACES) }
    };
    let degraded = match cloned {
        Ok(0) => {
            drop(life_w);
            let code = match adopt(control, life_r.as_raw_fd(), etc) {
                Ok(()) => init_main(input, uid, gid),
                Err(()) => 125,
            };
            // SAFETY: leave the child without running the parent's cleanup.
            unsafe { libc::_exit(i32::from(code)) };
        }
        Ok(pid) => {
            return Ok(Spawned {
                pid,
                life: life_w,
                degraded: false,
            })
        }
        Err(e) => e,
    };
    if plan.isolation == Mode::Strict {
        return Err(fail(
            "isolation",
            format!(
                "cannot create a user namespace: {degraded} [{}]",
                plan.isolation_origin
            ),
            "allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0; on Debian kernel.unprivileged_userns_clone=1; on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0), or set `isolation: best_effort` to run with Landlock, seccomp and rlimits only",
        ));
    }
    let life_w_raw = life_w.as_raw_fd();
    let pid = fork_running(|| {
        // SAFETY: closing the child's copy of the write end.
        unsafe { libc::close(life_w_raw) };
        if adopt(control, life_r.as_raw_fd(), None).is_err() {
            return 125;
        }
        let joined = join_cgroups(input);
        match joined.and_then(|()| degraded_stage(input, &degraded)) {
            Ok(code) => code,
            Err(f) => report_fail(f),
        }
    })?;
    // The child holds its own copy; ours only keeps the pipe's write end open.
    drop(life_r);
    Ok(Spawned {
        pid,
        life: life_w,
        degraded: true,
    })
}

/// First steps of a child of [`spawn`]: what an exec would have reset is
/// reset by hand (descriptors, signal dispositions, environment), the
/// control socket goes to [`CONTROL_FD`], and the child dies with its
/// parent, checked once through the lifeline in case the parent is
/// already gone.
fn adopt(control: RawFd, life: RawFd, etc: Option<RawFd>) -> Result<(), ()> {
    // SAFETY: prctl, dup2, fcntl, poll, signal and environment calls in a
    // single-threaded child on descriptors it owns.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        // The sources are numbered 10 and up, or already in place
        // (the executed stage's control socket and /etc view).
        let mut keep = vec![(control, CONTROL_FD), (life, LIFE_FD)];
        keep.extend(etc.map(|fd| (fd, ETC_FD)));
        for &(from, to) in &keep {
            if from != to && libc::dup2(from, to) < 0 {
                return Err(());
            }
            if libc::fcntl(to, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
                return Err(());
            }
        }
        let last = keep.iter().map(|&(_, to)| to).max().unwrap_or(LIFE_FD);
        sys::close_from(last as u32 + 1);
        let mut pfd = libc::pollfd {
            fd: LIFE_FD,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & (libc::POLLHUP | libc::POLLIN) != 0 {
            return Err(()); // the parent is already gone
        }
        // Rust ignores SIGPIPE; an ignored signal would survive the exec.
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        libc::clearenv();
    }
    unblock_all();
    Ok(())
}

/// Move this process into the run's cgroups ("0" is the writer itself);
/// its children inherit them.
fn join_cgroups(input: &StageInput) -> Result<(), Fail> {
    for file in &input.cgroup_procs {
        std::fs::write(file, "0").map_err(|e| {
            fail(
                "resources",
                format!("cannot join {}: {e}", file.display()),
                "run as root or with a delegated cgroup, or set resources.enforcement: best_effort",
            )
        })?;
    }
    Ok(())
}

/// init, from its first instruction in the new namespaces.
fn init_main(input: &StageInput, uid: libc::uid_t, gid: libc::gid_t) -> u8 {
    let set = block_signals();
    match identity(uid, gid).and_then(|()| {
        proto::stamp("namespaces created");
        init_with(input, &set)
    }) {
        Ok(code) => code,
        Err(f) => report_fail(f),
    }
}

/// init once its namespaces exist and it has its input: join the run's
/// cgroups, root a cgroup namespace there, and go on.
fn init_with(input: &StageInput, set: &libc::sigset_t) -> Result<u8, Fail> {
    join_cgroups(input)?;
    cgroup_namespace()?;
    proto::stamp("cgroups joined");
    init(input, set)
}

/// A cgroup namespace rooted at the cgroups init is in now.
fn cgroup_namespace() -> Result<(), Fail> {
    // SAFETY: unshare with a flag constant.
    sys::errno_result(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) }).map_err(|e| {
        fail(
            "isolation",
            format!("cannot create a cgroup namespace: {e}"),
            "check `sandboxctl doctor`",
        )
    })?;
    Ok(())
}

/// init started at the beginning of `run`, before the policy is read, so
/// that the kernel builds its namespaces while the supervisor plans (on
/// another CPU when there is one). It waits for its input on the control
/// socket; dropping this without [`Early::hand_over`] ends it.
pub struct Early {
    pid: libc::pid_t,
    /// init's lifeline and the supervisor's end of the control socket,
    /// until handed over.
    parts: Option<(OwnedFd, OwnedFd)>,
}

/// The user and pid namespaces come from the clone; init unshares the
/// others itself, in parallel with the supervisor.
const EARLY_NAMESPACES: u64 = (libc::CLONE_NEWUSER | libc::CLONE_NEWPID) as u64;
const LATER_NAMESPACES: libc::c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;

impl Early {
    /// Clone init now. The caller must be single-threaded. An error means
    /// only that the late route (`spawn`) is taken, which reports a
    /// failure properly once the plan says what is required.
    pub fn start() -> io::Result<Early> {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        if uid == 0 {
            // As in `spawn`: init cannot clear them itself.
            // SAFETY: an empty group list.
            sys::errno_result(unsafe { libc::setgroups(0, std::ptr::null()) })?;
        }
        let (ours, theirs) = sys::seqpacket_pair()?;
        let (life_r, life_w) = sys::pipe()?;
        // SAFETY: the caller is single-threaded; the child leaves by _exit.
        let pid = unsafe { sys::clone_process(EARLY_NAMESPACES) }?;
        if pid == 0 {
            drop(life_w);
            let code = match adopt(theirs.as_raw_fd(), life_r.as_raw_fd(), None) {
                Ok(()) => early_main(uid, gid),
                Err(()) => 125,
            };
            // SAFETY: leave the child without running the parent's cleanup.
            unsafe { libc::_exit(i32::from(code)) };
        }
        Ok(Early {
            pid,
            parts: Some((life_w, ours)),
        })
    }

    /// Give init its input (the plan in a memfd, and the prepared /etc
    /// view); returns init's pid, its lifeline and the supervisor's end of
    /// the control socket. A failed hand-over is not reported here: init
    /// has then failed already and says why on the control socket.
    pub fn hand_over(
        mut self,
        input: &StageInput,
        etc: Option<RawFd>,
    ) -> io::Result<(libc::pid_t, OwnedFd, OwnedFd)> {
        let (life, control) = self
            .parts
            .take()
            .ok_or_else(|| io::Error::other("init was already handed its input"))?;
        let sent = serde_json::to_vec(input)
            .map_err(io::Error::other)
            .and_then(|data| super::memfd_with(&data))
            .and_then(|plan| {
                let mut fds = vec![plan.as_raw_fd()];
                fds.extend(etc);
                sys::send_with_fds(control.as_raw_fd(), b"input", &fds)
            });
        if sent.is_err() {
            // SAFETY: init is our child; the loop reaps it.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        Ok((self.pid, life, control))
    }
}

impl Drop for Early {
    /// The run ended before init got its input (a refusal, a bad policy):
    /// nothing of the command ever ran; end init and reap it.
    fn drop(&mut self) {
        if self.parts.is_some() {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// The early init: ids, namespaces, then the input.
fn early_main(uid: libc::uid_t, gid: libc::gid_t) -> u8 {
    let set = block_signals();
    let ready = identity(uid, gid).and_then(|()| {
        // SAFETY: unshare with flag constants.
        sys::errno_result(unsafe { libc::unshare(LATER_NAMESPACES) }).map_err(|e| {
            fail(
                "isolation",
                format!("cannot create mount/net/ipc/uts namespaces: {e}"),
                "check `sandboxctl doctor`",
            )
        })
    });
    if let Err(f) = ready {
        return report_fail(f);
    }
    proto::stamp("namespaces created");
    let input = match receive_input() {
        Ok(Some(input)) => input,
        Ok(None) => return 125, // the supervisor stopped before running anything
        Err(f) => return report_fail(f),
    };
    proto::stamp("init has the plan");
    // Rooted at sandboxctl's own cgroup: the run's cgroup does not exist
    // yet, and the command joins it later (see `cgroups_to_come`).
    match cgroup_namespace().and_then(|()| init(&input, &set)) {
        Ok(code) => code,
        Err(f) => report_fail(f),
    }
}

/// The supervisor's hand-over: the input as JSON in a memfd, and the
/// prepared /etc view when the input says there is one (placed at
/// [`ETC_FD`]). `None` when the supervisor closed the socket instead.
fn receive_input() -> Result<Option<StageInput>, Fail> {
    let broken = |e: String| fail("process", format!("cannot receive the plan: {e}"), "");
    let mut tag = [0u8; 16];
    let (n, fds) = sys::recv_with_fds(CONTROL_FD, &mut tag).map_err(|e| broken(e.to_string()))?;
    if n == 0 {
        return Ok(None);
    }
    let mut fds = fds.into_iter();
    let plan = fds
        .next()
        .ok_or_else(|| broken("no plan descriptor".into()))?;
    let mut data = Vec::new();
    std::fs::File::from(plan)
        .read_to_end(&mut data)
        .map_err(|e| broken(e.to_string()))?;
    let input: StageInput = serde_json::from_slice(&data).map_err(|e| broken(e.to_string()))?;
    if input.etc_view {
        let fd = fds.next().ok_or_else(|| broken("no /etc view".into()))?;
        if fd.as_raw_fd() == ETC_FD {
            std::mem::forget(fd); // already in place, close-on-exec
        } else {
            // SAFETY: dup2 onto the fixed number, then mark it close-on-exec.
            let placed = unsafe {
                libc::dup2(fd.as_raw_fd(), ETC_FD) >= 0
                    && libc::fcntl(ETC_FD, libc::F_SETFD, libc::FD_CLOEXEC) >= 0
            };
            if !placed {
                return Err(broken(io::Error::last_os_error().to_string()));
            }
        }
    }
    Ok(Some(input))
}

/// Map only the invoker's own uid and gid into the new user namespace, so
/// files it creates are its own and no other host identity exists inside.
fn identity(uid: libc::uid_t, gid: libc::gid_t) -> Result<(), Fail> {
    let map_fail = |what: &str, e: io::Error| {
        fail(
            "isolation",
            format!("cannot write {what}: {e}"),
            "check user namespace support with `sandboxctl doctor`",
        )
    };
    // A process may map its own gid only with setgroups denied.
    let _ = write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/uid_map", &format!("{uid} {uid} 1"))
        .map_err(|e| map_fail("uid_map", e))?;
    write_file("/proc/self/gid_map", &format!("{gid} {gid} 1"))
        .map_err(|e| map_fail("gid_map", e))?;
    Ok(())
}

/// Fork; the child runs `child` and leaves with its code, never returning.
/// Callers are single-threaded (the stage, init), so the child may
/// allocate.
fn fork_running(child: impl FnOnce() -> u8) -> Result<libc::pid_t, Fail> {
    // SAFETY: the calling process is single-threaded (see above).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(fail(
            "process",
            format!("fork: {}", io::Error::last_os_error()),
            "",
        ));
    }
    if pid == 0 {
        let code = child();
        // SAFETY: leave the child without unwinding into the parent's state.
        unsafe { libc::_exit(i32::from(code)) };
    }
    Ok(pid)
}

/// Wait for `child`, forwarding signals to it; return its exit code.
fn supervise_child(child: libc::pid_t, set: &libc::sigset_t) -> u8 {
    loop {
        // SAFETY: waiting on a set of blocked signals.
        let sig = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if sig == libc::SIGCHLD || sig < 0 {
            let mut status = 0;
            // SAFETY: non-blocking wait for our child.
            let r = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
            if r == child {
                return status_code(status);
            }
            continue;
        }
        // SAFETY: forwarding a signal to our own child.
        unsafe { libc::kill(child, sig) };
    }
}

fn status_code(status: i32) -> u8 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else if libc::WIFSIGNALED(status) {
        (128 + libc::WTERMSIG(status)) as u8
    } else {
        125
    }
}

fn init(input: &StageInput, set: &libc::sigset_t) -> Result<u8, Fail> {
    let plan = &input.plan;
    // Not ptraceable, /proc/1/* not openable by the command. (After the id
    // maps: a non-dumpable process's /proc files belong to root.)
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };

    // The command is forked now and readies its own layers (rlimits,
    // capabilities, seccomp) while init builds the view; it waits for
    // init's word before it attaches the terminal, enters the workdir,
    // applies Landlock to the finished view and execs. If init fails first,
    // its exit ends the pid namespace and the command with it.
    let (go, go_cmd) =
        sys::seqpacket_pair().map_err(|e| fail("process", format!("socketpair: {e}"), ""))?;
    let go_cmd_raw = go_cmd.as_raw_fd();
    let go_raw = go.as_raw_fd();
    let pid = fork_running(|| {
        // SAFETY: closing the child's copy of init's end.
        unsafe { libc::close(go_raw) };
        report_fail(command(input, Some(go_cmd_raw)))
    })?;
    drop(go_cmd);

    let host = sys::cstr(&plan.hostname).map_err(|e| fail("isolation", e.to_string(), ""))?;
    // SAFETY: valid buffer and length.
    unsafe { libc::sethostname(host.as_ptr(), plan.hostname.len()) };

    // SAFETY: the supervisor's prepared /etc view, ours since adopt().
    let etc = input
        .etc_view
        .then(|| unsafe { OwnedFd::from_raw_fd(ETC_FD) });
    mounts::build_root(plan, etc).map_err(|e| {
        fail(
            "filesystem",
            format!("cannot build the sandbox view: {e}"),
            "check the path named, or run `sandboxctl check` to see the plan",
        )
    })?;
    proto::stamp("filesystem view built");

    if plan.network.proxy_port.is_some() {
        let listener = super::proxy_listener(plan).map_err(|e| {
            fail(
                "network",
                format!("cannot listen for the egress proxy: {e}"),
                "",
            )
        })?;
        proto::send(CONTROL_FD, &Report::ProxyListener, &[listener]).map_err(|e| {
            fail(
                "network",
                format!("cannot hand over the proxy socket: {e}"),
                "",
            )
        })?;
        // SAFETY: the supervisor holds its own copy now.
        unsafe { libc::close(listener) };
    }

    let pty_slave = match input.pty {
        Some(size) => Some(open_pty(size)?),
        None => None,
    };
    let fds: Vec<RawFd> = pty_slave.iter().map(|f| f.as_raw_fd()).collect();
    // The word names the new root, which the command checks is its own.
    let mut word = GO.to_vec();
    word.extend_from_slice(&root_identity().ok_or_else(|| {
        fail(
            "filesystem",
            format!(
                "cannot stat the sandbox root: {}",
                io::Error::last_os_error()
            ),
            "",
        )
    })?);
    // A command that already failed has reported why; reap_until sees it.
    let _ = sys::send_with_fds(go.as_raw_fd(), &word, &fds);
    drop((pty_slave, go));
    Ok(reap_until(pid, set))
}

/// init's word to the command that the view is finished, followed by the
/// new root's identity and sent with the terminal's slave end when there
/// is one.
const GO: &[u8] = b"go";

/// Device and inode of this process's "/", as bytes.
fn root_identity() -> Option<Vec<u8>> {
    // SAFETY: stat fills a zeroed stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(c"/".as_ptr(), &mut st) } < 0 {
        return None;
    }
    let mut id = (st.st_dev as u64).to_le_bytes().to_vec();
    id.extend_from_slice(&(st.st_ino as u64).to_le_bytes());
    Some(id)
}

/// The supervisor's cgroup join files (see `cgroups_to_come`), opened by
/// it: nothing in the sandbox sees the host's /sys. The command receives
/// them on the control socket, which init no longer reads. `None` when
/// the supervisor refused the run instead.
fn await_cgroups() -> Result<Option<Vec<OwnedFd>>, Fail> {
    let mut tag = [0u8; 16];
    let (n, fds) = sys::recv_with_fds(CONTROL_FD, &mut tag)
        .map_err(|e| fail("resources", format!("waiting for the cgroups: {e}"), ""))?;
    Ok((n > 0).then_some(fds))
}

/// pid 1's loop: reap every zombie, forward signals to the command's
/// process group, and leave with the command's status. When init exits,
/// the kernel kills everything left in the pid namespace.
fn reap_until(cmd: libc::pid_t, set: &libc::sigset_t) -> u8 {
    loop {
        // SAFETY: waiting on blocked signals.
        let sig = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if sig == libc::SIGCHLD || sig < 0 {
            loop {
                let mut status = 0;
                // SAFETY: reaping any child without blocking.
                let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if r <= 0 {
                    break;
                }
                if r == cmd {
                    let (code, signal) = if libc::WIFEXITED(status) {
                        (Some(libc::WEXITSTATUS(status)), None)
                    } else {
                        (None, Some(libc::WTERMSIG(status)))
                    };
                    let _ = proto::send(CONTROL_FD, &Report::Exited { code, signal }, &[]);
                    return status_code(status);
                }
            }
            continue;
        }
        // SAFETY: signalling the command's process group, or the command.
        unsafe {
            if libc::kill(-cmd, sig) < 0 {
                libc::kill(cmd, sig);
            }
        }
    }
}

/// A pseudo-terminal from the sandbox's own devpts: the master goes to the
/// supervisor, the slave (returned) to the command.
fn open_pty(size: proto::WinSize) -> Result<OwnedFd, Fail> {
    let pty_fail = |what: &str| {
        fail(
            "terminal",
            format!("{what}: {}", io::Error::last_os_error()),
            "run without a terminal on stdin",
        )
    };
    // SAFETY: opening the sandbox's /dev/ptmx.
    let master = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if master < 0 {
        return Err(pty_fail("open /dev/ptmx"));
    }
    let mut unlock: libc::c_int = 0;
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: ioctls on our pty master with valid argument pointers.
    unsafe {
        if libc::ioctl(master, libc::TIOCSPTLCK, &mut unlock) < 0 {
            return Err(pty_fail("unlock pty"));
        }
        libc::ioctl(master, libc::TIOCSWINSZ, &ws);
    }
    // The slave by descriptor (TIOCGPTPEER), not by a path in /dev/pts.
    // SAFETY: an ioctl on our pty master that returns a new descriptor.
    let slave = unsafe {
        libc::ioctl(
            master,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(pty_fail("open the pty's slave"));
    }
    // SAFETY: a fresh descriptor we own.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    proto::send(CONTROL_FD, &Report::Pty, &[master]).map_err(|e| {
        fail(
            "terminal",
            format!("cannot hand over the terminal: {e}"),
            "",
        )
    })?;
    // SAFETY: the supervisor has its copy.
    unsafe { libc::close(master) };
    Ok(slave)
}

/// The command process: every remaining layer, then exec. Returns only on
/// failure.
fn command(input: &StageInput, go: Option<RawFd>) -> Fail {
    match prepare_command(input, go) {
        Err(f) => f,
        Ok(()) => exec(input),
    }
}

/// The command process, from fork to just before exec. What does not need
/// the finished view comes first, while init builds it; `go` (absent
/// without namespaces) is where init says the view is done.
fn prepare_command(input: &StageInput, go: Option<RawFd>) -> Result<(), Fail> {
    let plan = &input.plan;
    // SAFETY: setsid in a fresh child cannot fail meaningfully.
    unsafe { libc::setsid() };
    proto::stamp("command process forked");
    if go.is_some() {
        // The sandbox's own loopback (the network namespace is shared with
        // init); done here, beside init's mounts, while capabilities last.
        mounts::loopback_up()
            .map_err(|e| fail("network", format!("cannot bring up loopback: {e}"), ""))?;
    }
    set_rlimits(plan)?;
    unblock_all();
    let caps_full = caps::drop_all()
        .map_err(|e| fail("capabilities", format!("cannot drop capabilities: {e}"), ""))?;
    caps::no_new_privs()
        .map_err(|e| fail("capabilities", format!("cannot set no_new_privs: {e}"), ""))?;
    proto::stamp("capabilities dropped");
    // The filter allows everything still to come (a read, ioctl TIOCSCTTY,
    // chdir, the Landlock calls, execve).
    let prog = seccomp::compile(&plan.seccomp);
    seccomp::install(&prog).map_err(|e| {
        fail(
            "seccomp",
            format!("cannot load the seccomp filter: {e}"),
            "check `sandboxctl doctor`",
        )
    })?;
    proto::stamp("seccomp loaded");
    if input.cgroups_to_come {
        let Some(files) = await_cgroups()? else {
            // The supervisor refused the run; init goes too.
            // SAFETY: leave without reporting a second error.
            unsafe { libc::_exit(125) }
        };
        for file in files {
            join_through(&file)?;
        }
        proto::stamp("cgroups joined");
    }
    if let Some(go) = go {
        let mut word = [0u8; 32];
        let (root, fds) = match sys::recv_with_fds(go, &mut word) {
            Ok((n, fds)) if n > GO.len() && word.starts_with(GO) => {
                (word[GO.len()..n].to_vec(), fds)
            }
            // init failed and said why; its exit ends this process too.
            // SAFETY: leave without reporting a second error.
            _ => unsafe { libc::_exit(125) },
        };
        // SAFETY: init's end of the word; nothing else is sent.
        unsafe { libc::close(go) };
        // pivot_root moved this process's root along with init's; make
        // sure, since everything after this trusts that "/" is the view.
        if root_identity().as_deref() != Some(root.as_slice()) {
            return Err(fail(
                "filesystem",
                "the command's root is not the sandbox view (pivot_root did not move it)",
                "report this: it is a bug in sandboxctl or a kernel that does not move other processes' roots",
            ));
        }
        if let Some(slave) = fds.into_iter().next() {
            attach_terminal(slave)?;
        }
    }
    let workdir = sys::cpath(&plan.workdir).map_err(|e| fail("filesystem", e.to_string(), ""))?;
    // SAFETY: valid C string.
    if unsafe { libc::chdir(workdir.as_ptr()) } < 0 {
        return Err(fail(
            "filesystem",
            format!(
                "the workdir {} is not visible in the sandbox: {}",
                plan.workdir.display(),
                io::Error::last_os_error()
            ),
            "list the workdir (e.g. `.`) under filesystem.writable or filesystem.readonly",
        ));
    }
    let ll = landlock::apply(&plan.landlock, input.hooks.landlock_abi_max);
    if ll.enforced != Enforced::Fully && plan.isolation == Mode::Strict {
        return Err(fail(
            "landlock",
            format!("Landlock is {}: {} [{}]", if ll.enforced == Enforced::Not { "not available" } else { "only partly enforceable" }, ll.detail,
                plan.isolation_origin),
            "use a kernel with Landlock ABI 6 or later (Linux 6.12+, with lsm=landlock), or set `isolation: best_effort` to run with what this kernel enforces",
        ));
    }
    let caps_detail = if caps_full {
        "all dropped, bounding set empty, no_new_privs"
    } else {
        "none held, none can be gained (no_new_privs); bounding set not emptied (no CAP_SETPCAP outside a user namespace)"
    };
    let mut layers = Vec::new();
    if !input.degraded {
        layers.push(LayerReport {
            layer: "namespaces".into(),
            enforced: Enforced::Fully,
            detail: "user, mount, pid, network, ipc, uts, cgroup".into(),
        });
        layers.push(LayerReport {
            layer: "filesystem".into(),
            enforced: Enforced::Fully,
            detail: format!("{} mounts from the plan", plan.mounts.len()),
        });
    }
    layers.push(LayerReport {
        layer: "capabilities".into(),
        enforced: if caps_full || !input.degraded {
            Enforced::Fully
        } else {
            Enforced::Partially
        },
        detail: caps_detail.into(),
    });
    layers.push(ll);
    layers.push(LayerReport {
        layer: "seccomp".into(),
        enforced: Enforced::Fully,
        detail: format!("{} rules, {} instructions", plan.seccomp.len(), prog.len()),
    });
    if input.simulate {
        let listener = super::notify::install().map_err(|e| {
            fail(
                "simulate",
                format!("cannot observe the command (seccomp user notification): {e}"),
                "Linux 5.5 or later is needed for --simulate and learn",
            )
        })?;
        proto::send(CONTROL_FD, &Report::Notify, &[listener.as_raw_fd()]).map_err(|e| {
            fail(
                "simulate",
                format!("cannot hand over the observer: {e}"),
                "",
            )
        })?;
    }
    let _ = proto::send(CONTROL_FD, &Report::Layers { layers }, &[]);
    proto::stamp("landlock applied, exec");
    Ok(())
}

/// Write this process into a cgroup through a join file the supervisor
/// opened (v1 `tasks`, v2 `cgroup.procs`).
fn join_through(file: &OwnedFd) -> Result<(), Fail> {
    // SAFETY: writing "0" (this process) through a descriptor we own.
    if unsafe { libc::write(file.as_raw_fd(), b"0".as_ptr().cast(), 1) } == 1 {
        return Ok(());
    }
    Err(fail(
        "resources",
        format!(
            "cannot join the run's cgroup: {}",
            io::Error::last_os_error()
        ),
        "run as root or with a delegated cgroup, or set resources.enforcement: best_effort",
    ))
}

/// Make the pty slave our controlling terminal and put it on 0, 1 and 2.
fn attach_terminal(slave: OwnedFd) -> Result<(), Fail> {
    let fd = slave.as_raw_fd();
    // SAFETY: ioctl and dup2 on a descriptor we own; we lead a new session.
    unsafe {
        if libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
            return Err(fail(
                "terminal",
                format!("cannot attach the terminal: {}", io::Error::last_os_error()),
                "",
            ));
        }
        for target in 0..3 {
            libc::dup2(fd, target);
        }
    }
    Ok(())
}

fn set_rlimits(plan: &crate::plan::Plan) -> Result<(), Fail> {
    let set = |res, value: u64| {
        let lim = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: valid rlimit pointer.
        sys::errno_result(unsafe { libc::setrlimit(res, &lim) })
    };
    set(libc::RLIMIT_CORE, 0).map_err(|e| fail("resources", format!("RLIMIT_CORE: {e}"), ""))?;
    set(libc::RLIMIT_NOFILE, plan.limits.nofile)
        .map_err(|e| fail("resources", format!("RLIMIT_NOFILE: {e}"), ""))?;
    if let Some(l) = &plan.limits.file_size_mb {
        set(libc::RLIMIT_FSIZE, l.value.saturating_mul(1024 * 1024))
            .map_err(|e| fail("resources", format!("RLIMIT_FSIZE: {e}"), ""))?;
    }
    Ok(())
}

fn cstrings<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<CString> {
    items.filter_map(|b| CString::new(b).ok()).collect()
}

/// Find and exec the command with the plan's environment. Only returns on
/// failure: 127 when not found, 126 when found but not executable.
fn exec(input: &StageInput) -> Fail {
    let plan = &input.plan;
    let argv = cstrings(plan.command.iter().map(|s| s.as_bytes()));
    let env_strings: Vec<String> = plan
        .env
        .iter()
        .map(|v| format!("{}={}", v.name, v.value))
        .collect();
    let envp = cstrings(env_strings.iter().map(|s| s.as_bytes()));
    if argv.len() != plan.command.len() || argv.is_empty() {
        return fail("exec", "the command contains a NUL byte", "");
    }
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let name = &plan.command[0];
    let path_var = plan
        .env
        .iter()
        .find(|v| v.name == "PATH")
        .map(|v| v.value.clone())
        .unwrap_or_default();
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![PathBuf::from(name)]
    } else {
        path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(name))
            .collect()
    };
    let mut denied = None;
    for c in &candidates {
        let Ok(p) = CString::new(c.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: argv and envp are NULL-terminated arrays of C strings that
        // outlive the call.
        unsafe { libc::execve(p.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {}
            _ => {
                denied = Some((c.clone(), err));
                if name.contains('/') {
                    break;
                }
            }
        }
    }
    match denied {
        Some((path, err)) => Fail {
            layer: "exec",
            message: format!("cannot execute {}: {err}", path.display()),
            fix: "the file is not executable, or lies outside what the policy makes visible".into(),
            code: 126,
        },
        None => Fail {
            layer: "exec",
            message: format!("command not found inside the sandbox: {name}"),
            fix: if name.contains('/') {
                "list the directory holding it under filesystem.readonly".into()
            } else {
                format!("searched PATH={path_var}; list the directory holding it under filesystem.readonly, or give its path")
            },
            code: 127,
        },
    }
}

/// `isolation: best_effort` without user namespaces: no new view, but
/// Landlock, seccomp, capabilities and rlimits still apply. The stage
/// stays as a subreaper so daemonised children are still killed.
fn degraded_stage(input: &StageInput, why: &io::Error) -> Result<u8, Fail> {
    let lost = format!("user namespaces unavailable ({why}): lost mount view (blocked paths are NOT masked), pid, network, ipc and uts isolation");
    let _ = proto::send(
        CONTROL_FD,
        &Report::Layers {
            layers: vec![LayerReport {
                layer: "namespaces".into(),
                enforced: Enforced::Not,
                detail: lost,
            }],
        },
        &[],
    );
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let set = block_signals();
    let workdir =
        sys::cpath(&input.plan.workdir).map_err(|e| fail("filesystem", e.to_string(), ""))?;
    // SAFETY: single-threaded stage; valid C string.
    unsafe { libc::chdir(workdir.as_ptr()) };
    let pid = fork_running(|| {
        let mut plan_input = input.clone();
        // Without a mount namespace the paths are the host's: Landlock may
        // only grant what the plan binds from the host, never the private
        // /tmp or home (which would be the host's), and single devices.
        plan_input.pty = None;
        plan_input.degraded = true;
        plan_input.plan.landlock = crate::plan::host_landlock(&input.plan);
        report_fail(command(&plan_input, None))
    })?;
    let code = reap_until(pid, &set);
    // Kill whatever the command left behind (it is in our subtree).
    // SAFETY: signalling the command's process group, which we created.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    Ok(code)
}
