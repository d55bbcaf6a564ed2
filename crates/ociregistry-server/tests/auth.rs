//! The authentication layer: challenges, the token flow, scopes, Basic credentials and the
//! identity handed to the registry.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use ociregistry_core::{Context, Descriptor, Digest, Funcs, Identity, Registry};
use ociregistry_mem::MemRegistry;
use ociregistry_server::RegistryService;
use ociregistry_server::auth::{
    Actions, AuthConfig, AuthLayer, Authenticate, Htpasswd, Permissions,
};
use tower::ServiceExt;
use tower_layer::Layer;

/// alice may do anything; bob may pull everywhere and push to bob/*; anonymous nothing.
struct Rules;

impl Permissions for Rules {
    fn repository(&self, identity: &Identity, repo: &str) -> Actions {
        match identity.user() {
            Some("alice") => Actions::ALL,
            Some("bob") if repo.starts_with("bob/") => Actions::PULL_PUSH,
            Some("bob") => Actions::PULL,
            _ => Actions::NONE,
        }
    }
    fn catalog(&self, identity: &Identity) -> bool {
        identity.user() == Some("alice")
    }
}

fn users() -> Htpasswd {
    let a = bcrypt::hash("alice-pw", 4).unwrap();
    let b = bcrypt::hash("bob-pw", 4).unwrap();
    Htpasswd::parse(&format!("alice:{a}\nbob:{b}\n")).unwrap()
}

fn stack(config: AuthConfig, registry: Arc<dyn Registry>) -> Authenticate<RegistryService> {
    AuthLayer::new(config, Arc::new(users()), Arc::new(Rules)).layer(RegistryService::new(registry))
}

fn token_config() -> AuthConfig {
    AuthConfig::new("test-registry").realm("http://127.0.0.1:5000/token")
}

struct Resp {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

async fn call(
    svc: &Authenticate<RegistryService>,
    method: Method,
    uri: &str,
    auth: Option<&str>,
    body: &[u8],
    ct: Option<&str>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let resp = svc
        .clone()
        .oneshot(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default(),
    }
}

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

async fn token(svc: &Authenticate<RegistryService>, auth: Option<&str>, scope: &str) -> String {
    let r = call(
        svc,
        Method::GET,
        &format!(
            "/token?service=test-registry&scope={}",
            scope.replace(' ', "%20")
        ),
        auth,
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    format!("Bearer {}", v["token"].as_str().unwrap())
}

fn code(r: &Resp) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    v["errors"][0]["code"].as_str().unwrap_or("").to_owned()
}

const MANIFEST: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[tokio::test]
async fn unauthenticated_requests_are_challenged_with_the_scope_they_need() {
    let svc = stack(token_config(), Arc::new(MemRegistry::new()));
    let r = call(&svc, Method::GET, "/v2/", None, b"", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&r), "UNAUTHORIZED");
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer realm="http://127.0.0.1:5000/token",service="test-registry""#
    );
    let r = call(
        &svc,
        Method::PUT,
        "/v2/foo/manifests/v1",
        None,
        MANIFEST,
        Some(INDEX),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer realm="http://127.0.0.1:5000/token",service="test-registry",scope="repository:foo:pull,push""#
    );
    let r = call(&svc, Method::GET, "/v2/_catalog", None, b"", None).await;
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="registry:catalog:*""#)
    );
}

