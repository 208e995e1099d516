//! Integrity manifests (DESIGN.md section 3): `POLICY.sha256` in
//! `sha256sum` format, covering the policy and the sandboxctl binary.
//! The binary is hashed through an open descriptor of `/proc/self/exe`,
//! never by looking its path up a second time.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::util;

#[derive(Debug)]
pub struct IntegrityError(pub String);

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `POLICY.sha256`, beside the policy.
pub fn manifest_path(policy: &Path) -> PathBuf {
    let mut name = policy.as_os_str().to_os_string();
    name.push(".sha256");
    PathBuf::from(name)
}

fn hash_reader(mut r: impl Read) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(util::hex(&h.finalize()))
}

/// SHA-256 of the running binary, read through /proc/self/exe.
pub fn binary_sha256() -> Result<(String, PathBuf), IntegrityError> {
    let file = std::fs::File::open("/proc/self/exe")
        .map_err(|e| IntegrityError(format!("cannot open own binary: {e}")))?;
    let path = std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| PathBuf::from("sandboxctl"));
    let sum =
        hash_reader(file).map_err(|e| IntegrityError(format!("cannot read own binary: {e}")))?;
    Ok((sum, path))
}

fn policy_sha256(policy: &Path) -> Result<String, IntegrityError> {
    let file = std::fs::File::open(policy)
        .map_err(|e| IntegrityError(format!("cannot read {}: {e}", policy.display())))?;
    hash_reader(file).map_err(|e| IntegrityError(format!("cannot read {}: {e}", policy.display())))
}

pub fn seal(policy: &Path) -> Result<String, IntegrityError> {
    crate::policy::load_file(policy)
        .map_err(|e| IntegrityError(format!("refusing to seal an invalid policy: {e}")))?;
    let p = policy
        .canonicalize()
        .map_err(|e| IntegrityError(format!("{}: {e}", policy.display())))?;
    let (bin, bin_path) = binary_sha256()?;
    let text = format!(
        "{}  {}\n{}  {}\n",
        policy_sha256(&p)?,
        p.display(),
        bin,
        bin_path.display()
    );
    let out = manifest_path(&p);
    let tmp = manifest_path(&p).with_extension("sha256.tmp");
    std::fs::write(&tmp, &text)
        .and_then(|()| std::fs::rename(&tmp, &out))
        .map_err(|e| IntegrityError(format!("cannot write {}: {e}", out.display())))?;
    Ok(format!("sealed: wrote {}", out.display()))
}

/// Check a manifest; Ok names what matched.
pub fn verify(policy: &Path) -> Result<String, IntegrityError> {
    let p = policy
        .canonicalize()
        .map_err(|e| IntegrityError(format!("{}: {e}", policy.display())))?;
    let manifest = manifest_path(&p);
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| IntegrityError(format!("cannot read manifest {}: {e}", manifest.display())))?;
    let (bin, _) = binary_sha256()?;
    let mut checked = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (sum, name) = line.split_once("  ").ok_or_else(|| {
            IntegrityError(format!(
                "{}:{}: not in sha256sum format",
                manifest.display(),
                i + 1
            ))
        })?;
        let name = Path::new(name);
        let actual = if name == p {
            policy_sha256(&p)?
        } else if i == 1 {
            bin.clone()
        } else {
            return Err(IntegrityError(format!(
                "{}:{}: names an unknown file {}",
                manifest.display(),
                i + 1,
                name.display()
            )));
        };
        if actual != sum {
            let what = if name == p {
                format!("policy {}", p.display())
            } else {
                format!("sandboxctl binary {}", name.display())
            };
            return Err(IntegrityError(format!("{what} does not match its manifest {} (re-run `sandboxctl seal -p {}` if the change is yours)", manifest.display(), policy.display())));
        }
        checked += 1;
    }
    if checked != 2 {
        return Err(IntegrityError(format!(
            "manifest {} must list the policy and the binary",
            manifest.display()
        )));
    }
    Ok(format!("verified: {} matches", manifest.display()))
}

/// Before `run`: verify the manifest if there is one (or if required).
/// Returns the policy's verified SHA-256, when a manifest was checked.
pub fn check_before_run(
    policy: Option<&Path>,
    require: bool,
) -> Result<Option<String>, IntegrityError> {
    let Some(path) = policy else {
        if require {
            return Err(IntegrityError("--require-seal needs a policy file (-p); the embedded default policy has no manifest".into()));
        }
        return Ok(None);
    };
    let manifest = manifest_path(&path.canonicalize().unwrap_or_else(|_| path.to_path_buf()));
    if !manifest.exists() {
        if require {
            return Err(IntegrityError(format!(
                "no manifest {} (--require-seal); create it with `sandboxctl seal -p {}`",
                manifest.display(),
                path.display()
            )));
        }
        return Ok(None);
    }
    verify(path)?;
    let canonical = path
        .canonicalize()
        .map_err(|e| IntegrityError(format!("{}: {e}", path.display())))?;
    Ok(Some(policy_sha256(&canonical)?))
}
