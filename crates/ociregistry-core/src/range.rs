//! Byte ranges: the `Range` header of blob GETs and the `Content-Range` of upload chunks.

use std::fmt;
use std::ops::Range;

use crate::error::{Code, Error};

/// A requested range of a blob (the `Range: bytes=…` header), before the blob size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteRange {
    /// Bytes `start..end` (end exclusive); an end past the blob's size means "to the end".
    Bounded {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// Bytes from `start` to the end.
    From(u64),
    /// The last `n` bytes.
    Suffix(u64),
}

/// Why a `Range` header cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The header is not a `bytes=` range this registry understands.
    #[error("invalid range header {0:?}")]
    Syntax(String),
    /// More than one range was asked for.
    #[error("only a single range is supported")]
    Multiple,
    /// The range does not overlap the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    Unsatisfiable {
        /// The blob size.
        size: u64,
    },
}

impl From<RangeError> for Error {
    fn from(e: RangeError) -> Error {
        Error::new(Code::RangeInvalid, e.to_string()).with_source(e)
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl ByteRange {
    /// Parses a `Range` header value: `bytes=a-b`, `bytes=a-` or `bytes=-n`.
    pub fn parse_header(value: &str) -> Result<ByteRange, RangeError> {
        let syntax = || RangeError::Syntax(value.chars().take(100).collect());
        let spec = value.trim().strip_prefix("bytes=").ok_or_else(syntax)?;
        if spec.contains(',') {
            return Err(RangeError::Multiple);
        }
        let (a, b) = spec.trim().split_once('-').ok_or_else(syntax)?;
        let (a, b) = (a.trim(), b.trim());
        match (a.is_empty(), b.is_empty()) {
            (true, true) => Err(syntax()),
            (true, false) => Ok(ByteRange::Suffix(parse_u64(b).ok_or_else(syntax)?)),
            (false, true) => Ok(ByteRange::From(parse_u64(a).ok_or_else(syntax)?)),
            (false, false) => {
                let start = parse_u64(a).ok_or_else(syntax)?;
                let last = parse_u64(b).ok_or_else(syntax)?;
                if last < start {
                    return Err(syntax());
                }
                Ok(ByteRange::Bounded {
                    start,
                    end: last.saturating_add(1),
                })
            }
        }
    }

    /// The bytes of a blob of `size` bytes this range selects (end exclusive), following RFC 9110:
    /// an end past the blob is clamped; a start at or past the end, or an empty suffix, is
    /// unsatisfiable.
    pub fn resolve(self, size: u64) -> Result<Range<u64>, RangeError> {
        let r = match self {
            ByteRange::Bounded { start, end } => start..end.min(size),
            ByteRange::From(start) => start..size,
            ByteRange::Suffix(n) => size.saturating_sub(n)..size,
        };
        if r.start >= size || r.start >= r.end {
            return Err(RangeError::Unsatisfiable { size });
        }
        Ok(r)
    }
}

impl fmt::Display for ByteRange {
    /// Renders as a `Range` header value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ByteRange::Bounded { start, end } => {
                write!(f, "bytes={start}-{}", end.saturating_sub(1).max(start))
            }
            ByteRange::From(start) => write!(f, "bytes={start}-"),
            ByteRange::Suffix(n) => write!(f, "bytes=-{n}"),
        }
    }
}

/// The `Content-Range` header value of a 206 response: `bytes start-last/size`.
pub fn content_range(range: &Range<u64>, size: u64) -> String {
    format!(
        "bytes {}-{}/{size}",
        range.start,
        range.end.saturating_sub(1)
    )
}

/// The `Content-Range` header value of a 416 response: `bytes */size`.
pub fn unsatisfied_content_range(size: u64) -> String {
    format!("bytes */{size}")
}

/// The byte range of an upload chunk, from the OCI `Content-Range: <start>-<end>` header
/// (inclusive end, no unit). Empty chunks have no `Content-Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRange {
    /// Offset of the chunk's first byte in the blob.
    pub start: u64,
    /// Offset of the chunk's last byte in the blob.
    pub last: u64,
}

impl ChunkRange {
    /// The range of a chunk of `len > 0` bytes at `start`.
    pub fn new(start: u64, len: u64) -> Option<ChunkRange> {
        (len > 0).then(|| ChunkRange {
            start,
            last: start + len - 1,
        })
    }

