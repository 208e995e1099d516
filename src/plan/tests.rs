//! Plan building against an in-memory filesystem.

use std::path::{Path, PathBuf};

use super::fsview::fake::FakeFs;
use super::*;
use crate::policy::load_str;

fn user() -> UserInfo {
    UserInfo {
        uid: 1000,
        gid: 1000,
        name: "u".into(),
        home: "/home/u".into(),
    }
}

fn host() -> HostInfo {
    HostInfo {
        mem_total_mb: 16384,
        nofile_hard: 1 << 20,
        root_etc: RootEtc::Unprobed,
    }
}

fn base_fs() -> FakeFs {
    let mut fs = FakeFs::new();
    fs.dir("/usr/bin")
        .dir("/usr/lib")
        .dir("/etc/ssh")
        .file("/etc/passwd")
        .file("/etc/shadow")
        .file("/etc/ssh/ssh_host_rsa_key")
        .file("/etc/ssh/ssh_host_rsa_key.pub")
        .file("/etc/ssh/sshd_config")
        .link("/bin", "usr/bin")
        .link("/lib", "usr/lib")
        .dir("/sbin")
        .dir("/home/u/.ssh")
        .file("/home/u/.ssh/id_rsa")
        .dir("/work/proj/src")
        .file("/work/proj/src/main.rs")
        .file("/work/proj/.env")
        .file("/work/proj/certs/server.pem")
        .dir("/work/proj/.git")
        .file("/work/proj/.git/config");
    fs
}

fn plan_for(policy: &str, fs: &FakeFs, cmd: &[&str]) -> Result<Plan, PlanError> {
    let policy = load_str(policy, "p.yaml", Some(PathBuf::from("/work/proj/p.yaml"))).unwrap();
    let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    let inv = Invocation {
        policy: &policy,
        command: &cmd,
        workdir: Path::new("/work/proj"),
        user: &user(),
        env: &[
            ("TERM".into(), "xterm".into()),
            ("SECRET_TOKEN".into(), "s3cr3t".into()),
            ("LANG".into(), "C.UTF-8".into()),
        ],
        host: &host(),
        timeout_override: None,
        protected: &[],
    };
    build(&inv, fs)
}

fn op_at<'a>(plan: &'a Plan, path: &str) -> Vec<&'a MountOp> {
    plan.mounts
        .iter()
        .filter(|m| m.path == Path::new(path))
        .map(|m| &m.op)
        .collect()
}

const DEFAULTISH: &str =
    "version: 1\nfilesystem:\n  writable: [\".\"]\n  blocked: [\"~/.ssh\", \".env\", \"*.pem\"]\n";

#[test]
fn system_base_is_read_only_and_symlinks_are_recreated() {
    let p = plan_for(DEFAULTISH, &base_fs(), &[]).unwrap();
    assert_eq!(op_at(&p, "/usr"), vec![&MountOp::BindRo]);
    assert_eq!(op_at(&p, "/etc"), vec![&MountOp::BindRo]);
    assert_eq!(
        op_at(&p, "/bin"),
        vec![&MountOp::Symlink {
            target: "usr/bin".into()
        }]
    );
    assert!(op_at(&p, "/lib64").is_empty(), "absent on this host");
    assert!(
        op_at(&p, "/home").is_empty()
            && op_at(&p, "/sys").is_empty()
            && op_at(&p, "/run").is_empty()
    );
}

#[test]
fn etc_secrets_are_masked() {
    let p = plan_for(DEFAULTISH, &base_fs(), &[]).unwrap();
    assert_eq!(op_at(&p, "/etc/shadow"), vec![&MountOp::MaskFile]);
    assert_eq!(
        op_at(&p, "/etc/ssh/ssh_host_rsa_key"),
        vec![&MountOp::MaskFile]
    );
    assert_eq!(
        op_at(&p, "/etc/ssh/ssh_host_rsa_key.pub"),
        vec![&MountOp::MaskFile]
    );
    assert!(op_at(&p, "/etc/ssh/sshd_config").is_empty());
    // `*.pem` is a workdir-tree pattern; CA certificates stay readable.
    assert!(op_at(&p, "/etc/ssl/certs/ca.pem").is_empty());
}

