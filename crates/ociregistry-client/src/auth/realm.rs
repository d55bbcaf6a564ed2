//! Where credentials may go: registry origins and the token realms they name.
//!
//! A registry's `Bearer` challenge names a token server (the realm) that the client then sends
//! its credentials to. A hostile or compromised registry could name any URL, so by default a
//! realm is accepted only when it is on the registry's own host (any port; http only if the
//! registry itself is http), or over https on another host that is a DNS name, not an IP
//! literal (which covers link-local metadata endpoints such as `169.254.169.254`) and not a
//! local name such as `localhost`. See [`RealmPolicy`].

use std::net::IpAddr;

use http::Uri;
use http::uri::Scheme;

use super::AuthError;

/// Which token realms the [`Authenticator`](super::Authenticator) will talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RealmPolicy {
    /// The default: the registry's own host (never downgrading https to http), or https to
    /// another host named by DNS (not an IP literal, not `localhost`).
    #[default]
    SameHostOrHttps,
    /// Any http or https realm. Only for closed test setups: a hostile registry can then
    /// collect the credentials configured for it at any address, over plain HTTP.
    Any,
}

/// A parsed `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) https: bool,
    /// Lower-case host, without IPv6 brackets.
    pub(crate) host: String,
    /// Lower-case host with the port if one was given (the credential lookup key).
    pub(crate) authority: String,
    /// `scheme://authority`, normalized (the cache key).
    pub(crate) key: String,
}

fn bare_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl Origin {
    /// Parses an origin such as `https://ghcr.io` or `http://127.0.0.1:5000` (a trailing `/`
    /// or path is ignored).
    pub(crate) fn parse(origin: &str) -> Result<Origin, AuthError> {
        let invalid = || AuthError::InvalidOrigin(origin.to_owned());
        let uri: Uri = origin.trim().parse().map_err(|_| invalid())?;
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(invalid()),
        };
        let authority = uri.authority().ok_or_else(invalid)?;
        if authority.as_str().contains('@') {
            return Err(invalid());
        }
        let host = bare_host(authority.host());
        if host.is_empty() {
            return Err(invalid());
        }
        let default_port = if https { 443 } else { 80 };
        let authority = match authority.port_u16() {
            Some(p) if p != default_port => format!("{}:{p}", authority.host()),
            _ => authority.host().to_owned(),
        }
        .to_ascii_lowercase();
        let scheme = if https { "https" } else { "http" };
        Ok(Origin {
            https,
            key: format!("{scheme}://{authority}"),
            host,
            authority,
        })
    }
}

/// The realm as shown in errors and logs: scheme, authority and path, without the query.
pub(crate) fn display_realm(realm: &str) -> String {
    match realm.parse::<Uri>() {
        Ok(uri) => match (uri.scheme_str(), uri.authority()) {
            (Some(s), Some(a)) => {
                let host = a.as_str().rsplit('@').next().unwrap_or_default();
                format!("{s}://{host}{}", uri.path())
            }
            _ => "<invalid realm>".to_owned(),
        },
        Err(_) => "<invalid realm>".to_owned(),
    }
}

fn is_local_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost") || !host.contains('.')
}

/// Checks `realm` against the policy for a registry at `origin`; returns the parsed realm.
pub(crate) fn check_realm(
    policy: RealmPolicy,
    origin: &Origin,
    realm: &str,
) -> Result<Uri, AuthError> {
    let malformed = |message: &str| AuthError::MalformedChallenge {
        origin: origin.key.clone(),
        message: message.to_owned(),
    };
    let uri: Uri = realm
        .trim()
        .parse()
        .map_err(|_| malformed("the realm is not a valid URL"))?;
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => return Err(malformed("the realm is not an http(s) URL")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| malformed("the realm has no host"))?;
    if authority.as_str().contains('@') {
        return Err(malformed("the realm contains user information"));
    }
    let host = bare_host(authority.host());
    if host.is_empty() {
        return Err(malformed("the realm has no host"));
    }
    if policy == RealmPolicy::Any {
        return Ok(uri);
    }
    let reject = |reason: &str| AuthError::RealmRejected {
        origin: origin.key.clone(),
        realm: display_realm(realm),
        reason: reason.to_owned(),
    };
    if origin.https && !https {
        return Err(reject("an https registry's token realm must use https"));
    }
    if host == origin.host {
        return Ok(uri);
    }
    if !https {
        return Err(reject(
            "a token realm on another host than the registry must use https",
        ));
    }
    if host.parse::<IpAddr>().is_ok() {
        return Err(reject(
            "a token realm on another host than the registry must not be an IP address",
        ));
    }
    if is_local_name(&host) {
        return Err(reject(
            "a token realm on another host than the registry must not be a local name",
        ));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    #[test]
    fn origins_are_normalized() {
        let o = origin("HTTPS://GHCR.io:443/");
        assert_eq!(o.key, "https://ghcr.io");
        assert_eq!(o.authority, "ghcr.io");
        let o = origin("http://127.0.0.1:5000");
        assert_eq!(
            (o.key.as_str(), o.authority.as_str()),
            ("http://127.0.0.1:5000", "127.0.0.1:5000")
        );
        let o = origin("http://[::1]:5000");
        assert_eq!(o.host, "::1");
        for bad in [
            "ghcr.io",
            "ftp://x",
            "",
            "https://",
            "https://u:p@host",
            "://x",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn realm_policy() {
        let p = RealmPolicy::default();
        let https_reg = origin("https://registry.example.com");
        let http_reg = origin("http://127.0.0.1:5000");
        let ok = [
            (&https_reg, "https://registry.example.com/token"),
            (&https_reg, "https://registry.example.com:8443/token?x=1"),
            (&https_reg, "https://auth.example.com/token"),
            (&https_reg, "https://auth.docker.io/token"),
            (&http_reg, "http://127.0.0.1:5001/token"),
            (&http_reg, "https://auth.example.com/token"),
        ];
        for (o, realm) in ok {
            assert!(check_realm(p, o, realm).is_ok(), "{realm}");
        }
        let rejected = [
            (&https_reg, "http://registry.example.com/token"),
            (&https_reg, "http://attacker.example/token"),
            (&https_reg, "https://169.254.169.254/latest/meta-data"),
            (&https_reg, "https://10.0.0.1/token"),
            (&https_reg, "https://[fe80::1]/token"),
            (&https_reg, "https://localhost/token"),
            (&https_reg, "https://metadata/token"),
            (&http_reg, "http://localhost:5001/token"),
            (&http_reg, "http://169.254.169.254/token"),
            (&http_reg, "https://127.0.0.2/token"),
        ];
        for (o, realm) in rejected {
            let e = check_realm(p, o, realm).unwrap_err();
            assert!(
                matches!(e, AuthError::RealmRejected { .. }),
                "{realm}: {e:?}"
            );
        }
        for bad in [
            "",
            "/token",
            "ftp://x/token",
            "https://u:p@host/t",
            "not a url",
        ] {
            let e = check_realm(p, &https_reg, bad).unwrap_err();
            assert!(
                matches!(e, AuthError::MalformedChallenge { .. }),
                "{bad:?}: {e:?}"
            );
        }
        assert!(check_realm(RealmPolicy::Any, &https_reg, "http://169.254.169.254/x").is_ok());
    }

    #[test]
    fn realm_display_drops_query_and_userinfo() {
        assert_eq!(
            display_realm("https://a.example/token?secret=1"),
            "https://a.example/token"
        );
        assert_eq!(display_realm("::"), "<invalid realm>");
    }
}