#[tokio::test]
async fn the_token_flow_grants_what_the_user_may_do() {
    let svc = stack(token_config(), Arc::new(MemRegistry::new()));
    let alice = token(
        &svc,
        Some(&basic("alice", "alice-pw")),
        "repository:foo:pull,push",
    )
    .await;
    let r = call(
        &svc,
        Method::PUT,
        "/v2/foo/manifests/v1",
        Some(&alice),
        MANIFEST,
        Some(INDEX),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = call(
        &svc,
        Method::GET,
        "/v2/foo/manifests/v1",
        Some(&alice),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // The token is for foo only: another repository is challenged, not refused.
    let r = call(
        &svc,
        Method::GET,
        "/v2/other/tags/list",
        Some(&alice),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("repository:other:pull")
    );

    // bob asks for push on foo and only gets pull: pushing is DENIED, pulling works.
    let bob = token(
        &svc,
        Some(&basic("bob", "bob-pw")),
        "repository:foo:pull,push",
    )
    .await;
    let r = call(
        &svc,
        Method::GET,
        "/v2/foo/manifests/v1",
        Some(&bob),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &svc,
        Method::PUT,
        "/v2/foo/manifests/v2",
        Some(&bob),
        MANIFEST,
        Some(INDEX),
    )
    .await;
    assert_eq!(
        (r.status, code(&r).as_str()),
        (StatusCode::FORBIDDEN, "DENIED")
    );
    let r = call(
        &svc,
        Method::DELETE,
        "/v2/foo/manifests/v1",
        Some(&bob),
        b"",
        None,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "delete was never asked for: challenged"
    );
    // ... and may push where the rules allow.
    let bob_own = token(
        &svc,
        Some(&basic("bob", "bob-pw")),
        "repository:bob/app:pull,push",
    )
    .await;
    let r = call(
        &svc,
        Method::PUT,
        "/v2/bob/app/manifests/v1",
        Some(&bob_own),
        MANIFEST,
        Some(INDEX),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Catalog access is a scope of its own.
    let cat = token(
        &svc,
        Some(&basic("alice", "alice-pw")),
        "registry:catalog:*",
    )
    .await;
    let r = call(&svc, Method::GET, "/v2/_catalog", Some(&cat), b"", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let cat = token(&svc, Some(&basic("bob", "bob-pw")), "registry:catalog:*").await;
    let r = call(&svc, Method::GET, "/v2/_catalog", Some(&cat), b"", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_credentials_and_tokens_are_refused() {
    let svc = stack(token_config(), Arc::new(MemRegistry::new()));
    let r = call(
        &svc,
        Method::GET,
        "/token?service=test-registry&scope=repository:foo:pull",
        Some(&basic("alice", "nope")),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        &svc,
        Method::GET,
        "/v2/foo/tags/list",
        Some("Bearer not.a.token"),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        &svc,
        Method::GET,
        "/v2/foo/tags/list",
        Some(&basic("alice", "nope")),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A token signed by another registry's key is worthless here.
    let other = stack(token_config(), Arc::new(MemRegistry::new()));
    let foreign = token(
        &other,
        Some(&basic("alice", "alice-pw")),
        "repository:foo:pull",
    )
    .await;
    let r = call(
        &svc,
        Method::GET,
        "/v2/foo/tags/list",
        Some(&foreign),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Tokens for another service are refused at the endpoint.
    let r = call(
        &svc,
        Method::GET,
        "/token?service=elsewhere&scope=repository:foo:pull",
        Some(&basic("alice", "alice-pw")),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // An expired token.
    let svc = stack(
        token_config().token_ttl(std::time::Duration::from_secs(1)),
        Arc::new(MemRegistry::new()),
    );
    let t = token(
        &svc,
        Some(&basic("alice", "alice-pw")),
        "repository:foo:pull",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = call(&svc, Method::GET, "/v2/foo/tags/list", Some(&t), b"", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn anonymous_pull_when_configured() {
    let mem = Arc::new(MemRegistry::new());
    let svc = stack(token_config().anonymous_pull(true), mem.clone());
    mem.push_manifest(
        &Context::new(),
        "pub",
        Some("v1"),
        Bytes::from_static(MANIFEST),
        INDEX,
        None,
    )
    .await
    .unwrap();
    let r = call(&svc, Method::GET, "/v2/pub/manifests/v1", None, b"", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&svc, Method::GET, "/v2/", None, b"", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &svc,
        Method::PUT,
        "/v2/pub/manifests/v2",
        None,
        MANIFEST,
        Some(INDEX),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An anonymous token carries pull only.
    let t = token(&svc, None, "repository:pub:pull,push").await;
    let r = call(
        &svc,
        Method::GET,
        "/v2/pub/manifests/v1",
        Some(&t),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &svc,
        Method::PUT,
        "/v2/pub/manifests/v2",
        Some(&t),
        MANIFEST,
        Some(INDEX),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_registry_sees_the_caller() {
    let seen: Arc<Mutex<Vec<Identity>>> = Arc::default();
    let seen2 = seen.clone();
    let reg = Funcs::new().with_resolve_tag(move |cx, _repo, _tag| {
        seen2.lock().unwrap().push(cx.identity().clone());
        async move {
            Ok(Descriptor::new(
                INDEX,
                Digest::sha256(MANIFEST),
                MANIFEST.len() as u64,
            ))
        }
    });
    // Basic credentials straight to the registry (no token realm).
    let svc = stack(AuthConfig::new("basic-only"), Arc::new(reg));
    let r = call(
        &svc,
        Method::HEAD,
        "/v2/foo/manifests/v1",
        Some(&basic("bob", "bob-pw")),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&svc, Method::HEAD, "/v2/foo/manifests/v1", None, b"", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], r#"Basic realm="basic-only""#);
    let r = call(
        &svc,
        Method::GET,
        "/token?scope=repository:foo:pull",
        Some(&basic("bob", "bob-pw")),
        b"",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no tokens without a realm");
    assert_eq!(*seen.lock().unwrap(), vec![Identity::User("bob".into())]);
}

/// Counts the password checks running at once, each taking a while.
#[derive(Default)]
struct SlowCheck {
    running: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl ociregistry_server::auth::PasswordCheck for SlowCheck {
    fn check(&self, _user: &str, password: &str) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(20));
        self.running.fetch_sub(1, SeqCst);
        password == "pw"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_run_at_most_one_per_core_at_a_time() {
    let checks = Arc::new(SlowCheck::default());
    let svc = AuthLayer::new(
        AuthConfig::new("test-registry"),
        checks.clone(),
        Arc::new(Rules),
    )
    .layer(RegistryService::new(Arc::new(MemRegistry::new())));
    let auth = basic("alice", "pw");
    let calls = (0..24).map(|_| call(&svc, Method::GET, "/v2/", Some(&auth), b"", None));
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.status, StatusCode::OK);
    }
    let cores = std::thread::available_parallelism().unwrap().get();
    let most = checks.most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most <= cores, "{most} checks at once on {cores} cores");
}
