//! Short-lived signed bearer tokens (JWT, HS256) carrying the caller and their granted access.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::access::ResourceAccess;

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer and audience: the registry's service name.
    pub iss: String,
    /// The user the token was issued to (empty for anonymous).
    pub sub: String,
    /// The audience (the service).
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// What the token grants.
    pub access: Vec<ResourceAccess>,
    /// What was asked for but not granted: a request needing it is refused (403), not
    /// challenged again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<ResourceAccess>,
}

/// Signs and verifies tokens with one secret key.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").finish_non_exhaustive()
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match.
    #[error("bad token signature")]
    Signature,
    /// Expired, or for another service.
    #[error("token expired or not for this service")]
    Invalid,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenSigner {
    /// A signer with `key`.
    pub fn new(key: impl Into<Vec<u8>>) -> TokenSigner {
        TokenSigner { key: key.into() }
    }

    /// A signer with a fresh random key (tokens do not survive a restart).
    pub fn random() -> TokenSigner {
        let mut key = [0u8; 32];
        // Without system randomness, fall back to a key derived from the clock and address:
        // still unguessable enough for short-lived tokens on one host, and never a panic.
        if getrandom::fill(&mut key).is_err() {
            let seed = format!("{:?}{:p}", SystemTime::now(), &key);
            key.copy_from_slice(&<Sha256 as sha2::Digest>::digest(seed.as_bytes()));
        }
        TokenSigner::new(key.to_vec())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC's key schedule (RFC 2104) done up front: keys longer than the block are hashed,
        // shorter ones zero-padded, which makes construction infallible.
        let mut block = [0u8; 64];
        if self.key.len() > block.len() {
            let digest = <Sha256 as sha2::Digest>::digest(&self.key);
            block[..digest.len()].copy_from_slice(&digest);
        } else {
            block[..self.key.len()].copy_from_slice(&self.key);
        }
        <Hmac<Sha256> as KeyInit>::new(&block.into())
    }

    /// A token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(HEADER);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// The claims of a valid, unexpired token for `service`.
    pub fn verify(&self, token: &str, service: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        if header != HEADER.as_bytes() {
            return Err(TokenError::Malformed);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now() || claims.aud != service {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// Claims for `user` granting `access`, valid for `ttl`.
    pub fn claims(
        service: &str,
        user: &str,
        ttl: Duration,
        access: Vec<ResourceAccess>,
        refused: Vec<ResourceAccess>,
    ) -> Claims {
        let iat = now();
        Claims {
            iss: service.into(),
            sub: user.into(),
            aud: service.into(),
            exp: iat + ttl.as_secs().max(1),
            iat,
            access,
            refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::access::Actions;

    #[test]
    fn round_trip_and_tamper() {
        let s = TokenSigner::new(b"k".to_vec());
        let claims = TokenSigner::claims(
            "svc",
            "alice",
            Duration::from_secs(60),
            vec![ResourceAccess::repository("a", Actions::PULL)],
            vec![],
        );
        let t = s.sign(&claims);
        assert_eq!(s.verify(&t, "svc").unwrap(), claims);
        assert_eq!(s.verify(&t, "other"), Err(TokenError::Invalid));
        assert_eq!(
            TokenSigner::new(b"other".to_vec()).verify(&t, "svc"),
            Err(TokenError::Signature)
        );
        // Changing the claims breaks the signature.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&TokenSigner::claims(
                "svc",
                "root",
                Duration::from_secs(60),
                vec![],
                vec![],
            ))
            .unwrap(),
        );
        parts[1] = &forged;
        assert_eq!(
            s.verify(&parts.join("."), "svc"),
            Err(TokenError::Signature)
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(s.verify(bad, "svc").is_err(), "{bad}");
        }
        let expired = Claims { exp: 1, ..claims };
        assert_eq!(s.verify(&s.sign(&expired), "svc"), Err(TokenError::Invalid));
    }
}
