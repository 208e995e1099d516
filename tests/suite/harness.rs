//! Helpers shared by the suites.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test: `$SANDBOXCTL_BIN` (used when the suite runs as
/// another user from a copied binary), else the one cargo built.
pub fn bin() -> PathBuf {
    std::env::var_os("SANDBOXCTL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sandboxctl")))
}

/// Record and print a skip; the Makefile prints the collected list at the end.
pub fn skip(test: &str, reason: &str) {
    eprintln!("skipped: {test}: {reason}");
    if let Some(log) = std::env::var_os("SANDBOXCTL_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(f, "skipped: {test}: {reason}");
        }
    }
}

#[macro_export]
macro_rules! require {
    ($cond:expr, $test:expr, $reason:expr) => {
        if let Some(reason) = $cond {
            $crate::suite::harness::skip($test, &format!("{}: {}", $reason, reason));
            return;
        }
    };
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Why sandboxes cannot run here, if they cannot (user namespaces).
pub fn no_sandbox() -> Option<String> {
    let out = Command::new(bin())
        .args(["doctor", "--json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let checks = v["checks"].as_array()?;
    for c in checks {
        let name = c["name"].as_str().unwrap_or_default();
        if (name == "user namespaces" || name == "landlock" || name == "seccomp")
            && c["ok"] != serde_json::Value::Bool(true)
        {
            return Some(format!(
                "{name}: {}",
                c["detail"].as_str().unwrap_or_default()
            ));
        }
    }
    None
}

/// Can sandboxes run here? Records and prints the skip when not.
pub fn sandbox_ready(test: &str) -> bool {
    match no_sandbox() {
        Some(why) => {
            skip(test, &format!("sandbox unavailable: {why}"));
            false
        }
        None => true,
    }
}

/// Why cgroup limits cannot be enforced here, if they cannot.
pub fn no_cgroups() -> Option<String> {
    let out = Command::new(bin())
        .args(["doctor", "--json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    for c in v["checks"].as_array()? {
        if c["name"].as_str().is_some_and(|n| n.starts_with("cgroup"))
            && c["ok"] != serde_json::Value::Bool(true)
        {
            return Some(c["detail"].as_str().unwrap_or_default().to_string());
        }
    }
    None
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("sbx-test-")
            .tempdir()
            .expect("tempdir");
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path());
        c.stdin(Stdio::null());
        c
    }

    /// `sandboxctl ARGS...` in the test's directory.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("spawn sandboxctl")
    }

    /// `sandboxctl run --no-audit [-p POLICY] -- sh -c SCRIPT`
    pub fn sh(&self, policy: Option<&Path>, script: &str) -> Output {
        let mut args = vec!["run".to_string(), "--no-audit".to_string()];
        if let Some(p) = policy {
            args.push("-p".into());
            args.push(p.display().to_string());
        }
        args.extend(["--".into(), "/bin/sh".into(), "-c".into(), script.into()]);
        self.cmd().args(&args).output().expect("spawn sandboxctl")
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Assert an exit code, showing the output on failure.
pub fn expect_code(o: &Output, want: i32) {
    assert_eq!(
        code(o),
        want,
        "exit code\nstdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// A policy like the default one with the given resources/extra keys.
pub fn policy_with(extra: &str) -> String {
    format!("version: 1\nfilesystem:\n  writable: [\".\"]\n  blocked: [\"~/.ssh\", \".env\", \"*.pem\"]\n{extra}")
}
