//! Facts about the invoking user and the host, gathered once at start-up.

use std::ffi::CStr;
use std::path::PathBuf;

use crate::plan::{HostInfo, UserInfo};

/// The invoking user, from the real uid, $HOME and the passwd database.
pub fn current_user() -> UserInfo {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut name = uid.to_string();
    let env_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute());
    let mut home = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: buffers are valid for the sizes given; getpwuid_r is re-entrant.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() {
        // SAFETY: on success the fields point into `buf`, NUL-terminated.
        unsafe {
            name = CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
            let dir = CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned();
            if !dir.is_empty() {
                home = Some(PathBuf::from(dir));
            }
        }
    }
    // `~` is $HOME, as the shell reads it; the passwd entry when unset.
    let home = env_home.or(home).unwrap_or_else(|| PathBuf::from("/"));
    let home = home.canonicalize().unwrap_or(home);
    UserInfo {
        uid,
        gid,
        name,
        home,
    }
}

pub fn host_info() -> HostInfo {
    let mem_total_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb / 1024);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    let nofile_hard = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_max
    } else {
        4096
    };
    HostInfo {
        mem_total_mb,
        nofile_hard,
        root_etc: crate::plan::RootEtc::Unprobed,
    }
}

pub fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
