//! Every class of bad policy is refused with exit 125, a message naming
//! file, line and column, and nothing runs.

use super::harness::*;

struct Case {
    name: &'static str,
    yaml: &'static str,
    message: &'static str,
    /// (line, column), when the error has a place.
    at: Option<(usize, usize)>,
}

const CASES: &[Case] = &[
    Case { name: "unknown top-level key", yaml: "version: 1\nnetwrok:\n  default: deny\n", message: "unknown key `netwrok` at the top level", at: Some((2, 1)) },
    Case { name: "unknown nested key", yaml: "version: 1\nresources:\n  max_memory: 5\n", message: "unknown key `max_memory` in `resources`", at: Some((3, 3)) },
    Case { name: "wrong type: scalar for list", yaml: "version: 1\nfilesystem:\n  writable: \"workspace/\"\n", message: "`filesystem.writable` must be a list", at: Some((3, 13)) },
    Case { name: "wrong type: list for number", yaml: "version: 1\nresources:\n  max_processes: [1]\n", message: "must be a whole number", at: Some((3, 18)) },
    Case { name: "wrong type: quoted number", yaml: "version: 1\nresources:\n  timeout_s: \"60\"\n", message: "not a quoted string", at: Some((3, 14)) },
    Case { name: "wrong type: fraction", yaml: "version: 1\nresources:\n  max_cpu_percent: 1.5\n", message: "must be a whole number, found `1.5`", at: Some((3, 20)) },
    Case { name: "duplicate key", yaml: "version: 1\nexec:\n  blocked: [sudo]\n  blocked: [mkfs]\n", message: "duplicate key `blocked`", at: Some((4, 3)) },
    Case { name: "negative limit", yaml: "version: 1\nresources:\n  max_memory_mb: -512\n", message: "must be positive", at: Some((3, 18)) },
    Case { name: "zero limit", yaml: "version: 1\nresources:\n  max_processes: 0\n", message: "must be at least 1", at: Some((3, 18)) },
    Case { name: "network default allow", yaml: "version: 1\nnetwork:\n  default: allow\n", message: "`network.default` must be `deny`", at: Some((3, 12)) },
    Case { name: "empty exec pattern", yaml: "version: 1\nexec:\n  blocked: [\"\"]\n", message: "entries must not be empty", at: Some((3, 13)) },
    Case { name: "empty path", yaml: "version: 1\nfilesystem:\n  readonly: [\"  \"]\n", message: "entries must not be empty", at: Some((3, 14)) },
    Case { name: "malformed host", yaml: "version: 1\nnetwork:\n  allow: [\"exa mple.com\"]\n", message: "bad `network.allow` entry `exa mple.com`", at: Some((3, 11)) },
    Case { name: "URL instead of host", yaml: "version: 1\nnetwork:\n  allow: [\"https://example.com\"]\n", message: "not a URL", at: Some((3, 11)) },
    Case { name: "malformed CIDR", yaml: "version: 1\nnetwork:\n  allow: [\"10.0.0.0/33\"]\n", message: "prefix must be a number from 0 to 32", at: Some((3, 11)) },
    Case { name: "bad port", yaml: "version: 1\nnetwork:\n  allow: [\"example.com:70000\"]\n", message: "is not a port", at: Some((3, 11)) },
    Case { name: "unsupported version", yaml: "version: 2\n", message: "unsupported policy version 2", at: Some((1, 10)) },
    Case { name: "missing version", yaml: "isolation: strict\n", message: "missing `version: 1`", at: Some((1, 1)) },
    Case { name: "empty policy", yaml: "", message: "policy is empty", at: Some((1, 1)) },
    Case { name: "top level is a list", yaml: "- version: 1\n", message: "`policy` must be a mapping", at: Some((1, 1)) },
    Case { name: "bad isolation mode", yaml: "version: 1\nisolation: lax\n", message: "`isolation` must be `strict` or `best_effort`", at: Some((2, 12)) },
    Case { name: "null list", yaml: "version: 1\nexec:\n  blocked:\n", message: "must be a list, found null", at: None },
    Case { name: "alias", yaml: "version: 1\nexec:\n  blocked: &b [sudo]\n  allow: *b\n", message: "aliases", at: Some((4, 10)) },
    Case { name: "alias bomb", yaml: "version: 1\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\n", message: "aliases", at: Some((3, 8)) },
    Case { name: "tag", yaml: "version: !!str 1\n", message: "tags", at: Some((1, 10)) },
    Case { name: "two documents", yaml: "version: 1\n---\nversion: 1\n", message: "exactly one YAML document", at: None },
    Case { name: "syntax error", yaml: "version: 1\nexec: [sudo\n", message: "", at: None },
    Case { name: "tilde user", yaml: "version: 1\nfilesystem:\n  blocked: [\"~root/.ssh\"]\n", message: "only `~` and `~/...`", at: Some((3, 13)) },
    Case { name: "dot-dot path", yaml: "version: 1\nfilesystem:\n  readonly: [\"a/../../etc\"]\n", message: "`..` is not allowed", at: Some((3, 14)) },
    Case { name: "unparseable exec pattern", yaml: "version: 1\nexec:\n  blocked: [\"rm 'unterminated\"]\n", message: "bad `exec.blocked` pattern", at: Some((3, 13)) },
    Case { name: "bad env name", yaml: "version: 1\nenv:\n  allow: [\"A-B\"]\n", message: "bad `env.allow` entry", at: Some((3, 11)) },
    Case { name: "env set to a list", yaml: "version: 1\nenv:\n  set: { A: [1] }\n", message: "must be a string", at: Some((3, 13)) },
    Case { name: "huge number", yaml: "version: 1\nresources:\n  max_memory_mb: 99999999999999999999999\n", message: "too large", at: Some((3, 18)) },
];

