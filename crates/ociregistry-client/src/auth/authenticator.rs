//! The per-client authentication state: credentials by registry, challenges seen, and the
//! cache of access tokens.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use tokio::sync::OnceCell;

use super::challenge::Challenge;
use super::realm::{Origin, RealmPolicy, check_realm};
use super::token::{self, HttpSend, TokenParams};
use super::{AuthError, CredentialStore, DockerConfig, NoCredentials, Scope};

/// Tokens that expire within this margin are not used any more.
const EXPIRY_MARGIN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Settings {
    realm_policy: RealmPolicy,
    token_timeout: Duration,
    min_lifetime: Duration,
    max_lifetime: Duration,
    client_id: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            realm_policy: RealmPolicy::default(),
            token_timeout: Duration::from_secs(30),
            min_lifetime: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(24 * 3600),
            client_id: "ociregistry-client".to_owned(),
        }
    }
}

struct CachedToken {
    scope: Scope,
    header: HeaderValue,
    /// `None`: never (a registry token from configuration).
    expires: Option<Instant>,
    /// The value of [`Shared::generation`] when the token was stored.
    generation: u64,
}

#[derive(Default)]
struct Shared {
    /// Whether a 401 has been seen from this registry (before it, no credentials are sent).
    seen_401: bool,
    /// The most recent usable challenge.
    challenge: Option<Challenge>,
    tokens: Vec<CachedToken>,
    refresh_token: Option<String>,
    /// Incremented each time a token is stored.
    generation: u64,
}

impl Shared {
    fn prune(&mut self, now: Instant) {
        let limit = now + EXPIRY_MARGIN;
        self.tokens.retain(|t| t.expires.is_none_or(|e| e > limit));
    }
}

/// What was loaded from the credential store for one registry.
struct Loaded {
    basic: Option<HeaderValue>,
}

/// What the request answered 401 carried.
#[derive(Clone, Copy)]
enum Sent<'a> {
    Unknown,
    Known(Option<&'a HeaderValue>),
}

struct OriginState {
    origin: Origin,
    loaded: OnceCell<Loaded>,
    shared: Mutex<Shared>,
    /// One lock per token scope being fetched, so that concurrent requests for one scope share
    /// one fetch while different scopes are fetched concurrently.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data inconsistent (every critical
    // section is a few assignments), so a poisoned lock is used as is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl OriginState {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

/// Removes a flight lock from the map when its last user is done (also when cancelled).
struct Flight<'a> {
    state: &'a OriginState,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut flights = lock(&self.state.flights);
        if flights
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            flights.remove(&self.key);
        }
    }
}

struct Inner {
    store: Arc<dyn CredentialStore>,
    settings: Settings,
    origins: Mutex<HashMap<String, Arc<OriginState>>>,
}

