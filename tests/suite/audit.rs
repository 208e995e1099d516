//! Audit log and integrity manifests.

use std::process::{Command, Stdio};

use super::harness::*;

fn records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line parses"))
        .collect()
}

fn ready(test: &str) -> bool {
    sandbox_ready(test)
}

#[test]
fn concurrent_runs_leave_complete_records() {
    if !ready("concurrent_runs_leave_complete_records") {
        return;
    }
    let sbx = Sandbox::new();
    let log = sbx.path().join("audit.jsonl");
    let children: Vec<_> = (0..32)
        .map(|i| {
            sbx.cmd()
                .args([
                    "run",
                    "--audit",
                    &log.display().to_string(),
                    "--",
                    "/bin/sh",
                    "-c",
                    &format!("echo run-{i}; exit {}", i % 3),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        c.wait().expect("wait");
    }
    let recs = records(&log);
    let runs: Vec<_> = recs.iter().filter(|r| r["type"] == "run").collect();
    assert_eq!(runs.len(), 32);
    let mut ids: Vec<&str> = runs
        .iter()
        .map(|r| r["run_id"].as_str().expect("run_id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 32, "run ids are unique");
    for r in &runs {
        assert_eq!(r["schema"], "sandboxctl.audit/1");
        for key in [
            "time",
            "sandboxctl_version",
            "binary_sha256",
            "user",
            "workdir",
            "command",
            "policy",
            "layers",
            "limits",
            "exit_code",
            "ended_by",
            "wall_ms",
            "cpu_ms",
            "peak_memory_bytes",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert_eq!(r["policy"]["name"], "<default policy>");
    }
}

#[test]
fn a_denial_in_each_layer_is_recorded_with_the_run_id() {
    if !ready("a_denial_in_each_layer_is_recorded_with_the_run_id") {
        return;
    }
    let sbx = Sandbox::new();
    let log = sbx.path().join("audit.jsonl");
    let l = log.display().to_string();
    // exec
    let out = sbx.run(&["run", "--audit", &l, "--", "sudo", "id"]);
    expect_code(&out, 126);
    // network
    let p = sbx.write("p.yaml", "version: 1\nnetwork:\n  default: deny\n  allow: [\"example.com\"]\nfilesystem:\n  writable: [\".\"]\nresources:\n  timeout_s: 1\n");
    if std::path::Path::new("/usr/bin/curl").exists() {
        let _ = sbx.run(&[
            "run",
            "--audit",
            &l,
            "-p",
            &p.display().to_string(),
            "--",
            "/bin/sh",
            "-c",
            "curl -s -m 5 --noproxy '' -x \"$HTTP_PROXY\" http://169.254.169.254/; true",
        ]);
    }
    // limits (time)
    let out = sbx.run(&[
        "run",
        "--audit",
        &l,
        "-p",
        &p.display().to_string(),
        "--",
        "/bin/sleep",
        "10",
    ]);
    expect_code(&out, 124);
    let recs = records(&log);
    let denials: Vec<_> = recs.iter().filter(|r| r["type"] == "denial").collect();
    for layer in ["exec", "resources"] {
        let d = denials
            .iter()
            .find(|d| d["layer"] == layer)
            .unwrap_or_else(|| panic!("no {layer} denial in {recs:?}"));
        let id = d["run_id"].as_str().expect("id");
        assert!(
            recs.iter().any(|r| r["type"] == "run" && r["run_id"] == id),
            "{layer} denial has no run record"
        );
    }
    if std::path::Path::new("/usr/bin/curl").exists() {
        let d = denials
            .iter()
            .find(|d| d["layer"] == "network")
            .expect("network denial");
        assert_eq!(d["host"], "169.254.169.254");
        let run = recs
            .iter()
            .find(|r| r["type"] == "run" && r["run_id"] == d["run_id"])
            .expect("run record");
        assert!(
            run["network"].as_array().is_some_and(|n| !n.is_empty()),
            "{run}"
        );
    }
    let table = sbx.run(&["audit", "--denied", &l]);
    expect_code(&table, 0);
    let t = text(&table.stdout);
    assert!(t.contains("denied: exec:") && t.contains("sudo"), "{t}");
    let recent = sbx.run(&["audit", "--since", "1h", &l]);
    assert!(text(&recent.stdout).lines().count() >= 3);
}

#[test]
fn sealed_policy_runs_and_tampering_is_refused_naming_the_file() {
    if !ready("sealed_policy_runs_and_tampering_is_refused_naming_the_file") {
        return;
    }
    let sbx = Sandbox::new();
    let p = sbx.write("p.yaml", "version: 1\nfilesystem:\n  writable: [\".\"]\n");
    let ps = p.display().to_string();
    expect_code(&sbx.run(&["seal", "-p", &ps]), 0);
    let manifest = std::fs::read_to_string(sbx.path().join("p.yaml.sha256")).expect("manifest");
    assert_eq!(manifest.lines().count(), 2);
    assert!(
        manifest
            .lines()
            .all(|l| l.len() > 66 && l.as_bytes()[64] == b' '),
        "sha256sum format: {manifest}"
    );
    expect_code(&sbx.run(&["verify", "-p", &ps]), 0);
    expect_code(
        &sbx.run(&["run", "--no-audit", "-p", &ps, "--", "/bin/true"]),
        0,
    );
    // The manifest and the policy cannot be changed from inside.
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &ps,
        "--",
        "/bin/sh",
        "-c",
        "echo x >> p.yaml.sha256; echo '#x' >> p.yaml; rm -f p.yaml.sha256; true",
    ]);
    expect_code(&out, 0);
    expect_code(&sbx.run(&["verify", "-p", &ps]), 0);
    // Tampered policy.
    std::fs::write(&p, "version: 1\nfilesystem:\n  writable: [\"/\"]\n").expect("tamper");
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &ps,
        "--",
        "/bin/sh",
        "-c",
        "touch ran",
    ]);
    expect_code(&out, 125);
    assert!(
        text(&out.stderr).contains("sandboxctl: error: integrity: policy")
            && text(&out.stderr).contains("p.yaml"),
        "{}",
        text(&out.stderr)
    );
    assert!(!sbx.path().join("ran").exists());
    // --require-seal without a manifest.
    let q = sbx.write("q.yaml", "version: 1\n");
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "--require-seal",
        "-p",
        &q.display().to_string(),
        "--",
        "/bin/true",
    ]);
    expect_code(&out, 125);
    assert!(
        text(&out.stderr).contains("no manifest"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn tampered_binary_copy_is_refused() {
    if !ready("tampered_binary_copy_is_refused") {
        return;
    }
    let sbx = Sandbox::new();
    let copy = sbx.path().join("sandboxctl-copy");
    std::fs::copy(bin(), &copy).expect("copy");
    let p = sbx.write("p.yaml", "version: 1\nfilesystem:\n  writable: [\".\"]\n");
    let ps = p.display().to_string();
    // Another test thread may fork while the copy's write descriptor is
    // still open in it (until its exec), which makes exec fail with
    // ETXTBSY for a moment: retry.
    let run = |b: &std::path::Path, args: &[&str]| {
        for _ in 0..100 {
            match Command::new(b)
                .current_dir(sbx.path())
                .args(args)
                .stdin(Stdio::null())
                .output()
            {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other.expect("spawn"),
            }
        }
        panic!("the copied binary stayed busy");
    };
    expect_code(&run(&copy, &["seal", "-p", &ps]), 0);
    expect_code(
        &run(&copy, &["run", "--no-audit", "-p", &ps, "--", "/bin/true"]),
        0,
    );
    // Append a byte: the ELF still runs, but its hash changed.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&copy)
        .expect("open");
    std::io::Write::write_all(&mut f, b"\0").expect("append");
    drop(f);
    let out = run(&copy, &["run", "--no-audit", "-p", &ps, "--", "/bin/true"]);
    expect_code(&out, 125);
    assert!(
        text(&out.stderr).contains("sandboxctl binary")
            && text(&out.stderr).contains("sandboxctl-copy"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn audit_log_cannot_be_touched_from_inside() {
    if !ready("audit_log_cannot_be_touched_from_inside") {
        return;
    }
    let sbx = Sandbox::new();
    let log = sbx.path().join("audit.jsonl");
    let l = log.display().to_string();
    expect_code(&sbx.run(&["run", "--audit", &l, "--", "/bin/true"]), 0);
    let before = std::fs::read_to_string(&log).expect("log");
    let out = sbx.run(&[
        "run",
        "--audit",
        &l,
        "--",
        "/bin/sh",
        "-c",
        "echo forged >> audit.jsonl; true > audit.jsonl; rm -f audit.jsonl; mv audit.jsonl x; true",
    ]);
    expect_code(&out, 0);
    let after = std::fs::read_to_string(&log).expect("log");
    assert!(after.starts_with(&before), "the log was rewritten");
    assert!(
        !after.lines().any(|l| l.trim() == "forged"),
        "a line was forged"
    );
    assert_eq!(
        records(&log).iter().filter(|r| r["type"] == "run").count(),
        2
    );
}

#[test]
fn unwritable_audit_log_refuses_unless_no_audit() {
    let sbx = Sandbox::new();
    let out = sbx.run(&[
        "run",
        "--audit",
        "/proc/sandboxctl-no-such-dir/audit.jsonl",
        "--",
        "/bin/sh",
        "-c",
        "touch ran",
    ]);
    expect_code(&out, 125);
    assert!(
        text(&out.stderr).contains("sandboxctl: error: audit: cannot write the audit log"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("--no-audit"));
    assert!(!sbx.path().join("ran").exists());
    std::fs::create_dir(sbx.path().join("dir.jsonl")).expect("mkdir");
    let out = sbx.run(&["run", "--audit", "dir.jsonl", "--", "/bin/true"]);
    expect_code(&out, 125);
    let link = sbx.path().join("link.jsonl");
    std::os::unix::fs::symlink("/etc/passwd", &link).expect("symlink");
    let out = sbx.run(&["run", "--audit", "link.jsonl", "--", "/bin/true"]);
    expect_code(&out, 125);
}
