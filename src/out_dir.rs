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

/// A folder this command created: removed again when dropped if it is
/// still empty, so a run that fails before writing anything leaves no
/// trace. A folder that holds files is never touched.
#[must_use = "the folder is removed when this is dropped, if still empty"]
pub struct Created(Option<PathBuf>);

impl Drop for Created {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            // Fails, harmlessly, when the folder holds anything.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates `dir` if needed and proves it writable by writing and removing
/// a temporary file, so a run does not train for minutes before failing.
/// Keep the returned guard alive for as long as the command runs.
///
/// Errors: the folder cannot be created or written to.
pub fn ensure_writable(dir: &Path) -> Result<Created> {
    let fail = || format!("--out {} is not a writable folder", dir.display());
    let created = Created((!dir.exists()).then(|| dir.to_path_buf()));
    std::fs::create_dir_all(dir).with_context(fail)?;
    let mut probe = tempfile::Builder::new()
        .prefix(".write-test")
        .tempfile_in(dir)
        .map_err(folder_error)
        .with_context(fail)?;
    probe.write_all(b"ok").with_context(fail)?;
    Ok(created)
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
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .map_err(folder_error)
        .with_context(fail)?;
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

/// tempfile's errors name the random file they tried; the reason alone
/// is what a user can act on.
fn folder_error(error: std::io::Error) -> std::io::Error {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            std::io::Error::new(error.kind(), "the folder does not exist")
        }
        kind => std::io::Error::from(kind),
    }
}