#[test]
fn root_only_files_in_etc_are_masked_for_a_root_invoker() {
    let mut fs = base_fs();
    fs.file("/etc/app/secret.conf")
        .file("/etc/app/public.conf")
        .file("/etc/pg/hba.conf");
    fs.modes
        .insert("/etc/app/secret.conf".into(), (0o100640, 0, 0));
    fs.modes
        .insert("/etc/pg/hba.conf".into(), (0o100640, 105, 107));
    let policy = load_str(DEFAULTISH, "p.yaml", None).unwrap();
    let root = UserInfo {
        uid: 0,
        gid: 0,
        name: "root".into(),
        home: "/root".into(),
    };
    let build_with = |user: &UserInfo, root_etc: RootEtc| {
        build(
            &Invocation {
                policy: &policy,
                command: &[],
                workdir: Path::new("/work/proj"),
                user,
                env: &[],
                host: &HostInfo { root_etc, ..host() },
                timeout_override: None,
                protected: &[],
            },
            &fs,
        )
        .unwrap()
    };
    let inv = |user: &UserInfo| build_with(user, RootEtc::Unprobed);
    let p = inv(&root);
    assert_eq!(op_at(&p, "/etc/app/secret.conf"), vec![&MountOp::MaskFile]);
    assert!(op_at(&p, "/etc/app/public.conf").is_empty());
    assert!(
        op_at(&p, "/etc/pg/hba.conf").is_empty(),
        "not root's: DAC already keeps root-without-capabilities out"
    );
    assert!(
        op_at(&inv(&user()), "/etc/app/secret.conf").is_empty(),
        "an ordinary user cannot read it anyway"
    );

    // With an idmapped /etc the kernel keeps root out; no list is needed,
    // and /etc keeps its Landlock rule.
    let p = build_with(&root, RootEtc::Idmapped);
    assert_eq!(op_at(&p, "/etc"), vec![&MountOp::BindRoRootless]);
    assert!(op_at(&p, "/etc/app/secret.conf").is_empty());
    assert_eq!(op_at(&p, "/etc/shadow"), vec![&MountOp::MaskFile]);
    assert!(p
        .landlock
        .rules
        .iter()
        .any(|r| r.path == Path::new("/etc") && r.access == FsAccess::ReadExec));
    // Only a root invoker gets it.
    let p = build_with(&user(), RootEtc::Idmapped);
    assert_eq!(op_at(&p, "/etc"), vec![&MountOp::BindRo]);
    // Unavailable: masked one by one, and the plan says why.
    let p = build_with(&root, RootEtc::Unavailable("EINVAL".into()));
    assert_eq!(op_at(&p, "/etc"), vec![&MountOp::BindRo]);
    assert_eq!(op_at(&p, "/etc/app/secret.conf"), vec![&MountOp::MaskFile]);
    assert!(p.notes.iter().any(|n| n.message.contains("EINVAL")));
}

#[test]
fn workdir_writable_and_name_patterns_masked_inside() {
    let p = plan_for(DEFAULTISH, &base_fs(), &[]).unwrap();
    assert_eq!(op_at(&p, "/work/proj"), vec![&MountOp::BindRw]);
    assert_eq!(op_at(&p, "/work/proj/.env"), vec![&MountOp::MaskFile]);
    assert_eq!(
        op_at(&p, "/work/proj/certs/server.pem"),
        vec![&MountOp::MaskFile]
    );
    assert!(op_at(&p, "/work/proj/src/main.rs").is_empty());
    let mask = p
        .mounts
        .iter()
        .find(|m| m.path == Path::new("/work/proj/.env"))
        .unwrap();
    assert!(
        matches!(&mask.origin, Origin::Policy { line: 4, key, .. } if key == "filesystem.blocked"),
        "{:?}",
        mask.origin
    );
}

#[test]
fn later_exec_places_are_read_only_in_writable_trees() {
    let p = plan_for(DEFAULTISH, &base_fs(), &[]).unwrap();
    assert_eq!(
        op_at(&p, "/work/proj/.git/hooks"),
        vec![&MountOp::CreateDirReadOnly]
    );
    assert_eq!(
        op_at(&p, "/work/proj/.git/config"),
        vec![&MountOp::ReadOnly]
    );
    // The policy file itself.
    let mut fs = base_fs();
    fs.file("/work/proj/p.yaml");
    let p = plan_for(DEFAULTISH, &fs, &[]).unwrap();
    assert_eq!(op_at(&p, "/work/proj/p.yaml"), vec![&MountOp::ReadOnly]);
}

