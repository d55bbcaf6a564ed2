//! The registry error: an OCI error code, a message, optional JSON detail and optional HTTP facts.
//!
//! Every operation of [`Registry`](crate::Registry) fails with [`Error`]. The code decides the HTTP
//! status a server answers with ([`Code::status`]); the wire envelope `{"errors":[...]}` converts both
//! ways ([`Error::to_wire_json`], [`Error::from_response`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A shorthand for results whose error is the registry [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An OCI distribution error code.
///
/// The fifteen codes of the OCI distribution specification (plus `RANGE_INVALID`, borrowed from
/// Docker) have their own variants; `UNKNOWN` is the code used for errors that carry none, and any
/// other code received from the wire is kept verbatim in [`Code::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `BLOB_UNKNOWN`: blob unknown to registry.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: blob upload invalid.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: blob upload unknown to registry.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: provided digest did not match uploaded content.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: manifest invalid.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: manifest unknown to registry.
    ManifestUnknown,
    /// `NAME_INVALID`: invalid repository name.
    NameInvalid,
    /// `NAME_UNKNOWN`: repository name not known to registry.
    NameUnknown,
    /// `SIZE_INVALID`: provided length did not match content length.
    SizeInvalid,
    /// `UNAUTHORIZED`: authentication required.
    Unauthorized,
    /// `DENIED`: requested access to the resource is denied.
    Denied,
    /// `UNSUPPORTED`: the operation is unsupported.
    Unsupported,
    /// `TOOMANYREQUESTS`: too many requests.
    TooManyRequests,
    /// `RANGE_INVALID`: invalid content range.
    RangeInvalid,
    /// `UNKNOWN`: an error with no more specific code.
    Unknown,
    /// Any other code, kept verbatim.
    Other(Box<str>),
}

impl Code {
    /// Every code with a variant of its own, in specification order.
    pub const KNOWN: [Code; 16] = [
        Code::BlobUnknown,
        Code::BlobUploadInvalid,
        Code::BlobUploadUnknown,
        Code::DigestInvalid,
        Code::ManifestBlobUnknown,
        Code::ManifestInvalid,
        Code::ManifestUnknown,
        Code::NameInvalid,
        Code::NameUnknown,
        Code::SizeInvalid,
        Code::Unauthorized,
        Code::Denied,
        Code::Unsupported,
        Code::TooManyRequests,
        Code::RangeInvalid,
        Code::Unknown,
    ];

    /// Parses a wire code; codes without a variant become [`Code::Other`].
    pub fn parse(s: &str) -> Code {
        Self::KNOWN
            .iter()
            .find(|c| c.as_str() == s)
            .cloned()
            .unwrap_or_else(|| Code::Other(s.into()))
    }

    /// The code as it appears on the wire, e.g. `BLOB_UNKNOWN`.
    pub fn as_str(&self) -> &str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::Unknown => "UNKNOWN",
            Code::Other(s) => s,
        }
    }

    /// The specification's default message for the code (empty for unknown codes).
    pub fn default_message(&self) -> &'static str {
        match self {
            Code::BlobUnknown => "blob unknown to registry",
            Code::BlobUploadInvalid => "blob upload invalid",
            Code::BlobUploadUnknown => "blob upload unknown to registry",
            Code::DigestInvalid => "provided digest did not match uploaded content",
            Code::ManifestBlobUnknown => {
                "manifest references a manifest or blob unknown to registry"
            }
            Code::ManifestInvalid => "manifest invalid",
            Code::ManifestUnknown => "manifest unknown to registry",
            Code::NameInvalid => "invalid repository name",
            Code::NameUnknown => "repository name not known to registry",
            Code::SizeInvalid => "provided length did not match content length",
            Code::Unauthorized => "authentication required",
            Code::Denied => "requested access to the resource is denied",
            Code::Unsupported => "the operation is unsupported",
            Code::TooManyRequests => "too many requests",
            Code::RangeInvalid => "invalid content range",
            Code::Unknown | Code::Other(_) => "",
        }
    }

    /// The HTTP status a server answers with for this code, or `None` for codes with no fixed
    /// status (`UNKNOWN` and unrecognised codes).
    pub fn status(&self) -> Option<StatusCode> {
        Some(match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestBlobUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::BlobUploadInvalid | Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::DigestInvalid
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::SizeInvalid
            | Code::Unsupported => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Code::Unknown | Code::Other(_) => return None,
        })
    }

    /// The code in lower-case words, as used in error strings (`BLOB_UNKNOWN` → `blob unknown`).
    pub fn words(&self) -> String {
        self.as_str().to_ascii_lowercase().replace('_', " ")
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known of the HTTP response an error was decoded from.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The (possibly truncated) response body.
    pub body: Bytes,
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Clone)]
struct Inner {
    code: Code,
    message: Cow<'static, str>,
    detail: Option<Box<RawValue>>,
    status_override: Option<StatusCode>,
    response: Option<HttpResponse>,
    source: Option<Source>,
}

