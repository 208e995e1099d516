//! The pre-check against the corpus in tests/data and property tests.

use proptest::prelude::*;

use super::*;
use crate::policy::load_str;

const POLICY: &str = "version: 1\nexec:\n  blocked: [\"rm -rf\", \"sudo\", \"curl|bash\", \"chmod 777\", \"mkfs\", \"dd if=\", \"git push --force\", \"wget|sh\"]\n";

fn policy() -> Policy {
    load_str(POLICY, "policy.yaml", None).unwrap()
}

fn sh(line: &str) -> Vec<String> {
    vec!["bash".into(), "-c".into(), line.into()]
}

/// Corpus rows: (decision, pattern, command). A command may continue on
/// following lines that do not start with `allow`/`deny`/`#`.
fn corpus() -> Vec<(String, String, String)> {
    let text = include_str!("../../tests/data/precheck_corpus.tsv");
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') && !line.starts_with("# rm") {
            continue;
        }
        let parts: Vec<&str> = line.splitn(3, '\t').collect();
        if parts.len() == 3 && (parts[0] == "allow" || parts[0] == "deny") {
            rows.push((parts[0].into(), parts[1].into(), parts[2].into()));
        } else if let Some(last) = rows.last_mut() {
            last.2.push('\n');
            last.2.push_str(line);
        }
    }
    rows
}

#[test]
fn corpus_has_at_least_100_cases() {
    assert!(corpus().len() >= 100, "{}", corpus().len());
}

