//! Docker-style registry authentication: credentials from docker and podman configuration
//! files and credential helpers, and the Basic and Bearer-token flows of the distribution
//! token specification.
//!
//! Usable on its own by programs that only need credentials:
//!
//! ```
//! use ociregistry_client::auth::{CredentialStore, DockerConfig};
//!
//! // Normally DockerConfig::load(); here an explicit environment with no files in it.
//! let config = DockerConfig::load_with_env([
//!     ("DOCKER_AUTH_CONFIG", r#"{"auths": {"ghcr.io": {"username": "me", "password": "pat"}}}"#),
//! ])?;
//! let creds = config.entry_for_registry("ghcr.io")?;
//! assert_eq!(creds.username, "me");
//! assert!(config.entry_for_registry("quay.io")?.is_empty());
//! # Ok::<(), ociregistry_client::auth::AuthError>(())
//! ```
//!
//! The HTTP client uses an [`Authenticator`], which decides what `Authorization` header each
//! request carries and answers `401` challenges; see its documentation for the protocol.
//!
//! - [`config`], [`DockerConfig`], the configuration files and their precedence.
//! - [`helper`], credential helper programs ([`ExecHelper`]).
//! - [`credentials`], [`Credentials`] and the [`CredentialStore`] trait.
//! - [`scope`], [`Scope`], what a token allows.
//! - [`challenge`], parsing `WWW-Authenticate`.
//! - [`realm`], which token servers credentials may be sent to ([`RealmPolicy`]).
//! - [`token`], the token server exchange ([`HttpSend`]).
//! - [`authenticator`], [`Authenticator`], the token cache and retry protocol.
//! - [`error`], [`AuthError`].

pub mod authenticator;
pub mod challenge;
pub mod config;
pub mod credentials;
pub mod error;
pub mod helper;
pub mod realm;
pub mod scope;
pub mod token;

pub use authenticator::Authenticator;
pub use challenge::Challenge;
pub use config::DockerConfig;
pub use credentials::{CredentialStore, Credentials, NoCredentials};
pub use error::AuthError;
pub use helper::{ExecHelper, HelperRunner};
pub use realm::RealmPolicy;
pub use scope::{ResourceScope, Scope};
pub use token::{HttpSend, MAX_TOKEN_RESPONSE_BYTES};
