//! Files kadi writes for good, written so a power cut never leaves a half file under the final
//! name: a temporary file in the same directory, write, fsync, rename over the target, fsync the
//! directory (so the rename itself survives). A box is a Raspberry Pi whose power is pulled
//! without warning; an empty key file or PNG left by a cut used to break sync or count as done.
//!
//! Everything is created private (files 0600, directories 0700) whatever the umask: the key file
//! opens the DHIS2 secret, PNGs carry people's names. `main` also sets `umask(0o077)` so files
//! SQLite creates (database, WAL, shm) are private too.
//!
//! Temporary files are named `.<name>.tmp-<random>`; one left by a crash is never read as the
//! file, and [`remove_stale_temps`] cleans them from a directory.
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of every file kadi creates.
pub const FILE_MODE: u32 = 0o600;
/// The mode of every directory kadi creates.
pub const DIR_MODE: u32 = 0o700;

/// Marker inside the names of temporary files (see [`remove_stale_temps`]).
const TEMP_MARK: &str = ".tmp-";

/// Replaces `path` with `bytes` atomically and durably (temp file, fsync, rename, fsync dir),
/// creating the file 0600 and missing parent directories 0700.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| {
        f.write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))
    })
}

/// As [`write_atomic`], with the content produced by `fill` into the open temporary file (for a
/// copy that should not sit in memory whole).
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let dir = parent_of(path);
    create_dir_private(&dir)?;
    let tmp = temp_path_for(path)?;
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        // The umask may have masked the mode at creation; set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
            .with_context(|| format!("setting the mode of {}", tmp.display()))?;
        fill(&mut f)?;
        f.sync_all()
            .with_context(|| format!("flushing {} to disk", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` and its missing parents with mode 0700 (existing directories are left as they
/// are: the operator may have chosen their modes).
pub fn create_dir_private(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .with_context(|| format!("creating directory {}", dir.display()))
}

/// fsyncs a directory, so that a rename or a new file in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing directory {} to disk", dir.display()))
}

/// Removes the temporary files a crash left in `dir` (names starting with a dot and containing
/// `.tmp-`) last modified more than `older_than` ago, so a write in flight in another process is
/// left alone; returns how many.
pub fn remove_stale_temps(dir: &Path, older_than: std::time::Duration) -> Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let old_enough = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= older_than);
        if name.starts_with('.') && name.contains(TEMP_MARK) && old_enough {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// True when `path` holds a whole PNG: the signature at the start and the `IEND` chunk at the
/// end. Reads 20 bytes, so it is cheap enough to ask for every card before skipping it.
pub fn is_complete_png(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    const IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82];
    let check = || -> std::io::Result<bool> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        if len < (SIGNATURE.len() + IEND.len()) as u64 {
            return Ok(false);
        }
        let mut head = [0u8; 8];
        f.read_exact(&mut head)?;
        let mut tail = [0u8; 12];
        f.seek(SeekFrom::End(-12))?;
        f.read_exact(&mut tail)?;
        Ok(head == SIGNATURE && tail == IEND)
    };
    check().unwrap_or(false)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Finishes a file another writer (SQLite) made at `tmp`, a name from [`temp_path_for`]: mode
/// 0600, fsync, rename to `path`, fsync the directory.
pub fn commit_temp(tmp: &Path, path: &Path) -> Result<()> {
    let f = File::open(tmp).with_context(|| format!("opening {}", tmp.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    f.sync_all()
        .with_context(|| format!("flushing {} to disk", tmp.display()))?;
    drop(f);
    std::fs::rename(tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    sync_dir(&parent_of(path))
}

/// A fresh temporary name beside `path` (`.<name>.tmp-<random>`), for [`commit_temp`].
pub fn temp_path_for(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    // Straight from the system (not through `secret`, which writes its key file through here).
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(TEMP_MARK);
    for b in suffix {
        tmp.push(format!("{b:02x}"));
    }
    Ok(parent_of(path).join(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let old = unsafe { libc::umask(0o000) };
        let path = dir.path().join("a/b/card.png");
        let r = write_atomic(&path, b"x");
        unsafe { libc::umask(old) };
        r.unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        // Replacing an existing, world-readable file makes it private too.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"yz").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"yz");
    }

    #[test]
    fn a_write_that_fails_midway_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kadi.db.key");
        write_atomic(&path, b"old content").unwrap();
        let err = write_atomic_with(&path, |f| {
            f.write_all(b"half")?;
            anyhow::bail!("power cut")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("power cut"));
        assert_eq!(std::fs::read(&path).unwrap(), b"old content");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("kadi.db.key")]);
    }

    #[test]
    fn temps_left_by_a_crash_are_cleaned_and_never_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        write_atomic(&path, b"whole").unwrap();
        // What a kill between create and rename leaves behind.
        let stale = dir.path().join(".x.png.tmp-0123456789ab");
        std::fs::write(&stale, b"ha").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(
            remove_stale_temps(dir.path(), std::time::Duration::from_secs(3600)).unwrap(),
            0
        );
        assert_eq!(
            remove_stale_temps(dir.path(), std::time::Duration::ZERO).unwrap(),
            1
        );
        assert!(!stale.exists() && path.exists());
    }

    #[test]
    fn only_a_whole_png_counts_as_complete() {
        let dir = tempfile::tempdir().unwrap();
        let mut png = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png, 1, 1);
            enc.set_color(png::ColorType::Grayscale);
            enc.write_header().unwrap().write_image_data(&[0]).unwrap();
        }
        let p = dir.path().join("c.png");
        std::fs::write(&p, &png).unwrap();
        assert!(is_complete_png(&p));
        std::fs::write(&p, &png[..png.len() - 5]).unwrap();
        assert!(!is_complete_png(&p));
        std::fs::write(&p, b"").unwrap();
        assert!(!is_complete_png(&p));
        assert!(!is_complete_png(&dir.path().join("missing.png")));
    }
}
