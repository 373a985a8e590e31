//! Uploaded files (申请材料), stored by content: `DATA_DIR/files/ab/abcd…` named by the SHA-256 of
//! the bytes, so the same file is kept once and a stored file cannot change under its name. The
//! type is read from the bytes, never taken from the client's word.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The largest file an applicant may upload.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;

/// The file types materials may come in, by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn path_of(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("files").join(&sha256[..2]).join(sha256)
}

/// Stores the bytes durably (written, synced, then renamed into place) and returns their SHA-256.
pub fn store(data_dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let path = path_of(data_dir, &sha256);
    if path.exists() {
        return Ok(sha256);
    }
    let dir = path.parent().expect("files have a folder");
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{sha256}.{}", std::process::id()));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(sha256)
}

pub fn read(data_dir: &Path, sha256: &str) -> std::io::Result<Vec<u8>> {
    if !is_sha256(sha256) {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "not a file name"));
    }
    std::fs::read(path_of(data_dir, sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b"MZ\x90\x00"), None);
    }

    #[test]
    fn files_are_kept_once_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let first = store(dir.path(), b"%PDF-1.7 lease").unwrap();
        assert_eq!(store(dir.path(), b"%PDF-1.7 lease").unwrap(), first);
        assert!(is_sha256(&first));
        assert_eq!(read(dir.path(), &first).unwrap(), b"%PDF-1.7 lease");
        assert!(read(dir.path(), "../../etc/passwd").is_err());
    }
}
