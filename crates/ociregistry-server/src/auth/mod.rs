//! Authentication as a tower layer: who is calling, passed on in the request's [`Context`].
//!
//! [`AuthLayer`] wraps the registry service. It accepts HTTP Basic credentials (checked by a
//! [`PasswordCheck`], e.g. an [`Htpasswd`] file) and, when a realm is configured, runs the
//! distribution spec's bearer token flow: requests without acceptable credentials are answered
//! `401` with a `WWW-Authenticate: Bearer realm=..,service=..,scope=..` challenge, the token
//! endpoint (`/token`) issues short-lived signed tokens holding the scopes the caller's
//! [`Permissions`] allow, and requests carrying a token are let through when its scopes cover
//! what they need. A request needing a scope that the caller asked for and was refused gets
//! `403 DENIED`.
//!
//! The layer authenticates; it puts a [`Context`] with the caller's [`Identity`] in the request
//! extensions, where [`RegistryService`](crate::RegistryService) finds it and passes it to the
//! registry. Per-repository authorization of requests is then the job of an access-checking
//! registry wrapper (such as `ociregistry-filter`'s access checker) that reads the identity.
//!
//! ```
//! use std::sync::Arc;
//! use ociregistry_core::Identity;
//! use ociregistry_server::auth::{Actions, AuthConfig, AuthLayer, Htpasswd, Permissions};
//!
//! struct Everyone;
//! impl Permissions for Everyone {
//!     fn repository(&self, identity: &Identity, _repo: &str) -> Actions {
//!         if identity.user().is_some() { Actions::ALL } else { Actions::PULL }
//!     }
//!     fn catalog(&self, identity: &Identity) -> bool { identity.user().is_some() }
//! }
//!
//! let users = Htpasswd::parse("").unwrap();
//! let config = AuthConfig::new("my-registry").realm("http://127.0.0.1:5000/token");
//! let layer = AuthLayer::new(config, Arc::new(users), Arc::new(Everyone));
//! # let _ = layer;
//! ```

mod access;
mod htpasswd;
mod token;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use base64::Engine as _;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use ociregistry_core::route::Route;
use ociregistry_core::{Code, Context, Error, Identity, media_type};
use serde::Serialize;

pub use access::{Actions, Permissions, Required, ResourceAccess};
pub use htpasswd::{Htpasswd, HtpasswdError, PasswordCheck};
pub use token::{Claims, TokenError, TokenSigner};

use crate::body::{self, ResponseBody};
use crate::response;

/// How the authentication layer behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The service name in challenges and tokens.
    pub service: String,
    /// The absolute URL of the token endpoint clients are sent to. `None`: Basic challenges
    /// only, no tokens.
    pub realm: Option<String>,
    /// The path this layer serves tokens on (default `/token`).
    pub token_path: String,
    /// How long issued tokens are valid (default 5 minutes).
    pub token_ttl: Duration,
    /// Let callers without credentials pull (read) without being challenged.
    pub anonymous_pull: bool,
    /// Signs and verifies tokens (default: a random key per process).
    pub signer: TokenSigner,
}

impl AuthConfig {
    /// A configuration for `service`: no realm (Basic only), `/token`, 5-minute tokens, no
    /// anonymous access.
    pub fn new(service: impl Into<String>) -> AuthConfig {
        AuthConfig {
            service: service.into(),
            realm: None,
            token_path: "/token".into(),
            token_ttl: Duration::from_secs(300),
            anonymous_pull: false,
            signer: TokenSigner::random(),
        }
    }

    /// Sets the token endpoint URL, turning the token flow on.
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> AuthConfig {
        self.realm = Some(realm.into());
        self
    }

    /// Sets whether anonymous callers may pull.
    #[must_use]
    pub fn anonymous_pull(mut self, on: bool) -> AuthConfig {
        self.anonymous_pull = on;
        self
    }

    /// Sets the token lifetime.
    #[must_use]
    pub fn token_ttl(mut self, ttl: Duration) -> AuthConfig {
        self.token_ttl = ttl;
        self
    }
}

struct State {
    config: AuthConfig,
    passwords: Arc<dyn PasswordCheck>,
    permissions: Arc<dyn Permissions>,
    /// Password checks running at once, at most one per core: a flood of Basic credentials
    /// then waits here instead of taking every blocking thread (which a disk-backed registry
    /// needs for its file operations).
    checks: tokio::sync::Semaphore,
}

