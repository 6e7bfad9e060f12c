//! The rejects file: one JSON object per rejected row, `{"line": N, "reasons": [..], "raw": ".."}`.
//!
//! It is created (emptied) when the import starts, so a file from an earlier
//! run never lingers, and removed at the end if no row was rejected.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Reject;

/// The open rejects file.
pub(super) struct RejectsFile {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl RejectsFile {
    /// Creates or empties the file at `path`.
    ///
    /// # Errors
    ///
    /// The I/O error when it cannot be created.
    pub(super) fn create(path: &Path) -> io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(File::create(path)?),
            written: 0,
        })
    }

    /// Appends one rejected row.
    ///
    /// # Errors
    ///
    /// The I/O error when writing fails.
    pub(super) fn write(&mut self, reject: &Reject) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, reject)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Flushes the file, or removes it when nothing was rejected; how many rows it holds.
    ///
    /// # Errors
    ///
    /// The I/O error when flushing or removing fails.
    pub(super) fn finish(mut self) -> io::Result<u64> {
        self.out.flush()?;
        if self.written == 0 {
            drop(self.out);
            std::fs::remove_file(&self.path)?;
        }
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_json_object_per_reject_and_removes_an_empty_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("x.rejected.jsonl");
        std::fs::write(&path, "stale\n").expect("a stale file");

        let mut file = RejectsFile::create(&path).expect("created");
        file.write(&Reject {
            line: 7,
            reasons: vec!["id: not a UUID".to_owned()],
            raw: "{\"id\":\"x\"}".to_owned(),
        })
        .expect("written");
        assert_eq!(file.finish().expect("finished"), 1);
        let text = std::fs::read_to_string(&path).expect("readable");
        assert_eq!(
            text,
            "{\"line\":7,\"reasons\":[\"id: not a UUID\"],\"raw\":\"{\\\"id\\\":\\\"x\\\"}\"}\n"
        );

        let empty = RejectsFile::create(&path).expect("created again");
        assert_eq!(empty.finish().expect("finished"), 0);
        assert!(!path.exists(), "no rejects, no file");
    }
}
