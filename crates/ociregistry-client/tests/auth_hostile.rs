//! Hostile registries and token servers (registry-hardening C08, C09, C10): credentials never
//! go to realms they must not, token answers are bounded and checked, nothing hangs or leaks.
#![allow(clippy::unwrap_used)]

mod auth_support;

use std::time::{Duration, Instant};

use auth_support::*;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use ociregistry_client::auth::{
    AuthError, Authenticator, Credentials, HttpSend, RealmPolicy, Scope,
};
use ociregistry_core::Code;

const PASSWORD: &str = "hunter2-secret-password";
const REFRESH: &str = "refresh-secret-token";

fn secret_store() -> impl Fn(&str) -> Result<Credentials, AuthError> + Send + Sync + 'static {
    |_: &str| Ok(Credentials::basic("alice", PASSWORD))
}

fn headers(challenge: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_str(challenge).unwrap(),
    );
    h
}

fn auth_error(e: &ociregistry_core::Error) -> &AuthError {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<AuthError>())
        .unwrap_or_else(|| panic!("no AuthError source in {e:?}"))
}

fn assert_no_secret(e: &ociregistry_core::Error) {
    for text in [
        e.to_string(),
        format!("{e:?}"),
        format!("{:?}", auth_error(e)),
    ] {
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(REFRESH), "{text}");
        assert!(!text.contains("YWxpY2U6"), "base64 credentials in {text}");
    }
}

/// A token server that records every request (it must not get any in these tests).
async fn tripwire() -> Server {
    Server::start(|_req| async move { json(serde_json::json!({"token": "stolen"})) }).await
}