    /// Parses `start-end`, tolerating the `bytes ` unit and a `/size` suffix that some clients add.
    pub fn parse(value: &str) -> Option<ChunkRange> {
        let v = value.trim();
        let v = v
            .strip_prefix("bytes ")
            .or_else(|| v.strip_prefix("bytes="))
            .unwrap_or(v);
        let v = v.split_once('/').map_or(v, |(r, _)| r);
        let (a, b) = v.split_once('-')?;
        let start = parse_u64(a.trim())?;
        let last = parse_u64(b.trim())?;
        (last >= start).then_some(ChunkRange { start, last })
    }

    /// The chunk length in bytes.
    pub fn len(&self) -> u64 {
        self.last - self.start + 1
    }

    /// Always false: a chunk range covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for ChunkRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.last)
    }
}

/// The `Range` header of an upload status response for an upload holding `size` bytes:
/// `0-<size-1>`. An empty upload has `0-0`, as CNCF Distribution answers (the format cannot tell
/// an empty upload from a one-byte one; [`parse_upload_range`] reads `0-0` as empty).
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// Parses an upload status `Range: 0-<last>` header into the number of bytes the upload holds.
/// `0-0` is read as empty, the reading every registry relies on for a just-started upload.
pub fn parse_upload_range(value: &str) -> Option<u64> {
    let r = ChunkRange::parse(value)?;
    if r.start != 0 {
        return None;
    }
    Some(if r.last == 0 { 0 } else { r.last + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_range_headers() {
        assert_eq!(
            ByteRange::parse_header("bytes=1-4"),
            Ok(ByteRange::Bounded { start: 1, end: 5 })
        );
        assert_eq!(ByteRange::parse_header("bytes=3-"), Ok(ByteRange::From(3)));
        assert_eq!(
            ByteRange::parse_header("bytes=-2"),
            Ok(ByteRange::Suffix(2))
        );
        assert_eq!(
            ByteRange::parse_header("bytes=0-1,3-4"),
            Err(RangeError::Multiple)
        );
        for bad in [
            "",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "items=0-1",
            "bytes=4-1",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            assert!(
                matches!(ByteRange::parse_header(bad), Err(RangeError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn resolves_against_size() {
        let size = 11;
        assert_eq!(
            ByteRange::Bounded { start: 1, end: 5 }.resolve(size),
            Ok(1..5)
        );
        assert_eq!(
            ByteRange::Bounded { start: 1, end: 500 }.resolve(size),
            Ok(1..11)
        );
        assert_eq!(ByteRange::From(3).resolve(size), Ok(3..11));
        assert_eq!(ByteRange::Suffix(2).resolve(size), Ok(9..11));
        assert_eq!(ByteRange::Suffix(50).resolve(size), Ok(0..11));
        assert_eq!(
            ByteRange::From(11).resolve(size),
            Err(RangeError::Unsatisfiable { size })
        );
        assert_eq!(
            ByteRange::Suffix(0).resolve(size),
            Err(RangeError::Unsatisfiable { size })
        );
        assert_eq!(
            ByteRange::From(0).resolve(0),
            Err(RangeError::Unsatisfiable { size: 0 })
        );
        assert_eq!(content_range(&(1..5), 11), "bytes 1-4/11");
        assert_eq!(unsatisfied_content_range(11), "bytes */11");
    }

    #[test]
    fn display_round_trips() {
        for r in [
            ByteRange::Bounded { start: 2, end: 9 },
            ByteRange::From(4),
            ByteRange::Suffix(3),
        ] {
            assert_eq!(ByteRange::parse_header(&r.to_string()), Ok(r));
        }
    }

    #[test]
    fn chunk_ranges() {
        assert_eq!(
            ChunkRange::parse("0-2"),
            Some(ChunkRange { start: 0, last: 2 })
        );
        assert_eq!(
            ChunkRange::parse("bytes 3-5/*"),
            Some(ChunkRange { start: 3, last: 5 })
        );
        assert_eq!(ChunkRange::parse("5-3"), None);
        assert_eq!(ChunkRange::parse("x-3"), None);
        assert_eq!(ChunkRange::parse("-3"), None);
        assert_eq!(ChunkRange::new(3, 3).unwrap().to_string(), "3-5");
        assert_eq!(ChunkRange::new(3, 0), None);
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(6), "0-5");
        assert_eq!(parse_upload_range("0-5"), Some(6));
        assert_eq!(parse_upload_range("0-0"), Some(0));
        assert_eq!(parse_upload_range("1-5"), None);
    }
}
