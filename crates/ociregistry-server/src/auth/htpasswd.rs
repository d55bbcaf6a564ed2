//! Users and passwords from an htpasswd file (bcrypt entries, as `htpasswd -B` writes them).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use sha2::Digest as _;

/// Checks user names and passwords.
pub trait PasswordCheck: Send + Sync + 'static {
    /// Whether `password` is `user`'s. May be slow (bcrypt): callers run it off the async
    /// threads.
    fn check(&self, user: &str, password: &str) -> bool;
}

/// Why an htpasswd file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HtpasswdError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not `user:$2y$...` (only bcrypt entries are accepted).
    #[error("line {line}: not a bcrypt htpasswd entry (user:$2y$...)")]
    Entry {
        /// The 1-based line number.
        line: usize,
    },
}

/// Users from an htpasswd file. Verified passwords are remembered (as SHA-256 digests) so that
/// repeated requests do not pay bcrypt's cost each time.
pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashMap<String, [u8; 32]>>,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut users: Vec<&String> = self.users.keys().collect();
        users.sort();
        f.debug_struct("Htpasswd").field("users", &users).finish()
    }
}

impl Htpasswd {
    /// Parses htpasswd text. Blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Htpasswd, HtpasswdError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or(HtpasswdError::Entry { line: i + 1 })?;
            if user.is_empty()
                || !(hash.starts_with("$2y$")
                    || hash.starts_with("$2b$")
                    || hash.starts_with("$2a$"))
            {
                return Err(HtpasswdError::Entry { line: i + 1 });
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Reads an htpasswd file.
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Htpasswd::parse(&text)
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl PasswordCheck for Htpasswd {
    fn check(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let fingerprint: [u8; 32] = sha2::Sha256::digest(password.as_bytes()).into();
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.get(user) == Some(&fingerprint) {
            return true;
        }
        drop(verified);
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            verified = self
                .verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            verified.insert(user.to_owned(), fingerprint);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_bcrypt_entries() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let h = Htpasswd::parse(&format!("# users\n\nalice:{hash}\n")).unwrap();
        assert_eq!(h.len(), 1);
        assert!(h.check("alice", "s3cret"));
        assert!(h.check("alice", "s3cret"), "cached");
        assert!(!h.check("alice", "wrong"));
        assert!(!h.check("bob", "s3cret"));
        assert!(Htpasswd::parse("alice:{SHA}abc").is_err());
        assert!(Htpasswd::parse("nocolon").is_err());
        assert!(Htpasswd::parse(":$2y$05$abc").is_err());
    }
}
