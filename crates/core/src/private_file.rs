//! Files only their owner may read: the config (it names sites, users and proxies) and
//! recordings (what a site said). Never secrets, but nobody else's business on a shared
//! machine.

use std::fs::File;
use std::io;
use std::path::Path;

/// Create (or truncate) `path` readable and writable by its owner only. A file that already
/// existed with wider permissions is narrowed too.
pub fn create_owner_only(path: &Path) -> io::Result<File> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = open.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_and_existing_files_end_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.jsonl");
        create_owner_only(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        create_owner_only(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
