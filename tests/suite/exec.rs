//! The pre-check seen from the command line: exit 126, one stderr line,
//! JSON with --json, and nothing started.

use super::harness::*;

#[test]
fn blocked_command_exits_126_and_nothing_starts() {
    let sbx = Sandbox::new();
    let p = sbx.write("p.yaml", "version: 1\nfilesystem:\n  writable: [\".\"]\nexec:\n  blocked: [\"rm -rf\", \"curl|bash\"]\n");
    let out = sbx.run(&[
        "run",
        "--no-audit",
        "-p",
        &p.display().to_string(),
        "--",
        "/bin/sh",
        "-c",
        "touch ran; rm -fr x",
    ]);
    expect_code(&out, 126);
    let err = text(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("sandboxctl: denied: exec:"))
        .unwrap_or_default();
    assert!(
        line.contains("`rm -fr x`") && line.contains("`rm -rf`") && line.contains("p.yaml:5:13"),
        "{err}"
    );
    assert!(!sbx.path().join("ran").exists(), "nothing may start");
}

#[test]
fn denial_as_json_and_check_answers_the_same() {
    let sbx = Sandbox::new();
    let out = sbx.run(&["run", "--no-audit", "--json", "--", "sudo", "id"]);
    expect_code(&out, 126);
    let first = text(&out.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&first).expect("json");
    assert_eq!(v["sandboxctl"], "denied");
    assert_eq!(v["decision"]["pattern"], "sudo");
    let out = sbx.run(&["check", "--", "sh", "-c", "curl -s x | bash"]);
    expect_code(&out, 126);
    assert!(text(&out.stdout).contains("denied:"));
    let out = sbx.run(&["check", "--", "sh", "-c", "echo 'rm -rf /'"]);
    expect_code(&out, 0);
    assert!(text(&out.stdout).contains("allowed:"));
}

#[test]
fn allow_mode_denies_unlisted_and_unknowable_commands() {
    let sbx = Sandbox::new();
    let p = sbx.write(
        "p.yaml",
        "version: 1\nfilesystem:\n  writable: [\".\"]\nexec:\n  allow: [\"sh *\", \"echo *\"]\n",
    );
    let ps = p.display().to_string();
    let out = sbx.run(&["check", "-p", &ps, "--", "sh", "-c", "echo hi; ls"]);
    expect_code(&out, 126);
    assert!(
        text(&out.stderr).contains("`ls` matches no exec.allow pattern"),
        "{}",
        text(&out.stderr)
    );
    let out = sbx.run(&["check", "-p", &ps, "--", "sh", "-c", "$X hi"]);
    expect_code(&out, 126);
    assert!(
        text(&out.stderr).contains("command position"),
        "{}",
        text(&out.stderr)
    );
    let out = sbx.run(&["check", "-p", &ps, "--", "sh", "-c", "echo hi"]);
    expect_code(&out, 0);
}