#[test]
fn private_home_and_tmp() {
    let p = plan_for(DEFAULTISH, &base_fs(), &[]).unwrap();
    assert!(matches!(op_at(&p, "/home/u")[..], [MountOp::Tmpfs { .. }]));
    assert!(matches!(op_at(&p, "/tmp")[..], [MountOp::Tmpfs { .. }]));
    // ~/.ssh lies in a tree that is not visible: nothing to mask.
    assert!(op_at(&p, "/home/u/.ssh").is_empty());
}

#[test]
fn blocked_beats_writable_beats_readonly() {
    let policy = "version: 1\nfilesystem:\n  readonly: [\".\", \"src\"]\n  writable: [\"src\"]\n  blocked: [\"certs\"]\n";
    let mut fs = base_fs();
    fs.dir("/work/proj/certs");
    let p = plan_for(policy, &fs, &[]).unwrap();
    assert_eq!(op_at(&p, "/work/proj"), vec![&MountOp::BindRo]);
    assert_eq!(op_at(&p, "/work/proj/src"), vec![&MountOp::BindRw]);
    // `certs` is a bare name, hence a pattern; it is a directory: masked.
    assert_eq!(op_at(&p, "/work/proj/certs"), vec![&MountOp::MaskDir]);
    let policy =
        "version: 1\nfilesystem:\n  writable: [\"src/\"]\n  blocked: [\"/work/proj/src\"]\n";
    let p = plan_for(policy, &base_fs(), &[]).unwrap();
    assert_eq!(op_at(&p, "/work/proj/src"), vec![&MountOp::MaskDir]);
}

#[test]
fn parents_are_mounted_before_children() {
    let p = plan_for(DEFAULTISH, &base_fs(), &[]).unwrap();
    let pos = |path: &str| {
        p.mounts
            .iter()
            .position(|m| m.path == Path::new(path))
            .unwrap()
    };
    assert!(pos("/work/proj") < pos("/work/proj/.env"));
    assert!(pos("/etc") < pos("/etc/shadow"));
    assert!(pos("/proc") < pos("/proc/sys"));
}

#[test]
fn symlinks_in_listed_paths_are_refused() {
    let mut fs = base_fs();
    fs.link("/work/proj/data", "/home/u/.ssh");
    let err = plan_for(
        "version: 1\nfilesystem:\n  writable: [\"data/\"]\n",
        &fs,
        &[],
    )
    .unwrap_err();
    assert!(
        err.message.contains("is a symlink to /home/u/.ssh"),
        "{err}"
    );
    assert!(matches!(err.origin, Origin::Policy { line: 3, .. }));
}

#[test]
fn missing_and_forbidden_paths_are_errors() {
    let err = plan_for(
        "version: 1\nfilesystem:\n  readonly: [\"nope/\"]\n",
        &base_fs(),
        &[],
    )
    .unwrap_err();
    assert!(
        err.message.contains("/work/proj/nope does not exist"),
        "{err}"
    );
    for bad in ["/", "/proc", "/dev/sda"] {
        let err = plan_for(
            &format!("version: 1\nfilesystem:\n  readonly: [\"{bad}\"]\n"),
            &{
                let mut f = base_fs();
                f.dir("/proc").dir("/dev").file("/dev/sda");
                f
            },
            &[],
        )
        .unwrap_err();
        assert!(err.message.contains("cannot be listed"), "{bad}: {err}");
    }
    let err = plan_for(
        "version: 1\nfilesystem:\n  writable: [\"*.rs\"]\n",
        &base_fs(),
        &[],
    )
    .unwrap_err();
    assert!(err.message.contains("is a glob"), "{err}");
}

#[test]
fn blocked_symlink_is_honoured_at_its_target() {
    let mut fs = base_fs();
    fs.file("/work/proj/real.secret")
        .link("/work/proj/.env2", "real.secret");
    let p = plan_for(
        "version: 1\nfilesystem:\n  writable: [\".\"]\n  blocked: [\".env2\"]\n",
        &fs,
        &[],
    )
    .unwrap();
    assert_eq!(
        op_at(&p, "/work/proj/real.secret"),
        vec![&MountOp::MaskFile]
    );
}

