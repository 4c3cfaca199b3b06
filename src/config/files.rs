//! Reading files named by operators and tenant files without trusting them:
//! only regular files (a FIFO would hang the read, `/dev/zero` would never
//! end), only up to a size that fits the purpose, never blocking on open.

use std::{
    fs::{File, OpenOptions},
    io::{self, Read},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

/// The largest tenant file (an example file is about 6 KiB).
pub const TENANT_FILE_MAX: u64 = 1024 * 1024;
/// The largest `ref+file://` secret.
pub const SECRET_FILE_MAX: u64 = 64 * 1024;

fn refuse(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The whole of a regular file of at most `limit` bytes; anything else is an
/// error that says what the path is and what is allowed (the caller names the path).
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let kind = |m: &std::fs::Metadata| {
        let t = m.file_type();
        if t.is_dir() { "a folder" } else { "not a regular file (a FIFO, socket or device)" }
    };
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(refuse(format!("it is {}; name a regular file", kind(&meta))));
    }
    if meta.len() > limit {
        return Err(refuse(format!("it is {} bytes, more than the {limit} allowed", meta.len())));
    }
    // O_NONBLOCK: were the path swapped for a FIFO after the check, the open still returns at once.
    let file: File = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(format!("it is {}; name a regular file", kind(&meta))));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(refuse(format!("it grew past the {limit} bytes allowed while it was read")));
    }
    Ok(bytes)
}

/// Text of a file read with [`read_regular`]; invalid UTF-8 names its line.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, limit)?).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        refuse(format!("not UTF-8 text: line {line} has an invalid byte"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_folders_and_large_files_are_refused_at_once() {
        let dev = read_regular(Path::new("/dev/zero"), 1024).expect_err("a device");
        assert!(dev.to_string().contains("not a regular file"), "{dev}");
        let dir = read_regular(Path::new("/tmp"), 1024).expect_err("a folder");
        assert!(dir.to_string().contains("a folder"), "{dir}");
        let f = std::env::temp_dir().join(format!("qm-files-{}", std::process::id()));
        std::fs::write(&f, vec![b'a'; 2048]).expect("write");
        let big = read_regular(&f, 1024).expect_err("too large");
        assert!(big.to_string().contains("more than the 1024 allowed"), "{big}");
        assert_eq!(read_regular(&f, 4096).expect("fits").len(), 2048);
        std::fs::write(&f, b"a: 1\nb: \xff\n").expect("write");
        let bad = read_text(&f, 4096).expect_err("not utf-8");
        assert!(bad.to_string().contains("line 2"), "{bad}");
        let _ = std::fs::remove_file(f);
    }
}
