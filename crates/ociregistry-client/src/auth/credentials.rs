//! Credentials for one registry, and where they come from.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::AuthError;

/// What is known to authenticate to one registry. Empty strings mean "not set".
///
/// This mirrors an entry of docker's `config.json` and the answer of a credential helper.
/// `Debug` shows the user name and which secrets are set, never the secrets.
///
/// ```
/// use ociregistry_client::auth::Credentials;
/// let c = Credentials::basic("alice", "s3cret");
/// assert!(!format!("{c:?}").contains("s3cret"));
/// assert!(Credentials::default().is_empty());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The user name for Basic authentication (or for the token server).
    pub username: String,
    /// The password that goes with `username`.
    pub password: String,
    /// A refresh token (docker's `identitytoken`), exchanged at the token server for access
    /// tokens with the OAuth2 `refresh_token` grant.
    pub identity_token: String,
    /// A bearer access token (docker's `registrytoken`), sent to the registry as is, for every
    /// scope.
    pub registry_token: String,
}

impl Credentials {
    /// A user name and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
            ..Credentials::default()
        }
    }

    /// A refresh (identity) token.
    pub fn identity_token(token: impl Into<String>) -> Credentials {
        Credentials {
            identity_token: token.into(),
            ..Credentials::default()
        }
    }

    /// A registry (access) token.
    pub fn registry_token(token: impl Into<String>) -> Credentials {
        Credentials {
            registry_token: token.into(),
            ..Credentials::default()
        }
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("identity_token", &redact(&self.identity_token))
            .field("registry_token", &redact(&self.registry_token))
            .finish()
    }
}

/// A source of credentials by registry host.
///
/// `host` is the registry's host with its port if it has one (`ghcr.io`, `localhost:5000`).
/// "Nothing known" is `Ok(Credentials::default())`, not an error. Implementations must be safe
/// to call from several threads; they may block (a credential helper runs a program), and
/// the [`Authenticator`](super::Authenticator) calls them on a blocking thread, once per
/// registry.
///
/// Implemented by [`DockerConfig`](super::DockerConfig), [`NoCredentials`], maps from host
/// to [`Credentials`], and closures `Fn(&str) -> Result<Credentials, AuthError>`.
pub trait CredentialStore: Send + Sync {
    /// The credentials for `host`.
    fn entry_for_registry(&self, host: &str) -> Result<Credentials, AuthError>;
}

/// The store that knows nothing: every registry is accessed anonymously.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentials;

impl CredentialStore for NoCredentials {
    fn entry_for_registry(&self, _host: &str) -> Result<Credentials, AuthError> {
        Ok(Credentials::default())
    }
}

impl<F> CredentialStore for F
where
    F: Fn(&str) -> Result<Credentials, AuthError> + Send + Sync,
{
    fn entry_for_registry(&self, host: &str) -> Result<Credentials, AuthError> {
        self(host)
    }
}

impl CredentialStore for HashMap<String, Credentials> {
    fn entry_for_registry(&self, host: &str) -> Result<Credentials, AuthError> {
        Ok(self.get(host).cloned().unwrap_or_default())
    }
}

impl<T: CredentialStore + ?Sized> CredentialStore for Arc<T> {
    fn entry_for_registry(&self, host: &str) -> Result<Credentials, AuthError> {
        (**self).entry_for_registry(host)
    }
}
