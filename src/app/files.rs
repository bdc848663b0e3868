//! `app`: the files of a run on the local disk: the report written with `--output`, the
//! lock that allows one run per config at a time, and the private run folder that holds
//! the lock and the notification state. Files here are created readable by their owner
//! only; nothing here talks to the cluster.

use crate::config::Config;

/// Opens `--output` for the report, readable by its owner only (0600, also when the file
/// existed): reports hold event values (host and user names, command lines).
pub(crate) fn report_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        o.mode(0o600);
        let f = o.open(path)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(f)
    }
    #[cfg(not(unix))]
    o.open(path)
}

/// One run per config at a time: an exclusive lock on a file named after the config's
/// canonical path, in a folder of the user's own ([`lock_dir`]), opened without following
/// a symbolic link. Released when the process ends, however it ends.
pub(crate) fn lock(cfg: &Config) -> Result<std::fs::File, String> {
    let canon = std::fs::canonicalize(&cfg.path).unwrap_or_else(|_| cfg.path.clone());
    let path = run_file(cfg, "lock")?;
    let mut o = std::fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = o
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another esoutliers run of {} is in progress (lock {}); this run did nothing",
            canon.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Where run locks live: `$XDG_RUNTIME_DIR` (the user's own, 0700) when set, else
/// `esoutliers-<uid>` in the temporary folder, made 0700. In a folder others can write
/// to (`/tmp`), a lock path could be a symbolic link planted by another user; the
/// folder of our own is refused unless it is a real folder of this user that nobody
/// else can write to.
fn lock_dir() -> Result<std::path::PathBuf, String> {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from) {
        if d.is_absolute() && d.is_dir() {
            return Ok(d);
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let dir = std::env::temp_dir().join(format!("esoutliers-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        let m = std::fs::symlink_metadata(&dir)
            .map_err(|e| format!("cannot make the lock folder {}: {e}", dir.display()))?;
        if !m.file_type().is_dir() || m.uid() != uid || m.mode() & 0o022 != 0 {
            return Err(format!(
                "refusing the lock folder {}: it is not a folder of this user that only this user can write to (a symbolic link or another user's folder?); remove it or set XDG_RUNTIME_DIR",
                dir.display()
            ));
        }
        Ok(dir)
    }
    #[cfg(not(unix))]
    Ok(std::env::temp_dir())
}

/// A file of this config's runs in the run folder ([`lock_dir`]), named after the config's
/// canonical path: `esoutliers-<hash>.<ext>` (the lock, the notification state).
pub(crate) fn run_file(cfg: &Config, ext: &str) -> Result<std::path::PathBuf, String> {
    use std::hash::{Hash, Hasher};
    let canon = std::fs::canonicalize(&cfg.path).unwrap_or_else(|_| cfg.path.clone());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canon.hash(&mut h);
    Ok(lock_dir()?.join(format!("esoutliers-{:016x}.{ext}", h.finish())))
}
