//! sha256 content digests, as docker and OCI write them: `sha256:<64 lowercase hex>`.
//!
//! [`Digester`] hashes a stream; [`HashingReader`] / [`HashingWriter`] hash whatever passes
//! through them so one pass over the data both stores and verifies it.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A sha256 digest. Only sha256 is supported (as docker does for image ids and layers).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    /// "sha256:" + 64 lowercase hex characters; kept whole so Display/hex are borrows.
    s: String,
}

const PREFIX: &str = "sha256:";

/// Why a string is not a valid digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid digest {0:?}: unsupported algorithm (only sha256)")]
    Algorithm(String),
    #[error("invalid digest {0:?}: expected 64 lowercase hex characters")]
    Format(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_raw(Sha256::digest(bytes).into())
    }

    /// A digest from the 32 raw hash bytes.
    pub fn from_raw(raw: [u8; 32]) -> Digest {
        Digest {
            s: format!("{PREFIX}{}", hex::encode(raw)),
        }
    }

    /// Parses 64 lowercase hex characters without the `sha256:` prefix.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if is_hex64(hex) {
            Ok(Digest {
                s: format!("{PREFIX}{hex}"),
            })
        } else {
            Err(DigestError::Format(hex.to_string()))
        }
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.s[PREFIX.len()..]
    }

    /// The first 12 hex characters (docker's short id).
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    /// "sha256"
    pub fn algorithm(&self) -> &str {
        "sha256"
    }

    /// The full `"sha256:<hex>"` form.
    pub fn as_str(&self) -> &str {
        &self.s
    }
}

/// True for exactly 64 lowercase hex characters.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        match s.split_once(':') {
            Some(("sha256", hex)) => {
                Digest::from_hex(hex).map_err(|_| DigestError::Format(s.to_string()))
            }
            Some(_) => Err(DigestError::Algorithm(s.to_string())),
            None => Err(DigestError::Format(s.to_string())),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.s)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.s)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Streaming sha256.
#[derive(Clone, Default)]
pub struct Digester {
    h: Sha256,
}

impl Digester {
    pub fn new() -> Digester {
        Digester { h: Sha256::new() }
    }
    pub fn update(&mut self, data: &[u8]) {
        self.h.update(data);
    }
    pub fn finish(self) -> Digest {
        Digest::from_raw(self.h.finalize().into())
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    digester: Digester,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            digester: Digester::new(),
            count: 0,
        }
    }
    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
    /// The digest of everything read, and the byte count.
    pub fn finish(self) -> (Digest, u64, R) {
        (self.digester.finish(), self.count, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digester.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    digester: Digester,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            digester: Digester::new(),
            count: 0,
        }
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    pub fn finish(self) -> (Digest, u64, W) {
        (self.digester.finish(), self.count, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn of_empty() {
        let d = Digest::of(b"");
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(d.hex().len(), 64);
    }

    #[test]
    fn parse_validates() {
        assert_eq!(EMPTY.parse::<Digest>().unwrap(), Digest::of(b""));
        assert!("sha512:abcd".parse::<Digest>().is_err());
        assert!("sha256:abcd".parse::<Digest>().is_err());
        assert!(EMPTY.to_uppercase().parse::<Digest>().is_err());
        assert!(EMPTY[7..].parse::<Digest>().is_err());
    }

    #[test]
    fn serde_as_string() {
        let d = Digest::of(b"");
        let mut s = String::new();
        // serde_json is not a dependency here: check with the string form through a tiny impl
        struct W<'a>(&'a mut String);
        impl fmt::Write for W<'_> {
            fn write_str(&mut self, x: &str) -> fmt::Result {
                self.0.push_str(x);
                Ok(())
            }
        }
        fmt::write(&mut W(&mut s), format_args!("{d}")).unwrap();
        assert_eq!(s, EMPTY);
    }

    #[test]
    fn streaming_matches() {
        let mut g = Digester::new();
        g.update(b"hello ");
        g.update(b"world");
        assert_eq!(g.finish(), Digest::of(b"hello world"));
        let mut r = HashingReader::new(&b"hello world"[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        let (d, n, _) = r.finish();
        assert_eq!((d, n), (Digest::of(b"hello world"), 11));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello world").unwrap();
        let (d, n, v) = w.finish();
        assert_eq!(
            (d, n, v.as_slice()),
            (Digest::of(b"hello world"), 11, &b"hello world"[..])
        );
    }
}
