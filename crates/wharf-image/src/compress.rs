//! Layer compression, detected by magic bytes (as docker's `archive.DetectCompression`):
//! gzip (`1f 8b`), zstd (`28 b5 2f fd`), otherwise a plain tar. bzip2 and xz are refused.

use std::io::{BufRead, Read};

use crate::error::{Error, Result};

/// Size of the read buffers on the layer path: large enough that syscalls and decoder calls
/// stay off the profile.
pub(crate) const BUF_SIZE: usize = 256 * 1024;

/// How a layer stream is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Detects the compression of `src` without consuming it.
pub fn detect<R: BufRead>(src: &mut R) -> Result<Compression> {
    let head = src
        .fill_buf()
        .map_err(|e| Error::io("failed to read layer", e))?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b'B', b'Z', b'h', ..] => {
            return Err(Error::invalid("unsupported layer compression: bzip2"))
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => {
            return Err(Error::invalid("unsupported layer compression: xz"))
        }
        _ => Compression::None,
    })
}

/// A decoder for whichever compression [`detect`] finds (always boxed: the size of the
/// largest variant does not matter).
#[allow(clippy::large_enum_variant)]
enum Decoder<R: BufRead> {
    Plain(R),
    // Multi-member gzip is valid gzip (pigz, concatenated streams).
    Gzip(flate2::bufread::MultiGzDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }
}

fn decoder<R: BufRead>(src: R) -> Result<Decoder<R>> {
    let mut buf = src;
    Ok(match detect(&mut buf)? {
        Compression::None => Decoder::Plain(buf),
        Compression::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Zstd => Decoder::Zstd(
            zstd::stream::read::Decoder::with_buffer(buf)
                .map_err(|e| Error::io("failed to start zstd decoder", e))?,
        ),
    })
}

/// A reader yielding the uncompressed bytes of `src`.
/// `src` should be buffered with [`BUF_SIZE`] (the decoders read from its buffer directly).
pub fn decompressed<'a, R: BufRead + 'a>(src: R) -> Result<Box<dyn Read + 'a>> {
    Ok(Box::new(decoder(src)?))
}

/// As [`decompressed`], for a source that can move between threads.
pub(crate) fn decompressed_send<R: BufRead + Send + 'static>(
    src: R,
) -> Result<Box<dyn Read + Send>> {
    Ok(Box::new(decoder(src)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_and_decodes() {
        let data = b"hello layer".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        for input in [data.clone(), gz, zs] {
            let mut out = Vec::new();
            decompressed(&input[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data);
        }
        assert!(decompressed(&b"BZh91AY"[..]).is_err());
    }
}