#[tokio::test]
async fn realm_on_another_host_over_http_gets_nothing() {
    let trap = tripwire().await;
    // The registry is 127.0.0.1; the realm names the same machine by another host name.
    let realm = format!("http://localhost:{}/token", trap.addr.port());
    let ch = format!(r#"Bearer realm="{realm}",service=x,scope="repository:foo:pull""#);
    let ts = Server::start(move |_req| {
        let ch = ch.clone();
        async move { challenge(&ch) }
    })
    .await;
    let auth = Authenticator::new(secret_store());
    let http = HyperSend::new();
    let scope = Scope::repository("foo", &["pull"]);
    let err = get(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &scope,
        &Scope::empty(),
        Mode::WithSent,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(auth_error(&err), AuthError::RealmRejected { .. }),
        "{err:?}"
    );
    assert!(err.is(&Code::Unauthorized));
    assert_no_secret(&err);
    assert_eq!(trap.hits(), 0, "the realm must not be contacted");
    assert_eq!(ts.hits(), 1);

    // With the permissive policy (closed test setups only) the same realm is used.
    let auth = Authenticator::new(secret_store()).with_realm_policy(RealmPolicy::Any);
    let _ = get(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &scope,
        &Scope::empty(),
        Mode::WithSent,
    )
    .await;
    assert_eq!(trap.hits(), 1);
}

#[tokio::test]
async fn ip_literal_link_local_and_downgraded_realms_are_refused() {
    let cases = [
        // (registry origin, realm)
        (
            "http://127.0.0.1:5000",
            "http://169.254.169.254/latest/meta-data/",
        ),
        ("http://127.0.0.1:5000", "https://169.254.169.254/token"),
        ("http://127.0.0.1:5000", "https://127.0.0.2/token"),
        ("http://127.0.0.1:5000", "https://[fe80::1]/token"),
        ("https://registry.example", "http://registry.example/token"),
        ("https://registry.example", "http://attacker.example/token"),
        ("https://registry.example", "https://10.1.2.3/token"),
        ("https://registry.example", "https://localhost/token"),
    ];
    for (origin, realm) in cases {
        let auth = Authenticator::new(secret_store());
        let http = HyperSend::new();
        let h = headers(&format!(r#"Bearer realm="{realm}",service="s""#));
        let scope = Scope::repository("foo", &["pull"]);
        let err = auth
            .on_unauthorized(&http, origin, &scope, &h)
            .await
            .unwrap_err();
        assert!(
            matches!(auth_error(&err), AuthError::RealmRejected { .. }),
            "{origin} {realm}: {err:?}"
        );
        assert_no_secret(&err);
        assert_eq!(http.sent.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}

#[tokio::test]
async fn malformed_challenges_are_errors_not_requests() {
    for ch in [
        r#"Bearer service="s""#,
        r#"Bearer realm="""#,
        r#"Bearer realm="/relative""#,
        r#"Bearer realm="ftp://registry.example/token""#,
        r#"Bearer realm="https://user:pw@registry.example/token""#,
    ] {
        let auth = Authenticator::new(secret_store());
        let http = HyperSend::new();
        let err = auth
            .on_unauthorized(
                &http,
                "https://registry.example",
                &Scope::empty(),
                &headers(ch),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(auth_error(&err), AuthError::MalformedChallenge { .. }),
            "{ch}: {err:?}"
        );
        assert_eq!(http.sent.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
    // A 401 with no usable challenge: nothing to retry with.
    let auth = Authenticator::new(secret_store());
    let http = HyperSend::new();
    for ch in ["Negotiate abc", "garbage ===", ""] {
        let got = auth
            .on_unauthorized(
                &http,
                "https://registry.example",
                &Scope::empty(),
                &headers(ch),
            )
            .await
            .unwrap();
        assert_eq!(got, None, "{ch:?}");
    }
}

/// Runs one Bearer flow against a token server answering with `answer`, returning the result
/// and the authenticator.
async fn flow_with_token_answer<F>(
    auth: Authenticator,
    answer: F,
) -> (
    Result<(http::StatusCode, Bytes), ociregistry_core::Error>,
    Authenticator,
    Server,
    Server,
)
where
    F: Fn() -> Response<Body> + Send + Sync + 'static,
{
    let answer = std::sync::Arc::new(answer);
    let auth_srv = Server::start(move |_req| {
        let answer = answer.clone();
        async move { answer() }
    })
    .await;
    let realm = auth_srv.url("/token");
    let ts = Server::start(move |req| {
        let realm = realm.clone();
        async move {
            if req.headers().get(http::header::AUTHORIZATION).is_none() {
                return challenge(&format!(
                    r#"Bearer realm="{realm}",scope="repository:foo:pull""#
                ));
            }
            resp(200, "test ok")
        }
    })
    .await;
    let http = HyperSend::new();
    let scope = Scope::repository("foo", &["pull"]);
    let r = get(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &scope,
        &Scope::empty(),
        Mode::WithSent,
    )
    .await;
    (r, auth, auth_srv, ts)
}

#[tokio::test]
async fn oversized_token_answer_is_refused() {
    let big = format!(r#"{{"token":"{}"}}"#, "a".repeat(5 << 20));
    let (r, _, auth_srv, _) =
        flow_with_token_answer(Authenticator::new(secret_store()), move || json_text(&big)).await;
    let err = r.unwrap_err();
    assert!(
        matches!(
            auth_error(&err),
            AuthError::Transport { .. } | AuthError::TokenResponse { .. }
        ),
        "{err:?}"
    );
    assert_no_secret(&err);
    assert_eq!(auth_srv.hits(), 1);
}

fn json_text(s: &str) -> Response<Body> {
    resp(200, s.to_owned())
}

/// An `HttpSend` that does not cap bodies: the authenticator's own check must.
struct Uncapped(Bytes);

#[async_trait::async_trait]
impl HttpSend for Uncapped {
    async fn send(&self, _req: Request<Bytes>) -> Result<Response<Bytes>, ociregistry_core::Error> {
        Ok(Response::new(self.0.clone()))
    }
}

#[tokio::test]
async fn oversized_body_from_an_uncapped_sender_is_refused() {
    let body = Bytes::from(format!(r#"{{"token":"{}"}}"#, "a".repeat(5 << 20)));
    let auth = Authenticator::anonymous();
    let h = headers(r#"Bearer realm="https://registry.example/token""#);
    let err = auth
        .on_unauthorized(
            &Uncapped(body),
            "https://registry.example",
            &Scope::empty(),
            &h,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(auth_error(&err), AuthError::TokenResponse { message, .. } if message.contains("larger")),
        "{err:?}"
    );
}

#[tokio::test]
async fn empty_and_malformed_tokens_are_errors() {
    for answer in [
        r#"{"token":""}"#,
        r#"{"token":"","access_token":""}"#,
        r#"{}"#,
        r#"{"token":null}"#,
        "not json",
        r#"{"token":"line\nbreak"}"#,
    ] {
        let (r, _, _, ts) =
            flow_with_token_answer(Authenticator::anonymous(), move || json_text(answer)).await;
        let err = r.unwrap_err();
        assert!(
            matches!(
                auth_error(&err),
                AuthError::TokenResponse { .. } | AuthError::InvalidHeaderValue { .. }
            ),
            "{answer}: {err:?}"
        );
        assert_eq!(ts.hits(), 1, "no retry with a bad token");
    }
}

#[tokio::test]
async fn hostile_lifetimes_are_clamped() {
    for expires_in in [
        serde_json::json!(-5),
        serde_json::json!(0),
        serde_json::json!(1e12),
        serde_json::json!(u64::MAX),
        serde_json::json!("soon"),
        serde_json::json!({"nested": true}),
    ] {
        let answer = serde_json::json!({"token": "tok", "expires_in": expires_in});
        let (r, auth, auth_srv, ts) =
            flow_with_token_answer(Authenticator::anonymous(), move || json(answer.clone())).await;
        assert_eq!(r.unwrap().0, 200, "{expires_in}");
        // The token is cached (at least 60 s, at most 24 h): the next request uses it.
        let scope = Scope::repository("foo", &["pull"]);
        let h = auth.authorization(&ts.origin(), &scope).await.unwrap();
        assert_eq!(h.unwrap(), "Bearer tok", "{expires_in}");
        assert_eq!(auth_srv.hits(), 1);
    }
}

#[tokio::test]
async fn dripping_token_server_times_out() {
    let auth = Authenticator::anonymous().with_token_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let (r, _, _, _) =
        flow_with_token_answer(auth, || dripping(100, 1, Duration::from_millis(100))).await;
    let err = r.unwrap_err();
    assert!(
        matches!(auth_error(&err), AuthError::TokenTimeout { .. }),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn token_server_errors_are_not_retried_in_a_loop() {
    for (status, code) in [
        (500, Code::Unauthorized),
        (401, Code::Unauthorized),
        (403, Code::Denied),
    ] {
        let (r, _, auth_srv, ts) =
            flow_with_token_answer(Authenticator::new(secret_store()), move || {
                resp(status, "no")
            })
            .await;
        let err = r.unwrap_err();
        assert!(
            matches!(auth_error(&err), AuthError::TokenStatus { status: s, .. } if *s == status),
            "{err:?}"
        );
        assert!(err.is(&code), "{status}: {err:?}");
        // The token server's answer is not presented as the registry's.
        assert!(err.response().is_none());
        assert_no_secret(&err);
        assert_eq!(auth_srv.hits(), 1);
        assert_eq!(ts.hits(), 1);
    }
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output() {
    let store = |_: &str| {
        Ok(Credentials {
            username: "alice".into(),
            password: PASSWORD.into(),
            identity_token: String::new(),
            registry_token: REFRESH.into(),
        })
    };
    let auth = Authenticator::new(store);
    let h = auth
        .authorization("https://registry.example", &Scope::empty())
        .await
        .unwrap()
        .unwrap();
    assert!(h.is_sensitive());
    let dbg = format!("{auth:?}");
    assert!(!dbg.contains(REFRESH) && !dbg.contains(PASSWORD), "{dbg}");
    let creds = store("x").unwrap();
    let dbg = format!("{creds:?}");
    assert!(!dbg.contains(REFRESH) && !dbg.contains(PASSWORD), "{dbg}");
}