#[test]
fn corpus_decisions_and_reasons() {
    let p = policy();
    let mut failures = Vec::new();
    for (want, pattern, cmd) in corpus() {
        let d = decide(&p, &sh(&cmd));
        let ok = match want.as_str() {
            "deny" => {
                !d.allowed
                    && d.pattern.as_deref() == Some(pattern.as_str())
                    && d.reason.contains(&format!("`{pattern}`"))
                    && d.reason.contains("policy.yaml:3:")
            }
            _ => d.allowed,
        };
        if !ok {
            failures.push(format!("{want} {pattern:?} {cmd:?} -> {d:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn plain_argv_is_checked_without_a_shell() {
    let p = policy();
    let argv = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(!decide(&p, &argv(&["rm", "-fr", "/tmp/x"])).allowed);
    assert!(!decide(&p, &argv(&["env", "sudo", "id"])).allowed);
    // An argv is not re-parsed: `echo 'rm -rf'` prints text.
    assert!(decide(&p, &argv(&["echo", "rm -rf /"])).allowed);
    assert!(decide(&p, &argv(&["rm;", "-rf"])).allowed);
}

#[test]
fn allow_mode_requires_every_command_and_denies_the_unknowable() {
    let p = load_str(
        "version: 1\nexec:\n  blocked: [sudo]\n  allow: [\"git *\", \"npm test\", \"sh *\"]\n",
        "p.yaml",
        None,
    )
    .unwrap();
    let argv = |s: &str| sh(s);
    let d = decide(&p, &argv("git status && npm test"));
    assert!(!d.allowed, "bash itself is not allowed: {d:?}");
    let d = decide(
        &p,
        &["sh".into(), "-c".into(), "git status && npm test".into()],
    );
    assert!(d.allowed, "{d:?}");
    let d = decide(&p, &["sh".into(), "-c".into(), "git status; curl x".into()]);
    assert!(
        !d.allowed && d.reason.contains("`curl x` matches no exec.allow pattern"),
        "{d:?}"
    );
    let d = decide(&p, &["sh".into(), "-c".into(), "npm test --watch".into()]);
    assert!(!d.allowed, "exact without `*`: {d:?}");
    let d = decide(&p, &["sh".into(), "-c".into(), "$CMD status".into()]);
    assert!(!d.allowed && d.reason.contains("command position"), "{d:?}");
    let d = decide(&p, &["sh".into(), "-c".into(), "git $(curl x)".into()]);
    assert!(!d.allowed, "{d:?}");
    let d = decide(&p, &["sh".into(), "-c".into(), "source ./env.sh".into()]);
    assert!(!d.allowed && d.reason.contains("sourcing"), "{d:?}");
    let d = decide(&p, &["sh".into(), "-c".into(), "git log | sudo sh".into()]);
    assert!(
        !d.allowed && d.pattern.as_deref() == Some("sudo"),
        "blocked wins: {d:?}"
    );
    let d = decide(
        &p,
        &["sh".into(), "-c".into(), "env GIT_DIR=x git status".into()],
    );
    assert!(d.allowed, "env is transparent: {d:?}");
}

#[test]
fn unknowable_constructs_are_reported_in_block_mode() {
    let d = decide(&policy(), &sh("$X -rf /; eval \"$Y\""));
    assert!(d.allowed);
    assert_eq!(d.unknowable.len(), 2, "{d:?}");
}

#[test]
fn patterns_that_cannot_be_understood_are_errors() {
    for bad in ["rm 'x", "a; b", "$X", "echo $(id)", "rm * x", "", "a && b"] {
        assert!(Pattern::compile(bad).is_err(), "{bad:?}");
    }
    for good in [
        "rm -rf",
        "curl|bash",
        "git *",
        "dd if=",
        "chmod 777",
        "a | b | c",
    ] {
        assert!(Pattern::compile(good).is_ok(), "{good:?}");
    }
}

#[test]
fn modes_normalise() {
    for m in [
        "777",
        "0777",
        "a+rwx",
        "ugo+rwx",
        "a=rwx",
        "+rwx",
        "u=rwx,g=rwx,o=rwx",
    ] {
        assert_eq!(normalise_mode(m).as_deref(), Some("777"), "{m}");
    }
    assert_eq!(normalise_mode("644").as_deref(), Some("644"));
    assert_eq!(normalise_mode("u+x").as_deref(), Some("100"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics(s in ".{0,200}") {
        let _ = shell::parse(&s);
        let _ = decide(&policy(), &sh(&s));
    }

    #[test]
    fn parser_never_panics_on_shell_heavy_text(s in "[ a-z$(){}`'\"|;&<>\\\\\n=-]{0,120}") {
        let _ = decide(&policy(), &sh(&s));
    }

    /// Wrapping a blocked command in `sh -c` (with any quoting) never turns
    /// a denial into an allowance.
    #[test]
    fn quoting_inside_sh_c_never_allows(which in 0usize..5, shell_name in prop::sample::select(vec!["sh", "bash", "dash", "zsh"]), wrap in 0usize..4) {
        let cmds = ["rm -rf /tmp/x", "sudo id", "chmod 777 f", "mkfs.ext4 /dev/x", "dd if=/dev/zero of=f"];
        let inner = cmds[which];
        prop_assume!(!decide(&policy(), &sh(inner)).allowed);
        let line = match wrap {
            0 => format!("{shell_name} -c '{inner}'"),
            1 => format!("{shell_name} -c \"{inner}\""),
            2 => format!("{shell_name} -c \"{shell_name} -c '{inner}'\""),
            _ => format!("env {shell_name} -c '{inner}'"),
        };
        prop_assert!(!decide(&policy(), &sh(&line)).allowed, "{}", line);
    }
}

#[test]
fn nesting_past_the_limit_is_refused_not_waved_through() {
    // Substitutions nest linearly (re-quoting for `sh -c` grows ~3^n).
    let mut line = "rm -rf /tmp/x".to_string();
    for _ in 0..20 {
        line = format!("echo $({line})");
    }
    let d = decide(&policy(), &sh(&line));
    assert!(!d.allowed, "{d:?}");
    assert!(d.reason.contains("cannot be checked"), "{d:?}");
    // Within the limit the blocked command is found and named.
    let mut line = "rm -rf /tmp/x".to_string();
    for _ in 0..5 {
        line = format!("sh -c {}", crate::util::shell_quote(&line));
    }
    assert_eq!(
        decide(&policy(), &sh(&line)).pattern.as_deref(),
        Some("rm -rf")
    );
    // A plain syntax error is reported, not refused (the shell refuses it).
    assert!(decide(&policy(), &sh("echo 'unterminated")).allowed);
}
