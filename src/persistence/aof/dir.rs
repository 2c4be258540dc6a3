//! The AOF directory: the names Redis 7.0 gives its files there, and the manifest on disk
//! (`aofLoadManifestFromDisk`, `persistAofManifest`).
//!
//! ```text
//! <dir>/<appenddirname>/                     appenddirname: "appendonlydir" by default
//!     <appendfilename>.manifest              appendfilename: "appendonly.aof" by default
//!     <appendfilename>.<seq>.base.rdb|aof
//!     <appendfilename>.<seq>.incr.aof …
//!     temp-<appendfilename>.manifest         while the manifest is being replaced
//!     temp-<appendfilename>.incr             incr data while `appendonly yes` waits for its first rewrite
//! ```

use super::manifest::Manifest;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// `appenddirname`'s default.
pub const DEFAULT_APPEND_DIRNAME: &str = "appendonlydir";

/// `appendfilename`'s default: the base name of every file in the AOF directory.
pub const DEFAULT_APPEND_FILENAME: &str = "appendonly.aof";

/// `<basename>.manifest`.
pub fn manifest_file_name(basename: &str) -> String {
    format!("{basename}.manifest")
}

/// `temp-<basename>.manifest`: the manifest being written, before it is renamed into place.
pub fn temp_manifest_file_name(basename: &str) -> String {
    format!("temp-{basename}.manifest")
}

/// `temp-<basename>.incr`: where Redis collects writes while `CONFIG SET appendonly yes` waits
/// for its first rewrite; the rewrite renames it to a new incr file (`getTempIncrAofName`).
pub fn temp_incr_file_name(basename: &str) -> String {
    format!("temp-{basename}.incr")
}

/// Reads `<dir>/<basename>.manifest`; `None` when there is none (nor `dir`), as after an
/// upgrade from a Redis without a manifest or before the AOF was ever enabled.
///
/// A manifest that does not parse is an `InvalidData` error whose inner error is the
/// [`ManifestError`](super::ManifestError) (`e.get_ref()` and `downcast_ref` give it back).
pub fn read_manifest(dir: &Path, basename: &str) -> io::Result<Option<Manifest>> {
    let text = match fs::read(dir.join(manifest_file_name(basename))) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Manifest::parse(&text).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Replaces `<dir>/<basename>.manifest` with `manifest`, as `writeAofManifestFile` does: write
/// `temp-<basename>.manifest`, fsync it, rename it over the manifest, fsync the directory (which
/// also makes durable the files the new manifest names). A crash at any point leaves either the
/// old manifest or the new one. On failure the temp file is removed.
pub fn write_manifest(dir: &Path, basename: &str, manifest: &Manifest) -> io::Result<()> {
    let temp = dir.join(temp_manifest_file_name(basename));
    let result = write_temp(&temp, manifest.to_text().as_bytes()).and_then(|()| {
        fs::rename(&temp, dir.join(manifest_file_name(basename)))?;
        File::open(dir)?.sync_all()
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_temp(path: &Path, text: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    let mut file = options.open(path)?;
    file.write_all(text)?;
    // redis_fsync is fdatasync on Linux.
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::aof::{ManifestError, ManifestErrorKind};
    use std::path::PathBuf;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            let path = std::env::temp_dir().join(format!("ferrocache-unit-aof-{name}-{}-{nanos}", std::process::id()));
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn names_in_the_aof_directory() {
        assert_eq!(manifest_file_name(DEFAULT_APPEND_FILENAME), "appendonly.aof.manifest");
        assert_eq!(temp_manifest_file_name(DEFAULT_APPEND_FILENAME), "temp-appendonly.aof.manifest");
        assert_eq!(temp_incr_file_name(DEFAULT_APPEND_FILENAME), "temp-appendonly.aof.incr");
        assert_eq!(DEFAULT_APPEND_DIRNAME, "appendonlydir");
    }

    #[test]
    fn write_then_read() {
        let dir = TempDir::new("manifest");
        assert!(read_manifest(&dir.0, "x.aof").unwrap().is_none());
        assert!(read_manifest(&dir.0.join("missing"), "x.aof").unwrap().is_none());

        let mut m = Manifest::default();
        m.new_base("x.aof", true);
        m.new_incr("x.aof");
        write_manifest(&dir.0, "x.aof", &m).unwrap();
        assert_eq!(read_manifest(&dir.0, "x.aof").unwrap(), Some(m.clone()));
        assert_eq!(fs::read_to_string(dir.0.join("x.aof.manifest")).unwrap(), m.to_text());

        // Replaced whole; no temp file left behind.
        m.new_incr("x.aof");
        m.new_base("x.aof", false);
        m.mark_incrs_as_history();
        write_manifest(&dir.0, "x.aof", &m).unwrap();
        assert_eq!(read_manifest(&dir.0, "x.aof").unwrap(), Some(m));
        let mut names: Vec<_> = fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["x.aof.manifest"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.0.join("x.aof.manifest")).unwrap().permissions().mode();
            // 0644 as Redis creates it, less what the umask takes away.
            assert_eq!(mode & 0o7133, 0);
        }
    }

    #[test]
    fn a_bad_manifest_is_invalid_data_carrying_the_manifest_error() {
        let dir = TempDir::new("bad");
        fs::write(dir.0.join("appendonly.aof.manifest"), "file a seq 1 type z\n").unwrap();
        let e = read_manifest(&dir.0, "appendonly.aof").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let inner = e.get_ref().and_then(|e| e.downcast_ref::<ManifestError>()).unwrap();
        assert_eq!(inner.kind, ManifestErrorKind::UnknownType);
    }

    #[test]
    fn a_failed_write_leaves_the_old_manifest() {
        let dir = TempDir::new("fail");
        let mut m = Manifest::default();
        m.new_incr("a");
        write_manifest(&dir.0, "a", &m).unwrap();
        // The rename cannot replace a directory: the old manifest stays, the temp file goes.
        let blocked = TempDir::new("fail-blocked");
        fs::create_dir(blocked.0.join("a.manifest")).unwrap();
        assert!(write_manifest(&blocked.0, "a", &m).is_err());
        assert!(!blocked.0.join("temp-a.manifest").exists());
        assert!(write_manifest(&dir.0.join("missing"), "a", &m).is_err());
        assert_eq!(read_manifest(&dir.0, "a").unwrap(), Some(m));
    }
}
