//! HTTP proxies: which connections go through one ([`ProxyConfig`]) and the connector that
//! takes them there, a `CONNECT` tunnel for HTTPS (TLS then runs end to end, through the
//! tunnel) and absolute-form requests for plain HTTP. Proxy credentials come from the proxy
//! URL (`http://user:password@host:port`).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use url::Url;

use crate::options::ConfigError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether the client's connections go through an HTTP proxy.
///
/// ```
/// use ociregistry_client::{ClientOptions, ProxyConfig};
///
/// let mut options = ClientOptions::default();
/// options.proxy = ProxyConfig::Url("http://proxy.internal:3128".into());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyConfig {
    /// As the environment says, like curl and Go's `net/http`: `HTTPS_PROXY` for HTTPS,
    /// `HTTP_PROXY` for plain HTTP, `ALL_PROXY` for both (upper or lower case), except the hosts
    /// `NO_PROXY` lists, and never for loopback hosts (`localhost`, `127.0.0.0/8`, `::1`).
    /// The default.
    #[default]
    FromEnvironment,
    /// Always connect directly.
    Direct,
    /// Every connection through the HTTP proxy at this URL
    /// (`http://[user:password@]host:port`), loopback hosts included.
    Url(String),
}

impl std::fmt::Debug for ProxyConfig {
    /// Never shows a password in a proxy URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyConfig::FromEnvironment => f.write_str("FromEnvironment"),
            ProxyConfig::Direct => f.write_str("Direct"),
            ProxyConfig::Url(url) => {
                let shown = match Url::parse(url) {
                    Ok(mut u) if u.password().is_some() => {
                        let _ = u.set_password(Some("***"));
                        u.to_string()
                    }
                    Ok(u) => u.to_string(),
                    Err(_) => "<invalid>".to_owned(),
                };
                f.debug_tuple("Url").field(&shown).finish()
            }
        }
    }
}

/// The proxy rules a client follows.
#[derive(Debug)]
pub(crate) struct Proxies {
    matcher: Matcher,
    bypass_loopback: bool,
}

fn invalid(reason: &'static str) -> ConfigError {
    ConfigError::InvalidOption {
        name: "proxy",
        reason,
    }
}

impl Proxies {
    /// The rules of `config`; `None` when every connection is direct.
    pub(crate) fn new(config: &ProxyConfig) -> Result<Option<Proxies>, ConfigError> {
        let (matcher, bypass_loopback) = match config {
            ProxyConfig::Direct => return Ok(None),
            ProxyConfig::FromEnvironment => (Matcher::from_env(), true),
            ProxyConfig::Url(url) => {
                let parsed = Url::parse(url).map_err(|_| invalid("not a URL"))?;
                if parsed.scheme() != "http" {
                    return Err(invalid("only http:// proxies are supported"));
                }
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(invalid("the proxy URL has no host"));
                }
                (Matcher::builder().all(url.clone()).build(), false)
            }
        };
        Ok(Some(Proxies {
            matcher,
            bypass_loopback,
        }))
    }

    /// The proxy a connection to `dst` goes through, if any.
    fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        if self.bypass_loopback && dst.host().is_some_and(is_loopback) {
            return None;
        }
        self.matcher.intercept(dst)
    }

    /// The `Proxy-Authorization` a plain-HTTP request to `uri` carries (HTTPS requests
    /// authenticate in their tunnel's `CONNECT`).
    pub(crate) fn http_authorization(&self, uri: &Uri) -> Option<HeaderValue> {
        if uri.scheme_str() != Some("http") {
            return None;
        }
        self.intercept(uri)?.basic_auth().cloned()
    }
}

/// Whether `host` (as in a URI: IPv6 in brackets) is this machine.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.to_ascii_lowercase().ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Connects directly, or through the proxy the rules name.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    direct: HttpConnector,
    proxies: Option<Arc<Proxies>>,
}

impl ProxyConnector {
    pub(crate) fn new(direct: HttpConnector, proxies: Option<Arc<Proxies>>) -> ProxyConnector {
        ProxyConnector { direct, proxies }
    }
}

impl tower_service::Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<ProxyStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let proxy = self.proxies.as_ref().and_then(|p| p.intercept(&dst));
        let mut direct = self.direct.clone();
        Box::pin(async move {
            let Some(proxy) = proxy else {
                let io = direct.call(dst).await?;
                return Ok(ProxyStream { io, proxied: false });
            };
            if proxy.uri().scheme_str() != Some("http") {
                return Err(format!(
                    "proxy {} is not an http:// proxy, the only kind supported",
                    proxy.uri()
                )
                .into());
            }
            if dst.scheme_str() == Some("https") {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), direct);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let io = tunnel.call(dst).await?;
                Ok(ProxyStream { io, proxied: false })
            } else {
                // Plain HTTP: the requests themselves go to the proxy, in absolute form.
                let io = direct.call(proxy.uri().clone()).await?;
                Ok(ProxyStream { io, proxied: true })
            }
        })
    }
}

/// A connection, direct or through a proxy.
#[derive(Debug)]
pub(crate) struct ProxyStream {
    io: TokioIo<TcpStream>,
    /// Requests go to a forwarding proxy (so in absolute form).
    proxied: bool,
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.proxied)
    }
}

impl Read for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "localhost",
            "LOCALHOST",
            "a.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "[2001:db8::1]",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn an_explicit_proxy_takes_every_connection() {
        let p = Proxies::new(&ProxyConfig::Url("http://u:p@proxy.test:3128".into()))
            .unwrap()
            .unwrap();
        for dst in ["https://registry.test/v2/", "http://127.0.0.1:5000/v2/"] {
            let i = p.intercept(&uri(dst)).unwrap();
            assert_eq!(i.uri(), &uri("http://proxy.test:3128"), "{dst}");
        }
        let auth = p
            .http_authorization(&uri("http://registry.test/v2/"))
            .unwrap();
        assert_eq!(auth, "Basic dTpw");
        assert!(
            p.http_authorization(&uri("https://registry.test/v2/"))
                .is_none()
        );
    }

    #[test]
    fn environment_rules_never_proxy_loopback_and_honour_no_proxy() {
        let p = Proxies {
            matcher: Matcher::builder()
                .all("http://proxy.test:3128".to_owned())
                .no("internal.test".to_owned())
                .build(),
            bypass_loopback: true,
        };
        assert!(p.intercept(&uri("https://registry.test/v2/")).is_some());
        assert!(p.intercept(&uri("https://localhost:5000/v2/")).is_none());
        assert!(p.intercept(&uri("http://127.0.0.1:5000/v2/")).is_none());
        assert!(p.intercept(&uri("https://[::1]:5000/v2/")).is_none());
        assert!(p.intercept(&uri("https://internal.test/v2/")).is_none());
    }

    #[test]
    fn debug_output_hides_proxy_passwords() {
        let shown = format!(
            "{:?}",
            ProxyConfig::Url("http://u:secret@proxy.test:3128".into())
        );
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("proxy.test"), "{shown}");
    }

    #[test]
    fn only_plain_http_proxy_urls_are_accepted() {
        assert!(Proxies::new(&ProxyConfig::Direct).unwrap().is_none());
        for bad in [
            "socks5://proxy.test:1080",
            "https://proxy.test",
            "not a url",
            "http://",
        ] {
            assert!(
                Proxies::new(&ProxyConfig::Url(bad.into())).is_err(),
                "{bad}"
            );
        }
    }
}