/// The authentication layer. See the [module docs](self).
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<State>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("config", &self.state.config)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A layer checking passwords with `passwords` and granting token scopes by `permissions`.
    pub fn new(
        config: AuthConfig,
        passwords: Arc<dyn PasswordCheck>,
        permissions: Arc<dyn Permissions>,
    ) -> AuthLayer {
        AuthLayer {
            state: Arc::new(State {
                config,
                passwords,
                permissions,
                checks: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                ),
            }),
        }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;
    fn layer(&self, inner: S) -> Authenticate<S> {
        Authenticate {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service [`AuthLayer`] builds.
#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    state: Arc<State>,
}

impl<S> fmt::Debug for Authenticate<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticate").finish_non_exhaustive()
    }
}

impl<S, B> tower_service::Service<Request<B>> for Authenticate<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            if req.uri().path() == state.config.token_path {
                return Ok(stamp(
                    token_endpoint(&state, req.method(), req.uri(), req.headers()).await,
                ));
            }
            let caller = match authenticate(&state, req.headers()).await {
                Ok(c) => c,
                Err(resp) => return Ok(stamp(resp)),
            };
            if let Ok(route) = Route::parse(req.method(), req.uri().path(), req.uri().query()) {
                let head = req.method() == Method::HEAD;
                if let Some(resp) = authorize(&state, &caller, &Required::of(&route), head) {
                    return Ok(stamp(resp));
                }
            }
            let cx = req
                .extensions()
                .get::<Context>()
                .cloned()
                .unwrap_or_default()
                .with_identity(caller.identity);
            req.extensions_mut().insert(cx);
            inner.call(req).await
        })
    }
}

fn stamp(mut resp: Response<ResponseBody>) -> Response<ResponseBody> {
    response::stamp(&mut resp);
    resp
}

/// Who a request comes from, and what its token grants.
struct Caller {
    identity: Identity,
    token: Option<Claims>,
}

fn basic_credentials(value: &str) -> Option<(String, String)> {
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The user of valid Basic credentials in an `Authorization` value. bcrypt is slow, so the
/// check runs off the async threads, at most one per core at a time.
async fn basic_user(state: &Arc<State>, value: &str) -> Option<String> {
    let (user, password) = basic_credentials(value)?;
    let passwords = state.passwords.clone();
    let checked = user.clone();
    // The semaphore is never closed; were it, checking without a slot is still correct.
    let _slot = state.checks.acquire().await.ok();
    let ok = tokio::task::spawn_blocking(move || passwords.check(&checked, &password))
        .await
        .unwrap_or(false);
    ok.then_some(user)
}

/// The caller of a request, or the 401 that refuses bad credentials.
async fn authenticate(
    state: &Arc<State>,
    headers: &http::HeaderMap,
) -> Result<Caller, Response<ResponseBody>> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(Caller {
            identity: Identity::Anonymous,
            token: None,
        });
    };
    let value = value.to_str().unwrap_or("");
    if let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    {
        return match state
            .config
            .signer
            .verify(token.trim(), &state.config.service)
        {
            Ok(claims) => Ok(Caller {
                identity: if claims.sub.is_empty() {
                    Identity::Anonymous
                } else {
                    Identity::User(claims.sub.clone())
                },
                token: Some(claims),
            }),
            Err(e) => Err(challenge(state, None, &format!("invalid token: {e}"))),
        };
    }
    match basic_user(state, value).await {
        Some(user) => Ok(Caller {
            identity: Identity::User(user),
            token: None,
        }),
        None => Err(challenge(state, None, "invalid credentials")),
    }
}

/// `None` when the caller may go on; otherwise the 401 or 403 to answer.
fn authorize(
    state: &State,
    caller: &Caller,
    required: &Required,
    head: bool,
) -> Option<Response<ResponseBody>> {
    if let Some(claims) = &caller.token {
        if required.granted_by(&claims.access) {
            return None;
        }
        // Asked for and refused: more tokens will not help.
        let refused = match required {
            Required::Nothing => false,
            Required::Catalog => claims.refused.iter().any(|r| r.kind == "registry"),
            Required::Repositories(v) => v.iter().any(|(repo, need)| {
                claims
                    .refused
                    .iter()
                    .any(|r| &r.name == repo && !r.actions().intersect(*need).is_empty())
            }),
        };
        if refused {
            let err = Error::new(Code::Denied, "requested access to the resource is denied");
            return Some(response::error_response(&err, head));
        }
        return Some(challenge(
            state,
            required.scope().as_deref(),
            "insufficient scope",
        ));
    }
    if caller.identity.user().is_some() {
        return None;
    }
    if state.config.anonymous_pull && required.is_pull_only() {
        return None;
    }
    Some(challenge(
        state,
        required.scope().as_deref(),
        "authentication required",
    ))
}

