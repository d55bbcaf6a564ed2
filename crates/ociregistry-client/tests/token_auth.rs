//! Bearer-token authentication end to end: a registry (server over mem) behind a gate that
//! demands, per request, the token scope CNCF Distribution demands (`pull` to read, `pull,push`
//! to write, `delete` to delete, `registry:catalog:*` for the catalog, and `pull` on the source
//! of a mount), with a token server in the same test that checks Basic credentials and grants
//! exactly the scope asked for. The whole behaviour suite runs through it, and the scopes asked
//! for are checked.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::{Request, Response};
use hyper::body::Incoming;
use ociregistry_client::auth::{Authenticator, Credentials};
use ociregistry_client::{Client, ClientOptions};
use ociregistry_core::route::Route;
use ociregistry_core::testing::{Content, push_blob};
use ociregistry_core::{Code, Context, Registry, stream};
use ociregistry_mem::MemRegistry;
use ociregistry_server::{RegistryService, ResponseBody};

const USER: &str = "alice";
const PASSWORD: &str = "wonderland";

/// The scope items (`type:name:action`) a request needs, as Distribution computes them.
fn required(req: &Request<Incoming>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(route) = Route::parse(req.method(), req.uri().path(), req.uri().query()) else {
        return out;
    };
    if let Route::Catalog { .. } = route {
        out.insert("registry:catalog:*".to_owned());
        return out;
    }
    let Some(repo) = route.repository() else {
        return out;
    };
    let actions: &[&str] = match *req.method() {
        http::Method::GET | http::Method::HEAD => &["pull"],
        http::Method::DELETE => &["delete"],
        _ => &["pull", "push"],
    };
    for a in actions {
        out.insert(format!("repository:{repo}:{a}"));
    }
    if let Route::UploadMount {
        from: Some(from), ..
    } = &route
    {
        out.insert(format!("repository:{from}:pull"));
    }
    out
}

/// Expands a scope string into `type:name:action` items.
fn items(scope: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for item in scope.split_whitespace() {
        if let Some((head, actions)) = item.rsplit_once(':') {
            for a in actions.split(',') {
                out.insert(format!("{head}:{a}"));
            }
        }
    }
    out
}

/// Compacts items back to a scope string (`repository:a:pull,push`).
fn compact(items: &BTreeSet<String>) -> String {
    let mut by: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for i in items {
        if let Some((head, a)) = i.rsplit_once(':') {
            by.entry(head.to_owned()).or_default().push(a.to_owned());
        }
    }
    by.into_iter()
        .map(|(h, a)| format!("{h}:{}", a.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone)]
struct Gate {
    inner: RegistryService,
    /// The scope parameters of every token request.
    token_requests: Arc<Mutex<Vec<Vec<String>>>>,
}

fn reply(status: u16, headers: &[(&str, &str)], body: String) -> Response<ResponseBody> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(ociregistry_server::body::full(body)).unwrap()
}

impl tower_service::Service<Request<Incoming>> for Gate {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = req.headers()["host"].to_str().unwrap().to_owned();
            if req.uri().path() == "/token" {
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
                );
                if req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    != Some(basic.as_str())
                {
                    return Ok(reply(
                        401,
                        &[],
                        "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}".into(),
                    ));
                }
                let scopes: Vec<String> =
                    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                        .filter(|(k, _)| k == "scope")
                        .map(|(_, v)| v.into_owned())
                        .collect();
                assert!(
                    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                        .any(|(k, v)| k == "service" && v == "gate"),
                    "the service parameter is echoed"
                );
                this.token_requests.lock().unwrap().push(scopes.clone());
                let granted: BTreeSet<String> = scopes.iter().flat_map(|s| items(s)).collect();
                let token =
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(compact(&granted));
                return Ok(reply(
                    200,
                    &[("content-type", "application/json")],
                    format!("{{\"token\":\"{token}\",\"expires_in\":300}}"),
                ));
            }
            let need = required(&req);
            let granted: BTreeSet<String> = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|t| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(t)
                        .ok()
                })
                .map(|b| items(&String::from_utf8(b).unwrap()))
                .unwrap_or_default();
            if !need.is_subset(&granted) {
                let challenge = format!(
                    "Bearer realm=\"http://{host}/token\",service=\"gate\",scope=\"{}\"",
                    compact(&need)
                );
                return Ok(reply(
                    401,
                    &[
                        ("www-authenticate", &challenge),
                        ("content-type", "application/json"),
                    ],
                    "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token needed\"}]}"
                        .into(),
                ));
            }
            Ok(this.inner.handle(req).await)
        })
    }
}

async fn gated() -> (Gate, String) {
    let gate = Gate {
        inner: RegistryService::new(Arc::new(MemRegistry::new())),
        token_requests: Arc::default(),
    };
    let host = common::serve(gate.clone()).await;
    (gate, host)
}

fn authed(host: &str, f: impl FnOnce(&mut ClientOptions)) -> Client {
    common::client_with(host, |o| {
        o.authenticator = Some(Authenticator::new(|_: &str| {
            Ok(Credentials::basic(USER, PASSWORD))
        }));
        f(o);
    })
}

ociregistry_core::registry_behaviour_tests!(full as through_token_auth, || async {
    let (_, host) = gated().await;
    Arc::new(authed(&host, |o| o.list_page_size = 3)) as Arc<dyn Registry>
});

#[tokio::test]
async fn scopes_asked_for() {
    let (gate, host) = gated().await;
    let c = authed(&host, |_| {});
    let cx = Context::new();
    let mut content = Content::new("scopes");
    let blob = content.layer(100);
    push_blob(&c, "src/repo", &blob).await;
    c.get_blob(&cx, "src/repo", &blob.digest).await.unwrap();
    c.mount_blob(&cx, Some("src/repo"), "dst/repo", &blob.digest)
        .await
        .unwrap();
    c.delete_blob(&cx, "dst/repo", &blob.digest).await.unwrap();
    stream::collect(c.repositories(&cx, None)).await.unwrap();
    let asked = gate.token_requests.lock().unwrap().clone();
    let asked: Vec<BTreeSet<String>> = asked
        .iter()
        .map(|v| v.iter().flat_map(|s| items(s)).collect())
        .collect();
    let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
    // One token per distinct scope; a token is reused for requests its scope covers.
    assert_eq!(
        asked,
        [
            set(&["repository:src/repo:pull", "repository:src/repo:push"]),
            set(&[
                "repository:dst/repo:pull",
                "repository:dst/repo:push",
                "repository:src/repo:pull"
            ]),
            set(&["repository:dst/repo:delete", "repository:dst/repo:push"]),
            set(&["registry:catalog:*"]),
        ],
        "{asked:?}"
    );
}

#[tokio::test]
async fn wrong_password_and_no_credentials() {
    let (_, host) = gated().await;
    let cx = Context::new();
    let c = common::client_with(&host, |o| {
        o.authenticator = Some(Authenticator::new(|_: &str| {
            Ok(Credentials::basic(USER, "nope"))
        }));
    });
    let e = c.resolve_tag(&cx, "a", "v1").await.unwrap_err();
    assert!(e.is_denied(), "{e}");
    let c = common::client(&host);
    let e = c.resolve_tag(&cx, "a", "v1").await.unwrap_err();
    assert!(e.is(&Code::Unauthorized), "{e}");
}