#[test]
fn landlock_rules_follow_the_mounts() {
    let p = plan_for(DEFAULTISH, &base_fs(), &[]).unwrap();
    let access = |path: &str| {
        p.landlock
            .rules
            .iter()
            .find(|r| r.path == Path::new(path))
            .map(|r| r.access)
    };
    assert_eq!(access("/usr"), Some(FsAccess::ReadExec));
    assert_eq!(access("/work/proj"), Some(FsAccess::ReadWrite));
    assert_eq!(access("/tmp"), Some(FsAccess::ReadWrite));
    assert_eq!(access("/proc"), Some(FsAccess::ReadOnly));
    assert_eq!(access("/dev"), Some(FsAccess::Device));
    assert_eq!(access("/"), Some(FsAccess::ListDir));
    assert!(p.landlock.tcp_connect.is_empty());
}

#[test]
fn environment_is_scrubbed() {
    let p = plan_for(
        "version: 1\nenv:\n  allow: [\"LANG\"]\n  set: { CI: \"true\" }\n",
        &base_fs(),
        &[],
    )
    .unwrap();
    let get = |n: &str| p.env.iter().find(|v| v.name == n).map(|v| v.value.clone());
    assert_eq!(get("CI").as_deref(), Some("true"));
    assert_eq!(get("TERM").as_deref(), Some("xterm"));
    assert_eq!(get("HOME").as_deref(), Some("/home/u"));
    assert_eq!(get("SECRET_TOKEN"), None);
    assert!(get("PATH").unwrap().contains("/usr/bin"));
    let p = plan_for(
        "version: 1\nenv:\n  allow: [\"SECRET_*\"]\n",
        &base_fs(),
        &[],
    )
    .unwrap();
    assert_eq!(
        p.env
            .iter()
            .find(|v| v.name == "SECRET_TOKEN")
            .map(|v| v.value.as_str()),
        Some("s3cr3t")
    );
}

#[test]
fn network_allow_gives_a_proxy_and_its_port() {
    let p = plan_for(
        "version: 1\nnetwork:\n  default: deny\n  allow: [\"example.com\"]\n",
        &base_fs(),
        &[],
    )
    .unwrap();
    assert_eq!(p.network.proxy_port, Some(PROXY_PORT));
    assert_eq!(p.landlock.tcp_connect, vec![PROXY_PORT]);
    assert!(p
        .env
        .iter()
        .any(|v| v.name == "HTTPS_PROXY" && v.value.ends_with(":3128")));
    assert!(p.env.iter().any(|v| v.name == "no_proxy"));
    let p = plan_for("version: 1\n", &base_fs(), &[]).unwrap();
    assert_eq!(p.network.proxy_port, None);
    assert!(!p.env.iter().any(|v| v.name.contains("PROXY")));
}

#[test]
fn limits_and_timeout_override() {
    let policy = "version: 1\nresources:\n  max_memory_mb: 512\n  timeout_s: 60\n";
    let p = plan_for(policy, &base_fs(), &[]).unwrap();
    assert_eq!(p.limits.memory_mb.as_ref().map(|l| l.value), Some(512));
    assert_eq!(p.limits.tmp_size_mb, 512);
    assert_eq!(p.limits.enforcement, Mode::Strict);
    let policy_obj = load_str(policy, "p.yaml", None).unwrap();
    let inv = Invocation {
        policy: &policy_obj,
        command: &[],
        workdir: Path::new("/work/proj"),
        user: &user(),
        env: &[],
        host: &host(),
        timeout_override: Some(5),
        protected: &[],
    };
    let p = build(&inv, &base_fs()).unwrap();
    assert_eq!(p.limits.timeout_s.as_ref().map(|l| l.value), Some(5));
    assert!(matches!(
        p.limits.timeout_s.as_ref().unwrap().origin,
        Origin::CommandLine { .. }
    ));
}

#[test]
fn every_item_names_its_origin() {
    let p = plan_for(DEFAULTISH, &base_fs(), &["true"]).unwrap();
    for m in &p.mounts {
        assert!(!m.origin.to_string().is_empty());
    }
    assert!(p.precheck.is_some());
    let text = render::human(&p);
    assert!(text.contains("p.yaml:3:"), "{text}");
    assert!(text.contains("built-in: /etc secrets are masked"));
}