/// A registry error.
///
/// It carries an OCI [`Code`], a message, optional JSON `detail`, an optional HTTP status (used only
/// when the code has none of its own), the HTTP response it was decoded from (on the client side),
/// and an optional source error. It is cheap to move (one pointer) and to clone.
///
/// ```
/// use ociregistry_core::{Code, Error};
/// let err = Error::new(Code::BlobUnknown, "no such layer");
/// assert!(err.is_not_found());
/// assert_eq!(err.status().as_u16(), 404);
/// assert_eq!(err.to_string(), "blob unknown: no such layer");
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

impl Error {
    /// An error with `code` and `message`; an empty message means the code's default message.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Error {
        let mut message = message.into();
        if message.is_empty() {
            message = Cow::Borrowed(code.default_message());
        }
        Error {
            inner: Box::new(Inner {
                code,
                message,
                detail: None,
                status_override: None,
                response: None,
                source: None,
            }),
        }
    }

    /// An error with `code` and the code's default message.
    pub fn from_code(code: Code) -> Error {
        Error::new(code, "")
    }

    /// The `UNSUPPORTED` error a registry returns for an operation it does not implement.
    pub fn unsupported_operation(operation: crate::Operation) -> Error {
        Error::new(
            Code::Unsupported,
            format!("operation {} is unsupported", operation.name()),
        )
    }

    /// An `UNKNOWN` error wrapping an underlying cause, such as an I/O failure.
    pub fn internal(source: impl std::error::Error + Send + Sync + 'static) -> Error {
        let message = source.to_string();
        Error::new(Code::Unknown, message).with_source(source)
    }

    /// Sets the JSON `detail`. A value that cannot be serialized is dropped.
    #[must_use]
    pub fn with_detail(mut self, detail: &impl Serialize) -> Error {
        self.inner.detail = serde_json::value::to_raw_value(detail).ok();
        self
    }

    /// Sets the JSON `detail` from raw JSON text.
    #[must_use]
    pub fn with_raw_detail(mut self, detail: Option<Box<RawValue>>) -> Error {
        self.inner.detail = detail;
        self
    }

    /// Sets the HTTP status a server answers with, overriding the code's own status (for
    /// example 405 for an `UNSUPPORTED` method, or 413 for an oversized manifest).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Error {
        self.inner.status_override = Some(status);
        self
    }

    /// Attaches the HTTP response this error was decoded from.
    #[must_use]
    pub fn with_response(mut self, response: HttpResponse) -> Error {
        self.inner.response = Some(response);
        self
    }

    /// Sets the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// Replaces the code, keeping everything else.
    #[must_use]
    pub fn with_code(mut self, code: Code) -> Error {
        self.inner.code = code;
        self
    }

    /// Replaces the message, keeping everything else.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Error {
        self.inner.message = message.into();
        self
    }

    /// The OCI error code.
    pub fn code(&self) -> &Code {
        &self.inner.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The raw JSON `detail`, if any.
    pub fn detail(&self) -> Option<&RawValue> {
        self.inner.detail.as_deref()
    }

    /// The HTTP status this error was given ([`Error::with_status`]) or received with, if any.
    pub fn http_status(&self) -> Option<StatusCode> {
        self.inner
            .status_override
            .or(self.inner.response.as_ref().map(|r| r.status))
    }

    /// The HTTP response this error was decoded from, if any.
    pub fn response(&self) -> Option<&HttpResponse> {
        self.inner.response.as_ref()
    }

    /// The status a server answers with: the status set with [`Error::with_status`], else the
    /// code's own status (so an error relayed from another registry answers with the status its
    /// code calls for, whatever status it arrived with), else the status of the response it was
    /// decoded from, else 500.
    pub fn status(&self) -> StatusCode {
        self.inner
            .status_override
            .or_else(|| self.inner.code.status())
            .or(self.inner.response.as_ref().map(|r| r.status))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Whether the error has the given code.
    pub fn is(&self, code: &Code) -> bool {
        &self.inner.code == code
    }

    /// Whether the error says something does not exist: `NAME_UNKNOWN`, `BLOB_UNKNOWN`,
    /// `MANIFEST_UNKNOWN` or `BLOB_UPLOAD_UNKNOWN`.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.inner.code,
            Code::NameUnknown | Code::BlobUnknown | Code::ManifestUnknown | Code::BlobUploadUnknown
        )
    }

    /// Whether the error is `UNSUPPORTED`.
    pub fn is_unsupported(&self) -> bool {
        self.inner.code == Code::Unsupported
    }

    /// Whether the error is `DENIED` or `UNAUTHORIZED`.
    pub fn is_denied(&self) -> bool {
        matches!(self.inner.code, Code::Denied | Code::Unauthorized)
    }

    /// Whether the error is a range error: `RANGE_INVALID`, or any error received with status 416.
    pub fn is_range_invalid(&self) -> bool {
        self.inner.code == Code::RangeInvalid
            || self.http_status() == Some(StatusCode::RANGE_NOT_SATISFIABLE)
    }

    /// The error as one entry of the wire envelope.
    pub fn to_wire(&self) -> WireError {
        WireError {
            code: self.inner.code.as_str().to_owned(),
            message: self.inner.message.clone().into_owned(),
            detail: self.inner.detail.clone(),
        }
    }

    /// The error as the JSON body `{"errors":[{"code":..,"message":..,"detail":..}]}`.
    pub fn to_wire_json(&self) -> Vec<u8> {
        let envelope = WireErrors {
            errors: vec![self.to_wire()],
        };
        // A struct of strings and raw JSON always serializes.
        serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{\"errors\":[]}".to_vec())
    }

    /// Decodes an error response.
    ///
    /// The first error of a `{"errors":[...]}` body gives the code, message and detail. A body that
    /// is not such an envelope gives a code synthesized from the status (401, 403, 404 → `UNKNOWN`
    /// is left for the caller to refine, 416, 429), and its text, truncated, as the message. The
    /// status, headers and body are always kept.
    pub fn from_response(status: StatusCode, headers: HeaderMap, body: Bytes) -> Error {
        let parsed = serde_json::from_slice::<WireErrors>(&body)
            .ok()
            .and_then(|w| w.errors.into_iter().next());
        let err = match parsed {
            Some(w) => Error::new(Code::parse(&w.code), w.message).with_raw_detail(w.detail),
            None => {
                let code = match status {
                    StatusCode::UNAUTHORIZED => Code::Unauthorized,
                    StatusCode::FORBIDDEN => Code::Denied,
                    StatusCode::TOO_MANY_REQUESTS => Code::TooManyRequests,
                    StatusCode::RANGE_NOT_SATISFIABLE => Code::RangeInvalid,
                    _ => Code::Unknown,
                };
                let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
                let text = text.trim();
                let message = if text.is_empty() {
                    format!(
                        "{} {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or("")
                    )
                } else {
                    text.to_owned()
                };
                Error::new(code, message)
            }
        };
        err.with_response(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.inner.code)
            .field("message", &self.inner.message);
        if let Some(detail) = &self.inner.detail {
            d.field("detail", &detail.get());
        }
        if let Some(status) = self.http_status() {
            d.field("status", &status);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.code.words(), self.inner.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<Code> for Error {
    fn from(code: Code) -> Error {
        Error::from_code(code)
    }
}

/// The JSON error envelope of the distribution API: `{"errors":[...]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireErrors {
    /// The errors, most significant first.
    pub errors: Vec<WireError>,
}

/// One entry of the JSON error envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireError {
    /// The code, e.g. `BLOB_UNKNOWN`.
    pub code: String,
    /// The message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Unstructured JSON detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Box<RawValue>>,
}

