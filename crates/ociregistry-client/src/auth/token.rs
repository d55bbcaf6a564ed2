//! The token server exchange of docker's token authentication.
//!
//! With Basic credentials (or none), the token is fetched with
//! `GET <realm>?scope=<item>&scope=<item>&service=<service>`, the credentials going in an
//! `Authorization: Basic` header. With a refresh (identity) token, it is fetched with the
//! OAuth2 refresh grant, `POST <realm>` with the form `grant_type=refresh_token`,
//! `refresh_token`, `client_id`, `scope` (space-separated) and `service`, falling back to the
//! GET form when the server answers the POST with 404. The answer is JSON with `token` (or
//! `access_token`), optionally `expires_in` (seconds, default 60) and `refresh_token` (a
//! rotated refresh token).
//!
//! Answers are distrusted: the body is capped at [`MAX_TOKEN_RESPONSE_BYTES`], the exchange is
//! bounded in time, an empty token is an error, and the lifetime is clamped.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use serde::Deserialize;

use super::realm::display_realm;
use super::{AuthError, Scope};

/// The largest token server answer accepted, in bytes. [`HttpSend`] implementations should
/// stop reading a body at this size.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 1 << 20;

/// Sends the small requests of the token exchange. The client implements it over its HTTP
/// stack; tests can implement it over anything.
///
/// Requests may carry Basic credentials or a refresh token for the token server: an
/// implementation must not follow a redirect to another origin with the request's
/// `Authorization` header or body.
#[async_trait]
pub trait HttpSend: Send + Sync + 'static {
    /// Sends a small request (token fetch) and returns the response with its body read (the
    /// implementation caps the body, at [`MAX_TOKEN_RESPONSE_BYTES`] or a little more).
    async fn send(&self, req: Request<Bytes>) -> Result<Response<Bytes>, ociregistry_core::Error>;
}

/// What the token server granted.
pub(crate) struct Grant {
    pub(crate) token: String,
    pub(crate) refresh_token: Option<String>,
    /// `expires_in` as sent, if it was a number.
    pub(crate) expires_in: Option<f64>,
}

/// The default lifetime of a token whose answer has no (usable) `expires_in`.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// The lifetime to assume for a token: `expires_in` if positive, else 60 s, clamped to
/// `[min, max]`.
pub(crate) fn lifetime(expires_in: Option<f64>, min: Duration, max: Duration) -> Duration {
    let d = match expires_in {
        Some(s) if s.is_finite() && s > 0.0 => {
            Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
        }
        _ => DEFAULT_LIFETIME,
    };
    d.max(min).min(max.max(min))
}

/// One token request's parameters.
pub(crate) struct TokenParams<'a> {
    pub(crate) realm: &'a Uri,
    pub(crate) service: Option<&'a str>,
    pub(crate) scope: &'a Scope,
    pub(crate) basic: Option<&'a HeaderValue>,
    pub(crate) refresh_token: Option<&'a str>,
    pub(crate) client_id: &'a str,
    pub(crate) timeout: Duration,
}

/// Fetches a token: the refresh grant if there is a refresh token (GET on 404), else GET.
pub(crate) async fn fetch(http: &dyn HttpSend, p: &TokenParams<'_>) -> Result<Grant, AuthError> {
    if let Some(refresh) = p.refresh_token {
        match send(http, p, post_request(p, refresh)?).await {
            Err(AuthError::TokenStatus { status: 404, .. }) => {}
            other => return other,
        }
    }
    send(http, p, get_request(p)?).await
}

fn realm_error(p: &TokenParams<'_>, message: &str) -> AuthError {
    AuthError::TokenResponse {
        realm: display_realm(&p.realm.to_string()),
        message: message.to_owned(),
    }
}

fn scope_items(scope: &Scope) -> Vec<String> {
    scope
        .to_string()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn get_request(p: &TokenParams<'_>) -> Result<Request<Bytes>, AuthError> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(q) = p.realm.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            if k != "scope" && k != "service" {
                query.append_pair(&k, &v);
            }
        }
    }
    for item in scope_items(p.scope) {
        query.append_pair("scope", &item);
    }
    if let Some(service) = p.service.filter(|s| !s.is_empty()) {
        query.append_pair("service", service);
    }
    let query = query.finish();
    let mut parts = p.realm.clone().into_parts();
    let path = p.realm.path();
    let pq = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|_| realm_error(p, "cannot build the token URL"))?,
    );
    let uri = Uri::from_parts(parts).map_err(|_| realm_error(p, "cannot build the token URL"))?;
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::ACCEPT, "application/json");
    if let Some(basic) = p.basic {
        req = req.header(header::AUTHORIZATION, basic.clone());
    }
    req.body(Bytes::new())
        .map_err(|_| realm_error(p, "cannot build the token request"))
}

fn post_request(p: &TokenParams<'_>, refresh: &str) -> Result<Request<Bytes>, AuthError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh)
        .append_pair("client_id", p.client_id);
    let scope = scope_items(p.scope).join(" ");
    if !scope.is_empty() {
        form.append_pair("scope", &scope);
    }
    if let Some(service) = p.service.filter(|s| !s.is_empty()) {
        form.append_pair("service", service);
    }
    Request::builder()
        .method(Method::POST)
        .uri(p.realm.clone())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Bytes::from(form.finish()))
        .map_err(|_| realm_error(p, "cannot build the token request"))
}

