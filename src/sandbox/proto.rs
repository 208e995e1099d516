//! Messages between the supervisor and the stage, init and command
//! processes, over a SOCK_SEQPACKET pair (fd 3 inside). The plan itself
//! travels in a memfd (fd 4), which has no size limit.

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::sys;
use crate::plan::Plan;

/// Descriptor numbers in the freshly executed stage.
pub const CONTROL_FD: RawFd = 3;
pub const PLAN_FD: RawFd = 4;
/// The prepared /etc view, in the stage and in init.
pub const ETC_FD: RawFd = 5;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// Test-only switches, compiled in only with the `test-hooks` feature.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TestHooks {
    /// Behave as if user namespaces were unavailable.
    pub no_userns: bool,
    /// Behave as if the kernel's Landlock ABI were at most this.
    pub landlock_abi_max: Option<u8>,
    /// Take the route of a multi-threaded supervisor: execute the stage.
    #[serde(default)]
    pub exec_stage: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageInput {
    pub plan: Plan,
    pub supervisor_pid: i32,
    /// Files init writes "0" into to join the run's cgroups
    /// ([`crate::cgroup::CgroupRun::join_files`]).
    pub cgroup_procs: Vec<PathBuf>,
    /// Present when the command gets a pseudo-terminal.
    pub pty: Option<WinSize>,
    pub hooks: TestHooks,
    /// Running without namespaces (`isolation: best_effort`).
    #[serde(default)]
    pub degraded: bool,
    /// `run --simulate`/`learn`: observe file syscalls for the supervisor.
    #[serde(default)]
    pub simulate: bool,
    /// The supervisor prepared /etc for [`crate::plan::MountOp::BindRoRootless`]; init
    /// finds it at [`ETC_FD`].
    #[serde(default)]
    pub etc_view: bool,
    /// The supervisor makes the run's cgroups while init builds the view
    /// and then sends their join files on the control socket; the command
    /// receives them there and writes itself in before it execs.
    /// (Otherwise init joins `cgroup_procs` first thing.)
    #[serde(default)]
    pub cgroups_to_come: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforced {
    Fully,
    Partially,
    Not,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerReport {
    pub layer: String,
    pub enforced: Enforced,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// Setup failed; the command did not start.
    Error {
        layer: String,
        message: String,
        fix: String,
        code: u8,
    },
    /// init's pid as the supervisor sees it: killing it ends the sandbox.
    Init { pid: i32 },
    /// The pty master rides along as a descriptor.
    Pty,
    /// The seccomp notification listener rides along (simulation).
    Notify,
    /// The egress proxy's listening socket rides along as a descriptor.
    ProxyListener,
    /// What each layer really applied; sent just before exec.
    Layers { layers: Vec<LayerReport> },
    /// Monotonic timestamps (µs) of setup phases, for `make bench`.
    Timing { phases: Vec<(String, u64)> },
    /// How the command ended.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
}

pub fn send(sock: RawFd, report: &Report, fds: &[RawFd]) -> io::Result<()> {
    let data = serde_json::to_vec(report).map_err(io::Error::other)?;
    sys::send_with_fds(sock, &data, fds)
}

/// Receive one report; `Ok(None)` at end of stream.
pub fn recv(sock: RawFd) -> io::Result<Option<(Report, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 64 * 1024];
    let (n, fds) = sys::recv_with_fds(sock, &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    let report = serde_json::from_slice(&buf[..n]).map_err(io::Error::other)?;
    Ok(Some((report, fds)))
}

/// CLOCK_MONOTONIC in microseconds: one clock for every process of a run.
pub fn mono_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// Send one timing stamp (best effort; timing never fails a run).
pub fn stamp(phase: &str) {
    let _ = send(
        CONTROL_FD,
        &Report::Timing {
            phases: vec![(phase.to_string(), mono_us())],
        },
        &[],
    );
}
