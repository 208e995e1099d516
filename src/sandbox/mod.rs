//! The executor: applies a [`Plan`] to a child process and reports which
//! layers took. See `stage.rs` for the order of layers inside.

mod caps;
pub mod landlock;
mod mounts;
pub mod notify;
pub mod proto;
pub mod seccomp;
mod stage;
pub mod sys;
mod terminal;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use stage::{stage_main, Early};

use crate::cgroup::{self, CgroupRun};
use crate::failure::Failure;
use crate::plan::Plan;
use proto::{LayerReport, Report, StageInput, TestHooks, CONTROL_FD, ETC_FD, PLAN_FD};

/// How a run ended, for the summary and the audit record.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub exit_code: u8,
    /// "exited", "signal", "timeout", "memory limit", "setup error"
    pub ended_by: String,
    pub signal: Option<i32>,
    pub wall_ms: u64,
    pub cpu_ms: u64,
    pub peak_memory_bytes: Option<u64>,
    pub limit_hit: Option<String>,
    pub layers: Vec<LayerReport>,
    pub limits: Vec<cgroup::LimitReport>,
    pub warnings: Vec<String>,
    pub network: Vec<serde_json::Value>,
    /// Setup phases, µs since sandboxctl started.
    pub timing: Vec<(String, u64)>,
    /// What the command did (simulation only).
    #[serde(skip)]
    pub events: Vec<crate::simulate::Event>,
    /// Distinct processes seen (simulation only).
    #[serde(skip)]
    pub processes_seen: usize,
    /// What the policy would have denied (simulation only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub simulation: Vec<crate::simulate::WouldDeny>,
}

impl Outcome {
    pub fn print_summary(&self, json: bool) {
        for w in &self.warnings {
            eprintln!("sandboxctl: warning: {w}");
        }
        if let Some(hit) = &self.limit_hit {
            eprintln!("sandboxctl: killed: {hit}");
        }
        if json {
            let v = serde_json::json!({ "sandboxctl": "summary", "outcome": self });
            eprintln!("{v}");
        }
    }
}

fn hooks() -> TestHooks {
    #[cfg(feature = "test-hooks")]
    {
        TestHooks {
            no_userns: std::env::var_os("SANDBOXCTL_TEST_NO_USERNS").is_some(),
            landlock_abi_max: std::env::var("SANDBOXCTL_TEST_LANDLOCK_ABI")
                .ok()
                .and_then(|v| v.parse().ok()),
            exec_stage: std::env::var_os("SANDBOXCTL_TEST_EXEC_STAGE").is_some(),
        }
    }
    #[cfg(not(feature = "test-hooks"))]
    TestHooks::default()
}

fn setup(msg: impl Into<String>) -> Failure {
    Failure::setup("process", msg.into(), "")
}

/// Listening socket for the egress proxy, created inside the sandbox's
/// network namespace (on its loopback) and handed to the supervisor.
pub(crate) fn proxy_listener(plan: &Plan) -> io::Result<RawFd> {
    let port = plan.network.proxy_port.unwrap_or(crate::plan::PROXY_PORT);
    let l = std::net::TcpListener::bind(("127.0.0.1", port))?;
    use std::os::fd::IntoRawFd;
    Ok(l.into_raw_fd())
}

/// When this process started, on the clock of [`proto::mono_us`].
static STARTED_US: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Call first thing in `main`, so timings cover argument and policy work.
pub fn mark_start() {
    let _ = STARTED_US.set(proto::mono_us());
}

/// What `run` starts or prepares before the plan exists.
#[derive(Default)]
pub struct Ahead {
    /// init, cloned while the supervisor plans ([`start_early`]).
    pub init: Option<Early>,
    /// For a root invoker: /etc from [`prepare_rootless_etc`].
    pub etc_view: Option<OwnedFd>,
}

/// Apply `plan` and run its command, with what was started `ahead`.
pub fn run(
    plan: &Plan,
    audit: Option<crate::audit::AuditSink>,
    ahead: Ahead,
) -> Result<Outcome, Failure> {
    run_with(plan, audit, false, ahead)
}

/// Clone init now, before the policy is read, so its namespaces are built
/// while the supervisor plans. `None` when this process is not
/// single-threaded or the clone fails: `run` then starts init itself and
/// reports any failure against the plan.
pub fn start_early() -> Option<Early> {
    let hooks = hooks();
    if hooks.exec_stage || hooks.no_userns || !single_threaded() {
        return None;
    }
    Early::start().ok()
}

