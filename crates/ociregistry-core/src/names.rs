//! Names: repository names, tags, hosts and references such as `example.com/foo/bar:v1@sha256:…`.
//!
//! This is a port of Go's `cuelabs.dev/go/oci/ociregistry/ociref` with hand-written parsers instead
//! of regular expressions. It holds:
//!
//! - validity checks for each part of a reference: [`is_valid_repository`], [`is_valid_tag`],
//!   [`is_valid_host`] and [`is_valid_digest`];
//! - the same checks as registry [`Error`]s: [`validate_repository`] and [`validate_tag`];
//! - [`Reference`], a parsed `[HOST/]NAME[:TAG][@DIGEST]` string, with its error [`RefError`];
//! - [`TagOrDigest`], the `<reference>` of a manifest URL.
//!
//! Unlike Go's package, nothing here panics (Go's tag check panics on the empty string), and a
//! first path component is taken as a host only when it looks like one (it contains a `.` or a
//! `:`, or starts with `[`), then must be a valid host. There is no Docker-style defaulting:
//! `ubuntu` is the repository `ubuntu` with no host, not `docker.io/library/ubuntu`.
//!
//! ```
//! use ociregistry_core::names::Reference;
//!
//! let r = Reference::parse("localhost:5000/foo/bar:v1").unwrap();
//! assert_eq!(r.host.as_deref(), Some("localhost:5000"));
//! assert_eq!(r.repository, "foo/bar");
//! assert_eq!(r.tag.as_deref(), Some("v1"));
//! assert_eq!(r.to_string(), "localhost:5000/foo/bar:v1");
//!
//! // Without a dot, a port or brackets the first component belongs to the repository.
//! let r = Reference::parse_relative("localhost/foo").unwrap();
//! assert_eq!(r.host, None);
//! assert_eq!(r.repository, "localhost/foo");
//! ```

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};
use crate::error::{Code, Error};

/// The maximum length, in bytes, of a repository name.
pub const MAX_REPOSITORY_LEN: usize = 255;

/// The maximum length, in bytes, of a tag.
pub const MAX_TAG_LEN: usize = 128;

/// How many bytes of an offending input error messages quote.
const QUOTE_LEN: usize = 100;

