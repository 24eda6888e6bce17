//! Versioned binary encoding of everything that enters the Raft log or the store: a format byte, then postcard.

use serde::{de::DeserializeOwned, Serialize};
use xxhash_rust::xxh3::xxh3_64;

/// The format version written in front of every encoded value.
///
/// Readers accept every version they know; writers always write the newest. Adding enum variants at the
/// end or trailing `Option` fields does not need a new version; anything else does.
pub const FORMAT_VERSION: u8 = 1;

/// A value that could not be decoded: corrupt bytes from the disk or the network, never a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("empty buffer: no format version byte")]
    Empty,
    #[error("unknown format version {0} (this build reads version {FORMAT_VERSION})")]
    UnknownVersion(u8),
    #[error("encoded value is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("malformed value: {0}")]
    Malformed(String),
}

/// Encodes `value` as `[FORMAT_VERSION] ++ postcard(value)`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(FORMAT_VERSION);
    append(value, out)
}

/// `out ++ postcard(value)`, without a format version: for a value inside a container that carries
/// one.
pub fn append<T: Serialize + ?Sized>(value: &T, out: Vec<u8>) -> Vec<u8> {
    // Serializing plain data into a Vec cannot fail: postcard only errors on a full fixed buffer.
    postcard::to_extend(value, out).expect("postcard encoding into a Vec is infallible")
}

/// The 64-bit xxh3 hash of [`encode`]`(value)`. Hashing the encoding whole is cheaper than
/// feeding a streaming hasher as postcard writes (measured: 670 more instructions a command).
pub fn fingerprint<T: Serialize + ?Sized>(value: &T) -> u64 {
    xxh3_64(&encode(value))
}

/// Decodes a value written by [`encode`], refusing unknown versions, trailing bytes and oversized input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], len_max: usize) -> Result<T, CodecError> {
    if bytes.len() > len_max {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: len_max,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnknownVersion(version));
    }
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(value)
}
