//! Files and directories only the server's user may read: the data directory, the
//! SQLite database, the blobs and the bearer-signing key. Each is created with its
//! mode (0700 directories, 0600 files) in the call that creates it, never `chmod`ed
//! afterwards, so no other user can open it in between. What exists already keeps its
//! mode: an operator's own directory is theirs to set (a data directory others may
//! enter is logged as a warning at start).

use std::path::Path;

/// Creates `dir` and any missing parents, each mode 0700.
pub async fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await
}

/// Creates `dir` and any missing parents, each mode 0700, for callers without a
/// runtime (`wharf up` before it starts the registry).
pub fn create_dir_all_sync(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Options that create a file mode 0600 (write access; add what else is needed).
pub fn file_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Creates an empty file mode 0600 at `path` unless something is there already.
pub async fn create_file_if_missing(path: &Path) -> std::io::Result<()> {
    match file_options().create_new(true).open(path).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether group or others may read, write or enter `path` (never on other systems
/// than Unix); false when it does not exist.
pub fn shared_with_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The secret in the file at `path`, trimmed; made on the first call (a new
/// [`crate::keys::new_secret`], in a file created mode 0600 and only if nothing is at
/// the path, so a link planted there is not written through). A file holding fewer
/// than `least` characters is refused, never trusted: an empty key would let anyone
/// in. The error names the path.
pub fn secret_file(path: &Path, least: usize) -> Result<String, String> {
    made_secret_file(path, least, crate::keys::new_secret)
}

/// Like [`secret_file`], with the secret `make` answers when the file is made.
pub fn made_secret_file(
    path: &Path,
    least: usize,
    make: impl FnOnce() -> String,
) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(existing) => return checked_secret(path, existing, least),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    }
    let secret = make();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, secret.as_bytes())?;
            file.sync_all()
        })
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    Ok(secret)
}

/// The secret in the file at `path`, which must exist and hold at least `least`
/// characters; the error names the path.
pub fn existing_secret_file(path: &Path, least: usize) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    checked_secret(path, text, least)
}

fn checked_secret(path: &Path, text: String, least: usize) -> Result<String, String> {
    let secret = text.trim().to_owned();
    let chars = secret.chars().count();
    if chars < least {
        return Err(format!(
            "{} holds a secret of {chars} characters; it needs at least {least} \
             (make one with `openssl rand -hex 32`)",
            path.display()
        ));
    }
    Ok(secret)
}
