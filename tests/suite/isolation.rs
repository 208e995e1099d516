//! `run` isolation, as root and as an ordinary user (the Makefile runs
//! this suite a second time as an unprivileged user when it runs as root).

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::harness::*;
use crate::require;

fn ready(test: &str) -> bool {
    sandbox_ready(test)
}

#[test]
fn a_command_runs_and_sees_the_workdir() {
    if !ready("a_command_runs_and_sees_the_workdir") {
        return;
    }
    let sbx = Sandbox::new();
    sbx.write("hello.txt", "hello\n");
    let out = sbx.sh(None, "cat hello.txt && echo made > new.txt && pwd");
    expect_code(&out, 0);
    assert_eq!(
        text(&out.stdout),
        format!(
            "hello\n{}\n",
            sbx.path().canonicalize().expect("canon").display()
        )
    );
    let meta = std::fs::metadata(sbx.path().join("new.txt")).expect("created");
    // SAFETY: getuid cannot fail.
    assert_eq!(
        meta.uid(),
        unsafe { libc::getuid() },
        "files belong to the invoking user"
    );
}

#[test]
fn host_secrets_outside_listed_paths_are_invisible() {
    if !ready("host_secrets_outside_listed_paths_are_invisible") {
        return;
    }
    let outside = Sandbox::new();
    let secret = outside.write("secret.txt", "TOPSECRET\n");
    let sbx = Sandbox::new();
    std::os::unix::fs::symlink(&secret, sbx.path().join("link")).expect("symlink");
    let script = format!(
        "cat {} ; cat link ; cat /etc/shadow ; ls /home /root /run /sys 2>&1; true",
        secret.display()
    );
    let out = sbx.sh(None, &script);
    expect_code(&out, 0);
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(!all.contains("TOPSECRET"), "{all}");
    assert!(
        !all.lines()
            .any(|l| l.starts_with("root:") && l.matches(':').count() >= 8),
        "shadow leaked: {all}"
    );
    assert!(
        all.contains("/sys: No such file") || all.contains("cannot access '/sys'"),
        "{all}"
    );
}

#[test]
fn blocked_files_inside_listed_trees_are_masked() {
    if !ready("blocked_files_inside_listed_trees_are_masked") {
        return;
    }
    let sbx = Sandbox::new();
    sbx.write(".env", "API_KEY=leaked\n");
    sbx.write("deep/dir/server.pem", "-----BEGIN PRIVATE KEY-----\n");
    sbx.write("deep/dir/ok.txt", "fine\n");
    let out = sbx.sh(
        None,
        "cat .env; cat deep/dir/server.pem; cat deep/dir/ok.txt; echo x > .env; rm -f .env; true",
    );
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(
        !all.contains("leaked") && !all.contains("PRIVATE KEY"),
        "{all}"
    );
    assert!(all.contains("fine"));
    assert_eq!(
        std::fs::read_to_string(sbx.path().join(".env")).expect("still there"),
        "API_KEY=leaked\n"
    );
}

#[test]
fn home_ssh_is_blocked_even_when_home_is_listed() {
    if !ready("home_ssh_is_blocked_even_when_home_is_listed") {
        return;
    }
    let sbx = Sandbox::new();
    let home = Sandbox::new();
    home.write(".ssh/id_rsa", "PRIVATE-SSH-KEY\n");
    home.write("notes.txt", "visible\n");
    let p = sbx.write("p.yaml", "version: 1\nfilesystem:\n  writable: [\".\"]\n  readonly: [\"~\"]\n  blocked: [\"~/.ssh\"]\n");
    let out = sbx
        .cmd()
        .env("HOME", home.path())
        .args([
            "run",
            "--no-audit",
            "-p",
            &p.display().to_string(),
            "--",
            "/bin/sh",
            "-c",
            "cat ~/notes.txt; cat ~/.ssh/id_rsa; ls -la ~/.ssh; true",
        ])
        .output()
        .expect("spawn");
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains("visible"), "{all}");
    assert!(!all.contains("PRIVATE-SSH-KEY"), "{all}");
}

