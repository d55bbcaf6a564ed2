//! Concurrent requests share the token cache without serializing on it (registry-hardening
//! C10, and the Go library's per-host lock held during fetches).
#![allow(clippy::unwrap_used)]

mod auth_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use auth_support::*;
use ociregistry_client::auth::{Authenticator, Scope};

/// A token server granting the requested scope after `delay`, tracking the largest number of
/// requests it was serving at once.
struct SlowTokenServer {
    server: Server,
    max_in_flight: Arc<AtomicUsize>,
}

async fn slow_token_server(delay: Duration) -> SlowTokenServer {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (cur, max) = (in_flight.clone(), max_in_flight.clone());
    let server = Server::start(move |req| {
        let (cur, max) = (cur.clone(), max.clone());
        async move {
            let now = cur.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            cur.fetch_sub(1, Ordering::SeqCst);
            let scope = Scope::parse(&params(&req, "scope").join(" "));
            json(serde_json::json!({"token": token_for(&scope.to_string())}))
        }
    })
    .await;
    SlowTokenServer {
        server,
        max_in_flight,
    }
}

/// A registry whose `/test/<repo>` needs `repository:<repo>:pull`, recording any request
/// whose token does not cover its repository.
async fn registry(realm: String, checks: Checks) -> Server {
    Server::start(move |req| {
        let (realm, checks) = (realm.clone(), checks.clone());
        async move {
            let repo = req.uri().path().trim_start_matches("/test/").to_owned();
            let required = Scope::repository(&repo, &["pull"]);
            let ch = format!(r#"Bearer realm="{realm}",service=s,scope="{required}""#);
            match scope_of(req.headers()) {
                None => challenge(&ch),
                Some(have) if have.contains(&required) => resp(200, "test ok"),
                Some(have) => {
                    checks.check(false, format!("token for {have:?} sent for {repo}"));
                    challenge(&ch)
                }
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn different_scopes_fetch_concurrently_and_get_their_own_tokens() {
    let tokens = slow_token_server(Duration::from_millis(500)).await;
    let checks = Checks::default();
    let reg = registry(tokens.server.url("/token"), checks.clone()).await;
    let auth = Authenticator::anonymous();
    let http = HyperSend::new();
    let mut tasks = Vec::new();
    for repo in ["a", "b"] {
        let (auth, http, origin) = (auth.clone(), http.clone(), reg.origin());
        tasks.push(tokio::spawn(async move {
            let scope = Scope::repository(repo, &["pull"]);
            get_ok(
                &auth,
                &http,
                &origin,
                &format!("/test/{repo}"),
                &scope,
                &Scope::empty(),
                Mode::WithSent,
            )
            .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(tokens.server.hits(), 2, "one token per scope");
    assert_eq!(
        tokens.max_in_flight.load(Ordering::SeqCst),
        2,
        "the two fetches overlapped: no lock is held while fetching"
    );
    // Each repository's token stays its own.
    for (repo, other) in [("a", "b"), ("b", "a")] {
        let h = auth
            .authorization(&reg.origin(), &Scope::repository(repo, &["pull"]))
            .await
            .unwrap()
            .unwrap();
        let mut hm = http::HeaderMap::new();
        hm.insert(http::header::AUTHORIZATION, h);
        let s = scope_of(&hm).unwrap();
        assert!(s.contains(&Scope::repository(repo, &["pull"])));
        assert!(!s.contains(&Scope::repository(other, &["pull"])));
    }
    checks.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_requests_for_one_scope_share_one_fetch() {
    let tokens = slow_token_server(Duration::from_millis(100)).await;
    let checks = Checks::default();
    let reg = registry(tokens.server.url("/token"), checks.clone()).await;
    let auth = Authenticator::anonymous();
    let http = HyperSend::new();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (auth, http, origin) = (auth.clone(), http.clone(), reg.origin());
        tasks.push(tokio::spawn(async move {
            let scope = Scope::repository("same", &["pull"]);
            get_ok(
                &auth,
                &http,
                &origin,
                "/test/same",
                &scope,
                &Scope::empty(),
                Mode::WithSent,
            )
            .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(tokens.server.hits(), 1, "a single token fetch");
    checks.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_without_sent_information_all_succeed() {
    // The plain `on_unauthorized` cannot know what each request carried; it may fetch more
    // than once, but every request succeeds with a token for its own repository.
    let tokens = slow_token_server(Duration::from_millis(100)).await;
    let checks = Checks::default();
    let reg = registry(tokens.server.url("/token"), checks.clone()).await;
    let auth = Authenticator::anonymous();
    let http = HyperSend::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (auth, http, origin) = (auth.clone(), http.clone(), reg.origin());
        tasks.push(tokio::spawn(async move {
            let repo = format!("r{}", i % 3);
            let scope = Scope::repository(&repo, &["pull"]);
            get_ok(
                &auth,
                &http,
                &origin,
                &format!("/test/{repo}"),
                &scope,
                &Scope::empty(),
                Mode::Plain,
            )
            .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(tokens.server.hits() >= 3);
    checks.assert_ok();
}

#[tokio::test]
async fn a_token_for_one_repository_is_never_used_for_another() {
    let tokens = slow_token_server(Duration::ZERO).await;
    let checks = Checks::default();
    let reg = registry(tokens.server.url("/token"), checks.clone()).await;
    let auth = Authenticator::anonymous();
    let http = HyperSend::new();
    let a = Scope::repository("a", &["pull"]);
    get_ok(
        &auth,
        &http,
        &reg.origin(),
        "/test/a",
        &a,
        &Scope::empty(),
        Mode::WithSent,
    )
    .await;
    assert!(
        auth.authorization(&reg.origin(), &a)
            .await
            .unwrap()
            .is_some()
    );
    for other in [
        Scope::repository("b", &["pull"]),
        Scope::repository("a", &["push"]),
        Scope::repository("a/b", &["pull"]),
        Scope::catalog(),
    ] {
        assert_eq!(
            auth.authorization(&reg.origin(), &other).await.unwrap(),
            None,
            "{other:?}"
        );
    }
    // Nor for the same repository on another registry.
    let other_origin = format!("http://localhost:{}", reg.addr.port());
    assert_eq!(auth.authorization(&other_origin, &a).await.unwrap(), None);
    checks.assert_ok();
}
