//! `run --simulate` and `learn`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use super::harness::*;

fn ready(test: &str) -> bool {
    if !sandbox_ready(test) {
        return false;
    }
    if !std::path::Path::new("/usr/bin/curl").exists()
        || !std::path::Path::new("/usr/bin/python3").exists()
    {
        skip(test, "needs /usr/bin/curl and /usr/bin/python3");
        return false;
    }
    true
}

/// A one-shot HTTP server on the host's loopback.
fn serve_once() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        l.set_nonblocking(false).ok();
        for _ in 0..4 {
            if let Ok((mut c, _)) = l.accept() {
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let mut b = [0u8; 2048];
                let _ = c.read(&mut b);
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n",
                );
            }
        }
    });
    port
}

#[test]
fn simulate_reports_what_enforcement_refuses() {
    if !ready("simulate_reports_what_enforcement_refuses") {
        return;
    }
    let outside = Sandbox::new();
    let secret = outside.write("input.txt", "outside-data\n");
    let target = outside.path().join("written.txt");
    let port = serve_once();
    let sbx = Sandbox::new();
    let script = format!(
        "cat {s} && (echo out > {t} || true) && curl -s -S -m 5 --noproxy '' -x \"$HTTP_PROXY\" http://127.0.0.1:{port}/ && echo script-ok",
        s = secret.display(),
        t = target.display()
    );
    let sim = sbx.run(&[
        "run",
        "--no-audit",
        "--simulate",
        "--json",
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    expect_code(&sim, 0);
    let out = text(&sim.stdout);
    assert!(
        out.contains("outside-data") && out.contains("hello") && out.contains("script-ok"),
        "{out}\n{}",
        text(&sim.stderr)
    );
    let err = text(&sim.stderr);
    assert!(
        err.contains(&format!(
            "would deny: filesystem: read {}",
            secret.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "would deny: filesystem: write {}",
            target.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("would deny: network: 127.0.0.1:{port}")),
        "{err}"
    );
    let json = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["sandboxctl"] == "simulation")
        .expect("json report");
    assert!(
        json["would_deny"].as_array().is_some_and(|a| a.len() >= 3),
        "{json}"
    );
    // Enforced, the same script fails.
    let enforced = sbx.run(&["run", "--no-audit", "--", "/bin/sh", "-c", &script]);
    assert_ne!(code(&enforced), 0);
    assert!(!text(&enforced.stdout).contains("outside-data"));
}

fn learn(
    sbx: &Sandbox,
    home: &std::path::Path,
    cmd: &[&str],
) -> (std::path::PathBuf, std::process::Output) {
    let mut args = vec!["learn", "--"];
    args.extend_from_slice(cmd);
    let out = sbx
        .cmd()
        .env("HOME", home)
        .args(&args)
        .output()
        .expect("learn");
    let policy = sbx.path().join("learned.yaml");
    std::fs::write(&policy, &out.stdout).expect("write policy");
    (policy, out)
}

fn run_with(
    sbx: &Sandbox,
    home: &std::path::Path,
    policy: &std::path::Path,
    cmd: &[&str],
) -> std::process::Output {
    let p = policy.display().to_string();
    let mut args = vec!["run", "--no-audit", "-p", &p, "--"];
    args.extend_from_slice(cmd);
    sbx.cmd()
        .env("HOME", home)
        .args(&args)
        .output()
        .expect("run")
}

#[test]
fn learned_policies_let_the_same_command_run_and_nothing_more() {
    if !ready("learned_policies_let_the_same_command_run_and_nothing_more") {
        return;
    }
    let home = Sandbox::new();
    home.write(".ssh/id_rsa", "PRIVATE\n");
    let data = Sandbox::new();
    let input = data.write("numbers.csv", "1,2,3\n");
    let sbx = Sandbox::new();
    sbx.write(
        "hello.c",
        "#include <stdio.h>\nint main(void){puts(\"built\");return 0;}\n",
    );
    let git_ok = Command::new("git")
        .args(["init", "-q"])
        .current_dir(sbx.path())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(git_ok);
    let py = format!(
        "print(sum(int(x) for x in open('{}').read().split(',')))",
        input.display()
    );
    let cases: Vec<Vec<String>> = vec![
        vec!["git".into(), "status".into(), "--short".into()],
        vec!["/usr/bin/python3".into(), "-c".into(), py.clone()],
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "cc -o hello hello.c && ./hello".into(),
        ],
    ];
    for cmd in &cases {
        let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (policy, out) = learn(&sbx, home.path(), &argv);
        expect_code(&out, 0);
        let check = sbx
            .cmd()
            .env("HOME", home.path())
            .args(["check", "-p", &policy.display().to_string()])
            .output()
            .expect("check");
        expect_code(&check, 0);
        let rerun = run_with(&sbx, home.path(), &policy, &argv);
        expect_code(&rerun, 0);
        // A variant that reads ~/.ssh is denied under the learned policy.
        let variant = run_with(
            &sbx,
            home.path(),
            &policy,
            &["/bin/sh", "-c", "cat ~/.ssh/id_rsa"],
        );
        assert_ne!(code(&variant), 0, "{:?}", cmd);
        assert!(!text(&variant.stdout).contains("PRIVATE"));
    }
    // The python case needed the data directory, read-only.
    let (policy, _) = learn(&sbx, home.path(), &["/usr/bin/python3", "-c", &py]);
    let text_policy = std::fs::read_to_string(&policy).expect("policy");
    assert!(
        text_policy.contains(&data.path().display().to_string()),
        "{text_policy}"
    );
    let out = run_with(&sbx, home.path(), &policy, &["/usr/bin/python3", "-c", &py]);
    assert_eq!(text(&out.stdout).trim(), "6");
    let write_there = run_with(
        &sbx,
        home.path(),
        &policy,
        &[
            "/bin/sh",
            "-c",
            &format!("echo x > {}/new", data.path().display()),
        ],
    );
    assert_ne!(
        code(&write_there),
        0,
        "learned read access must not grant writes"
    );
}
