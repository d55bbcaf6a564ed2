//! The Basic and Bearer flows of the `Authenticator`, ported from the Go library's
//! `ociauth/auth_test.go`, against a target server and a token server on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod auth_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_support::*;
use http::StatusCode;
use ociregistry_client::auth::{AuthError, Authenticator, Credentials, Scope};
use ociregistry_core::Code;

const MODES: [Mode; 2] = [Mode::Plain, Mode::WithSent];

/// A credential store answering only for `host`.
fn creds_for(
    host: String,
    creds: Credentials,
) -> impl Fn(&str) -> Result<Credentials, AuthError> + Send + Sync + 'static {
    move |h: &str| {
        Ok(if h == host {
            creds.clone()
        } else {
            Credentials::default()
        })
    }
}

/// A target server gating `/test...` on `gate`, answering "test ok" when it passes.
async fn target<F>(gate: F) -> Server
where
    F: Fn(&http::Request<bytes::Bytes>) -> Option<http::Response<Body>> + Send + Sync + 'static,
{
    let gate = Arc::new(gate);
    Server::start(move |req| {
        let gate = gate.clone();
        async move {
            if let Some(r) = gate(&req) {
                return r;
            }
            if !req.uri().path().starts_with("/test") {
                return resp(404, "only /test is allowed");
            }
            resp(200, "test ok")
        }
    })
    .await
}