#[derive(Deserialize)]
struct WireToken {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

async fn send(
    http: &dyn HttpSend,
    p: &TokenParams<'_>,
    req: Request<Bytes>,
) -> Result<Grant, AuthError> {
    let realm = display_realm(&p.realm.to_string());
    let fut = http.send(req);
    // Bound the exchange when a tokio runtime (with its timer) is there to do it.
    let res = if tokio::runtime::Handle::try_current().is_ok() {
        match tokio::time::timeout(p.timeout, fut).await {
            Ok(r) => r,
            Err(_) => return Err(AuthError::TokenTimeout { realm }),
        }
    } else {
        fut.await
    };
    let resp = res.map_err(|source| AuthError::Transport {
        realm: realm.clone(),
        source,
    })?;
    if resp.status() != StatusCode::OK {
        return Err(AuthError::TokenStatus {
            realm,
            status: resp.status().as_u16(),
        });
    }
    parse_grant(&realm, resp.body())
}

/// Decodes a token server's 200 answer.
pub(crate) fn parse_grant(realm: &str, body: &[u8]) -> Result<Grant, AuthError> {
    let bad = |message: String| AuthError::TokenResponse {
        realm: realm.to_owned(),
        message,
    };
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(bad(format!(
            "answer larger than {MAX_TOKEN_RESPONSE_BYTES} bytes"
        )));
    }
    // serde_json's messages quote no input, so they cannot leak a token.
    let wire: WireToken =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed JSON token: {e}")))?;
    let token = wire
        .token
        .filter(|t| !t.is_empty())
        .or(wire.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| bad("no access token in the answer".to_owned()))?;
    let expires_in = match wire.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    Ok(Grant {
        token,
        refresh_token: wire.refresh_token.filter(|t| !t.is_empty()),
        expires_in,
    })
}

/// `Basic base64(user:password)`, marked sensitive.
pub(crate) fn basic_header(username: &str, password: &str) -> Option<HeaderValue> {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut v = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// `Bearer <token>`, marked sensitive; `None` if the token cannot go in a header.
pub(crate) fn bearer_header(token: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const MAX: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn lifetimes_are_defaulted_and_clamped() {
        assert_eq!(lifetime(None, MIN, MAX), Duration::from_secs(60));
        assert_eq!(lifetime(Some(0.0), MIN, MAX), Duration::from_secs(60));
        assert_eq!(lifetime(Some(-5.0), MIN, MAX), Duration::from_secs(60));
        assert_eq!(lifetime(Some(10.0), MIN, MAX), Duration::from_secs(60));
        assert_eq!(lifetime(Some(300.0), MIN, MAX), Duration::from_secs(300));
        assert_eq!(lifetime(Some(1e12), MIN, MAX), MAX);
        assert_eq!(
            lifetime(Some(f64::INFINITY), MIN, MAX),
            Duration::from_secs(60)
        );
        assert_eq!(lifetime(Some(f64::NAN), MIN, MAX), Duration::from_secs(60));
        assert_eq!(
            lifetime(Some(2.0), Duration::from_secs(1), MAX),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn grants() {
        let g = parse_grant(
            "r",
            br#"{"token":"t","expires_in":300,"refresh_token":"rt"}"#,
        )
        .unwrap();
        assert_eq!(
            (g.token.as_str(), g.expires_in, g.refresh_token.as_deref()),
            ("t", Some(300.0), Some("rt"))
        );
        let g = parse_grant("r", br#"{"access_token":"a","expires_in":"12"}"#).unwrap();
        assert_eq!((g.token.as_str(), g.expires_in), ("a", Some(12.0)));
        let g = parse_grant("r", br#"{"token":"","access_token":"a","expires_in":null}"#).unwrap();
        assert_eq!((g.token.as_str(), g.expires_in), ("a", None));
        for bad in [
            &br#"{"token":""}"#[..],
            br#"{}"#,
            br#"{"token":5}"#,
            b"not json",
            b"",
        ] {
            assert!(parse_grant("r", bad).is_err());
        }
        let huge = vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1];
        assert!(matches!(
            parse_grant("r", &huge),
            Err(AuthError::TokenResponse { .. })
        ));
    }

    #[test]
    fn errors_do_not_quote_the_token() {
        let e = parse_grant("r", br#"{"token":"supersecret" "#)
            .err()
            .unwrap();
        assert!(!e.to_string().contains("supersecret"), "{e}");
    }

    #[test]
    fn get_request_keeps_realm_query_and_repeats_scope() {
        let realm: Uri = "https://auth.example/token?account=me&scope=old"
            .parse()
            .unwrap();
        let scope = Scope::parse("other repository:foo:push,pull");
        let p = TokenParams {
            realm: &realm,
            service: Some("svc"),
            scope: &scope,
            basic: None,
            refresh_token: None,
            client_id: "c",
            timeout: Duration::from_secs(1),
        };
        let req = get_request(&p).unwrap();
        assert_eq!(
            req.uri().to_string(),
            "https://auth.example/token?account=me&scope=other&scope=repository%3Afoo%3Apush%2Cpull&service=svc"
        );
        assert!(req.headers().get(header::AUTHORIZATION).is_none());
        let req = post_request(&p, "rt").unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            std::str::from_utf8(req.body()).unwrap(),
            "grant_type=refresh_token&refresh_token=rt&client_id=c&scope=other+repository%3Afoo%3Apush%2Cpull&service=svc"
        );
    }

    #[test]
    fn headers_are_sensitive() {
        assert!(basic_header("u", "p").unwrap().is_sensitive());
        assert_eq!(basic_header("u", "p").unwrap(), "Basic dTpw");
        assert!(bearer_header("t").unwrap().is_sensitive());
        assert!(bearer_header("bad\ntoken").is_none());
    }
}