/// Docker-style registry authentication, shared by every request of a client.
///
/// It is cheap to clone (the state is shared) and safe to use from many tasks at once. It
/// keeps, per registry origin (`scheme://host[:port]`): the credentials from its
/// [`CredentialStore`] (looked up once), the last `WWW-Authenticate` challenge, the refresh
/// token, and the access tokens obtained so far with their scopes and expiry.
///
/// # How a client uses it
///
/// For each request to `origin` that needs `scope`:
///
/// 1. `let sent = auth.authorization(origin, &scope).await?` and send the request with that
///    `Authorization` header if `Some`. Before the first 401 nothing is sent (Basic
///    credentials sent unasked make some registries answer 401 without a challenge), except
///    a `registrytoken` from the configuration, which is sent up front.
/// 2. If the answer is 401, call [`on_unauthorized`](Authenticator::on_unauthorized) (or
///    better [`on_unauthorized_with`](Authenticator::on_unauthorized_with), passing `sent`)
///    with the response headers. `Ok(None)`: there is nothing more to try, the 401 is the
///    answer (`UNAUTHORIZED`). `Ok(Some(h))`: retry once with `Authorization: h`.
/// 3. If the retry is answered 401 again, call
///    [`retry_rejected`](Authenticator::retry_rejected) with `h`: `Some(err)` is the `DENIED`
///    error to return (the token was freshly acquired for this very request, so the
///    credentials are valid but lack the permission, cue-lang/cue#2955); `None` means `h`
///    was Basic credentials from the configuration and the 401 is passed through as
///    `UNAUTHORIZED`. Never retry a third time.
///
/// `origin` is always the registry's own origin. Responses from elsewhere (a blob GET
/// redirected to object storage) must not be passed to `on_unauthorized`, and the
/// `Authorization` header must not follow a redirect to another origin.
///
/// ```no_run
/// # use ociregistry_client::auth::{Authenticator, HttpSend, Scope};
/// # async fn send(h: Option<&http::HeaderValue>) -> http::Response<bytes::Bytes> { unimplemented!() }
/// # async fn demo(http: &dyn HttpSend) -> Result<(), ociregistry_core::Error> {
/// let auth = Authenticator::from_docker_config()?;
/// let (origin, scope) = ("https://ghcr.io", Scope::repository("owner/app", &["pull"]));
/// let sent = auth.authorization(origin, &scope).await?;
/// let mut resp = send(sent.as_ref()).await;
/// if resp.status() == 401 {
///     if let Some(h) = auth
///         .on_unauthorized_with(http, origin, &scope, &Scope::empty(), sent.as_ref(), resp.headers())
///         .await?
///     {
///         resp = send(Some(&h)).await;
///         if resp.status() == 401 {
///             if let Some(denied) = auth.retry_rejected(origin, &h) {
///                 return Err(denied);
///             }
///         }
///     }
/// }
/// # Ok(()) }
/// ```
///
/// # Tokens
///
/// A `Bearer` challenge is answered with a token for the challenge's `scope` (echoed exactly
/// as the server sent it) united with the required scope and any wanted scope; when the
/// token server refuses that wider scope with 401, the token is requested again for the
/// challenge's and required scope only. A cached token is reused for any request whose scope
/// it contains, until one second before it expires; a token for one repository is never
/// used for another. Concurrent requests needing the same token scope share one fetch; other
/// scopes are fetched concurrently, and no lock is held while fetching.
///
/// Credentials go only to token realms that [`RealmPolicy`] allows.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins = lock(&self.inner.origins);
        let mut summary: Vec<(String, usize)> = origins
            .iter()
            .map(|(k, st)| (k.clone(), st.shared().tokens.len()))
            .collect();
        summary.sort();
        f.debug_struct("Authenticator")
            .field("settings", &self.inner.settings)
            .field("cached_tokens_by_origin", &summary)
            .finish_non_exhaustive()
    }
}

impl Default for Authenticator {
    fn default() -> Authenticator {
        Authenticator::anonymous()
    }
}

impl Authenticator {
    /// An authenticator using `credentials`.
    pub fn new(credentials: impl CredentialStore + 'static) -> Authenticator {
        Authenticator::build(Arc::new(credentials), Settings::default())
    }

    /// An authenticator without credentials: it still follows `Bearer` challenges, obtaining
    /// anonymous tokens (as public images on Docker Hub or GHCR require).
    pub fn anonymous() -> Authenticator {
        Authenticator::new(NoCredentials)
    }

    /// An authenticator using the standard docker and podman configuration files of this
    /// process's environment ([`DockerConfig::load`]).
    pub fn from_docker_config() -> Result<Authenticator, AuthError> {
        Ok(Authenticator::new(DockerConfig::load()?))
    }

