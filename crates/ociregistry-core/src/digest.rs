//! Content digests: parsing, validation and hashing while data flows.
//!
//! Only the algorithms registered by the OCI image specification are accepted: `sha256` (64
//! lower-case hex digits) and `sha512` (128). Anything else is rejected with `DIGEST_INVALID`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

use crate::error::{Code, Error};

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256, the canonical algorithm.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name in digests, e.g. `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The number of hex digits in an encoded digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Looks an algorithm up by name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a string is not a valid digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The string is not of the form `algorithm:encoded`.
    #[error("invalid digest {0:?}: not of the form algorithm:encoded")]
    Malformed(String),
    /// The algorithm is well-formed but not supported.
    #[error("invalid digest {0:?}: unsupported algorithm")]
    UnsupportedAlgorithm(String),
    /// The encoded part has the wrong length or characters for its algorithm.
    #[error("invalid digest {0:?}: bad encoding for its algorithm")]
    BadEncoding(String),
}

impl From<DigestError> for Error {
    fn from(e: DigestError) -> Error {
        Error::new(Code::DigestInvalid, e.to_string()).with_source(e)
    }
}

/// A validated content digest such as `sha256:e3b0…b855`.
///
/// Ordering and equality are those of the string form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    repr: Box<str>,
    algorithm: Algorithm,
}

fn is_algorithm_component(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl Digest {
    /// Parses and validates a digest.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let Some((alg, encoded)) = s.split_once(':') else {
            return Err(DigestError::Malformed(truncate(s)));
        };
        // algorithm ::= component (separator component)*, separator ::= [+._-]
        if alg
            .split(['+', '.', '_', '-'])
            .any(|c| !is_algorithm_component(c))
            || encoded.is_empty()
            || !encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
        {
            return Err(DigestError::Malformed(truncate(s)));
        }
        let Some(algorithm) = Algorithm::from_name(alg) else {
            return Err(DigestError::UnsupportedAlgorithm(truncate(s)));
        };
        if encoded.len() != algorithm.hex_len()
            || !encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::BadEncoding(truncate(s)));
        }
        Ok(Digest {
            repr: s.into(),
            algorithm,
        })
    }

    /// The digest of `data` under `algorithm`.
    pub fn compute(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut d = Digester::new(algorithm);
        d.update(data);
        d.finish()
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Digest {
        Digest::compute(Algorithm::Sha256, data)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded (hex) part, after the colon.
    pub fn hex(&self) -> &str {
        &self.repr[self.algorithm.name().len() + 1..]
    }

    /// The full string form.
    pub fn as_str(&self) -> &str {
        &self.repr
    }

    /// Whether `data` hashes to this digest.
    pub fn verify(&self, data: &[u8]) -> bool {
        Digest::compute(self.algorithm, data) == *self
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= 200 {
        return s.to_owned();
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Digest, DigestError> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.repr)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.repr
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.repr)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A running hash: feed it bytes as they flow and take the [`Digest`] at the end.
#[derive(Clone)]
pub struct Digester {
    state: State,
    len: u64,
}

#[derive(Clone)]
enum State {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digester")
            .field("algorithm", &self.algorithm())
            .field("len", &self.len)
            .finish()
    }
}

impl Digester {
    /// A new hash of `algorithm`.
    pub fn new(algorithm: Algorithm) -> Digester {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
        };
        Digester { state, len: 0 }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// How many bytes were fed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no byte was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let mut repr = String::with_capacity(algorithm.name().len() + 1 + algorithm.hex_len());
        repr.push_str(algorithm.name());
        repr.push(':');
        match self.state {
            State::Sha256(h) => push_hex(&mut repr, &h.finalize()),
            State::Sha512(h) => push_hex(&mut repr, &h.finalize()),
        }
        Digest {
            repr: repr.into(),
            algorithm,
        }
    }
}

/// Appends `bytes` to `out` as lower-case hex digits.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const EMPTY512: &str = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    #[test]
    fn hashes_known_values() {
        assert_eq!(Digest::sha256(b"").as_str(), EMPTY256);
        assert_eq!(Digest::compute(Algorithm::Sha512, b"").as_str(), EMPTY512);
        let mut d = Digester::new(Algorithm::Sha256);
        d.update(b"hello ");
        d.update(b"world");
        assert_eq!(d.len(), 11);
        assert_eq!(d.finish(), Digest::sha256(b"hello world"));
    }

    #[test]
    fn parses_valid() {
        let d = Digest::parse(EMPTY256).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex().len(), 64);
        assert_eq!(
            Digest::parse(EMPTY512).unwrap().algorithm(),
            Algorithm::Sha512
        );
        assert!(d.verify(b""));
    }

    #[test]
    fn rejects_invalid() {
        let cases = [
            ("", "malformed"),
            ("sha256", "malformed"),
            ("sha256:", "malformed"),
            (":abc", "malformed"),
            (
                "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "malformed",
            ),
            (
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "encoding",
            ),
            (
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
                "encoding",
            ),
            (
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
                "encoding",
            ),
            (
                "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "encoding",
            ),
            ("md5:d41d8cd98f00b204e9800998ecf8427e", "algorithm"),
            ("sha384:abc", "algorithm"),
            (
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85\n",
                "malformed",
            ),
            ("sha256:e3b0\0", "malformed"),
            ("sha256:../../etc/passwd", "malformed"),
            (
                "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "encoding",
            ),
        ];
        for (s, want) in cases {
            let err = Digest::parse(s).expect_err(s);
            let got = match err {
                DigestError::Malformed(_) => "malformed",
                DigestError::UnsupportedAlgorithm(_) => "algorithm",
                DigestError::BadEncoding(_) => "encoding",
            };
            assert_eq!(got, want, "{s:?}");
            assert!(Error::from(err).is(&Code::DigestInvalid));
        }
    }

    #[test]
    fn long_input_error_is_truncated_without_panicking_on_char_boundaries() {
        let s = "é".repeat(500);
        let err = Digest::parse(&s).unwrap_err();
        assert!(err.to_string().len() < 300);
    }

    #[test]
    fn serde_round_trip() {
        let d = Digest::sha256(b"x");
        let json = serde_json::to_string(&d).unwrap();
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:nope\"").is_err());
    }
}
