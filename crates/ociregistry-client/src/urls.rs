//! URLs the client builds and follows: the registry base, origins (who may see credentials),
//! server-given locations resolved against the request, and the upload `digest=` parameter.

use ociregistry_core::{Code, Digest, Error};
use url::Url;

/// `scheme://host:port` of a URL, with the port always explicit: the unit credentials are
/// scoped to.
pub(crate) fn origin(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    let port = url.port_or_known_default().unwrap_or(0);
    format!("{}://{host}:{port}", url.scheme())
}

/// Whether two URLs have the same scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Parses and checks the registry host (`host[:port]`, no scheme, path or credentials) and
/// returns the registry's base URL.
pub(crate) fn base_url(host: &str, insecure: bool) -> Result<Url, String> {
    if host.is_empty() {
        return Err("empty host".into());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "/?#@\\".contains(c))
    {
        return Err("a host is host[:port], not a URL".into());
    }
    let scheme = if insecure { "http" } else { "https" };
    let url = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| e.to_string())?;
    if url.host().is_none() {
        return Err("no host name".into());
    }
    // What came back must be what was given (modulo case and a default port): nothing was
    // silently dropped or reinterpreted.
    let shown = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let given = host.to_ascii_lowercase();
    let default_port = format!("{shown}:{}", if insecure { 80 } else { 443 });
    if given != shown && given != default_port {
        return Err(format!("parses as {shown:?}"));
    }
    Ok(url)
}

/// The URL `target` (a path and query from [`ociregistry_core::route::Route::target`]) on the
/// registry.
pub(crate) fn on_registry(base: &Url, target: &str) -> Result<Url, Error> {
    base.join(target).map_err(|e| {
        Error::new(
            Code::Unknown,
            format!("cannot build URL for {target:?}: {e}"),
        )
        .with_source(e)
    })
}

/// Resolves a `Location` or `Link` the server sent against the URL of the request it answered,
/// allowing only `http` and `https` and never a downgrade from `https` to `http`.
pub(crate) fn resolve(request: &Url, reference: &str, what: &str) -> Result<Url, Error> {
    let url = request.join(reference.trim()).map_err(|e| {
        Error::new(
            Code::Unknown,
            format!("invalid {what} {:?} in response: {e}", truncate(reference)),
        )
    })?;
    check_scheme(request, &url, what)?;
    Ok(url)
}

/// Refuses schemes other than http(s) and https → http downgrades.
pub(crate) fn check_scheme(from: &Url, to: &Url, what: &str) -> Result<(), Error> {
    match to.scheme() {
        "https" => Ok(()),
        "http" if from.scheme() == "http" => Ok(()),
        "http" => Err(Error::new(
            Code::Denied,
            format!(
                "refusing {what} {} from https to plain http",
                truncate(to.as_str())
            ),
        )),
        other => Err(Error::new(
            Code::Denied,
            format!("refusing {what} to a {other:?} URL"),
        )),
    }
}

/// `url` with `digest=<digest>` appended to its query, keeping the existing parameters exactly
/// as the server sent them (the spec says they may be critical and should match exactly).
pub(crate) fn with_digest(url: &Url, digest: &Digest) -> Url {
    let param: String = form_urlencoded_pair("digest", digest.as_str());
    let mut out = url.clone();
    match url.query() {
        None | Some("") => out.set_query(Some(&param)),
        Some(q) if q.ends_with('&') => out.set_query(Some(&format!("{q}{param}"))),
        Some(q) => out.set_query(Some(&format!("{q}&{param}"))),
    }
    out
}

fn form_urlencoded_pair(key: &str, value: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish()
}

/// The repository named by an upload URL of the distribution form
/// `/v2/<repo>/blobs/uploads/<id>`, if it has that form.
pub(crate) fn upload_repository(url: &Url) -> Option<&str> {
    let path = url.path().strip_prefix("/v2/")?;
    let (repo, _) = path.rsplit_once("/blobs/uploads/")?;
    Some(repo)
}

/// At most 200 characters of `s`, for error messages.
pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= 200 {
        return s.to_owned();
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "ghcr.io",
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "Registry.Example.com",
        ] {
            base_url(ok, false).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_eq!(
            base_url("127.0.0.1:80", true).unwrap().as_str(),
            "http://127.0.0.1/"
        );
        for bad in [
            "",
            "https://ghcr.io",
            "ghcr.io/foo",
            "user@ghcr.io",
            "ghcr.io:x",
            "ghcr.io:99999",
            "a b",
            "ghcr.io?x",
            "[::1",
        ] {
            assert!(base_url(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let a = Url::parse("https://r.example/v2/").unwrap();
        let b = Url::parse("https://r.example:443/x").unwrap();
        let c = Url::parse("http://r.example/x").unwrap();
        let d = Url::parse("https://x.r.example/x").unwrap();
        assert!(same_origin(&a, &b));
        assert!(!same_origin(&a, &c));
        assert!(!same_origin(&a, &d));
        assert_eq!(origin(&a), "https://r.example:443");
        assert_eq!(
            origin(&Url::parse("http://[::1]:5000/").unwrap()),
            "http://[::1]:5000"
        );
    }

    #[test]
    fn locations_resolve_and_refuse_downgrades() {
        let req = Url::parse("https://r.example/v2/a/blobs/uploads/").unwrap();
        assert_eq!(
            resolve(
                &req,
                "/v2/a/blobs/uploads/x?_state=abc&sig=x%2By",
                "Location"
            )
            .unwrap()
            .as_str(),
            "https://r.example/v2/a/blobs/uploads/x?_state=abc&sig=x%2By"
        );
        assert_eq!(
            resolve(&req, "y", "Location").unwrap().as_str(),
            "https://r.example/v2/a/blobs/uploads/y"
        );
        assert_eq!(
            resolve(&req, "//evil.example/x", "Location")
                .unwrap()
                .as_str(),
            "https://evil.example/x"
        );
        assert!(resolve(&req, "http://r.example/x", "Location").is_err());
        assert!(resolve(&req, "file:///etc/passwd", "Location").is_err());
        let plain = Url::parse("http://r.example/v2/").unwrap();
        assert!(resolve(&plain, "http://r.example/x", "Location").is_ok());
        assert!(resolve(&plain, "https://cdn.example/x", "Location").is_ok());
    }

    #[test]
    fn digest_parameter_keeps_the_query() {
        let d = Digest::sha256(b"");
        let enc = "sha256%3Ae3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for (from, to) in [
            ("https://r/u", format!("https://r/u?digest={enc}")),
            ("https://r/u?", format!("https://r/u?digest={enc}")),
            (
                "https://r/u?_state=a%2Fb%3D&sig=x",
                format!("https://r/u?_state=a%2Fb%3D&sig=x&digest={enc}"),
            ),
            ("https://r/u?a=1&", format!("https://r/u?a=1&digest={enc}")),
        ] {
            assert_eq!(
                with_digest(&Url::parse(from).unwrap(), &d).as_str(),
                to,
                "{from}"
            );
        }
    }

    #[test]
    fn upload_repositories() {
        let u = Url::parse("http://r/v2/a/b/blobs/uploads/xyz?s=1").unwrap();
        assert_eq!(upload_repository(&u), Some("a/b"));
        let u = Url::parse("http://r/upload/xyz").unwrap();
        assert_eq!(upload_repository(&u), None);
    }
}
