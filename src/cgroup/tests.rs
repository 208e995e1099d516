//! Both backends against fixture trees.

use std::path::Path;

use super::*;
use crate::plan::{Limit, Limits, Origin};

fn limits(mem: Option<u64>, cpu: Option<u64>, pids: Option<u64>, mode: Mode) -> Limits {
    let l = |v: Option<u64>| {
        v.map(|value| Limit {
            value,
            origin: Origin::builtin("test"),
        })
    };
    Limits {
        memory_mb: l(mem),
        cpu_percent: l(cpu),
        processes: l(pids),
        file_size_mb: None,
        timeout_s: None,
        enforcement: mode,
        nofile: 1024,
        tmp_size_mb: 64,
    }
}

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s).unwrap();
}

#[test]
fn parses_proc_self_cgroup() {
    let lines = parse_proc_cgroup(
        "12:pids:/a\n4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/user.slice/u.scope\n",
    );
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2].0, vec!["cpu".to_string(), "cpuacct".to_string()]);
    assert_eq!(lines[3], (Vec::new(), PathBuf::from("/user.slice/u.scope")));
}

#[test]
fn v2_delegated_subtree_is_found_and_limits_written() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(
        &root.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    );
    let own = root.join("user.slice/user-1000.slice/user@1000.service/app.slice");
    write(&own.join("cgroup.controllers"), "cpu memory pids\n");
    write(&own.join("cgroup.subtree_control"), "cpu memory pids\n");
    let l = limits(Some(128), Some(50), Some(10), Mode::Strict);
    let mut b = detect(
        root,
        "0::/user.slice/user-1000.slice/user@1000.service/app.slice\n",
        &l,
    )
    .unwrap();
    assert_eq!(b.kind(), "v2");
    let reports = b.create(&l, "sandboxctl-1-2").unwrap();
    let dir = own.join("sandboxctl-1-2");
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.max")).unwrap(),
        (128 * 1024 * 1024).to_string()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("memory.swap.max")).unwrap(),
        "0"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("cpu.max")).unwrap(),
        "50000 100000"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("pids.max")).unwrap(),
        (10 + OWN_PROCESSES).to_string()
    );
    assert_eq!(reports.len(), 3);
    assert_eq!(b.join_files(), vec![dir.join("cgroup.procs")]);
    write(
        &dir.join("memory.events"),
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
    );
    write(&dir.join("memory.peak"), "4096\n");
    let s = b.stats();
    assert!(s.oom_killed);
    assert_eq!(s.peak_memory_bytes, Some(4096));
    b.kill();
    assert_eq!(
        std::fs::read_to_string(dir.join("cgroup.kill")).unwrap(),
        "1"
    );
}

#[test]
fn v2_enables_missing_controllers_in_subtree_control() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(&root.join("cgroup.controllers"), "cpu memory pids\n");
    let own = root.join("ci.slice");
    write(&own.join("cgroup.controllers"), "cpu memory pids\n");
    write(&own.join("cgroup.subtree_control"), "");
    let l = limits(Some(64), None, None, Mode::Strict);
    let mut b = detect(root, "0::/ci.slice\n", &l).unwrap();
    b.create(&l, "sandboxctl-9-9").unwrap();
    assert_eq!(
        std::fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
        "+memory"
    );
}

#[test]
fn v2_without_controllers_falls_to_v1_or_fails() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(&root.join("unified/cgroup.controllers"), "");
    let l = limits(Some(64), None, Some(5), Mode::Strict);
    let proc = "4:memory:/job\n8:pids:/\n0::/\n";
    assert!(detect(root, proc, &l).is_err());
    write(&root.join("memory/cgroup.procs"), "");
    write(&root.join("pids/cgroup.procs"), "");
    std::fs::create_dir_all(root.join("memory/job")).unwrap();
    let mut b = detect(root, proc, &l).unwrap();
    assert_eq!(b.kind(), "v1");
    b.create(&l, "sandboxctl-5-5").unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("memory/job/sandboxctl-5-5/memory.limit_in_bytes"))
            .unwrap(),
        (64 * 1024 * 1024).to_string()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("pids/sandboxctl-5-5/pids.max")).unwrap(),
        (5 + OWN_PROCESSES).to_string()
    );
    b.remove();
}

#[test]
fn stale_cgroups_of_dead_supervisors_are_removed() {
    let t = tempfile::tempdir().unwrap();
    let dead = t.path().join(format!("{PREFIX}999999999-1"));
    let mine = t.path().join(format!("{PREFIX}{}-1", std::process::id()));
    let other = t.path().join("unrelated");
    for d in [&dead, &mine, &other] {
        std::fs::create_dir(d).unwrap();
    }
    remove_stale(t.path());
    assert!(!dead.exists());
    assert!(mine.exists() && other.exists());
}

#[test]
fn best_effort_downgrades_with_a_warning_and_strict_refuses() {
    let t = tempfile::tempdir().unwrap();
    let policy = crate::policy::load_str(
        "version: 1\nresources:\n  max_memory_mb: 64\n  enforcement: best_effort\n",
        "p",
        None,
    )
    .unwrap();
    let plan_of = |policy: &crate::policy::Policy| {
        let user = crate::plan::UserInfo {
            uid: 1,
            gid: 1,
            name: "u".into(),
            home: "/".into(),
        };
        let host = crate::plan::HostInfo {
            mem_total_mb: 1024,
            nofile_hard: 1024,
            root_etc: crate::plan::RootEtc::Unprobed,
        };
        crate::plan::build(
            &crate::plan::Invocation {
                policy,
                command: &[],
                workdir: Path::new("/"),
                user: &user,
                env: &[],
                host: &host,
                timeout_override: None,
                protected: &[],
            },
            &crate::plan::fsview::fake::FakeFs::new(),
        )
        .unwrap()
    };
    let run = prepare_at(&plan_of(&policy), t.path(), "0::/\n").unwrap();
    assert!(run.warnings[0].contains("NOT enforced"));
    assert!(run
        .reports()
        .iter()
        .any(|r| r.limit == "max_memory_mb" && !r.enforced));
    let strict =
        crate::policy::load_str("version: 1\nresources:\n  max_memory_mb: 64\n", "p", None)
            .unwrap();
    match prepare_at(&plan_of(&strict), t.path(), "0::/\n") {
        Err(Failure::Setup { layer, fix, .. }) => {
            assert_eq!(layer, "resources");
            assert!(fix.contains("best_effort"));
        }
        _ => panic!("strict must refuse"),
    }
}
