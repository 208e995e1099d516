//! Landlock: the second filesystem wall, and TCP connect pinned to the
//! egress proxy port. Applied in the command process after the final mount
//! view exists, just before seccomp.
//!
//! What we ask for is everything up to ABI 6: all filesystem rights
//! (including truncate, refer and device ioctls), TCP connect, and scoping
//! of abstract unix sockets and signals. The kernel is asked by really
//! creating the ruleset; whatever it cannot enforce is reported.

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::proto::{Enforced, LayerReport};
use crate::plan::{FsAccess, LandlockPlan};

/// The ABI whose features make "fully enforced".
pub const WANTED: ABI = ABI::V6;

fn abi_from(n: u8) -> ABI {
    match n {
        0 => ABI::Unsupported,
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        _ => ABI::V6,
    }
}

fn rights(access: FsAccess, abi: ABI) -> BitFlags<AccessFs> {
    let all = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let r = match access {
        FsAccess::ListDir => BitFlags::from(AccessFs::ReadDir),
        FsAccess::ReadExec => read,
        FsAccess::ReadOnly => AccessFs::ReadFile | AccessFs::ReadDir,
        FsAccess::ReadWrite => all & !(AccessFs::MakeChar | AccessFs::MakeBlock),
        FsAccess::Device => {
            AccessFs::ReadFile
                | AccessFs::WriteFile
                | AccessFs::ReadDir
                | AccessFs::IoctlDev
                | AccessFs::Truncate
        }
    };
    r & all
}

/// The kernel's Landlock ABI, read from the kernel (0 when absent).
pub fn kernel_abi() -> u8 {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: the version query takes no attribute pointer.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        0
    } else {
        v.min(255) as u8
    }
}

/// Restrict this process. `abi_max` lowers what is asked for (tests that
/// pretend to be an older kernel).
pub fn apply(plan: &LandlockPlan, abi_max: Option<u8>) -> LayerReport {
    let kernel = kernel_abi();
    let usable = kernel.min(abi_max.unwrap_or(u8::MAX)).min(6);
    let abi = abi_from(usable);
    match restrict(plan, abi) {
        Err(e) => LayerReport {
            layer: "landlock".into(),
            enforced: Enforced::Not,
            detail: format!("could not apply: {e}"),
        },
        Ok(status) => {
            let lost = lost_features(usable);
            let enforced = match status {
                RulesetStatus::NotEnforced => Enforced::Not,
                _ if usable == 0 => Enforced::Not,
                RulesetStatus::PartiallyEnforced => Enforced::Partially,
                RulesetStatus::FullyEnforced if !lost.is_empty() => Enforced::Partially,
                RulesetStatus::FullyEnforced => Enforced::Fully,
            };
            let detail = match enforced {
                Enforced::Fully => format!("ABI {usable}: filesystem rules, TCP connect to {:?} only, scoped signals and abstract sockets", plan.tcp_connect),
                Enforced::Not => format!("kernel has no usable Landlock (ABI {kernel})"),
                Enforced::Partially => format!("ABI {usable} (want {}): not enforced: {}", WANTED as u8, lost.join(", ")),
            };
            LayerReport {
                layer: "landlock".into(),
                enforced,
                detail,
            }
        }
    }
}

/// What an ABI below 6 cannot enforce.
pub fn lost_features(abi: u8) -> Vec<&'static str> {
    let features = [
        (1, "filesystem access control"),
        (2, "cross-directory rename and link (refer)"),
        (3, "truncate"),
        (4, "TCP connect restriction"),
        (5, "device ioctl restriction"),
        (6, "abstract unix socket and signal scoping"),
    ];
    features
        .iter()
        .filter(|(v, _)| abi < *v)
        .map(|(_, what)| *what)
        .collect()
}

fn restrict(plan: &LandlockPlan, abi: ABI) -> Result<RulesetStatus, landlock::RulesetError> {
    if abi == ABI::Unsupported {
        return Ok(RulesetStatus::NotEnforced);
    }
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?;
    if AccessNet::from_all(abi).contains(AccessNet::ConnectTcp) {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp)?;
    }
    if !Scope::from_all(abi).is_empty() && plan.scoped {
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }
    let mut created = ruleset.create()?;
    for rule in &plan.rules {
        // A path the view lacks (e.g. /lib64 on some hosts) grants nothing.
        let Ok(fd) = PathFd::new(&rule.path) else {
            continue;
        };
        created = created.add_rule(PathBeneath::new(fd, rights(rule.access, abi)))?;
    }
    if AccessNet::from_all(abi).contains(AccessNet::ConnectTcp) {
        for port in &plan.tcp_connect {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }
    Ok(created.restrict_self()?.ruleset)
}
