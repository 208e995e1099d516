//! `check` and `doctor` on the shipped policies.

use super::harness::*;

const SHIPPED: [&str; 4] = [
    "default.yaml",
    "ai-agent.yaml",
    "ci-untrusted-tool.yaml",
    "klawty.yaml",
];

fn policies_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

#[test]
fn every_shipped_policy_loads_and_prints_a_plan() {
    let sbx = Sandbox::new();
    for d in ["workspace", "data", "skills", "config", "out"] {
        std::fs::create_dir(sbx.path().join(d)).expect("mkdir");
    }
    std::fs::write(sbx.path().join(".gitconfig-home"), "").expect("write");
    for name in SHIPPED {
        let p = policies_dir().join(name);
        let mut cmd = sbx.cmd();
        // ai-agent lists ~/.gitconfig: give it a home that has one.
        let home = sbx.path();
        std::fs::write(home.join(".gitconfig"), "").expect("write");
        cmd.env("HOME", home);
        let out = cmd
            .args(["check", "-p", &p.display().to_string()])
            .output()
            .expect("spawn");
        expect_code(&out, 0);
        let plan = text(&out.stdout);
        for section in [
            "mounts (in order):",
            "landlock",
            "seccomp",
            "limits",
            "network:",
            "environment",
        ] {
            assert!(plan.contains(section), "{name}: no `{section}` in:\n{plan}");
        }
        let out = sbx
            .cmd()
            .env("HOME", home)
            .args(["check", "--json", "-p", &p.display().to_string()])
            .output()
            .expect("spawn");
        expect_code(&out, 0);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan json");
        assert!(
            v["mounts"].as_array().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
}

#[test]
fn default_policy_is_embedded_and_identical_to_the_shipped_file() {
    let sbx = Sandbox::new();
    let embedded = sbx.run(&["check", "--json"]);
    expect_code(&embedded, 0);
    let file = sbx.run(&[
        "check",
        "--json",
        "-p",
        &policies_dir().join("default.yaml").display().to_string(),
    ]);
    let a: serde_json::Value = serde_json::from_slice(&embedded.stdout).expect("json");
    let b: serde_json::Value = serde_json::from_slice(&file.stdout).expect("json");
    assert_eq!(a["policy_sha256"], b["policy_sha256"]);
    assert_eq!(a["policy_name"], "<default policy>");
}

#[test]
fn check_shows_where_each_rule_came_from() {
    let sbx = Sandbox::new();
    sbx.write(".env", "X=1");
    let out = sbx.run(&["check"]);
    expect_code(&out, 0);
    let plan = text(&out.stdout);
    assert!(plan.contains("<default policy>:"), "{plan}");
    assert!(plan.contains(".env"), "{plan}");
    assert!(plan.contains("mask (empty, unreadable)"), "{plan}");
}

#[test]
fn doctor_reports_every_layer() {
    let out = Sandbox::new().run(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor json");
    let names: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for want in [
        "user namespaces",
        "landlock",
        "seccomp",
        "cgroup v2 limits",
        "cgroup v1 limits",
        "overlayfs in user namespace",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let human = Sandbox::new().run(&["doctor"]);
    assert!(text(&human.stdout).contains("landlock"));
}

/// The overlayfs probe's directories go, even the mode-000 one overlayfs
/// leaves for an ordinary user.
#[test]
fn doctor_leaves_nothing_in_the_temp_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Sandbox::new()
        .cmd()
        .env("TMPDIR", tmp.path())
        .args(["doctor", "--json"])
        .output()
        .expect("spawn");
    assert!(!out.stdout.is_empty());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "doctor left {left:?}");
}
