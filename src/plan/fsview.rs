//! What the plan needs to know about the host filesystem, behind a trait so
//! that plan building is unit-tested against an in-memory tree.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// Sockets, FIFOs, devices.
    Other,
}

/// Permission bits and owner of an entry: (mode, uid, gid).
pub type Owner = (u32, u32, u32);

pub trait FsView {
    /// `lstat`: what is at `path`, without following a final symlink.
    fn kind(&self, path: &Path) -> Option<Kind>;
    /// The target of a symlink, as stored.
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
    /// Entries of a directory (not `.`/`..`), with their `lstat` kind.
    fn list(&self, dir: &Path) -> Vec<(OsString, Kind)>;
    /// `lstat` permission bits and owner: (mode, uid, gid).
    fn owner_mode(&self, _path: &Path) -> Option<Owner> {
        None
    }
    /// Entries of a directory with kind and (mode, uid, gid).
    fn list_owned(&self, dir: &Path) -> Vec<(OsString, Kind, Option<Owner>)> {
        self.list(dir)
            .into_iter()
            .map(|(n, k)| {
                let m = self.owner_mode(&dir.join(&n));
                (n, k, m)
            })
            .collect()
    }
}

/// The real filesystem.
pub struct HostFs;

fn kind_of(ft: std::fs::FileType) -> Kind {
    if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

impl FsView for HostFs {
    fn kind(&self, path: &Path) -> Option<Kind> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(kind_of(meta.file_type()))
    }

    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        std::fs::read_link(path).ok()
    }

    fn owner_mode(&self, path: &Path) -> Option<Owner> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path).ok()?;
        Some((m.mode(), m.uid(), m.gid()))
    }

    fn list_owned(&self, dir: &Path) -> Vec<(OsString, Kind, Option<Owner>)> {
        use std::os::unix::fs::MetadataExt;
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        // DirEntry::metadata is fstatat relative to the open directory.
        rd.filter_map(Result::ok)
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((
                    e.file_name(),
                    kind_of(m.file_type()),
                    Some((m.mode(), m.uid(), m.gid())),
                ))
            })
            .collect()
    }

    fn list(&self, dir: &Path) -> Vec<(OsString, Kind)> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name(), kind_of(e.file_type().ok()?))))
            .collect()
    }
}

/// Resolve symlinks in `path` lexically through `fs` (like `realpath`),
/// giving up after 40 links as the kernel does.
pub fn resolve(fs: &dyn FsView, path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    let mut pending: Vec<OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            std::path::Component::Normal(p) => Some(p.to_os_string()),
            std::path::Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&part);
        match fs.kind(&next)? {
            Kind::Symlink => {
                links += 1;
                if links > 40 {
                    return None;
                }
                let target = fs.read_link(&next)?;
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    match c {
                        std::path::Component::Normal(p) => pending.push(p.to_os_string()),
                        std::path::Component::ParentDir => pending.push(OsString::from("..")),
                        _ => {}
                    }
                }
            }
            _ => out = next,
        }
    }
    Some(out)
}

#[cfg(test)]
pub mod fake {
    //! An in-memory tree for plan tests.
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct FakeFs {
        pub entries: BTreeMap<PathBuf, (Kind, Option<PathBuf>)>,
        pub modes: BTreeMap<PathBuf, (u32, u32, u32)>,
    }

    impl FakeFs {
        pub fn new() -> Self {
            let mut fs = FakeFs::default();
            fs.dir("/");
            fs
        }
        fn parents(&mut self, path: &Path) {
            let mut p = path.parent();
            while let Some(dir) = p {
                self.entries
                    .entry(dir.to_path_buf())
                    .or_insert((Kind::Dir, None));
                p = dir.parent();
            }
        }
        pub fn dir(&mut self, path: &str) -> &mut Self {
            self.parents(Path::new(path));
            self.entries.insert(PathBuf::from(path), (Kind::Dir, None));
            self
        }
        pub fn file(&mut self, path: &str) -> &mut Self {
            self.parents(Path::new(path));
            self.entries.insert(PathBuf::from(path), (Kind::File, None));
            self
        }
        pub fn link(&mut self, path: &str, target: &str) -> &mut Self {
            self.parents(Path::new(path));
            self.entries.insert(
                PathBuf::from(path),
                (Kind::Symlink, Some(PathBuf::from(target))),
            );
            self
        }
    }

    impl FsView for FakeFs {
        fn kind(&self, path: &Path) -> Option<Kind> {
            self.entries.get(path).map(|(k, _)| *k)
        }
        fn read_link(&self, path: &Path) -> Option<PathBuf> {
            self.entries.get(path).and_then(|(_, t)| t.clone())
        }
        fn owner_mode(&self, path: &Path) -> Option<Owner> {
            self.modes
                .get(path)
                .copied()
                .or_else(|| self.entries.get(path).map(|_| (0o644, 0, 0)))
        }
        fn list(&self, dir: &Path) -> Vec<(OsString, Kind)> {
            self.entries
                .iter()
                .filter(|(p, _)| p.parent() == Some(dir) && p.as_path() != dir)
                .filter_map(|(p, (k, _))| Some((p.file_name()?.to_os_string(), *k)))
                .collect()
        }
    }
}