fn bearer_challenge(realm: &str, scope: &str) -> String {
    format!(r#"Bearer realm="{realm}",service=someService,scope="{scope}""#)
}

#[tokio::test]
async fn basic_auth() {
    for mode in MODES {
        let checks = Checks::default();
        let c = checks.clone();
        let unauthenticated = Arc::new(AtomicUsize::new(0));
        let un = unauthenticated.clone();
        let ts = target(move |req| match basic_of(req.headers()) {
            Some((u, p)) if u == "testuser" && p == "testpassword" => None,
            Some(other) => {
                c.check(false, format!("wrong basic credentials {other:?}"));
                Some(challenge("Basic"))
            }
            None => {
                un.fetch_add(1, Ordering::SeqCst);
                Some(challenge("Basic"))
            }
        })
        .await;
        let auth = Authenticator::new(creds_for(
            ts.authority(),
            Credentials::basic("testuser", "testpassword"),
        ));
        let http = HyperSend::new();
        let scope = Scope::empty();
        get_ok_twice(&auth, &http, &ts.origin(), "/test", &scope, &scope, mode).await;
        // The first request went without credentials; after the challenge they are sent up
        // front.
        assert_eq!(unauthenticated.load(Ordering::SeqCst), 1);
        assert_eq!(ts.hits(), 3, "{mode:?}");
        assert_eq!(http.sent.load(Ordering::SeqCst), 0, "no token requests");
        checks.assert_ok();
    }
}

#[tokio::test]
async fn bearer_auth() {
    for mode in MODES {
        let test_scope = Scope::parse("repository:foo:push,pull");
        let checks = Checks::default();
        let c = checks.clone();
        let want = test_scope.clone();
        let auth_srv = Server::start(move |req| {
            let (c, want) = (c.clone(), want.clone());
            async move {
                match basic_of(req.headers()) {
                    Some((u, p)) if u == "testuser" && p == "testpassword" => {}
                    _ => return resp(401, ""),
                }
                let requested = Scope::parse(&params(&req, "scope").join(" "));
                let ok = c.check(requested == want, format!("requested {requested:?}"))
                    & c.check(params(&req, "service") == ["someService"], "service param")
                    & c.check(req.method() == http::Method::GET, "GET");
                if !ok {
                    return resp(500, "");
                }
                json(serde_json::json!({"token": token_for(&requested.to_string())}))
            }
        })
        .await;
        let realm = auth_srv.url("/token");
        let c = checks.clone();
        let want = test_scope.clone();
        let ts = target(move |req| {
            if req.headers().get(http::header::AUTHORIZATION).is_none() {
                return Some(challenge(&bearer_challenge(&realm, &want.to_string())));
            }
            c.check(scope_of(req.headers()) == Some(want.clone()), "token scope");
            None
        })
        .await;
        let auth = Authenticator::new(creds_for(
            ts.authority(),
            Credentials::basic("testuser", "testpassword"),
        ));
        let http = HyperSend::new();
        let empty = Scope::empty();
        get_ok_twice(&auth, &http, &ts.origin(), "/test", &empty, &empty, mode).await;
        assert_eq!(
            auth_srv.hits(),
            1,
            "one token fetch, then the cache ({mode:?})"
        );
        assert_eq!(ts.hits(), 3);
        checks.assert_ok();
    }
}

#[tokio::test]
async fn bearer_auth_additional_scope() {
    let required = Scope::parse("repository:foo:push,pull");
    let additional = Scope::parse("repository:bar:pull somethingElse");
    let checks = Checks::default();
    let c = checks.clone();
    let want = required.union(&additional);
    let auth_srv = Server::start(move |req| {
        let (c, want) = (c.clone(), want.clone());
        async move {
            if basic_of(req.headers()) != Some(("testuser".into(), "testpassword".into())) {
                return resp(401, "");
            }
            let requested = Scope::parse(&params(&req, "scope").join(" "));
            c.check(requested == want, format!("requested {requested:?}"));
            c.check(params(&req, "service") == ["someService"], "service");
            json(serde_json::json!({"token": token_for(&requested.to_string())}))
        }
    })
    .await;
    let realm = auth_srv.url("/token");
    let c = checks.clone();
    let (req_s, want) = (required.clone(), required.union(&additional));
    let ts = target(move |req| {
        if req.headers().get(http::header::AUTHORIZATION).is_none() {
            return Some(challenge(&bearer_challenge(&realm, &req_s.to_string())));
        }
        c.check(scope_of(req.headers()) == Some(want.clone()), "token scope");
        None
    })
    .await;
    let auth = Authenticator::new(creds_for(
        ts.authority(),
        Credentials::basic("testuser", "testpassword"),
    ));
    let http = HyperSend::new();
    get_ok_twice(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &Scope::empty(),
        &additional,
        Mode::WithSent,
    )
    .await;
    checks.assert_ok();
}

#[tokio::test]
async fn bearer_auth_requires_exact_scope() {
    for mode in MODES {
        let required = Scope::parse("repository:foo:pull,push");
        let exact = "other repository:foo:push,pull";
        let exact_token = token_for(exact);
        let tok = exact_token.clone();
        let auth_srv = Server::start(move |req| {
            let tok = tok.clone();
            async move {
                if basic_of(req.headers()) != Some(("testuser".into(), "testpassword".into())) {
                    return resp(401, "");
                }
                if params(&req, "scope").join(" ") != exact {
                    return resp(401, "");
                }
                json(serde_json::json!({"token": tok}))
            }
        })
        .await;
        let realm = auth_srv.url("/token");
        let checks = Checks::default();
        let c = checks.clone();
        let ts = target(move |req| {
            let Some(h) = req.headers().get(http::header::AUTHORIZATION) else {
                return Some(challenge(&bearer_challenge(&realm, exact)));
            };
            c.check(
                h.to_str().ok() == Some(format!("Bearer {exact_token}").as_str()),
                "exact token",
            );
            None
        })
        .await;
        let auth = Authenticator::new(creds_for(
            ts.authority(),
            Credentials::basic("testuser", "testpassword"),
        ));
        let http = HyperSend::new();
        get_ok_twice(
            &auth,
            &http,
            &ts.origin(),
            "/test",
            &required,
            &Scope::empty(),
            mode,
        )
        .await;
        checks.assert_ok();
    }
}

#[tokio::test]
async fn auth_not_available_after_challenge() {
    for mode in MODES {
        let checks = Checks::default();
        let c = checks.clone();
        let ts = target(move |req| {
            c.check(
                req.headers().get(http::header::AUTHORIZATION).is_none(),
                "authorization unexpectedly presented",
            );
            Some(challenge("Basic service=someService"))
        })
        .await;
        let auth = Authenticator::anonymous();
        let http = HyperSend::new();
        let empty = Scope::empty();
        let (status, _) = get(&auth, &http, &ts.origin(), "/test", &empty, &empty, mode)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(ts.hits(), 1, "a single request");
        checks.assert_ok();
    }
}

#[tokio::test]
async fn unauthorized_response_with_just_acquired_token_is_denied() {
    for mode in MODES {
        let auth_srv = Server::start(|req| async move {
            let scope = params(&req, "scope").join(" ");
            json(serde_json::json!({"token": token_for(&scope)}))
        })
        .await;
        let realm = auth_srv.url("/token");
        let ts = target(move |_| Some(challenge(&bearer_challenge(&realm, "repository:foo:pull"))))
            .await;
        let auth = Authenticator::anonymous();
        let http = HyperSend::new();
        let scope = Scope::repository("foo", &["pull"]);
        let err = get(
            &auth,
            &http,
            &ts.origin(),
            "/test",
            &scope,
            &Scope::empty(),
            mode,
        )
        .await
        .unwrap_err();
        assert!(err.is(&Code::Denied), "{err:?}");
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert!(err.message().contains("freshly acquired"), "{err}");
        assert_eq!(ts.hits(), 2, "no retry storm");
        assert_eq!(auth_srv.hits(), 1);
        // The refused token is forgotten: the next request starts over without it.
        assert_eq!(
            auth.authorization(&ts.origin(), &scope).await.unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn unauthorized_response_with_non_acquired_credentials_passes_through() {
    let ts = target(|_| {
        let mut r = challenge("Basic realm=x");
        *r.body_mut() = http_body_util::BodyExt::boxed(http_body_util::Full::new(
            bytes::Bytes::from_static(b"some body"),
        ));
        Some(r)
    })
    .await;
    let auth = Authenticator::new(creds_for(
        ts.authority(),
        Credentials::basic("testuser", "testpassword"),
    ));
    let http = HyperSend::new();
    let empty = Scope::empty();
    let (status, body) = get(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &empty,
        &empty,
        Mode::WithSent,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(&body[..], b"some body");
    assert_eq!(ts.hits(), 2);
    // Basic credentials already refused are not offered again for the same request.
    let (status, _) = get(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &empty,
        &empty,
        Mode::WithSent,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ts.hits(),
        3,
        "sent with Basic up front, refused, not retried"
    );
}

#[tokio::test]
async fn config_has_access_token() {
    let checks = Checks::default();
    let c = checks.clone();
    let ts = target(move |req| {
        let h = req.headers().get(http::header::AUTHORIZATION);
        if !c.check(h.is_some(), "no authorization presented") {
            return Some(resp(401, ""));
        }
        c.check(
            h.and_then(|h| h.to_str().ok()) == Some("Bearer somevalue"),
            "registry token",
        );
        None
    })
    .await;
    let auth = Authenticator::new(creds_for(
        ts.authority(),
        Credentials::registry_token("somevalue"),
    ));
    let http = HyperSend::new();
    let scope = Scope::repository("any", &["pull", "push"]);
    get_ok_twice(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &scope,
        &scope,
        Mode::WithSent,
    )
    .await;
    assert_eq!(ts.hits(), 2, "sent up front, no 401");
    checks.assert_ok();
}

/// A token server granting whatever scope is asked, counting its requests.
async fn generous_token_server() -> Server {
    Server::start(|req| async move {
        let scope = Scope::parse(&params(&req, "scope").join(" "));
        json(serde_json::json!({"token": token_for(&scope.to_string())}))
    })
    .await
}

/// A target whose `/test/<repo>` requires `repository:<repo>:pull`.
async fn per_repo_target(realm: String, checks: Checks) -> Server {
    target(move |req| {
        let repo = req.uri().path().trim_start_matches("/test/").to_owned();
        let required = Scope::repository(&repo, &["pull"]);
        let Some(have) = scope_of(req.headers()) else {
            return Some(challenge(&bearer_challenge(&realm, &required.to_string())));
        };
        if !checks.check(
            have.contains(&required),
            format!("token {have:?} used for {required:?}"),
        ) {
            return Some(challenge(&bearer_challenge(&realm, &required.to_string())));
        }
        None
    })
    .await
}

#[tokio::test]
async fn later_request_can_use_earlier_token_with_larger_scope() {
    for required_too in [false, true] {
        let auth_srv = generous_token_server().await;
        let checks = Checks::default();
        let ts = per_repo_target(auth_srv.url("/token"), checks.clone()).await;
        let auth = Authenticator::anonymous();
        let http = HyperSend::new();
        let wanted = Scope::parse("repository:foo1:pull repository:foo2:pull");
        for repo in ["foo1", "foo2"] {
            let required = if required_too {
                Scope::repository(repo, &["pull"])
            } else {
                Scope::empty()
            };
            let path = format!("/test/{repo}");
            get_ok_twice(
                &auth,
                &http,
                &ts.origin(),
                &path,
                &required,
                &wanted,
                Mode::WithSent,
            )
            .await;
        }
        assert_eq!(auth_srv.hits(), 1, "one token fetch for both repositories");
        checks.assert_ok();
    }
}

#[tokio::test]
async fn auth_server_rejects_requests_with_too_much_scope() {
    let user_has = Scope::parse("repository:foo:pull");
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let a = asked.clone();
    let auth_srv = Server::start(move |req| {
        let (user_has, a) = (user_has.clone(), a.clone());
        async move {
            let requested = Scope::parse(&params(&req, "scope").join(" "));
            a.lock().unwrap().push(requested.canonical().to_string());
            if !user_has.contains(&requested) {
                return resp(401, "");
            }
            json(serde_json::json!({"token": token_for(&requested.to_string())}))
        }
    })
    .await;
    let checks = Checks::default();
    let ts = per_repo_target(auth_srv.url("/token"), checks.clone()).await;
    let auth = Authenticator::anonymous();
    let http = HyperSend::new();
    let wanted = Scope::parse("repository:foo:pull repository:bar:pull");
    get_ok_twice(
        &auth,
        &http,
        &ts.origin(),
        "/test/foo",
        &Scope::repository("foo", &["pull"]),
        &wanted,
        Mode::WithSent,
    )
    .await;
    assert_eq!(
        *asked.lock().unwrap(),
        [
            "repository:bar:pull repository:foo:pull",
            "repository:foo:pull"
        ]
    );
    checks.assert_ok();
}

#[tokio::test]
async fn auth_request_uses_refresh_token_from_config() {
    for mode in MODES {
        let checks = Checks::default();
        let c = checks.clone();
        let auth_srv = Server::start(move |req| {
            let c = c.clone();
            async move {
                let one = |name: &str| params(&req, name).join(",");
                let ok = c.check(req.method() == http::Method::POST, "POST")
                    & c.check(one("grant_type") == "refresh_token", "grant_type")
                    & c.check(!one("client_id").is_empty(), "client_id")
                    & c.check(one("service") == "someService", "service")
                    & c.check(one("refresh_token") == "someRefreshToken", "refresh_token");
                if !ok {
                    return resp(500, "");
                }
                let scope = Scope::parse(&one("scope"));
                // Expires soon, so the client must acquire another with the same refresh token.
                json(serde_json::json!({"token": token_for(&scope.to_string()), "expires_in": 3}))
            }
        })
        .await;
        let ts = per_repo_target(auth_srv.url("/token"), checks.clone()).await;
        let auth = Authenticator::new(creds_for(
            ts.authority(),
            Credentials::identity_token("someRefreshToken"),
        ))
        .with_token_lifetime(Duration::from_secs(1), Duration::from_secs(3600));
        let http = HyperSend::new();
        let required = Scope::repository("foo", &["pull"]);
        let empty = Scope::empty();
        get_ok_twice(
            &auth,
            &http,
            &ts.origin(),
            "/test/foo",
            &required,
            &empty,
            mode,
        )
        .await;
        assert_eq!(auth_srv.hits(), 1);
        // Tokens are dropped one second before they expire: this one is usable for 2 s.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        get_ok_twice(
            &auth,
            &http,
            &ts.origin(),
            "/test/foo",
            &required,
            &empty,
            mode,
        )
        .await;
        assert_eq!(auth_srv.hits(), 2, "a second token was acquired ({mode:?})");
        checks.assert_ok();
    }
}

#[tokio::test]
async fn auth_request_uses_refresh_token_from_auth_server() {
    let checks = Checks::default();
    let c = checks.clone();
    let count = Arc::new(AtomicUsize::new(0));
    let n = count.clone();
    let auth_srv = Server::start(move |req| {
        let (c, n) = (c.clone(), n.clone());
        async move {
            let i = n.fetch_add(1, Ordering::SeqCst) + 1;
            // A different refresh token each time.
            let got = params(&req, "refresh_token").join(",");
            if !c.check(
                got == format!("someRefreshToken{i}"),
                format!("request {i} used refresh token {got:?}"),
            ) {
                return resp(500, "");
            }
            let scope = params(&req, "scope").join(" ");
            json(serde_json::json!({
                "refresh_token": format!("someRefreshToken{}", i + 1),
                "token": token_for(&scope),
            }))
        }
    })
    .await;
    let ts = per_repo_target(auth_srv.url("/token"), checks.clone()).await;
    let auth = Authenticator::new(creds_for(
        ts.authority(),
        Credentials::identity_token("someRefreshToken1"),
    ));
    let http = HyperSend::new();
    for i in 0..4 {
        let repo = format!("foo{i}");
        get_ok_twice(
            &auth,
            &http,
            &ts.origin(),
            &format!("/test/{repo}"),
            &Scope::repository(&repo, &["pull"]),
            &Scope::empty(),
            Mode::WithSent,
        )
        .await;
    }
    assert_eq!(count.load(Ordering::SeqCst), 4);
    checks.assert_ok();
}

#[tokio::test]
async fn refresh_grant_falls_back_to_get_on_404() {
    let methods = Arc::new(std::sync::Mutex::new(Vec::new()));
    let m = methods.clone();
    let auth_srv = Server::start(move |req| {
        let m = m.clone();
        async move {
            m.lock().unwrap().push(req.method().to_string());
            if req.method() == http::Method::POST {
                return resp(404, "no oauth here");
            }
            let scope = params(&req, "scope").join(" ");
            json(serde_json::json!({"access_token": token_for(&scope)}))
        }
    })
    .await;
    let checks = Checks::default();
    let ts = per_repo_target(auth_srv.url("/token"), checks.clone()).await;
    let auth = Authenticator::new(creds_for(ts.authority(), Credentials::identity_token("rt")));
    let http = HyperSend::new();
    get_ok(
        &auth,
        &http,
        &ts.origin(),
        "/test/foo",
        &Scope::repository("foo", &["pull"]),
        &Scope::empty(),
        Mode::WithSent,
    )
    .await;
    assert_eq!(*methods.lock().unwrap(), ["POST", "GET"]);
    checks.assert_ok();
}

#[tokio::test]
async fn refused_cached_token_is_replaced() {
    // The registry revokes the first token it saw: the next request carrying it gets a 401,
    // and the authenticator fetches a new token rather than offering the refused one again.
    let auth_srv = Server::start({
        let n = Arc::new(AtomicUsize::new(0));
        move |req| {
            let n = n.clone();
            async move {
                let i = n.fetch_add(1, Ordering::SeqCst);
                let scope = params(&req, "scope").join(" ");
                json(serde_json::json!({"token": format!("{}.{i}", token_for(&scope))}))
            }
        }
    })
    .await;
    let realm = auth_srv.url("/token");
    let ts = target(move |req| {
        let h = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if h.is_empty() || h.ends_with(".0") {
            return Some(challenge(&bearer_challenge(&realm, "repository:foo:pull")));
        }
        None
    })
    .await;
    let auth = Authenticator::anonymous();
    let http = HyperSend::new();
    let scope = Scope::repository("foo", &["pull"]);
    // First request: no auth, 401, token .0, 401 again: DENIED (the token was fresh).
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
    assert!(err.is(&Code::Denied));
    // Next: no cached token (forgotten), 401, token .1, OK.
    get_ok_twice(
        &auth,
        &http,
        &ts.origin(),
        "/test",
        &scope,
        &Scope::empty(),
        Mode::WithSent,
    )
    .await;
    assert_eq!(auth_srv.hits(), 2);
}