#[test]
fn read_only_trees_system_and_policy_cannot_be_written() {
    if !ready("read_only_trees_system_and_policy_cannot_be_written") {
        return;
    }
    let sbx = Sandbox::new();
    sbx.write("ro/data.txt", "original\n");
    let p = sbx.write(
        "p.yaml",
        "version: 1\nfilesystem:\n  writable: [\".\"]\n  readonly: [\"ro/\"]\n",
    );
    let script = "for f in ro/data.txt ro/new /usr/sandbox-test /etc/sandbox-test /etc/passwd p.yaml /sandbox-test /bin/sandbox-test; do \
                  if (echo pwned >> $f) 2>/dev/null; then echo WROTE $f; fi; done; \
                  chmod 777 p.yaml 2>/dev/null && echo CHMOD; mv p.yaml q.yaml 2>/dev/null && echo MOVED; rm -f p.yaml 2>/dev/null; true";
    let out = sbx.sh(Some(&p), script);
    expect_code(&out, 0);
    assert_eq!(text(&out.stdout), "", "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(sbx.path().join("ro/data.txt")).expect("read"),
        "original\n"
    );
    assert!(sbx.path().join("p.yaml").exists());
    assert!(!std::path::Path::new("/usr/sandbox-test").exists());
}

#[test]
fn symlink_and_hardlink_escapes_fail() {
    if !ready("symlink_and_hardlink_escapes_fail") {
        return;
    }
    let outside = Sandbox::new();
    let target = outside.write("victim.txt", "untouched\n");
    let sbx = Sandbox::new();
    std::os::unix::fs::symlink(&target, sbx.path().join("planted")).expect("symlink");
    let script = format!(
        "echo pwned > planted; ln {t} hard 2>/dev/null && echo HARDLINK; ln /etc/passwd hard2 2>/dev/null && echo HARDLINK2; \
         ln -s {t} mine; echo pwned > mine; true",
        t = target.display()
    );
    let out = sbx.sh(None, &script);
    assert!(
        !text(&out.stdout).contains("HARDLINK"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "untouched\n"
    );
}

#[test]
fn host_processes_are_invisible_and_unsignalable() {
    if !ready("host_processes_are_invisible_and_unsignalable") {
        return;
    }
    let sbx = Sandbox::new();
    let me = std::process::id();
    let out = sbx.sh(None, &format!("ls /proc | grep -c '^[0-9]'; kill -0 {me} && echo SIGNALLED; ls /proc/{me} >/dev/null 2>&1 && echo SEEN; echo $$; true"));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let count: usize = lines[0].parse().expect("count");
    assert!(count <= 6, "only the sandbox's own processes: {stdout}");
    assert!(
        !stdout.contains("SIGNALLED") && !stdout.contains("SEEN"),
        "{stdout}"
    );
}

#[test]
fn only_fds_0_1_2_are_inherited() {
    if !ready("only_fds_0_1_2_are_inherited") {
        return;
    }
    let sbx = Sandbox::new();
    let leak = std::fs::File::open("/etc/hostname").expect("open");
    use std::os::fd::AsRawFd;
    let raw = leak.as_raw_fd();
    let mut cmd = sbx.cmd();
    cmd.args([
        "run",
        "--no-audit",
        "--",
        "/bin/sh",
        "-c",
        "ls /proc/self/fd",
    ]);
    // SAFETY: dup2 onto fixed numbers without CLOEXEC, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(raw, 7);
            libc::dup2(raw, 42);
            Ok(())
        });
    }
    let out = cmd.output().expect("spawn");
    expect_code(&out, 0);
    let fds: Vec<String> = text(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    // ls itself holds one descriptor for the directory it lists.
    assert!(
        fds.iter()
            .all(|f| ["0", "1", "2", "3"].contains(&f.as_str())),
        "{fds:?}"
    );
}

#[test]
fn host_environment_is_scrubbed() {
    if !ready("host_environment_is_scrubbed") {
        return;
    }
    let sbx = Sandbox::new();
    let out = sbx
        .cmd()
        .env("AWS_SECRET_ACCESS_KEY", "hunter2")
        .env("LANG", "C.UTF-8")
        .args(["run", "--no-audit", "--", "/usr/bin/env"])
        .output()
        .expect("spawn");
    expect_code(&out, 0);
    let env = text(&out.stdout);
    assert!(!env.contains("hunter2"), "{env}");
    assert!(env.contains("PATH=") && env.contains("HOME="), "{env}");
    assert!(env.contains("LANG=C.UTF-8"), "{env}");
}

