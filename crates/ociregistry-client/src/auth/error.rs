//! The authentication error.

use std::path::PathBuf;

use ociregistry_core::{Code, Error};

/// Why credentials or a token could not be obtained.
///
/// Messages never contain passwords or tokens. It converts into the registry
/// [`ociregistry_core::Error`] (kept as its source, so it can be recovered with
/// `std::error::Error::source` and `downcast_ref`): `DENIED` for
/// [`AuthError::FreshTokenRejected`] and a token server's 403, the transport error's own code
/// for [`AuthError::Transport`], `UNKNOWN` for a token server that timed out, and
/// `UNAUTHORIZED` for everything else.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A configuration file or `DOCKER_AUTH_CONFIG` is not valid.
    #[error("invalid config {source_name}: {message}")]
    InvalidConfig {
        /// The file name, or `$DOCKER_AUTH_CONFIG`.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A configuration file exists but cannot be read.
    #[error("cannot read config {}: {message}", path.display())]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// An `auths` entry has both an identity token and a user name.
    #[error("ambiguous auth credentials for {host:?}: both identitytoken and username are set")]
    AmbiguousCredentials {
        /// The registry host looked up.
        host: String,
    },
    /// Several URL-style `auths` keys map to the host looked up, and no key is the host itself.
    #[error("more than one auths entry for {host:?} ({})", keys.join(", "))]
    AmbiguousEntries {
        /// The registry host looked up.
        host: String,
        /// The keys that map to it, sorted.
        keys: Vec<String>,
    },
    /// The credential helper program `docker-credential-<helper>` is not on the path.
    #[error("credential helper docker-credential-{helper} not found")]
    HelperNotFound {
        /// The helper name, without the `docker-credential-` prefix.
        helper: String,
    },
    /// The credential helper failed, or printed something that is not credentials.
    #[error("error getting credentials from docker-credential-{helper}: {message}")]
    Helper {
        /// The helper name.
        helper: String,
        /// What went wrong, including the helper's (truncated) output.
        message: String,
    },
    /// A custom credential store failed.
    #[error("cannot get credentials: {0}")]
    Store(String),
    /// The registry's `WWW-Authenticate` challenge cannot be followed (for example a `Bearer`
    /// challenge without a `realm`, or a realm that is not an http(s) URL).
    #[error("malformed challenge from {origin}: {message}")]
    MalformedChallenge {
        /// The registry origin.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The registry named a token realm that credentials must not be sent to: another host
    /// over plain HTTP, an http realm for an https registry, or another host that is an IP
    /// address or a local name.
    #[error("refusing token realm {realm} for registry {origin}: {reason}")]
    RealmRejected {
        /// The registry origin.
        origin: String,
        /// The realm, without its query.
        realm: String,
        /// Why it is refused.
        reason: String,
    },
    /// The token server answered with a status other than 200.
    #[error("token server {realm} answered {status}")]
    TokenStatus {
        /// The realm, without its query.
        realm: String,
        /// The HTTP status.
        status: u16,
    },
    /// The token server's answer is not a usable token.
    #[error("bad token response from {realm}: {message}")]
    TokenResponse {
        /// The realm, without its query.
        realm: String,
        /// What is wrong.
        message: String,
    },
    /// The token server did not answer in time.
    #[error("token server {realm} timed out")]
    TokenTimeout {
        /// The realm, without its query.
        realm: String,
    },
    /// Sending the token request failed.
    #[error("token request to {realm} failed: {source}")]
    Transport {
        /// The realm, without its query.
        realm: String,
        /// The transport error.
        source: Error,
    },
    /// The registry answered 401 to a request carrying a token that was just acquired for it:
    /// the credentials are valid but do not grant the access asked for.
    #[error("unauthorized response from {origin} with freshly acquired auth token")]
    FreshTokenRejected {
        /// The registry origin.
        origin: String,
    },
    /// The origin is not `scheme://host[:port]`.
    #[error("invalid registry origin {0:?}")]
    InvalidOrigin(String),
    /// A token or credential contains characters that cannot be sent in a header.
    #[error("credentials for {origin} cannot be sent in an Authorization header")]
    InvalidHeaderValue {
        /// The registry origin.
        origin: String,
    },
}

impl AuthError {
    /// The OCI error code this error converts to.
    pub fn code(&self) -> Code {
        match self {
            AuthError::FreshTokenRejected { .. } => Code::Denied,
            AuthError::TokenStatus { status: 403, .. } => Code::Denied,
            AuthError::Transport { source, .. } => source.code().clone(),
            AuthError::TokenTimeout { .. } => Code::Unknown,
            _ => Code::Unauthorized,
        }
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Error {
        Error::new(e.code(), e.to_string()).with_source(e)
    }
}