    fn build(store: Arc<dyn CredentialStore>, settings: Settings) -> Authenticator {
        Authenticator {
            inner: Arc::new(Inner {
                store,
                settings,
                origins: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn with_settings(&self, f: impl FnOnce(&mut Settings)) -> Authenticator {
        let mut settings = self.inner.settings.clone();
        f(&mut settings);
        Authenticator::build(self.inner.store.clone(), settings)
    }

    /// Sets which token realms credentials may be sent to (default
    /// [`RealmPolicy::SameHostOrHttps`]).
    ///
    /// Like every `with_` method, this returns a new authenticator with an empty cache: call
    /// it while setting up.
    #[must_use]
    pub fn with_realm_policy(&self, policy: RealmPolicy) -> Authenticator {
        self.with_settings(|s| s.realm_policy = policy)
    }

    /// Sets how long one token server exchange may take (default 30 s).
    #[must_use]
    pub fn with_token_timeout(&self, timeout: Duration) -> Authenticator {
        self.with_settings(|s| s.token_timeout = timeout)
    }

    /// Sets the range token lifetimes are clamped to (default 60 s to 24 h, 60 s being the
    /// minimum the token specification lets servers grant).
    #[must_use]
    pub fn with_token_lifetime(&self, min: Duration, max: Duration) -> Authenticator {
        self.with_settings(|s| {
            s.min_lifetime = min;
            s.max_lifetime = max.max(min);
        })
    }

    /// Sets the OAuth2 `client_id` sent with refresh-token grants (default
    /// `ociregistry-client`).
    #[must_use]
    pub fn with_client_id(&self, client_id: impl Into<String>) -> Authenticator {
        let client_id = client_id.into();
        self.with_settings(|s| s.client_id = client_id)
    }

    fn state(&self, origin: &str) -> Result<Arc<OriginState>, AuthError> {
        let origin = Origin::parse(origin)?;
        let mut origins = lock(&self.inner.origins);
        Ok(origins
            .entry(origin.key.clone())
            .or_insert_with(|| {
                Arc::new(OriginState {
                    origin,
                    loaded: OnceCell::new(),
                    shared: Mutex::new(Shared::default()),
                    flights: Mutex::new(HashMap::new()),
                })
            })
            .clone())
    }

    /// Looks the registry's credentials up, once (a failed lookup is tried again next time).
    async fn loaded<'a>(&self, st: &'a OriginState) -> Result<&'a Loaded, AuthError> {
        st.loaded
            .get_or_try_init(|| async {
                let store = self.inner.store.clone();
                let host = st.origin.authority.clone();
                let creds = if tokio::runtime::Handle::try_current().is_ok() {
                    // Helpers run programs: keep them off the async workers.
                    tokio::task::spawn_blocking(move || store.entry_for_registry(&host))
                        .await
                        .map_err(|_| {
                            AuthError::Store("the credential lookup did not complete".into())
                        })??
                } else {
                    store.entry_for_registry(&host)?
                };
                let invalid = || AuthError::InvalidHeaderValue {
                    origin: st.origin.key.clone(),
                };
                let basic = if !creds.username.is_empty() && !creds.password.is_empty() {
                    Some(
                        token::basic_header(&creds.username, &creds.password)
                            .ok_or_else(invalid)?,
                    )
                } else {
                    None
                };
                let mut shared = st.shared();
                if !creds.registry_token.is_empty() {
                    let header = token::bearer_header(&creds.registry_token).ok_or_else(invalid)?;
                    shared.tokens.push(CachedToken {
                        scope: Scope::unlimited(),
                        header,
                        expires: None,
                        generation: 0,
                    });
                }
                if !creds.identity_token.is_empty() {
                    shared.refresh_token = Some(creds.identity_token);
                }
                Ok(Loaded { basic })
            })
            .await
    }

    /// The `Authorization` header for a first attempt at `origin` (e.g. `https://ghcr.io` or
    /// `http://127.0.0.1:5000`) needing `scope`: a cached token whose scope contains `scope`,
    /// or Basic credentials once the registry has asked for them. `None`: send no
    /// `Authorization` yet.
    pub async fn authorization(
        &self,
        origin: &str,
        scope: &Scope,
    ) -> Result<Option<HeaderValue>, ociregistry_core::Error> {
        Ok(self.authorization_inner(origin, scope).await?)
    }

    async fn authorization_inner(
        &self,
        origin: &str,
        scope: &Scope,
    ) -> Result<Option<HeaderValue>, AuthError> {
        let st = self.state(origin)?;
        let loaded = self.loaded(&st).await?;
        let mut shared = st.shared();
        shared.prune(Instant::now());
        if let Some(t) = shared.tokens.iter().find(|t| t.scope.contains(scope)) {
            return Ok(Some(t.header.clone()));
        }
        if shared.seen_401 && shared.challenge.as_ref().is_some_and(Challenge::is_basic) {
            return Ok(loaded.basic.clone());
        }
        Ok(None)
    }

    /// After a 401 from `origin` with these response headers: obtains credentials or a token
    /// (fetching tokens through `http`) and returns the header to retry with, or `None` when
    /// there is nothing to retry with (no usable challenge, or no credentials for a `Basic`
    /// one).
    ///
    /// Without knowing what the failed request carried, a cached token is reused only if it
    /// was obtained after this call started (by a concurrent request); prefer
    /// [`on_unauthorized_with`](Authenticator::on_unauthorized_with). See the
    /// [type docs](Authenticator) for the retry protocol, in particular the `DENIED` rule.
    pub async fn on_unauthorized(
        &self,
        http: &dyn HttpSend,
        origin: &str,
        scope: &Scope,
        response_headers: &HeaderMap,
    ) -> Result<Option<HeaderValue>, ociregistry_core::Error> {
        Ok(self
            .unauthorized_inner(
                http,
                origin,
                scope,
                &Scope::empty(),
                Sent::Unknown,
                response_headers,
            )
            .await?)
    }

    /// [`on_unauthorized`](Authenticator::on_unauthorized), knowing more.
    ///
    /// `wanted` is scope the caller expects to need soon (for example every repository of a
    /// multi-repository copy): it is added to the token request, so one token can serve later
    /// requests, and dropped again if the token server refuses it. `sent` is the
    /// `Authorization` header the failed request carried (what
    /// [`authorization`](Authenticator::authorization) returned): a token that was refused is
    /// forgotten and never handed out again, while a token obtained meanwhile by a concurrent
    /// request for the same scope is reused instead of fetching another.
    pub async fn on_unauthorized_with(
        &self,
        http: &dyn HttpSend,
        origin: &str,
        scope: &Scope,
        wanted: &Scope,
        sent: Option<&HeaderValue>,
        response_headers: &HeaderMap,
    ) -> Result<Option<HeaderValue>, ociregistry_core::Error> {
        Ok(self
            .unauthorized_inner(
                http,
                origin,
                scope,
                wanted,
                Sent::Known(sent),
                response_headers,
            )
            .await?)
    }

    /// After the retry with `retried_with` (returned by `on_unauthorized`) was answered 401
    /// too: `Some(DENIED error)` if `retried_with` was a bearer token (the token is then
    /// forgotten), `None` if it was Basic credentials, in which case the 401 stands as
    /// `UNAUTHORIZED`.
    pub fn retry_rejected(
        &self,
        origin: &str,
        retried_with: &HeaderValue,
    ) -> Option<ociregistry_core::Error> {
        if !is_bearer(retried_with) {
            return None;
        }
        let key = match self.state(origin) {
            Ok(st) => {
                st.shared().tokens.retain(|t| t.header != *retried_with);
                st.origin.key.clone()
            }
            Err(_) => origin.to_owned(),
        };
        Some(AuthError::FreshTokenRejected { origin: key }.into())
    }

    async fn unauthorized_inner(
        &self,
        http: &dyn HttpSend,
        origin: &str,
        scope: &Scope,
        wanted: &Scope,
        sent: Sent<'_>,
        response_headers: &HeaderMap,
    ) -> Result<Option<HeaderValue>, AuthError> {
        let st = self.state(origin)?;
        let loaded = self.loaded(&st).await?;
        let Some(challenge) = Challenge::from_headers(response_headers) else {
            lock(&st.shared).seen_401 = true;
            return Ok(None);
        };
        let start_generation = {
            let mut shared = st.shared();
            shared.seen_401 = true;
            shared.challenge = Some(challenge.clone());
            if let Sent::Known(Some(h)) = sent {
                // The registry refused this token: forget it.
                shared.tokens.retain(|t| t.header != *h);
            }
            shared.generation
        };
        if challenge.is_basic() {
            return Ok(match (&loaded.basic, sent) {
                (Some(b), Sent::Known(Some(h))) if b == h => None,
                (b, _) => b.clone(),
            });
        }

        let realm = challenge
            .param("realm")
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| AuthError::MalformedChallenge {
                origin: st.origin.key.clone(),
                message: "Bearer challenge without realm".into(),
            })?;
        let realm = check_realm(self.inner.settings.realm_policy, &st.origin, realm)?;
        let needed = Scope::parse(challenge.param("scope").unwrap_or_default()).union(scope);
        let request_scope = needed.union(wanted);

        let reusable = |shared: &mut Shared| {
            shared.prune(Instant::now());
            shared
                .tokens
                .iter()
                .find(|t| {
                    t.scope.contains(&needed)
                        && match sent {
                            Sent::Unknown => t.generation > start_generation,
                            Sent::Known(None) => true,
                            Sent::Known(Some(h)) => t.header != *h,
                        }
                })
                .map(|t| t.header.clone())
        };
        if let Some(h) = reusable(&mut st.shared()) {
            return Ok(Some(h));
        }

        let key = request_scope.to_string();
        let mutex = {
            let mut flights = lock(&st.flights);
            // Entries left behind by cancelled waiters are dropped here.
            flights.retain(|_, m| Arc::strong_count(m) > 1);
            flights.entry(key.clone()).or_default().clone()
        };
        let mut flight = Flight {
            state: &st,
            key,
            guard: None,
        };
        flight.guard = Some(mutex.lock_owned().await);
        if let Some(h) = reusable(&mut st.shared()) {
            return Ok(Some(h));
        }

        let refresh_token = st.shared().refresh_token.clone();
        let settings = &self.inner.settings;
        let mut params = TokenParams {
            realm: &realm,
            service: challenge.param("service"),
            scope: &request_scope,
            basic: loaded.basic.as_ref(),
            refresh_token: refresh_token.as_deref(),
            client_id: &settings.client_id,
            timeout: settings.token_timeout,
        };
        tracing::debug!(
            origin = %st.origin.key,
            realm = %super::realm::display_realm(&realm.to_string()),
            scope = %request_scope,
            refresh = refresh_token.is_some(),
            "fetching registry token"
        );
        let (grant, obtained) = match token::fetch(http, &params).await {
            Err(AuthError::TokenStatus { status: 401, .. }) if request_scope != needed => {
                // Token servers should grant a subset of a scope they do not fully allow,
                // but some refuse the whole request instead: ask for what is needed only.
                tracing::debug!(origin = %st.origin.key, scope = %needed, "token server refused the wider scope; retrying");
                params.scope = &needed;
                (token::fetch(http, &params).await?, &needed)
            }
            other => (other?, &request_scope),
        };
        let header =
            token::bearer_header(&grant.token).ok_or_else(|| AuthError::InvalidHeaderValue {
                origin: st.origin.key.clone(),
            })?;
        let lifetime = token::lifetime(
            grant.expires_in,
            settings.min_lifetime,
            settings.max_lifetime,
        );
        let now = Instant::now();
        let mut shared = st.shared();
        shared.generation += 1;
        let generation = shared.generation;
        // Tokens of a scope the new one covers are superseded.
        shared
            .tokens
            .retain(|t| t.expires.is_none() || !obtained.contains(&t.scope));
        shared.tokens.push(CachedToken {
            scope: obtained.canonical(),
            header: header.clone(),
            expires: Some(
                now.checked_add(lifetime)
                    .unwrap_or(now + Duration::from_secs(86400)),
            ),
            generation,
        });
        if let Some(rt) = grant.refresh_token {
            shared.refresh_token = Some(rt);
        }
        drop(shared);
        drop(flight);
        Ok(Some(header))
    }
}

fn is_bearer(h: &HeaderValue) -> bool {
    h.as_bytes()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"bearer "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Grants(AtomicUsize);

    #[async_trait::async_trait]
    impl HttpSend for Grants {
        async fn send(
            &self,
            _req: http::Request<Bytes>,
        ) -> Result<http::Response<Bytes>, ociregistry_core::Error> {
            let i = self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(http::Response::new(Bytes::from(format!(
                r#"{{"token":"t{i}"}}"#
            ))))
        }
    }

    fn bearer(scope: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(r#"Bearer realm="https://r.example/token",scope="{scope}""#);
        h.insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&v).unwrap(),
        );
        h
    }