#[test]
fn privileges_are_gone_even_for_root() {
    if !ready("privileges_are_gone_even_for_root") {
        return;
    }
    let out = Sandbox::new().sh(None, "grep -E '^(CapEff|CapBnd|CapPrm|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; cat /proc/1/exe >/dev/null 2>&1 && echo EXE; readlink /proc/1/exe && echo LINK; true");
    let s = text(&out.stdout);
    for want in [
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(s.contains(want), "missing {want:?} in {s}");
    }
    assert!(
        !s.contains("EXE") && !s.contains("LINK"),
        "init's binary is reachable: {s}"
    );
}

/// Root inside keeps uid 0 (without capabilities): files in /etc that only
/// root may read must stay unreadable, including one that appears after
/// the sandbox started, while world-readable ones stay readable.
#[test]
fn a_root_invoker_cannot_read_root_only_files_in_etc() {
    if !ready("a_root_invoker_cannot_read_root_only_files_in_etc") {
        return;
    }
    require!(
        (!is_root()).then(|| "not root".to_string()),
        "a_root_invoker_cannot_read_root_only_files_in_etc",
        "needs a root invoker"
    );
    use std::os::unix::fs::PermissionsExt;
    let name = |what: &str| format!("/etc/sandboxctl-test-{what}-{}", std::process::id());
    let (early, late) = (name("early"), name("late"));
    struct Remove(Vec<String>);
    impl Drop for Remove {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let _cleanup = Remove(vec![early.clone(), late.clone()]);
    std::fs::write(&early, "early-secret\n").expect("write");
    std::fs::set_permissions(&early, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let sbx = Sandbox::new();
    // Where /etc cannot be idmapped, root-only files are masked as listed
    // at start-up, which cannot cover a file made later.
    let plan = text(&sbx.run(&["check"]).stdout);
    let idmapped = plan.contains("uid/gid 0 as nobody");
    if !idmapped {
        skip(
            "a_root_invoker_cannot_read_root_only_files_in_etc (file created after start-up)",
            "no idmapped /etc on this host; only the start-up mask is checked",
        );
        std::fs::write(&late, "").expect("write");
    }
    let script = format!(
        "head -c 5 /etc/passwd; echo; cat {early}; while [ ! -e {late} ]; do sleep 0.05; done; cat {late}; true"
    );
    let child = sbx
        .cmd()
        .args(["run", "--no-audit", "--", "/bin/sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if idmapped {
        std::thread::sleep(Duration::from_millis(300));
        // Created after planning: a start-up list could not have named it.
        let tmp = format!("{late}.tmp");
        std::fs::write(&tmp, "late-secret\n").expect("write");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        std::fs::rename(&tmp, &late).expect("rename");
    }
    let out = child.wait_with_output().expect("wait");
    expect_code(&out, 0);
    let o = text(&out.stdout);
    assert!(
        o.starts_with("root:"),
        "world-readable /etc/passwd unreadable: {o}"
    );
    assert!(
        !o.contains("early-secret") && !o.contains("late-secret"),
        "{o}"
    );
    let e = text(&out.stderr);
    let denied = if idmapped { 2 } else { 1 };
    assert_eq!(e.matches("Permission denied").count(), denied, "{e}");
}

#[test]
fn exit_codes_follow_the_contract() {
    if !ready("exit_codes_follow_the_contract") {
        return;
    }
    let sbx = Sandbox::new();
    expect_code(&sbx.sh(None, "exit 3"), 3);
    expect_code(&sbx.sh(None, "kill -TERM $$"), 143);
    let nf = sbx.run(&["run", "--no-audit", "--", "no-such-command-xyz"]);
    expect_code(&nf, 127);
    assert!(
        text(&nf.stderr).contains("command not found inside the sandbox: no-such-command-xyz"),
        "{}",
        text(&nf.stderr)
    );
    let t0 = Instant::now();
    let to = sbx.run(&[
        "run",
        "--no-audit",
        "--timeout",
        "1",
        "--",
        "/bin/sleep",
        "30",
    ]);
    expect_code(&to, 124);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "timeout took {:?}",
        t0.elapsed()
    );
    assert!(
        text(&to.stderr).contains("time limit of 1 s"),
        "{}",
        text(&to.stderr)
    );
}

/// init is cloned while the policy is read; a refusal after that (a bad
/// policy, a denied command line) must end it, and nothing may have run.
#[test]
fn a_refused_run_leaves_no_process_behind() {
    if !ready("a_refused_run_leaves_no_process_behind") {
        return;
    }
    let sbx = Sandbox::new();
    let marker = format!("refused-marker-{}", std::process::id());
    let bad = sbx.write(
        "bad.yaml",
        "version: 1\nfilesystem:\n  writeable: [\".\"]\n",
    );
    let script = format!("touch ran-{marker}; sleep 30");
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &bad.display().to_string(),
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    expect_code(&out, 125);
    let denied = format!("touch ran-{marker}; rm -rf / ; sleep 30");
    let out = sbx.run(&["run", "--no-audit", "--", "/bin/sh", "-c", &denied]);
    expect_code(&out, 126);
    // Any process still carrying the marker: the early init would carry
    // sandboxctl's own command line.
    let left: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!sbx.path().join(format!("ran-{marker}")).exists());
}

#[test]
fn stdio_is_binary_safe_and_handles_volume() {
    if !ready("stdio_is_binary_safe_and_handles_volume") {
        return;
    }
    let sbx = Sandbox::new();
    let data: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut child = sbx
        .cmd()
        .args(["run", "--no-audit", "--", "/bin/cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let feed = data.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&feed);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    expect_code(&out, 0);
    assert!(
        out.stdout == data,
        "round trip differs ({} vs {} bytes)",
        out.stdout.len(),
        data.len()
    );
}

/// Pids whose argv is exactly `sleep <something starting with marker>`.
fn pids_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc")
        .expect("proc")
        .filter_map(Result::ok)
    {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let argv: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if argv.len() >= 2 && argv[0].ends_with("sleep") && argv[1].starts_with(marker) {
                found.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    found
}

fn wait_gone(marker: &str, within: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if pids_with(marker).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn daemons_and_setsid_children_die_with_the_command() {
    if !ready("daemons_and_setsid_children_die_with_the_command") {
        return;
    }
    let marker = format!("{}", 40000 + std::process::id() % 20000);
    let sbx = Sandbox::new();
    let out = sbx.sh(None, &format!("setsid sh -c 'sleep {marker}1' & (sleep {marker}2 &) ; nohup sleep {marker}3 >/dev/null 2>&1 & echo started"));
    expect_code(&out, 0);
    assert!(
        wait_gone(&marker, Duration::from_secs(3)),
        "left behind: {:?}",
        pids_with(&marker)
    );
}

#[test]
fn sigkill_of_sandboxctl_kills_the_whole_tree() {
    if !ready("sigkill_of_sandboxctl_kills_the_whole_tree") {
        return;
    }
    let marker = format!("{}", 60000 + std::process::id() % 5000);
    let sbx = Sandbox::new();
    let mut child = sbx
        .cmd()
        .args([
            "run",
            "--no-audit",
            "--",
            "/bin/sh",
            "-c",
            &format!("setsid sleep {marker}1 & sleep {marker}2"),
        ])
        .spawn()
        .expect("spawn");
    let t0 = Instant::now();
    while pids_with(&marker).len() < 2 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = pids_with(&marker).len();
    if started != 2 {
        // SAFETY: cleaning up the sandboxctl we started.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    }
    assert_eq!(started, 2, "the command did not start");
    // SAFETY: killing the sandboxctl we started, by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    assert!(
        wait_gone(&marker, Duration::from_secs(3)),
        "survivors: {:?}",
        pids_with(&marker)
    );
}

#[test]
fn signals_to_sandboxctl_reach_the_command() {
    if !ready("signals_to_sandboxctl_reach_the_command") {
        return;
    }
    let sbx = Sandbox::new();
    let mut child = sbx
        .cmd()
        .args([
            "run",
            "--no-audit",
            "--",
            "/bin/sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = [0u8; 6];
    use std::io::Read;
    stdout.read_exact(&mut buf).expect("ready");
    // SAFETY: signalling the sandboxctl we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read");
    assert!(rest.contains("got-term"), "{rest}");
    assert_eq!(status.code(), Some(7));
}

#[test]
fn no_mount_leaks_onto_the_host() {
    if !ready("no_mount_leaks_onto_the_host") {
        return;
    }
    let before = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .count();
    let out = Sandbox::new().sh(None, "true");
    expect_code(&out, 0);
    let after = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .count();
    assert_eq!(before, after);
}

#[test]
fn strict_isolation_refuses_without_user_namespaces() {
    require!(
        std::env::var_os("SANDBOXCTL_TEST_HOOKS")
            .map_or(Some("binary built without test-hooks".to_string()), |_| {
                None
            }),
        "strict_isolation_refuses_without_user_namespaces",
        "needs the test-hooks build"
    );
    let sbx = Sandbox::new();
    let out = sbx
        .cmd()
        .env("SANDBOXCTL_TEST_NO_USERNS", "1")
        .args(["run", "--no-audit", "--", "/bin/sh", "-c", "touch ran"])
        .output()
        .expect("spawn");
    expect_code(&out, 125);
    assert!(
        text(&out.stderr).contains("sandboxctl: error: isolation: cannot create a user namespace")
            && text(&out.stderr).contains("<default policy>:4:12 isolation]"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("best_effort"));
    assert!(!sbx.path().join("ran").exists());
    let p = sbx.write(
        "p.yaml",
        "version: 1\nisolation: best_effort\nfilesystem:\n  writable: [\".\"]\n",
    );
    let out = sbx
        .cmd()
        .env("SANDBOXCTL_TEST_NO_USERNS", "1")
        .args([
            "run",
            "--no-audit",
            "-p",
            &p.display().to_string(),
            "--",
            "/bin/sh",
            "-c",
            "touch ran; grep NoNewPrivs /proc/self/status",
        ])
        .output()
        .expect("spawn");
    expect_code(&out, 0);
    assert!(
        text(&out.stderr).contains("namespaces not fully enforced"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("NoNewPrivs:\t1"));
}

/// A supervisor that already runs threads executes a fresh stage instead
/// of cloning init itself; that route must confine exactly the same.
#[test]
fn the_executed_stage_route_confines_the_same() {
    if !sandbox_ready("the_executed_stage_route_confines_the_same") {
        return;
    }
    require!(
        std::env::var_os("SANDBOXCTL_TEST_HOOKS")
            .map_or(Some("binary built without test-hooks".to_string()), |_| {
                None
            }),
        "the_executed_stage_route_confines_the_same",
        "needs the test-hooks build"
    );
    let sbx = Sandbox::new();
    let script = "echo pid=$$; id -u; cat /etc/shadow && echo READ-SHADOW; \
                  grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; \
                  echo /proc/[0-9]*; touch made; exit 7";
    let out = sbx
        .cmd()
        .env("SANDBOXCTL_TEST_EXEC_STAGE", "1")
        .args(["run", "--no-audit", "--", "/bin/sh", "-c", script])
        .output()
        .expect("spawn");
    expect_code(&out, 7);
    let o = text(&out.stdout);
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    assert!(o.contains("pid=2\n"), "{o}");
    assert!(o.contains(&format!("\n{uid}\n")), "{o}");
    assert!(!o.contains("READ-SHADOW"), "{o}");
    assert!(o.contains("CapEff:\t0000000000000000"), "{o}");
    assert!(o.contains("CapBnd:\t0000000000000000"), "{o}");
    assert!(o.contains("NoNewPrivs:\t1"), "{o}");
    // init and the shell: nothing of the host.
    assert!(o.contains("/proc/1 /proc/2\n"), "{o}");
    let made = std::fs::metadata(sbx.path().join("made")).expect("made");
    assert_eq!(made.uid(), uid);
    // The timeout still ends the whole tree through init.
    let p = sbx.write(
        "t.yaml",
        "version: 1\nfilesystem:\n  writable: [\".\"]\nresources:\n  timeout_s: 1\n",
    );
    let out = sbx
        .cmd()
        .env("SANDBOXCTL_TEST_EXEC_STAGE", "1")
        .args([
            "run",
            "--no-audit",
            "-p",
            &p.display().to_string(),
            "--",
            "/bin/sh",
            "-c",
            "sleep 30 & sleep 30",
        ])
        .output()
        .expect("spawn");
    expect_code(&out, 124);
}
