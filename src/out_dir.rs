//! The run folder of `resnet train`: its default name, the check that it is
//! writable, and atomic writes into it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `runs/<config>-<YYYYmmdd-HHMMSS>`, in the current folder.
pub fn default_path(config: &str) -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("runs").join(format!("{config}-{stamp}"))
}

/// Creates `dir` if needed and proves it writable by writing and removing
/// a temporary file, so a run does not train for minutes before failing.
///
/// Errors: the folder cannot be created or written to.
pub fn ensure_writable(dir: &Path) -> Result<()> {
    let fail = || format!("--out {} is not a writable folder", dir.display());
    std::fs::create_dir_all(dir).with_context(fail)?;
    let mut probe = tempfile::Builder::new()
        .prefix(".write-test")
        .tempfile_in(dir)
        .with_context(fail)?;
    probe.write_all(b"ok").with_context(fail)?;
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder
/// and a rename, so readers see the old file or the new one, never a part.
///
/// Errors: the folder is not writable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = || format!("cannot write {}", path.display());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).with_context(fail)?;
    file.write_all(bytes).with_context(fail)?;
    readable_by_all(file.as_file()).with_context(fail)?;
    file.as_file().sync_all().with_context(fail)?;
    file.persist(path).map_err(|e| e.error).with_context(fail)?;
    Ok(())
}

/// Temporary files are created private (0600); results are for everyone
/// who can read the folder, like any file the user writes.
#[cfg(unix)]
fn readable_by_all(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn readable_by_all(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}