/// `s`, cut to at most [`QUOTE_LEN`] bytes on a character boundary, with `…` marking a cut.
fn quote(s: &str) -> String {
    if s.len() <= QUOTE_LEN {
        return s.to_owned();
    }
    let mut end = QUOTE_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---------------------------------------------------------------------------------------------
// Repository names
// ---------------------------------------------------------------------------------------------

/// Why a string is not a valid repository name.
enum RepoProblem {
    /// It does not follow the path-component grammar (this includes the empty string).
    Syntax,
    /// It follows the grammar but is longer than [`MAX_REPOSITORY_LEN`].
    TooLong,
}

/// Whether `b` may appear in the alphanumeric runs of a repository path component.
fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Whether `c` matches `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_valid_path_component(c: &[u8]) -> bool {
    let n = c.len();
    let mut i = 0;
    loop {
        let run_start = i;
        while i < n && is_lower_alnum(c[i]) {
            i += 1;
        }
        if i == run_start {
            // Empty component, leading separator, or separator not followed by an alphanumeric.
            return false;
        }
        if i == n {
            return true;
        }
        match c[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < n && c[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < n && c[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

fn repository_problem(s: &str) -> Option<RepoProblem> {
    if !s.split('/').all(|c| is_valid_path_component(c.as_bytes())) {
        return Some(RepoProblem::Syntax);
    }
    if s.len() > MAX_REPOSITORY_LEN {
        return Some(RepoProblem::TooLong);
    }
    None
}

/// Reports whether `s` is a valid repository name.
///
/// A repository name is one or more path components separated by `/`, each matching
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` (the separators are a single `.`, a single `_`, exactly two
/// `__`, or any number of `-`), and at most [`MAX_REPOSITORY_LEN`] bytes in all.
///
/// ```
/// use ociregistry_core::names::is_valid_repository;
/// assert!(is_valid_repository("foo/bar-baz__qux.v2"));
/// assert!(!is_valid_repository("Foo"));
/// assert!(!is_valid_repository("foo//bar"));
/// ```
pub fn is_valid_repository(s: &str) -> bool {
    repository_problem(s).is_none()
}

/// Checks that `s` is a valid repository name (see [`is_valid_repository`]).
///
/// # Errors
///
/// A `NAME_INVALID` error saying whether the name is too long or malformed.
pub fn validate_repository(s: &str) -> Result<(), Error> {
    match repository_problem(s) {
        None => Ok(()),
        Some(RepoProblem::TooLong) => Err(Error::new(
            Code::NameInvalid,
            format!(
                "repository name too long: {} bytes (the maximum is {MAX_REPOSITORY_LEN})",
                s.len()
            ),
        )),
        Some(RepoProblem::Syntax) => Err(Error::new(
            Code::NameInvalid,
            format!(
                "invalid repository name {:?}: it must be lower-case alphanumeric path \
                 components separated by '/', '.', '_', '__' or '-'",
                quote(s)
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------------

/// Why a string is not a valid tag.
enum TagProblem {
    /// The tag is empty.
    Empty,
    /// The tag contains this character where it is not allowed.
    BadChar(char),
    /// The tag is well-formed but longer than [`MAX_TAG_LEN`].
    TooLong,
}

fn tag_problem(s: &str) -> Option<TagProblem> {
    let mut chars = s.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Some(TagProblem::BadChar(first));
    }
    if let Some(bad) = chars.find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Some(TagProblem::BadChar(bad));
    }
    if s.len() > MAX_TAG_LEN {
        return Some(TagProblem::TooLong);
    }
    None
}

/// Like [`tag_problem`], but also reporting the empty tag.
fn tag_problem_or_empty(s: &str) -> Option<TagProblem> {
    if s.is_empty() {
        Some(TagProblem::Empty)
    } else {
        tag_problem(s)
    }
}

/// Reports whether `s` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
///
/// The empty string is not a valid tag.
///
/// ```
/// use ociregistry_core::names::is_valid_tag;
/// assert!(is_valid_tag("v1.2.3-rc.1"));
/// assert!(!is_valid_tag(".hidden"));
/// assert!(!is_valid_tag(""));
/// ```
pub fn is_valid_tag(s: &str) -> bool {
    tag_problem_or_empty(s).is_none()
}

/// Checks that `s` is a valid tag (see [`is_valid_tag`]).
///
/// # Errors
///
/// A `MANIFEST_INVALID` error. The OCI distribution specification has no code for an invalid tag;
/// CNCF distribution's `TAG_INVALID` is a kind of invalid manifest, so that is the code used here.
pub fn validate_tag(s: &str) -> Result<(), Error> {
    let message = match tag_problem_or_empty(s) {
        None => return Ok(()),
        Some(TagProblem::Empty) => "invalid tag: the tag is empty".to_owned(),
        Some(TagProblem::TooLong) => format!(
            "tag too long: {} bytes (the maximum is {MAX_TAG_LEN})",
            s.len()
        ),
        Some(TagProblem::BadChar(ch)) => {
            format!("tag {:?} contains invalid character {ch:?}", quote(s))
        }
    };
    Err(Error::new(Code::ManifestInvalid, message))
}

// ---------------------------------------------------------------------------------------------
// Hosts and digests
// ---------------------------------------------------------------------------------------------

/// Whether `s` matches `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`.
fn is_valid_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        }
        _ => false,
    }
}

/// Whether `s` is a valid port: one or more ASCII digits.
fn is_valid_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reports whether `s` is a valid host (with optional port) for a [`Reference`].
///
/// A host is a domain name or a bracketed IPv6 address (`[::1]`, no zone id), optionally followed
/// by `:` and a port of one or more digits. A domain name is dot-separated components of ASCII
/// letters, digits and inner hyphens; IPv4 addresses are domain names of this kind. Without a
/// port, a domain name must contain a dot, so that `localhost` is not a host but
/// `localhost:5000` is.
///
/// ```
/// use ociregistry_core::names::is_valid_host;
/// assert!(is_valid_host("example.com"));
/// assert!(is_valid_host("localhost:5000"));
/// assert!(is_valid_host("[::1]:5000"));
/// assert!(!is_valid_host("localhost"));
/// ```
pub fn is_valid_host(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = match after.strip_prefix(':') {
            Some(port) => is_valid_port(port),
            None => after.is_empty(),
        };
        return port_ok && !addr.contains('%') && addr.parse::<Ipv6Addr>().is_ok();
    }
    let (domain, has_port) = match s.split_once(':') {
        Some((domain, port)) => {
            if !is_valid_port(port) {
                return false;
            }
            (domain, true)
        }
        None => (s, false),
    };
    (has_port || domain.contains('.')) && domain.split('.').all(is_valid_domain_component)
}

/// Reports whether `s` is a valid digest, as accepted by [`Digest::parse`].
pub fn is_valid_digest(s: &str) -> bool {
    Digest::parse(s).is_ok()
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

/// Why a reference string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// The string is not of the form `[HOST/]NAME[:TAG][@DIGEST]`, or its host or repository
    /// name is malformed. Holds the input, truncated to about 100 bytes.
    #[error("invalid reference syntax ({0:?})")]
    InvalidSyntax(String),
    /// [`Reference::parse`] was given a reference without a host.
    #[error("reference does not contain host name")]
    MissingHost,
    /// The repository name is longer than [`MAX_REPOSITORY_LEN`].
    #[error("repository name too long")]
    RepositoryTooLong,
    /// The tag is longer than [`MAX_TAG_LEN`].
    #[error("tag too long")]
    TagTooLong,
    /// The tag contains a character that is not allowed where it appears.
    #[error("tag {tag:?} contains invalid character {ch:?}")]
    InvalidTag {
        /// The tag, truncated to about 100 bytes.
        tag: String,
        /// The first offending character.
        ch: char,
    },
    /// The digest is invalid.
    #[error("invalid digest: {0}")]
    InvalidDigest(DigestError),
}

impl From<RefError> for Error {
    /// A `DIGEST_INVALID` error for [`RefError::InvalidDigest`], otherwise `NAME_INVALID`; the
    /// [`RefError`] is kept as the source.
    fn from(e: RefError) -> Error {
        let code = match e {
            RefError::InvalidDigest(_) => Code::DigestInvalid,
            _ => Code::NameInvalid,
        };
        Error::new(code, e.to_string()).with_source(e)
    }
}

/// A parsed reference to a repository, optionally with a host, a tag and a digest:
/// `[HOST/]NAME[:TAG][@DIGEST]`.
///
/// Values produced by [`Reference::parse`] and [`Reference::parse_relative`] are valid, and
/// their [`Display`](fmt::Display) form parses back to an equal value. The fields are public, so
/// a value built by hand may not be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The host, with optional port, such as `example.com` or `localhost:5000`.
    pub host: Option<String>,
    /// The repository name, such as `foo/bar`.
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest, if any.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference that must include a host, such as `example.com/foo:v1`.
    ///
    /// # Errors
    ///
    /// Any error of [`Reference::parse_relative`], or [`RefError::MissingHost`] when the
    /// reference is valid but has no host.
    pub fn parse(s: &str) -> Result<Reference, RefError> {
        let r = Reference::parse_relative(s)?;
        if r.host.is_none() {
            return Err(RefError::MissingHost);
        }
        Ok(r)
    }

    /// Parses a reference that may or may not include a host.
    ///
    /// The digest is what follows the last `@`; the tag is what follows the last `:` after the
    /// last `/`. The first `/`-separated component of the rest is the host when more components
    /// follow it and it contains a `.` or a `:` or starts with `[`; so `localhost/foo` is the
    /// repository `localhost/foo`, while `localhost:5000/foo` is the repository `foo` on host
    /// `localhost:5000`, and `localhost:5000` alone is the repository `localhost` with tag `5000`.
    ///
    /// # Errors
    ///
    /// [`RefError::InvalidSyntax`] for a malformed host or repository name (or an empty tag or
    /// digest), [`RefError::InvalidTag`] or [`RefError::TagTooLong`] for a bad tag,
    /// [`RefError::InvalidDigest`] for a bad digest and [`RefError::RepositoryTooLong`] for a
    /// repository name longer than [`MAX_REPOSITORY_LEN`].
    pub fn parse_relative(s: &str) -> Result<Reference, RefError> {
        let syntax = || RefError::InvalidSyntax(quote(s));

        let (rest, digest) = match s.rsplit_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let (host, repository) = match name.split_once('/') {
            Some((first, repo)) if first.contains(['.', ':']) || first.starts_with('[') => {
                (Some(first), repo)
            }
            _ => (None, name),
        };

        if host.is_some_and(|h| !is_valid_host(h)) {
            return Err(syntax());
        }
        let repository_too_long = match repository_problem(repository) {
            Some(RepoProblem::Syntax) => return Err(syntax()),
            Some(RepoProblem::TooLong) => true,
            None => false,
        };
        if let Some(tag) = tag {
            match tag_problem_or_empty(tag) {
                None => {}
                Some(TagProblem::Empty) => return Err(syntax()),
                Some(TagProblem::TooLong) => return Err(RefError::TagTooLong),
                Some(TagProblem::BadChar(ch)) => {
                    return Err(RefError::InvalidTag {
                        tag: quote(tag),
                        ch,
                    });
                }
            }
        }
        let digest = match digest {
            Some("") => return Err(syntax()),
            Some(d) => Some(Digest::parse(d).map_err(RefError::InvalidDigest)?),
            None => None,
        };
        if repository_too_long {
            return Err(RefError::RepositoryTooLong);
        }
        Ok(Reference {
            host: host.map(str::to_owned),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

impl fmt::Display for Reference {
    /// Renders `[HOST/]NAME[:TAG][@DIGEST]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.host {
            write!(f, "{host}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = RefError;

    /// Parses with [`Reference::parse_relative`]: the host is optional.
    fn from_str(s: &str) -> Result<Reference, RefError> {
        Reference::parse_relative(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Tag or digest
// ---------------------------------------------------------------------------------------------

/// The `<reference>` of a manifest URL (`/v2/<name>/manifests/<reference>`): a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TagOrDigest {
    /// A tag, such as `latest`.
    Tag(String),
    /// A digest, such as `sha256:e3b0…b855`.
    Digest(Digest),
}

impl TagOrDigest {
    /// Parses a tag or a digest: a string containing `:` must be a digest, anything else a tag.
    ///
    /// # Errors
    ///
    /// A `DIGEST_INVALID` error for an invalid digest, or the `MANIFEST_INVALID` error of
    /// [`validate_tag`] for an invalid tag.
    pub fn parse(s: &str) -> Result<TagOrDigest, Error> {
        if s.contains(':') {
            Ok(TagOrDigest::Digest(Digest::parse(s)?))
        } else {
            validate_tag(s)?;
            Ok(TagOrDigest::Tag(s.to_owned()))
        }
    }

    /// The tag, if this is a tag.
    pub fn as_tag(&self) -> Option<&str> {
        match self {
            TagOrDigest::Tag(t) => Some(t),
            TagOrDigest::Digest(_) => None,
        }
    }

    /// The digest, if this is a digest.
    pub fn as_digest(&self) -> Option<&Digest> {
        match self {
            TagOrDigest::Tag(_) => None,
            TagOrDigest::Digest(d) => Some(d),
        }
    }
}

impl fmt::Display for TagOrDigest {
    /// Renders the tag or the digest as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagOrDigest::Tag(t) => f.write_str(t),
            TagOrDigest::Digest(d) => fmt::Display::fmt(d, f),
        }
    }
}

impl FromStr for TagOrDigest {
    type Err = Error;

    /// Parses with [`TagOrDigest::parse`].
    fn from_str(s: &str) -> Result<TagOrDigest, Error> {
        TagOrDigest::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SHA256: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    const SHA256_B: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sha512() -> String {
        format!("sha512:{}", "f".repeat(128))
    }

    fn dg(s: &str) -> Digest {
        Digest::parse(s).unwrap()
    }

    fn r(host: Option<&str>, repo: &str, tag: Option<&str>, digest: Option<&str>) -> Reference {
        Reference {
            host: host.map(str::to_owned),
            repository: repo.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(dg),
        }
    }

    fn ok(input: impl Into<String>, want: Reference) -> (String, Result<Reference, RefError>) {
        (input.into(), Ok(want))
    }

    fn err(input: impl Into<String>, want: RefError) -> (String, Result<Reference, RefError>) {
        (input.into(), Err(want))
    }

    fn syntax(input: &str) -> (String, Result<Reference, RefError>) {
        err(input, RefError::InvalidSyntax(quote(input)))
    }

    fn parse_reference_cases() -> Vec<(String, Result<Reference, RefError>)> {
        let sha512 = sha512();
        let repo255 = format!("{}a", "a/".repeat(127));
        let repo256 = format!("{}ab", "a/".repeat(127));
        assert_eq!(repo255.len(), 255);
        assert_eq!(repo256.len(), 256);
        vec![
            ok("test_com", r(None, "test_com", None, None)),
            ok("test.com:tag", r(None, "test.com", Some("tag"), None)),
            ok("test.com:5000", r(None, "test.com", Some("5000"), None)),
            ok(
                "test.com/repo:tag",
                r(Some("test.com"), "repo", Some("tag"), None),
            ),
            ok("test:5000/repo", r(Some("test:5000"), "repo", None, None)),
            ok(
                "test:5000/repo:tag",
                r(Some("test:5000"), "repo", Some("tag"), None),
            ),
            ok(
                format!("test:5000/repo@{SHA256}"),
                r(Some("test:5000"), "repo", None, Some(SHA256)),
            ),
            ok(
                format!("test:5000/repo:tag@{SHA256}"),
                r(Some("test:5000"), "repo", Some("tag"), Some(SHA256)),
            ),
            syntax(""),
            syntax(":justtag"),
            syntax(&format!("@{SHA256}")),
            err(
                "repo@sha256:ffffffffffffffffffffffffffffffffff",
                RefError::InvalidDigest(
                    Digest::parse("sha256:ffffffffffffffffffffffffffffffffff").unwrap_err(),
                ),
            ),
            err(
                format!("validname@invaliddigest:{}", "f".repeat(64)),
                RefError::InvalidDigest(
                    Digest::parse(&format!("invaliddigest:{}", "f".repeat(64))).unwrap_err(),
                ),
            ),
            syntax("Uppercase:tag"),
            syntax("test:5000/Uppercase/lowercase:tag"),
            ok(
                "lowercase:Uppercase",
                r(None, "lowercase", Some("Uppercase"), None),
            ),
            ok(
                format!("{repo255}:tag-puts-this-over-max"),
                r(None, &repo255, Some("tag-puts-this-over-max"), None),
            ),
            err(format!("{repo256}:tag"), RefError::RepositoryTooLong),
            err(
                format!("example.com/{repo256}"),
                RefError::RepositoryTooLong,
            ),
            syntax("aa/asdf$$^/aa"),
            ok(
                "sub-dom1.foo.com/bar/baz/quux",
                r(Some("sub-dom1.foo.com"), "bar/baz/quux", None, None),
            ),
            ok(
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                r(
                    Some("sub-dom1.foo.com"),
                    "bar/baz/quux",
                    Some("some-long-tag"),
                    None,
                ),
            ),
            ok(
                "b.gcr.io/test.example.com/my-app:test.example.com",
                r(
                    Some("b.gcr.io"),
                    "test.example.com/my-app",
                    Some("test.example.com"),
                    None,
                ),
            ),
            // ☃.com in punycode.
            ok(
                "xn--n3h.com/myimage:xn--n3h.com",
                r(Some("xn--n3h.com"), "myimage", Some("xn--n3h.com"), None),
            ),
            // 🐳.com in punycode.
            ok(
                "xn--7o8h.com/myimage:xn--7o8h-asdf",
                r(Some("xn--7o8h.com"), "myimage", Some("xn--7o8h-asdf"), None),
            ),
            ok(
                format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}"),
                r(
                    Some("xn--7o8h.com"),
                    "myimage",
                    Some("xn--7o8h.com"),
                    Some(&sha512),
                ),
            ),
            ok(
                "foo_bar.com:8080",
                r(None, "foo_bar.com", Some("8080"), None),
            ),
            ok(
                "foo/foo_bar.com:8080",
                r(None, "foo/foo_bar.com", Some("8080"), None),
            ),
            ok("192.168.1.1", r(None, "192.168.1.1", None, None)),
            ok("192.168.1.1:tag", r(None, "192.168.1.1", Some("tag"), None)),
            ok(
                "192.168.1.1:5000",
                r(None, "192.168.1.1", Some("5000"), None),
            ),
            ok(
                "192.168.1.1/repo",
                r(Some("192.168.1.1"), "repo", None, None),
            ),
            ok(
                "192.168.1.1:5000/repo",
                r(Some("192.168.1.1:5000"), "repo", None, None),
            ),
            syntax("[2001:db8::1]"),
            syntax("[2001:db8::1]:5000"),
            syntax("[2001:db8::1]:tag"),
            ok(
                "[2001:db8::1]/repo",
                r(Some("[2001:db8::1]"), "repo", None, None),
            ),
            ok(
                "[2001:db8:1:2:3:4:5:6]/repo:tag",
                r(Some("[2001:db8:1:2:3:4:5:6]"), "repo", Some("tag"), None),
            ),
            ok(
                "[2001:db8::1]:5000/repo",
                r(Some("[2001:db8::1]:5000"), "repo", None, None),
            ),
            ok(
                "[2001:db8::1]:5000/repo:tag",
                r(Some("[2001:db8::1]:5000"), "repo", Some("tag"), None),
            ),
            ok(
                format!("[2001:db8::1]:5000/repo@{SHA256}"),
                r(Some("[2001:db8::1]:5000"), "repo", None, Some(SHA256)),
            ),
            ok(
                format!("[2001:db8::1]:5000/repo:tag@{SHA256}"),
                r(
                    Some("[2001:db8::1]:5000"),
                    "repo",
                    Some("tag"),
                    Some(SHA256),
                ),
            ),
            ok(
                "[2001:db8::]:5000/repo",
                r(Some("[2001:db8::]:5000"), "repo", None, None),
            ),
            ok("[::1]:5000/repo", r(Some("[::1]:5000"), "repo", None, None)),
            syntax("[fe80::1%eth0]:5000/repo"),
            syntax("[fe80::1%@invalidzone]:5000/repo"),
            syntax("[::1/repo"),
            syntax("[not-ipv6]/repo"),
            ok("localhost/foo", r(None, "localhost/foo", None, None)),
            ok(
                "localhost:5000/foo",
                r(Some("localhost:5000"), "foo", None, None),
            ),
            ok("localhost:5000", r(None, "localhost", Some("5000"), None)),
            ok("a/b", r(None, "a/b", None, None)),
            ok(
                format!("a/b@{SHA256_B}"),
                r(None, "a/b", None, Some(SHA256_B)),
            ),
            // Looks like a host (it has a dot) but is not one: an error, where Go would fall back
            // to the repository "foo_bar.com/x".
            syntax("foo_bar.com/x"),
            syntax("foo.com:/repo"),
            syntax("-foo.com/repo"),
            syntax("foo..com/repo"),
            syntax("foo.com/"),
            syntax("foo.com//bar"),
            syntax("foo:"),
            syntax("foo@"),
            syntax("foo:@sha256:abc"),
            err(
                "foo:.bar",
                RefError::InvalidTag {
                    tag: ".bar".into(),
                    ch: '.',
                },
            ),
            err(
                "foo:ba+r",
                RefError::InvalidTag {
                    tag: "ba+r".into(),
                    ch: '+',
                },
            ),
            err(format!("foo:{}", "t".repeat(129)), RefError::TagTooLong),
            ok(
                format!("foo:{}", "t".repeat(128)),
                r(None, "foo", Some(&"t".repeat(128)), None),
            ),
        ]
    }

    #[test]
    fn parse_reference() {
        let cases = parse_reference_cases();
        assert!(cases.len() >= 45, "only {} cases", cases.len());
        for (input, want) in cases {
            let got = Reference::parse_relative(&input);
            assert_eq!(got, want, "parse_relative({input:?})");
            assert_eq!(input.parse::<Reference>(), want, "from_str({input:?})");

            // parse requires a host, and otherwise agrees with parse_relative.
            let want_abs = match &want {
                Ok(r) if r.host.is_none() => Err(RefError::MissingHost),
                w => w.clone(),
            };
            assert_eq!(Reference::parse(&input), want_abs, "parse({input:?})");

            if let Ok(r) = want {
                // Every valid case round-trips, and here also renders back to its input.
                assert_eq!(r.to_string(), input);
                assert_eq!(Reference::parse_relative(&r.to_string()), Ok(r));
            }
        }
    }

    #[test]
    fn parse_requires_host() {
        assert_eq!(Reference::parse("a/b"), Err(RefError::MissingHost));
        assert_eq!(
            Reference::parse("localhost/foo"),
            Err(RefError::MissingHost)
        );
        assert_eq!(
            Reference::parse("localhost:5000/foo"),
            Ok(r(Some("localhost:5000"), "foo", None, None))
        );
        // Syntax errors win over the missing host.
        assert!(matches!(
            Reference::parse("A/b"),
            Err(RefError::InvalidSyntax(_))
        ));
    }

    #[test]
    fn ref_error_messages_and_codes() {
        let long = "X".repeat(1000);
        let RefError::InvalidSyntax(quoted) = Reference::parse_relative(&long).unwrap_err() else {
            panic!("expected a syntax error");
        };
        assert!(quoted.len() < 110, "{} bytes quoted", quoted.len());

        let e = RefError::InvalidTag {
            tag: "a+b".into(),
            ch: '+',
        };
        assert_eq!(e.to_string(), r#"tag "a+b" contains invalid character '+'"#);
        assert_eq!(
            RefError::InvalidSyntax("x".into()).to_string(),
            r#"invalid reference syntax ("x")"#
        );
        assert_eq!(
            RefError::MissingHost.to_string(),
            "reference does not contain host name"
        );

        let e: Error = Reference::parse_relative("a@sha256:00").unwrap_err().into();
        assert_eq!(e.code(), &Code::DigestInvalid);
        for bad in [
            "A",
            "a:+",
            &format!("a:{}", "t".repeat(200)),
            &"a".repeat(300),
        ] {
            let e: Error = Reference::parse_relative(bad).unwrap_err().into();
            assert_eq!(e.code(), &Code::NameInvalid, "{bad:?}");
        }
        let e: Error = RefError::MissingHost.into();
        assert_eq!(e.code(), &Code::NameInvalid);
    }

    #[test]
    fn valid_host() {
        let cases = [
            ("localhost", false),
            ("localhost:1234", true),
            ("foo.com", true),
            ("[::1]", true),
            ("[::1]:80", true),
            ("foo.com:", false),
            ("-foo.com", false),
            ("foo..com", false),
            // Further cases.
            ("", false),
            ("foo-.com", false),
            ("f-o--o.com", true),
            ("1.2.3.4", true),
            ("1.2.3.4:5000", true),
            ("foo.com:50a0", false),
            ("foo.com:80:80", false),
            ("foo_bar.com", false),
            ("[fe80::1%eth0]", false),
            ("[fe80::1%eth0]:80", false),
            ("[::1", false),
            ("[::1]x", false),
            ("[::1]:", false),
            ("[]", false),
            ("[1.2.3.4]", false),
            ("[::ffff:1.2.3.4]", true),
            ("foo.com.", false),
            ("foo.com/bar", false),
            ("xn--7o8h.com", true),
        ];
        for (host, want) in cases {
            assert_eq!(is_valid_host(host), want, "is_valid_host({host:?})");
        }
    }

    #[test]
    fn valid_repository() {
        let a255 = "a".repeat(255);
        let a256 = "a".repeat(256);
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("foo", true),
            ("a.b/c_d", true),
            ("a-----b", true),
            ("a__b", true),
            ("foo/bar/baz", true),
            ("0123456789", true),
            ("a.b.c-d_e__f", true),
            (&a255, true),
            (&a256, false),
            ("", false),
            ("a..b", false),
            ("_a", false),
            ("a_", false),
            ("a-", false),
            ("-a", false),
            (".a", false),
            ("a___b", false),
            ("a_-b", false),
            ("a.-b", false),
            ("café", false),
            ("A", false),
            ("Foo/bar", false),
            ("a//b", false),
            ("/a", false),
            ("a/", false),
            ("..", false),
            ("a%2Fb", false),
            ("a\0b", false),
            ("a\r\nb", false),
            ("a b", false),
            ("a:b", false),
            ("a@b", false),
        ];
        for &(repo, want) in cases {
            assert_eq!(
                is_valid_repository(repo),
                want,
                "is_valid_repository({repo:?})"
            );
            assert_eq!(
                validate_repository(repo).is_ok(),
                want,
                "validate_repository({repo:?})"
            );
        }
        let e = validate_repository(&a256).unwrap_err();
        assert_eq!(e.code(), &Code::NameInvalid);
        assert!(e.message().contains("too long"), "{}", e.message());
        let e = validate_repository(&"A".repeat(1000)).unwrap_err();
        assert_eq!(e.code(), &Code::NameInvalid);
        assert!(
            e.message().contains("invalid repository name"),
            "{}",
            e.message()
        );
        assert!(e.message().len() < 300, "{}", e.message());
    }

    #[test]
    fn valid_tag() {
        let t128 = "t".repeat(128);
        let t129 = "t".repeat(129);
        let cases: &[(&str, bool)] = &[
            ("latest", true),
            ("v1.2.3", true),
            ("_a", true),
            ("a", true),
            ("A", true),
            ("0", true),
            ("a-b_c.D", true),
            ("a..b--c__", true),
            (&t128, true),
            (&t129, false),
            ("", false),
            (".a", false),
            ("-a", false),
            ("a+b", false),
            ("a\n", false),
            ("a\0", false),
            ("a b", false),
            ("a:b", false),
            ("a/b", false),
            ("tág", false),
        ];
        for &(tag, want) in cases {
            assert_eq!(is_valid_tag(tag), want, "is_valid_tag({tag:?})");
            assert_eq!(validate_tag(tag).is_ok(), want, "validate_tag({tag:?})");
        }
        for bad in ["", ".a", &t129] {
            assert_eq!(
                validate_tag(bad).unwrap_err().code(),
                &Code::ManifestInvalid
            );
        }
    }

    #[test]
    fn valid_digest() {
        assert!(is_valid_digest(SHA256));
        assert!(is_valid_digest(&sha512()));
        assert!(!is_valid_digest(""));
        assert!(!is_valid_digest("sha256:abc"));
        assert!(!is_valid_digest(&SHA256.to_uppercase()));
    }

    #[test]
    fn tag_or_digest() {
        let t = TagOrDigest::parse("latest").unwrap();
        assert_eq!(t, TagOrDigest::Tag("latest".into()));
        assert_eq!(t.as_tag(), Some("latest"));
        assert_eq!(t.as_digest(), None);
        assert_eq!(t.to_string(), "latest");

        let d: TagOrDigest = SHA256.parse().unwrap();
        assert_eq!(d, TagOrDigest::Digest(dg(SHA256)));
        assert_eq!(d.as_digest(), Some(&dg(SHA256)));
        assert_eq!(d.as_tag(), None);
        assert_eq!(d.to_string(), SHA256);

        for bad in ["sha256:abc", "a:b", ":", "latest:"] {
            let e = TagOrDigest::parse(bad).unwrap_err();
            assert_eq!(e.code(), &Code::DigestInvalid, "{bad:?}");
        }
        for bad in ["", ".a", "a+b", &"t".repeat(129)] {
            let e = TagOrDigest::parse(bad).unwrap_err();
            assert_eq!(e.code(), &Code::ManifestInvalid, "{bad:?}");
        }
    }

    /// A tiny deterministic generator (Knuth's MMIX LCG), so the test needs no extra crates.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn no_panics_on_random_input() {
        const ALPHABET: &[u8] = b"aAz09.:/@[]-_%+ \n\0f";
        // Fragments that often combine into valid references, to exercise the success paths.
        const TOKENS: &[&str] = &[
            "a",
            "b0",
            "foo",
            "x.y",
            "-",
            "--",
            ".",
            "_",
            "__",
            "/",
            "/",
            ":",
            ":",
            "5000",
            "v1",
            "foo.com",
            "localhost",
            "[::1]",
            "[fe80::1%1]",
            "@",
            "A",
            "é",
        ];
        let mut rng = Lcg(0x5eed);
        let mut parsed = 0;
        for i in 0..3000 {
            let len = rng.below(40);
            let mut s = match i % 3 {
                0 => {
                    let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                1 => (0..len)
                    .map(|_| char::from(ALPHABET[rng.below(ALPHABET.len())]))
                    .collect(),
                _ => (0..len % 8)
                    .map(|_| TOKENS[rng.below(TOKENS.len())])
                    .collect(),
            };
            if i % 5 == 0 {
                s.push('@');
                s.push_str(SHA256);
            }

            let repo_ok = is_valid_repository(&s);
            assert_eq!(validate_repository(&s).is_ok(), repo_ok, "{s:?}");
            let tag_ok = is_valid_tag(&s);
            assert_eq!(validate_tag(&s).is_ok(), tag_ok, "{s:?}");
            let _ = is_valid_host(&s);
            let _ = is_valid_digest(&s);
            let _ = TagOrDigest::parse(&s);
            let abs = Reference::parse(&s);
            match Reference::parse_relative(&s) {
                Ok(r) => {
                    parsed += 1;
                    assert!(is_valid_repository(&r.repository), "{s:?}");
                    assert!(r.tag.as_deref().is_none_or(is_valid_tag), "{s:?}");
                    assert!(r.host.as_deref().is_none_or(is_valid_host), "{s:?}");
                    assert_eq!(r.to_string(), s);
                    assert_eq!(Reference::parse_relative(&r.to_string()).as_ref(), Ok(&r));
                    assert_eq!(abs.is_ok(), r.host.is_some(), "{s:?}");
                }
                Err(e) => {
                    assert_eq!(abs, Err(e.clone()), "{s:?}");
                    let _ = Error::from(e).to_string();
                }
            }
        }
        assert!(parsed > 100, "only {parsed} valid references generated");
    }
}