/// A 401 `UNAUTHORIZED` with the challenge that tells the client how to authenticate.
fn challenge(state: &State, scope: Option<&str>, message: &str) -> Response<ResponseBody> {
    let err = Error::new(Code::Unauthorized, message.to_owned());
    let mut resp = response::error_response(&err, false);
    let value = match &state.config.realm {
        Some(realm) => {
            let mut v = format!(
                "Bearer realm=\"{realm}\",service=\"{}\"",
                state.config.service
            );
            if let Some(scope) = scope {
                v.push_str(&format!(",scope=\"{scope}\""));
            }
            v
        }
        None => format!("Basic realm=\"{}\"", state.config.service),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    resp
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    token: &'a str,
    access_token: &'a str,
    expires_in: u64,
}

/// `GET /token?service=..&scope=..`, with credentials by Basic auth, or none for anonymous.
async fn token_endpoint(
    state: &Arc<State>,
    method: &Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> Response<ResponseBody> {
    let config = &state.config;
    if config.realm.is_none() {
        let err = Error::new(Code::Unsupported, "this registry issues no tokens")
            .with_status(StatusCode::NOT_FOUND);
        return response::error_response(&err, false);
    }
    if method != Method::GET {
        let err = Error::new(
            Code::Unsupported,
            "token requests are GETs with Basic credentials",
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED);
        return response::error_response(&err, false);
    }
    let query: Vec<(String, String)> = form_pairs(uri.query().unwrap_or(""));
    if let Some((_, service)) = query.iter().find(|(k, _)| k == "service")
        && service != &config.service
    {
        let err = Error::new(
            Code::Denied,
            format!("tokens are for service {:?}", config.service),
        );
        return response::error_response(&err, false);
    }
    let identity = match headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        None => Identity::Anonymous,
        Some(v) => match basic_user(state, v).await {
            Some(user) => Identity::User(user),
            None => {
                let err = Error::new(Code::Unauthorized, "invalid credentials");
                let mut resp = response::error_response(&err, false);
                if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", config.service))
                {
                    resp.headers_mut().insert(WWW_AUTHENTICATE, v);
                }
                return resp;
            }
        },
    };
    let mut granted = Vec::new();
    let mut refused = Vec::new();
    for item in query
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split_whitespace())
        .filter_map(ResourceAccess::parse)
    {
        if item.kind == "registry" && item.name == "catalog" {
            if state.permissions.catalog(&identity) {
                granted.push(ResourceAccess::catalog());
            } else {
                refused.push(ResourceAccess::catalog());
            }
            continue;
        }
        if item.kind != "repository" {
            continue;
        }
        let asked = item.actions();
        let mut allowed = state.permissions.repository(&identity, &item.name);
        if identity == Identity::Anonymous && config.anonymous_pull {
            allowed = allowed.union(Actions::PULL);
        }
        let ok = asked.intersect(allowed);
        if !ok.is_empty() {
            granted.push(ResourceAccess::repository(&item.name, ok));
        }
        let no = Actions {
            pull: asked.pull && !ok.pull,
            push: asked.push && !ok.push,
            delete: asked.delete && !ok.delete,
        };
        if !no.is_empty() {
            refused.push(ResourceAccess::repository(&item.name, no));
        }
    }
    let user = identity.user().unwrap_or("").to_owned();
    let claims = TokenSigner::claims(&config.service, &user, config.token_ttl, granted, refused);
    let token = config.signer.sign(&claims);
    let body = serde_json::to_vec(&TokenResponse {
        token: &token,
        access_token: &token,
        expires_in: config.token_ttl.as_secs(),
    })
    .unwrap_or_default();
    let mut resp = Response::new(body::full(body));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(media_type::JSON));
    resp
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