/// For a root invoker, before planning: /etc as the sandbox will show it,
/// with host root's files owned by nobody (see
/// [`crate::plan::RootEtc::Idmapped`]). An error says why that is
/// unavailable here; the plan then masks root-only files one by one.
pub fn prepare_rootless_etc() -> io::Result<OwnedFd> {
    mounts::rootless_etc()
}

/// `simulate`: observe the command's file syscalls and let the proxy allow
/// everything while recording what the policy would refuse.
pub fn run_with(
    plan: &Plan,
    audit: Option<crate::audit::AuditSink>,
    simulate: bool,
    ahead: Ahead,
) -> Result<Outcome, Failure> {
    let Ahead {
        init: early,
        etc_view,
    } = ahead;
    let t_plan = proto::mono_us();
    let started = Instant::now();
    let mut warnings = Vec::new();
    let pty = terminal::stdin_size();
    let mut input = StageInput {
        plan: lean(plan),
        // SAFETY: getpid cannot fail.
        supervisor_pid: unsafe { libc::getpid() },
        cgroup_procs: Vec::new(),
        pty,
        hooks: hooks(),
        degraded: false,
        simulate,
        etc_view: etc_view.is_some(),
        cgroups_to_come: false,
    };
    let signals = terminal::SignalFd::new().map_err(|e| setup(format!("signalfd: {e}")))?;
    let etc = etc_view.as_ref().map(|fd| fd.as_raw_fd());
    let (mut cg, ours, stage_pid, init_pid, lifeline) = match early {
        Some(early) => {
            // The cgroups are made while init builds the view; the command
            // joins them (through join files opened here: init no longer
            // sees the host's /sys) before it execs.
            input.cgroups_to_come = true;
            let (pid, life, ours) = early
                .hand_over(&input, etc)
                .map_err(|e| setup(e.to_string()))?;
            let prepared = cgroup::prepare(plan).and_then(|cg| {
                let files = open_join_files(&cg)?;
                Ok((cg, files))
            });
            let (cg, files) = match prepared {
                Ok(p) => p,
                Err(f) => {
                    // SAFETY: ending and reaping our own child; the command
                    // is still waiting for init's word.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, std::ptr::null_mut(), 0);
                    }
                    return Err(f);
                }
            };
            let raw: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
            // A failure shows as init's own report.
            let _ = sys::send_with_fds(ours.as_raw_fd(), b"cgroups", &raw);
            drop(files);
            (cg, ours, pid, Some(pid), Some(life))
        }
        None => {
            let cg = cgroup::prepare(plan)?;
            input.cgroup_procs = cg.join_files();
            let (ours, theirs) =
                sys::seqpacket_pair().map_err(|e| setup(format!("socketpair: {e}")))?;
            // Single-threaded (as usual: the proxy starts later), the
            // supervisor clones init itself; otherwise a freshly executed
            // stage does.
            if !input.hooks.exec_stage && single_threaded() {
                let child = stage::spawn(&input, theirs.as_raw_fd(), etc)?;
                let init = (!child.degraded).then_some(child.pid);
                (cg, ours, child.pid, init, Some(child.life))
            } else {
                let pid = exec_stage(&input, theirs.as_raw_fd(), etc)?;
                (cg, ours, pid, None, None)
            }
        }
    };
    warnings.extend(cg.warnings.iter().cloned());
    cg.sweep_stale();
    drop(etc_view); // init has its own

    let deadline = plan
        .limits
        .timeout_s
        .as_ref()
        .and_then(|t| started.checked_add(Duration::from_secs(t.value)));
    let mut state = Loop {
        ctl: Some(ours),
        signals,
        stage_pid,
        init_pid,
        timing: Vec::new(),
        pty: None,
        raw: None,
        deadline,
        timed_out: false,
        error: None,
        layers: Vec::new(),
        exited: None,
        stage_status: None,
        cgroup: &mut cg,
        proxy: None,
        observer: None,
        simulate,
        audit,
        plan,
    };
    state.run();
    drop(lifeline);
    let t_exited = proto::mono_us();
    let stage_status = state.stage_status.unwrap_or(125);
    let mut stamps = std::mem::take(&mut state.timing);
    let (timed_out, error, layers, exited) = (
        state.timed_out,
        state.error.take(),
        std::mem::take(&mut state.layers),
        state.exited,
    );
    let network = state.proxy.take().map(|p| p.finish()).unwrap_or_default();
    let (events, processes_seen) = state
        .observer
        .take()
        .map(|o| o.finish())
        .unwrap_or_default();
    drop(state);
    let stats = cg.finish();
    let origin = STARTED_US.get().copied().unwrap_or(t_plan);
    stamps.insert(0, ("policy loaded and planned".into(), t_plan));
    // An early init reports its namespaces while the supervisor plans.
    stamps.sort_by_key(|(_, t)| *t);
    stamps.push(("command ended".into(), t_exited));
    stamps.push(("cleaned up".into(), proto::mono_us()));
    let timing: Vec<(String, u64)> = stamps
        .into_iter()
        .map(|(p, t)| (p, t.saturating_sub(origin)))
        .collect();
    for l in &layers {
        if l.enforced != proto::Enforced::Fully {
            warnings.push(format!("{} not fully enforced: {}", l.layer, l.detail));
        }
    }

    // SAFETY: getrusage on our (reaped) children.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let rusage_ms = (ru.ru_utime.tv_sec as u64 * 1000 + ru.ru_utime.tv_usec as u64 / 1000)
        + (ru.ru_stime.tv_sec as u64 * 1000 + ru.ru_stime.tv_usec as u64 / 1000);
    // A killed tree is never waited for, so rusage misses it; the cgroup's
    // accounting does not.
    let cpu_ms = stats
        .cpu_usec
        .map_or(rusage_ms, |us| (us / 1000).max(rusage_ms));
    let peak = stats.peak_memory_bytes.or(Some(ru.ru_maxrss as u64 * 1024));

    if let Some((layer, message, fix, code)) = error {
        if !timed_out {
            return Err(Failure::Setup {
                layer,
                message,
                fix,
                code,
            });
        }
    }
    let (mut exit_code, mut ended_by, signal) = match exited {
        Some((Some(code), _)) => (code as u8, "exited".to_string(), None),
        Some((None, Some(sig))) => ((128 + sig) as u8, "signal".to_string(), Some(sig)),
        _ => (stage_status, "exited".to_string(), None),
    };
    let mut limit_hit = None;
    if timed_out {
        exit_code = 124;
        ended_by = "timeout".into();
        if let Some(t) = &plan.limits.timeout_s {
            limit_hit = Some(format!(
                "time limit of {} s reached [{}]",
                t.value, t.origin
            ));
        }
    } else if stats.oom_killed {
        let what = plan.limits.memory_mb.as_ref().map_or_else(
            || "memory limit reached".to_string(),
            |m| format!("memory limit of {} MiB reached [{}]", m.value, m.origin),
        );
        if signal == Some(libc::SIGKILL) || exit_code == 137 {
            exit_code = 137;
            ended_by = "memory limit".into();
            limit_hit = Some(what);
        } else {
            limit_hit = Some(format!("{what}: a process of the command was killed"));
        }
    } else if stats.pids_limited {
        limit_hit = plan.limits.processes.as_ref().map(|p| {
            format!(
                "process limit of {} reached (forks failed) [{}]",
                p.value, p.origin
            )
        });
    }
    Ok(Outcome {
        exit_code,
        ended_by,
        signal,
        wall_ms: started.elapsed().as_millis() as u64,
        cpu_ms,
        peak_memory_bytes: peak,
        limit_hit,
        layers,
        limits: cg.reports(),
        warnings,
        network,
        timing,
        events,
        processes_seen,
        simulation: Vec::new(),
    })
}

