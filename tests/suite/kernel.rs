//! The kernel filters from inside: a C probe tries each denied operation;
//! ordinary tools keep working; an older Landlock ABI is refused in strict
//! mode and reported in best-effort mode.

use std::process::Command;

use super::harness::*;
use crate::require;

fn ready(test: &str) -> bool {
    sandbox_ready(test)
}

fn have(tool: &str) -> Option<String> {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    (!ok).then(|| format!("{tool} is not installed"))
}

#[test]
fn every_denied_operation_is_refused_inside() {
    if !ready("every_denied_operation_is_refused_inside") {
        return;
    }
    require!(
        have("gcc"),
        "every_denied_operation_is_refused_inside",
        "cannot build the probe"
    );
    let sbx = Sandbox::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
    let built = Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(sbx.path().join("probe"))
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(built.success());
    let out = sbx.run(&["run", "--no-audit", "--", "./probe"]);
    let report = text(&out.stdout);
    assert!(!report.contains("ALLOWED"), "{report}");
    assert!(
        report.contains("all refused"),
        "{report}\n{}",
        text(&out.stderr)
    );
    assert!(
        report.contains("int 0x80 unshare: refused (killed by signal 31)"),
        "{report}"
    );
    assert!(
        report.contains("clone3(CLONE_NEWUSER): refused (Function not implemented)"),
        "{report}"
    );
    expect_code(&out, 0);
}

#[test]
fn status_shows_no_capabilities_nnp_and_seccomp() {
    if !ready("status_shows_no_capabilities_nnp_and_seccomp") {
        return;
    }
    let out = Sandbox::new().run(&[
        "run",
        "--no-audit",
        "--",
        "/bin/grep",
        "-E",
        "^(CapEff|CapBnd|NoNewPrivs|Seccomp):",
        "/proc/self/status",
    ]);
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
    );
}

#[test]
fn ordinary_tools_work_under_the_filters() {
    if !ready("ordinary_tools_work_under_the_filters") {
        return;
    }
    let sbx = Sandbox::new();
    sbx.write("hello.c", "#include <stdio.h>\n#include <pthread.h>\nstatic void *t(void *a){return a;}\nint main(void){pthread_t th; pthread_create(&th,0,t,0); pthread_join(th,0); puts(\"threads ok\"); return 0;}\n");
    sbx.write(
        "Makefile",
        "hello: hello.c\n\tcc -pthread -o hello hello.c\n",
    );
    let script = "set -e; \
        make -s hello && ./hello; \
        if command -v python3 >/dev/null; then python3 -c 'import threading,json; t=threading.Thread(target=print,args=(\"python ok\",)); t.start(); t.join()'; fi; \
        git init -q repo && cd repo && git -c user.email=a@b -c user.name=a commit -q --allow-empty -m init && git log --oneline | wc -l; cd ..; \
        echo sh ok";
    let out = sbx.sh(None, script);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("threads ok") && stdout.contains("sh ok"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("\n1\n"),
        "git commit inside: {stdout}\n{}",
        text(&out.stderr)
    );
    expect_code(&out, 0);
}

#[test]
fn cargo_runs_when_its_home_is_listed() {
    if !ready("cargo_runs_when_its_home_is_listed") {
        return;
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cargo")));
    let rustup_home = std::env::var("RUSTUP_HOME")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.rustup")));
    let (Some(ch), Some(rh)) = (cargo_home, rustup_home) else {
        skip("cargo_runs_when_its_home_is_listed", "no HOME");
        return;
    };
    if !std::path::Path::new(&ch).join("bin/cargo").exists() || !std::path::Path::new(&rh).exists()
    {
        skip(
            "cargo_runs_when_its_home_is_listed",
            &format!("no rustup toolchain readable at {ch} / {rh} for this user"),
        );
        return;
    }
    let sbx = Sandbox::new();
    let p = sbx.write("p.yaml", &format!("version: 1\nfilesystem:\n  writable: [\".\"]\n  readonly: [\"{ch}\", \"{rh}\"]\nenv:\n  set: {{ RUSTUP_HOME: \"{rh}\", CARGO_HOME: \"{ch}\" }}\n"));
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p.display().to_string(),
        "--",
        &format!("{ch}/bin/cargo"),
        "--version",
    ]);
    expect_code(&out, 0);
    assert!(
        text(&out.stdout).starts_with("cargo "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn older_landlock_is_refused_in_strict_and_reported_in_best_effort() {
    if !ready("older_landlock_is_refused_in_strict_and_reported_in_best_effort") {
        return;
    }
    require!(
        std::env::var_os("SANDBOXCTL_TEST_HOOKS")
            .map_or(Some("binary built without test-hooks".to_string()), |_| {
                None
            }),
        "older_landlock_is_refused_in_strict_and_reported_in_best_effort",
        "needs the test-hooks build"
    );
    let sbx = Sandbox::new();
    for (abi, what) in [("4", "only partly enforceable"), ("0", "not available")] {
        let out = sbx
            .cmd()
            .env("SANDBOXCTL_TEST_LANDLOCK_ABI", abi)
            .args(["run", "--no-audit", "--", "/bin/sh", "-c", "touch ran"])
            .output()
            .expect("spawn");
        expect_code(&out, 125);
        let err = text(&out.stderr);
        assert!(
            err.contains("sandboxctl: error: landlock:")
                && err.contains(what)
                && err.contains("isolation]"),
            "ABI {abi}: {err}"
        );
        assert!(!sbx.path().join("ran").exists());
    }
    let p = sbx.write(
        "p.yaml",
        "version: 1\nisolation: best_effort\nfilesystem:\n  writable: [\".\"]\n",
    );
    let out = sbx
        .cmd()
        .env("SANDBOXCTL_TEST_LANDLOCK_ABI", "4")
        .args([
            "run",
            "--no-audit",
            "--json",
            "-p",
            &p.display().to_string(),
            "--",
            "/bin/true",
        ])
        .output()
        .expect("spawn");
    expect_code(&out, 0);
    let err = text(&out.stderr);
    assert!(
        err.contains("landlock not fully enforced") && err.contains("device ioctl restriction"),
        "{err}"
    );
}
