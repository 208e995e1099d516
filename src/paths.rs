//! Path semantics of `filesystem` entries (DESIGN.md 2.1).
//!
//! An entry is either a *path* (absolute, `~`-relative or workdir-relative)
//! or a *name pattern*: an entry with no `/` (`.env`) or with glob characters
//! (`**/*.pem`, `/etc/ssh/*key*`). Patterns are turned into absolute globs and
//! matched against the trees that are visible in the sandbox.

use std::path::{Component, Path, PathBuf};

/// Check an entry's spelling; the same rules `resolve` relies on.
pub fn validate_entry(entry: &str) -> Result<(), String> {
    if entry.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    if entry.starts_with('~') && entry != "~" && !entry.starts_with("~/") {
        return Err("only `~` and `~/...` are supported (not `~user`)".into());
    }
    if Path::new(entry)
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err("`..` is not allowed; write the path it means".into());
    }
    if is_pattern(entry) {
        check_glob(entry)?;
    }
    Ok(())
}

/// Entries with no `/` or with glob characters are name patterns.
pub fn is_pattern(entry: &str) -> bool {
    (!entry.contains('/') && entry != "." && entry != "~" && !entry.is_empty()) || has_glob(entry)
}

/// Entries with glob characters can only be patterns.
pub fn has_glob(entry: &str) -> bool {
    entry.contains(['*', '?', '['])
}

fn check_glob(entry: &str) -> Result<(), String> {
    let mut depth = 0i32;
    for c in entry.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced `[` `]` in pattern".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced `[` `]` in pattern".into());
    }
    Ok(())
}

/// Expand an entry to an absolute, lexically clean path: `~` is `home`,
/// relative entries are relative to `workdir`.
pub fn expand(entry: &str, workdir: &Path, home: &Path) -> PathBuf {
    let raw = if entry == "~" {
        home.to_path_buf()
    } else if let Some(rest) = entry.strip_prefix("~/") {
        home.join(rest)
    } else if entry.starts_with('/') {
        PathBuf::from(entry)
    } else {
        workdir.join(entry)
    };
    clean(&raw)
}

/// Drop `.` components and trailing slashes (`..` was refused earlier).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        if let Component::Normal(part) = c {
            out.push(part);
        }
    }
    out
}

/// The base an entry is relative to; symlinks below it are refused.
pub fn base_of<'a>(entry: &str, workdir: &'a Path, home: &'a Path) -> &'a Path {
    if entry == "~" || entry.starts_with("~/") {
        home
    } else if entry.starts_with('/') {
        Path::new("/")
    } else {
        workdir
    }
}

/// A pattern made absolute: a bare name matches anywhere (`**/name`).
pub fn pattern_glob(entry: &str, workdir: &Path, home: &Path) -> String {
    let bare = entry.trim_end_matches('/');
    if !bare.contains('/') {
        return format!("**/{bare}");
    }
    if bare.starts_with("**/") {
        return bare.to_string();
    }
    expand(bare, workdir, home).to_string_lossy().into_owned()
}

/// Match an absolute path against an absolute glob, component by component.
/// `**` matches zero or more components, `*` and `?` stay within one, and
/// `[...]` is a character class (`[!...]` negated). A leading `**/` matches
/// anywhere.
pub fn glob_match(glob: &str, path: &Path) -> bool {
    let parts: Vec<&str> = glob.split('/').filter(|s| !s.is_empty()).collect();
    let names: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    match_parts(&parts, &names)
}

fn match_parts(glob: &[&str], names: &[&str]) -> bool {
    match glob.split_first() {
        None => names.is_empty(),
        Some((&"**", rest)) => (0..=names.len()).any(|skip| match_parts(rest, &names[skip..])),
        Some((first, rest)) => match names.split_first() {
            Some((name, more)) => {
                match_name(first.as_bytes(), name.as_bytes()) && match_parts(rest, more)
            }
            None => false,
        },
    }
}