fn assert_refused(
    sbx: &Sandbox,
    policy: &std::path::Path,
    name: &str,
    message: &str,
    at: Option<(usize, usize)>,
) {
    for args in [vec!["check", "-p"], vec!["run", "--no-audit", "-p"]] {
        let mut argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        argv.push(policy.display().to_string());
        if argv[0] == "run" {
            argv.extend(["--", "/bin/sh", "-c", "touch ran"].map(String::from));
        }
        let out = sbx.cmd().args(&argv).output().expect("spawn");
        let err = text(&out.stderr);
        assert_eq!(code(&out), 125, "{name}: {err}");
        assert!(
            err.starts_with("sandboxctl: error: policy: "),
            "{name}: {err}"
        );
        assert!(err.contains(message), "{name}: want `{message}` in: {err}");
        if let Some((line, col)) = at {
            let place = format!("{}:{line}:{col}: ", policy.display());
            assert!(err.contains(&place), "{name}: want `{place}` in: {err}");
        }
        assert!(!sbx.path().join("ran").exists(), "{name}: the command ran");
    }
}

#[test]
fn malformed_policies_are_refused_with_location_and_nothing_runs() {
    let sbx = Sandbox::new();
    for case in CASES {
        let p = sbx.write("bad.yaml", case.yaml);
        assert_refused(&sbx, &p, case.name, case.message, case.at);
    }
}

#[test]
fn non_utf8_oversized_missing_and_directory_policies_are_refused() {
    let sbx = Sandbox::new();
    let bin = sbx.path().join("bin.yaml");
    std::fs::write(&bin, b"version: 1\n\xff\xfe\n").expect("write");
    assert_refused(&sbx, &bin, "not UTF-8", "not UTF-8", None);
    let big = sbx.write(
        "big.yaml",
        &format!("version: 1\n#{}\n", "x".repeat(300_000)),
    );
    assert_refused(&sbx, &big, "oversized", "the limit is", None);
    assert_refused(
        &sbx,
        &sbx.path().join("missing.yaml"),
        "missing file",
        "cannot read policy",
        None,
    );
    std::fs::create_dir(sbx.path().join("dir.yaml")).expect("mkdir");
    assert_refused(
        &sbx,
        &sbx.path().join("dir.yaml"),
        "directory",
        "not a regular file",
        None,
    );
    let nul = sbx.write("nul.yaml", "version: 1\0\n");
    assert_refused(&sbx, &nul, "NUL byte", "NUL", None);
}

#[test]
fn missing_listed_path_and_planted_symlink_are_refused() {
    let sbx = Sandbox::new();
    let p = sbx.write(
        "p.yaml",
        "version: 1\nfilesystem:\n  writable: [\"workspace/\"]\n",
    );
    assert_refused(
        &sbx,
        &p,
        "missing path",
        "workspace does not exist",
        Some((3, 14)),
    );
    std::os::unix::fs::symlink("/etc", sbx.path().join("workspace")).expect("symlink");
    assert_refused(
        &sbx,
        &p,
        "symlinked path",
        "is a symlink to /etc",
        Some((3, 14)),
    );
}

#[test]
fn json_refusal_is_one_object() {
    let sbx = Sandbox::new();
    let p = sbx.write("bad.yaml", "version: 1\nbogus: 1\n");
    let out = sbx.run(&["check", "--json", "-p", &p.display().to_string()]);
    expect_code(&out, 125);
    let first = text(&out.stderr)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&first).expect("json on stderr");
    assert_eq!(v["sandboxctl"], "error");
    assert_eq!(v["line"], 2);
    assert_eq!(v["col"], 1);
}

#[test]
fn environment_variable_selects_the_policy() {
    let sbx = Sandbox::new();
    let p = sbx.write("bad.yaml", "version: 3\n");
    let out = sbx
        .cmd()
        .args(["check"])
        .env("SANDBOXCTL_POLICY", &p)
        .output()
        .expect("spawn");
    assert_eq!(code(&out), 125);
    assert!(text(&out.stderr).contains("unsupported policy version 3"));
}

#[test]
fn absurd_command_line_values_are_refused() {
    let sbx = Sandbox::new();
    for t in ["0", "18446744073709551615", "-1", "x"] {
        let out = sbx.run(&[
            "run",
            "--no-audit",
            "--timeout",
            t,
            "--",
            "/bin/sh",
            "-c",
            "touch ran",
        ]);
        expect_code(&out, 125);
        assert!(
            text(&out.stderr).contains("sandboxctl: error:")
                || text(&out.stderr).contains("error:"),
            "{t}: {}",
            text(&out.stderr)
        );
        assert!(!sbx.path().join("ran").exists());
    }
}

#[test]
fn usage_errors_are_refusals_with_the_standard_line() {
    let sbx = Sandbox::new();
    for args in [
        &["run", "ls"][..],
        &["frobnicate"],
        &["run", "--no-such-flag", "--", "true"],
        &["run"],
    ] {
        let out = sbx.run(args);
        expect_code(&out, 125);
        let err = text(&out.stderr);
        assert!(
            err.starts_with("sandboxctl: error: usage: "),
            "{args:?}: {err}"
        );
    }
    expect_code(&sbx.run(&["--version"]), 0);
}