/// Is this process single-threaded right now (so a forked child may
/// allocate and lock freely)?
fn single_threaded() -> bool {
    // /proc/self/stat is far cheaper for the kernel to render than
    // /proc/self/status.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| threads_in_stat(&s))
        == Some(1)
}

/// num_threads from proc(5)'s stat line: the 20th field, the 18th after
/// the command name's closing parenthesis (the name may hold spaces and
/// parentheses of its own).
fn threads_in_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// Start the stage by executing this binary afresh, handing it the plan in
/// a memfd: the route for a supervisor that already runs threads.
fn exec_stage(
    input: &StageInput,
    control: RawFd,
    etc: Option<RawFd>,
) -> Result<libc::pid_t, Failure> {
    let data = serde_json::to_vec(input).map_err(|e| setup(e.to_string()))?;
    let plan_fd = memfd_with(&data).map_err(|e| setup(format!("memfd: {e}")))?;
    let plan_fd = sys::dup_high(plan_fd.as_raw_fd()).map_err(|e| setup(e.to_string()))?;
    let plan_raw = plan_fd.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("sandboxctl-init").arg("__stage").env_clear();
    // SAFETY: only async-signal-safe calls (dup2, prctl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(control, CONTROL_FD) < 0 || libc::dup2(plan_raw, PLAN_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(fd) = etc {
                if libc::dup2(fd, ETC_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| setup(format!("cannot start the sandbox stage: {e}")))?;
    Ok(child.id() as libc::pid_t)
}

