//! Docker's `json-file` log format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2026-11-27T21:00:00.123456789Z"}`, with rotation
//! (`--log-opt max-size=10m max-file=3`): `ID-json.log`, `ID-json.log.1`, ….

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub log: String,
    pub stream: String,
    pub time: String,
}

pub struct JsonLog {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl JsonLog {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> JsonLog {
        let file = File::options().create(true).append(true).open(path).ok();
        let size = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
        }
    }

    /// Logs `data` from `stream`, one record per line (a trailing partial line is its own record).
    pub fn write(&mut self, stream: &str, data: &[u8]) {
        let time = super::now_rfc3339_nanos();
        let mut out = Vec::with_capacity(data.len() + 64);
        for line in data.split_inclusive(|&b| b == b'\n') {
            let rec = Record {
                log: String::from_utf8_lossy(line).into_owned(),
                stream: stream.to_string(),
                time: time.clone(),
            };
            if serde_json::to_writer(&mut out, &rec).is_ok() {
                out.push(b'\n');
            }
        }
        if self.max_size > 0 && self.size + out.len() as u64 > self.max_size && self.size > 0 {
            self.rotate();
        }
        if let Some(f) = self.file.as_mut() {
            if f.write_all(&out).is_ok() {
                self.size += out.len() as u64;
            }
        }
    }

    fn rotate(&mut self) {
        self.file = None;
        if self.max_files <= 1 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for i in (1..self.max_files - 1).rev() {
                let _ = std::fs::rename(rotated(&self.path, i), rotated(&self.path, i + 1));
            }
            let _ = std::fs::rename(&self.path, rotated(&self.path, 1));
        }
        self.file = File::options()
            .create(true)
            .append(true)
            .open(&self.path)
            .ok();
        self.size = 0;
    }
}

fn rotated(path: &Path, i: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

/// Every record of a log, oldest first (rotated files included).
pub fn read_all(path: &Path, max_files: u32) -> Vec<Record> {
    let mut out = read_rotated(path, max_files);
    if let Ok(file) = File::open(path) {
        out.extend(read_from(file).0);
    }
    out
}

/// The records of the rotated files only (`PATH.N` … `PATH.1`), oldest first.
pub fn read_rotated(path: &Path, max_files: u32) -> Vec<Record> {
    let mut out = Vec::new();
    for i in (1..max_files.max(1)).rev() {
        if let Ok(file) = File::open(rotated(path, i)) {
            out.extend(read_from(file).0);
        }
    }
    out
}

/// Records from a reader, and how many bytes of whole lines were consumed.
pub fn read_from(r: impl std::io::Read) -> (Vec<Record>, u64) {
    let mut out = Vec::new();
    let mut used = 0u64;
    let mut br = BufReader::new(r);
    let mut line = String::new();
    loop {
        line.clear();
        match br.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !line.ends_with('\n') {
                    break;
                }
                used += n as u64;
                if let Ok(rec) = serde_json::from_str::<Record>(&line) {
                    out.push(rec);
                }
            }
        }
    }
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_records_and_rotation_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut l = JsonLog::open(&p, 200, 3);
        for i in 0..20 {
            l.write("stdout", format!("line {i}\n").as_bytes());
        }
        l.write("stderr", b"a\nb");
        let recs = read_all(&p, 3);
        assert!(
            recs.len() < 22 && recs.len() > 2,
            "rotation dropped the oldest: {}",
            recs.len()
        );
        assert_eq!(recs.last().unwrap().log, "b");
        assert_eq!(recs.last().unwrap().stream, "stderr");
        assert!(!rotated(&p, 3).exists());
    }
}