impl From<WireError> for Error {
    fn from(w: WireError) -> Error {
        Error::new(Code::parse(&w.code), w.message).with_raw_detail(w.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_round_trips() {
        for code in Code::KNOWN {
            assert_eq!(Code::parse(code.as_str()), code);
        }
        assert_eq!(Code::parse("WEIRD"), Code::Other("WEIRD".into()));
    }

    #[test]
    fn status_table() {
        let table = [
            (Code::BlobUnknown, 404),
            (Code::BlobUploadInvalid, 416),
            (Code::BlobUploadUnknown, 404),
            (Code::DigestInvalid, 400),
            (Code::ManifestBlobUnknown, 404),
            (Code::ManifestInvalid, 400),
            (Code::ManifestUnknown, 404),
            (Code::NameInvalid, 400),
            (Code::NameUnknown, 404),
            (Code::SizeInvalid, 400),
            (Code::Unauthorized, 401),
            (Code::Denied, 403),
            (Code::Unsupported, 400),
            (Code::TooManyRequests, 429),
            (Code::RangeInvalid, 416),
        ];
        for (code, status) in table {
            assert_eq!(Error::from_code(code).status().as_u16(), status);
        }
        assert_eq!(Error::from_code(Code::Unknown).status().as_u16(), 500);
    }

    #[test]
    fn known_code_overrides_response_status_and_unknown_uses_it() {
        let resp = |status| HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        let e = Error::from_code(Code::NameUnknown).with_response(resp(StatusCode::UNAUTHORIZED));
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(e.http_status(), Some(StatusCode::UNAUTHORIZED));
        let e = Error::new(Code::Other("TEAPOT".into()), "x")
            .with_response(resp(StatusCode::IM_A_TEAPOT));
        assert_eq!(e.status(), StatusCode::IM_A_TEAPOT);
        // A status chosen by the server itself wins over the code's.
        let e = Error::from_code(Code::Unsupported).with_status(StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn display_and_default_message() {
        let e = Error::from_code(Code::BlobUnknown);
        assert_eq!(e.to_string(), "blob unknown: blob unknown to registry");
    }

    #[test]
    fn wire_round_trip_keeps_code_message_detail() {
        let e = Error::new(Code::ManifestInvalid, "bad layers")
            .with_detail(&serde_json::json!({"i": 1}));
        let body = e.to_wire_json();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"errors":[{"code":"MANIFEST_INVALID","message":"bad layers","detail":{"i":1}}]}"#
        );
        let back = Error::from_response(StatusCode::BAD_REQUEST, HeaderMap::new(), body.into());
        assert!(back.is(&Code::ManifestInvalid));
        assert_eq!(back.message(), "bad layers");
        assert_eq!(back.detail().unwrap().get(), r#"{"i":1}"#);
        assert_eq!(back.response().unwrap().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn non_json_bodies_synthesize_codes() {
        let e = Error::from_response(
            StatusCode::IM_A_TEAPOT,
            HeaderMap::new(),
            "short and stout".into(),
        );
        assert!(e.is(&Code::Unknown));
        assert_eq!(e.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(e.message(), "short and stout");
        let e = Error::from_response(
            StatusCode::RANGE_NOT_SATISFIABLE,
            HeaderMap::new(),
            Bytes::new(),
        );
        assert!(e.is_range_invalid());
        let e = Error::from_response(
            StatusCode::FORBIDDEN,
            HeaderMap::new(),
            Bytes::from_static(b"\xff\xfe"),
        );
        assert!(e.is_denied());
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            &b""[..],
            b"{",
            b"{\"errors\":null}",
            b"{\"errors\":[{}]}",
            b"[1,2]",
            b"\x00\x01",
        ] {
            let _ = Error::from_response(
                StatusCode::BAD_REQUEST,
                HeaderMap::new(),
                Bytes::copy_from_slice(body),
            );
        }
    }
}