    #[tokio::test]
    async fn flights_are_cleaned_up_and_shared() {
        let auth = Authenticator::anonymous();
        let http = Grants(AtomicUsize::new(0));
        let origin = "https://r.example";
        let scope = Scope::repository("a", &["pull"]);
        let empty = Scope::empty();
        let h = bearer("repository:a:pull");
        let calls =
            (0..5).map(|_| auth.on_unauthorized_with(&http, origin, &scope, &empty, None, &h));
        let got = futures_util::future::join_all(calls).await;
        for g in got {
            assert_eq!(g.unwrap().unwrap(), "Bearer t0");
        }
        assert_eq!(http.0.load(Ordering::SeqCst), 1);
        let st = auth.state(origin).unwrap();
        assert!(lock(&st.flights).is_empty());
        // A refused token is not handed out again.
        let t0 = HeaderValue::from_static("Bearer t0");
        let next = auth
            .on_unauthorized_with(&http, origin, &scope, &Scope::empty(), Some(&t0), &h)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next, "Bearer t1");
        assert_eq!(
            auth.authorization(origin, &scope).await.unwrap().unwrap(),
            "Bearer t1"
        );
    }

    #[tokio::test]
    async fn store_errors_surface_and_are_retried() {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let auth = Authenticator::new(move |_: &str| {
            if n2.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(AuthError::Store("boom".into()))
            } else {
                Ok(super::super::Credentials::registry_token("tok"))
            }
        });
        let err = auth
            .authorization("https://r.example", &Scope::empty())
            .await
            .unwrap_err();
        assert!(err.is(&ociregistry_core::Code::Unauthorized));
        assert_eq!(err.message(), "cannot get credentials: boom");
        let h = auth
            .authorization("https://r.example", &Scope::empty())
            .await
            .unwrap();
        assert_eq!(h.unwrap(), "Bearer tok");
        assert_eq!(n.load(Ordering::SeqCst), 2);
        // Looked up once per registry after success.
        let _ = auth
            .authorization("https://r.example", &Scope::empty())
            .await;
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn bearer_detection() {
        assert!(is_bearer(&HeaderValue::from_static("Bearer x")));
        assert!(is_bearer(&HeaderValue::from_static("bearer x")));
        assert!(!is_bearer(&HeaderValue::from_static("Basic eA==")));
        assert!(!is_bearer(&HeaderValue::from_static("Bear")));
    }
}
