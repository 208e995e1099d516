//! Facts about the invoking user and the host, gathered once at start-up.

use std::path::PathBuf;

use crate::plan::{HostInfo, UserInfo};

/// The invoking user, from the real uid, $HOME and /etc/passwd. NSS is
/// not asked: the installed binary is linked statically (faster to start),
/// and a static glibc would have to load NSS modules at run time. A user
/// that only a directory service knows is named from $USER or $LOGNAME,
/// and the uid stays what identifies them.
pub fn current_user() -> UserInfo {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let env_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute());
    let entry = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| passwd_entry(&text, uid));
    let (name, home) = match entry {
        Some((name, home)) => (name, home),
        None => (
            ["USER", "LOGNAME"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
                .unwrap_or_else(|| uid.to_string()),
            None,
        ),
    };
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

/// Name and home directory of `uid` in passwd(5) text.
fn passwd_entry(text: &str, uid: libc::uid_t) -> Option<(String, Option<PathBuf>)> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[2].parse::<libc::uid_t>().ok()? != uid || f[0].is_empty() {
            return None;
        }
        let home = (!f[5].is_empty()).then(|| PathBuf::from(f[5]));
        Some((f[0].to_string(), home))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_entries_are_found_by_uid() {
        let text = "root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\n\
                    u:x:1000:1000:U,,,:/home/u:/bin/sh\nnohome:x:1001:1001:::/bin/sh\n";
        assert_eq!(
            passwd_entry(text, 1000),
            Some(("u".to_string(), Some(PathBuf::from("/home/u"))))
        );
        assert_eq!(passwd_entry(text, 0).unwrap().0, "root");
        assert_eq!(passwd_entry(text, 1001), Some(("nohome".to_string(), None)));
        assert_eq!(passwd_entry(text, 4242), None);
    }
}