/// Shell-style match of one component. Leading dots need no special care:
/// a blocked pattern should err on the side of matching.
pub fn match_name(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let (mut star_p, mut star_n) = (usize::MAX, 0usize);
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star_p = p;
                    star_n = n;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, len)) = class(&pat[p..], name[n]) {
                        if matched {
                            p += len;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        p = star_p + 1;
        star_n += 1;
        n = star_n;
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Match `c` against a class at the start of `pat`; returns (matched, length).
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(1), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pat.len() {
        if pat[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
            if pat[i] <= c && c <= pat[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if pat[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// The longest leading part of an absolute glob that has no glob characters:
/// the only directory a walk for it needs to start from.
pub fn glob_root(glob: &str) -> Option<PathBuf> {
    if glob.starts_with("**") {
        return None;
    }
    let mut root = PathBuf::from("/");
    let parts: Vec<&str> = glob.split('/').filter(|s| !s.is_empty()).collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.contains(['*', '?', '[']) {
            break;
        }
        root.push(part);
    }
    Some(root)
}

/// Is `path` equal to or below `tree`?
pub fn is_within(path: &Path, tree: &Path) -> bool {
    path.starts_with(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_entries() {
        for p in [
            ".env",
            "*.pem",
            "**/*.pem",
            "/etc/ssh/*key*",
            "id_rsa",
            "a/b[12]",
        ] {
            assert!(is_pattern(p), "{p}");
        }
        for p in [
            "/etc/shadow",
            "~/.ssh",
            "workspace/",
            "data/x",
            ".",
            "~",
            "./",
            "./src",
        ] {
            assert!(!is_pattern(p), "{p}");
        }
    }

    #[test]
    fn validates_entries() {
        assert!(validate_entry("~root/x").is_err());
        assert!(validate_entry("a/../b").is_err());
        assert!(validate_entry("../x").is_err());
        assert!(validate_entry("a[b").is_err());
        assert!(validate_entry("~/.ssh").is_ok());
        assert!(validate_entry("**/*.pem").is_ok());
    }

    #[test]
    fn expands_relative_home_and_absolute() {
        let w = Path::new("/work/proj");
        let h = Path::new("/home/u");
        assert_eq!(
            expand("workspace/", w, h),
            PathBuf::from("/work/proj/workspace")
        );
        assert_eq!(expand(".", w, h), PathBuf::from("/work/proj"));
        assert_eq!(expand("./a/./b/", w, h), PathBuf::from("/work/proj/a/b"));
        assert_eq!(expand("~", w, h), PathBuf::from("/home/u"));
        assert_eq!(expand("~/.ssh", w, h), PathBuf::from("/home/u/.ssh"));
        assert_eq!(expand("/etc//shadow", w, h), PathBuf::from("/etc/shadow"));
    }

    #[test]
    fn globs_match_by_component() {
        let w = Path::new("/w");
        let h = Path::new("/h");
        let g = pattern_glob(".env", w, h);
        assert!(glob_match(&g, Path::new("/w/.env")));
        assert!(glob_match(&g, Path::new("/w/a/b/.env")));
        assert!(!glob_match(&g, Path::new("/w/.envrc")));
        let g = pattern_glob("**/*.pem", w, h);
        assert!(glob_match(&g, Path::new("/w/certs/server.pem")));
        assert!(!glob_match(&g, Path::new("/w/certs/server.pem.txt")));
        let g = pattern_glob("/etc/ssh/*key*", w, h);
        assert!(glob_match(&g, Path::new("/etc/ssh/ssh_host_rsa_key")));
        assert!(glob_match(&g, Path::new("/etc/ssh/ssh_host_rsa_key.pub")));
        assert!(!glob_match(&g, Path::new("/etc/ssh/sshd_config")));
        assert!(!glob_match(&g, Path::new("/etc/ssh/sub/ssh_host_key")));
        let g = pattern_glob("secrets/*.json", w, h);
        assert_eq!(g, "/w/secrets/*.json");
        assert!(glob_match(&g, Path::new("/w/secrets/a.json")));
        assert_eq!(glob_root(&g), Some(PathBuf::from("/w/secrets")));
        assert_eq!(glob_root("**/x"), None);
    }

    #[test]
    fn name_matching() {
        assert!(match_name(b"*", b""));
        assert!(match_name(b"*.key", b"a.key"));
        assert!(match_name(b"id_[dr]sa*", b"id_rsa.pub"));
        assert!(match_name(b"[!a]x", b"bx"));
        assert!(!match_name(b"[!a]x", b"ax"));
        assert!(match_name(b"a?c", b"abc"));
        assert!(!match_name(b"a?c", b"ac"));
        assert!(match_name(b"*a*b*", b"xxaxxbxx"));
    }
}