/// The run's cgroup join files, opened for init (see
/// [`crate::cgroup::CgroupRun::join_files`]).
fn open_join_files(cg: &CgroupRun) -> Result<Vec<OwnedFd>, Failure> {
    cg.join_files()
        .iter()
        .map(|f| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .map(OwnedFd::from)
                .map_err(|e| {
                    Failure::setup(
                        "resources",
                        format!("cannot open {}: {e}", f.display()),
                        "run as root or with a delegated cgroup, or set resources.enforcement: best_effort",
                    )
                })
        })
        .collect()
}

/// The plan as init and the command need it: provenance (shown by `check`
/// and in refusals the supervisor makes) and the pre-check decision are
/// left out, which makes the JSON handed over about a third as long and
/// quicker to parse on init's critical path.
fn lean(plan: &Plan) -> Plan {
    let none = || crate::plan::Origin::Builtin {
        rule: String::new(),
    };
    let mut p = plan.clone();
    p.notes.clear();
    p.precheck = None;
    for m in &mut p.mounts {
        m.origin = none();
    }
    for r in &mut p.landlock.rules {
        r.origin = none();
    }
    for r in &mut p.seccomp {
        r.reason.clear();
    }
    p
}

pub(super) fn memfd_with(data: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create with a static name.
    let fd = unsafe { libc::memfd_create(c"sandboxctl-plan".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(owned);
    use std::io::{Seek, Write};
    file.write_all(data)?;
    file.seek(io::SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
}

struct Loop<'a> {
    ctl: Option<OwnedFd>,
    signals: terminal::SignalFd,
    stage_pid: libc::pid_t,
    init_pid: Option<libc::pid_t>,
    timing: Vec<(String, u64)>,
    pty: Option<OwnedFd>,
    raw: Option<terminal::RawMode>,
    deadline: Option<Instant>,
    timed_out: bool,
    error: Option<(String, String, String, u8)>,
    layers: Vec<LayerReport>,
    exited: Option<(Option<i32>, Option<i32>)>,
    stage_status: Option<u8>,
    cgroup: &'a mut CgroupRun,
    proxy: Option<crate::proxy::Running>,
    observer: Option<notify::Observer>,
    simulate: bool,
    audit: Option<crate::audit::AuditSink>,
    plan: &'a Plan,
}

impl Loop<'_> {
    fn run(&mut self) {
        let mut stdin_open = true;
        while self.stage_status.is_none() {
            let mut fds = vec![libc::pollfd {
                fd: self.signals.fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let ctl_at = self.ctl.as_ref().map(|c| {
                fds.push(libc::pollfd {
                    fd: c.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                fds.len() - 1
            });
            let pty_at = self.pty.as_ref().map(|p| {
                fds.push(libc::pollfd {
                    fd: p.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                fds.len() - 1
            });
            let stdin_at = (self.pty.is_some() && stdin_open).then(|| {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
                fds.len() - 1
            });
            let timeout = match self.deadline {
                Some(d) if !self.timed_out => d
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(60_000) as i32,
                _ => -1,
            };
            // SAFETY: fds is a valid array of pollfd.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            if let Some(d) = self.deadline {
                if !self.timed_out && Instant::now() >= d {
                    self.timed_out = true;
                    self.kill_all();
                }
            }
            if fds[0].revents != 0 {
                self.on_signals();
            }
            if let Some(i) = ctl_at {
                if fds[i].revents != 0 {
                    self.on_control();
                }
            }
            if let Some(i) = pty_at {
                if fds[i].revents != 0 && !self.pump_pty() {
                    self.pty = None;
                }
            }
            if let Some(i) = stdin_at {
                if fds[i].revents != 0 && !self.pump_stdin() {
                    stdin_open = false;
                }
            }
        }
        // Late messages (the command's exit status) and terminal output.
        while self.ctl.is_some()
            && self.poll_one(self.ctl.as_ref().map_or(-1, |c| c.as_raw_fd()), 0)
        {
            self.on_control();
        }
        while self.pty.is_some()
            && self.poll_one(self.pty.as_ref().map_or(-1, |p| p.as_raw_fd()), 50)
        {
            if !self.pump_pty() {
                self.pty = None;
            }
        }
        self.raw = None;
    }

    fn poll_one(&self, fd: RawFd, ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, ms) > 0 }
    }

    /// End the sandbox: SIGKILL to init ends its pid namespace, and the
    /// stage then reaps it normally, so CPU accounting is kept. Without
    /// init's pid, the stage itself is killed (its death kills init).
    fn kill_all(&self) {
        // SAFETY: init and the stage are processes we started.
        unsafe {
            match self.init_pid {
                Some(pid) => libc::kill(pid, libc::SIGKILL),
                None => libc::kill(self.stage_pid, libc::SIGKILL),
            };
        }
        // The cgroup (which holds the stage too) is killed in `finish`,
        // once the stage has reaped init.
        if self.init_pid.is_none() {
            self.cgroup.kill();
        }
    }

    fn on_signals(&mut self) {
        while let Some(sig) = self.signals.read() {
            match sig {
                libc::SIGCHLD => {
                    let mut status = 0;
                    // SAFETY: non-blocking wait for the stage.
                    if unsafe { libc::waitpid(self.stage_pid, &mut status, libc::WNOHANG) }
                        == self.stage_pid
                    {
                        self.stage_status = Some(if libc::WIFEXITED(status) {
                            libc::WEXITSTATUS(status) as u8
                        } else {
                            (128 + libc::WTERMSIG(status)) as u8
                        });
                    }
                }
                libc::SIGWINCH => {
                    if let (Some(p), Some(size)) = (&self.pty, terminal::stdin_size()) {
                        terminal::set_size(p.as_raw_fd(), size);
                    }
                }
                other => {
                    // SAFETY: forwarding to our child, the stage.
                    unsafe { libc::kill(self.stage_pid, other) };
                }
            }
        }
    }

    fn on_control(&mut self) {
        let Some(ctl) = &self.ctl else { return };
        match proto::recv(ctl.as_raw_fd()) {
            Ok(Some((report, mut fds))) => match report {
                Report::Error {
                    layer,
                    message,
                    fix,
                    code,
                } => {
                    if self.error.is_none() {
                        self.error = Some((layer, message, fix, code));
                    }
                }
                Report::Pty => {
                    if let Some(fd) = fds.pop() {
                        self.raw = terminal::RawMode::enter(0);
                        self.pty = Some(fd);
                    }
                }
                Report::ProxyListener => {
                    if let Some(fd) = fds.pop() {
                        match crate::proxy::start(fd, self.plan, self.audit.take(), self.simulate) {
                            Ok(p) => self.proxy = Some(p),
                            Err(e) => {
                                self.error = Some((
                                    "network".into(),
                                    format!("cannot start the egress proxy: {e}"),
                                    String::new(),
                                    125,
                                ));
                                self.kill_all();
                            }
                        }
                    }
                }
                Report::Layers { mut layers } => self.layers.append(&mut layers),
                Report::Notify => {
                    if let Some(fd) = fds.pop() {
                        match notify::Observer::start(fd) {
                            Ok(o) => self.observer = Some(o),
                            Err(e) => {
                                self.error = Some((
                                    "simulate".into(),
                                    format!("cannot observe the command: {e}"),
                                    String::new(),
                                    125,
                                ));
                                self.kill_all();
                            }
                        }
                    }
                }
                Report::Exited { code, signal } => {
                    self.exited = Some((code, signal));
                    // init (outside the cgroups) is still leaving: settle
                    // the cgroups meanwhile when the command left nothing.
                    self.cgroup.settle();
                }
                Report::Init { pid } => self.init_pid = Some(pid),
                Report::Timing { mut phases } => self.timing.append(&mut phases),
            },
            Ok(None) | Err(_) => self.ctl = None,
        }
    }

    /// Copy terminal output out; false when the pty is closed.
    fn pump_pty(&mut self) -> bool {
        let Some(p) = &self.pty else { return false };
        let mut buf = [0u8; 16384];
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(p.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR);
        }
        terminal::write_all(1, &buf[..n as usize]);
        true
    }

    fn pump_stdin(&mut self) -> bool {
        let Some(p) = &self.pty else { return false };
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return false;
        }
        terminal::write_all(p.as_raw_fd(), &buf[..n as usize]);
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thread_count_is_read_past_an_awkward_command_name() {
        let stat = "4242 (a) b (c) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 12345 1000 100";
        assert_eq!(super::threads_in_stat(stat), Some(3));
        assert_eq!(super::threads_in_stat("4242 (x) S 1"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(super::threads_in_stat(&own).is_some_and(|n| n >= 1));
    }
}
