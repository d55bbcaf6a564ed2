//! Reading responses: error responses into [`Error`]s, and the descriptor headers of
//! successful ones.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};
use ociregistry_core::header::DOCKER_CONTENT_DIGEST;
use ociregistry_core::{Code, Digest, Error};

use crate::transport::Resp;
use crate::urls::truncate;

/// What a request was about, to name what is missing when a `404` does not say (a `HEAD`
/// answer has no body; some registries answer `GET`s with a non-JSON body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// A blob: `BLOB_UNKNOWN`.
    Blob,
    /// A manifest or tag: `MANIFEST_UNKNOWN`.
    Manifest,
    /// A repository (tag lists): `NAME_UNKNOWN`.
    Repository,
    /// An upload session: `BLOB_UPLOAD_UNKNOWN`.
    Upload,
    /// Something else: the code stays `UNKNOWN`.
    Other,
}

impl Subject {
    fn not_found(self) -> Option<Code> {
        match self {
            Subject::Blob => Some(Code::BlobUnknown),
            Subject::Manifest => Some(Code::ManifestUnknown),
            Subject::Repository => Some(Code::NameUnknown),
            Subject::Upload => Some(Code::BlobUploadUnknown),
            Subject::Other => None,
        }
    }
}

/// Turns a non-success response into an error: the body (up to `limit` bytes) decoded by
/// [`Error::from_response`], a `404` without a code mapped by `subject`, and the registry host
/// added to the message. The status, headers and (truncated) body are kept.
pub(crate) async fn error_from(resp: Resp, subject: Subject, limit: usize) -> Error {
    let status = resp.status;
    let method = resp.method.clone();
    let host = resp.host.clone();
    let headers = resp.headers.clone();
    let body = if method == Method::HEAD {
        bytes::Bytes::new()
    } else {
        resp.read_prefix(limit).await
    };
    let err = Error::from_response(status, headers, body);
    refine(err, status, subject, &host)
}

/// Refines a decoded error: a `404` with no code gets the code of what was asked for; the host
/// is named in the message.
pub(crate) fn refine(err: Error, status: StatusCode, subject: Subject, host: &str) -> Error {
    let mut err = err;
    if status == StatusCode::NOT_FOUND
        && err.is(&Code::Unknown)
        && let Some(code) = subject.not_found()
    {
        let message = if err.message().starts_with("404") || err.message().is_empty() {
            code.default_message().to_owned()
        } else {
            err.message().to_owned()
        };
        err = err.with_code(code).with_message(message);
    }
    with_host(err, host)
}

/// Names the registry in the error message (cue-lang/cue#3611).
pub(crate) fn with_host(err: Error, host: &str) -> Error {
    let suffix = format!("(registry {host})");
    if err.message().ends_with(&suffix) {
        return err;
    }
    let message = format!("{} {suffix}", err.message());
    err.with_message(message)
}

/// The `Docker-Content-Digest` header: `None` when absent, `DIGEST_INVALID` when malformed.
pub(crate) fn header_digest(headers: &HeaderMap) -> Result<Option<Digest>, Error> {
    let Some(value) = headers.get(DOCKER_CONTENT_DIGEST) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    Digest::parse(text).map(Some).map_err(|e| {
        Error::new(
            Code::DigestInvalid,
            format!(
                "registry sent an invalid Docker-Content-Digest {:?}: {e}",
                truncate(text)
            ),
        )
    })
}

/// Checks a `Docker-Content-Digest` header against the digest that was asked for: a header of
/// the same algorithm must be equal (`DIGEST_INVALID` otherwise); one of another algorithm says
/// nothing about the requested digest and is ignored.
pub(crate) fn check_header_digest(headers: &HeaderMap, expected: &Digest) -> Result<(), Error> {
    match header_digest(headers)? {
        Some(got) if got.algorithm() == expected.algorithm() && got != *expected => {
            Err(Error::new(
                Code::DigestInvalid,
                format!("registry answered with digest {got} for {expected}"),
            ))
        }
        _ => Ok(()),
    }
}

/// The `Content-Length` header, if present and a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `Content-Type` header, if present and text.
pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(CONTENT_TYPE)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// A header as text, if present and text.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An error about a response that broke the protocol.
pub(crate) fn protocol(host: &str, message: impl Into<String>) -> Error {
    with_host(Error::new(Code::Unknown, message.into()), host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_refined_by_subject() {
        let e = Error::from_response(StatusCode::NOT_FOUND, HeaderMap::new(), bytes::Bytes::new());
        let e = refine(e, StatusCode::NOT_FOUND, Subject::Blob, "r.example");
        assert!(e.is(&Code::BlobUnknown), "{e}");
        assert!(e.message().contains("r.example"), "{e}");
        assert_eq!(e.http_status(), Some(StatusCode::NOT_FOUND));
        // A JSON code wins over the subject.
        let body = Error::from_code(Code::NameUnknown).to_wire_json();
        let e = Error::from_response(StatusCode::NOT_FOUND, HeaderMap::new(), body.into());
        let e = refine(e, StatusCode::NOT_FOUND, Subject::Blob, "r.example");
        assert!(e.is(&Code::NameUnknown), "{e}");
        // Other statuses keep their synthesized codes.
        for (status, code) in [
            (StatusCode::UNAUTHORIZED, Code::Unauthorized),
            (StatusCode::FORBIDDEN, Code::Denied),
            (StatusCode::TOO_MANY_REQUESTS, Code::TooManyRequests),
            (StatusCode::RANGE_NOT_SATISFIABLE, Code::RangeInvalid),
            (StatusCode::BAD_REQUEST, Code::Unknown),
            (StatusCode::IM_A_TEAPOT, Code::Unknown),
        ] {
            let e = Error::from_response(status, HeaderMap::new(), bytes::Bytes::new());
            let e = refine(e, status, Subject::Manifest, "h");
            assert!(e.is(&code), "{status}: {e}");
            assert_eq!(e.http_status(), Some(status));
        }
    }

    #[test]
    fn digest_headers() {
        let d = Digest::sha256(b"x");
        let mut h = HeaderMap::new();
        assert_eq!(header_digest(&h).unwrap(), None);
        check_header_digest(&h, &d).unwrap();
        h.insert(DOCKER_CONTENT_DIGEST, "sha256:zz".parse().unwrap());
        assert!(header_digest(&h).unwrap_err().is(&Code::DigestInvalid));
        h.insert(
            DOCKER_CONTENT_DIGEST,
            Digest::sha256(b"y").as_str().parse().unwrap(),
        );
        assert!(
            check_header_digest(&h, &d)
                .unwrap_err()
                .is(&Code::DigestInvalid)
        );
        let d512 = Digest::compute(ociregistry_core::Algorithm::Sha512, b"x");
        check_header_digest(&h, &d512).unwrap();
    }
}
