//! `[auth]`: users, the token flow and per-repository permissions.
//!
//! ```toml
//! [auth]
//! service = "ocisrv"                 # the token service name
//! htpasswd = "users.htpasswd"        # bcrypt entries (htpasswd -B); relative to the config file
//! anonymous_pull = false
//! token_ttl_secs = 300
//! # realm = "https://registry.example/token"  # default: http://<bound address>/token
//!
//! [auth.users]                       # inline bcrypt entries, besides or instead of htpasswd
//! ci = "$2y$05$..."
//!
//! [[auth.rules]]                     # what users may do; rules add up
//! users = ["alice", "ci"]            # "*" is any signed-in user, "anonymous" nobody signed in
//! repositories = ["team/*"]          # exact names, or a prefix ending in "*"
//! actions = ["pull", "push", "delete"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ociregistry_core::{Code, Context, Error, Identity};
use ociregistry_filter::{Access, AccessKind, AccessPolicy};
use ociregistry_server::auth::{Actions, AuthConfig, Htpasswd, HtpasswdError, Permissions};
use serde::Deserialize;

/// The `[auth]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthSection {
    #[serde(default = "default_service")]
    pub(crate) service: String,
    pub(crate) realm: Option<String>,
    pub(crate) htpasswd: Option<PathBuf>,
    #[serde(default)]
    pub(crate) users: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) anonymous_pull: bool,
    #[serde(default = "default_ttl")]
    pub(crate) token_ttl_secs: u64,
    #[serde(default)]
    pub(crate) rules: Vec<Rule>,
}

fn default_service() -> String {
    "ocisrv".into()
}

fn default_ttl() -> u64 {
    300
}

/// One `[[auth.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    users: Vec<String>,
    repositories: Vec<String>,
    actions: Vec<String>,
}

/// The rules, as [`Permissions`].
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
    anonymous_pull: bool,
}

impl Rule {
    fn applies_to(&self, identity: &Identity) -> bool {
        self.users
            .iter()
            .any(|u| match (u.as_str(), identity.user()) {
                ("anonymous", None) => true,
                ("*", Some(_)) => true,
                (name, Some(user)) => name == user,
                _ => false,
            })
    }

    fn covers(&self, repository: &str) -> bool {
        self.repositories.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => repository.starts_with(prefix),
            None => p == repository,
        })
    }

    fn actions(&self) -> Actions {
        Actions::parse(&self.actions.join(","))
    }
}

impl Permissions for Rules {
    fn repository(&self, identity: &Identity, repository: &str) -> Actions {
        let base = if self.anonymous_pull && identity.user().is_none() {
            Actions::PULL
        } else {
            Actions::NONE
        };
        self.rules
            .iter()
            .filter(|r| r.applies_to(identity) && r.covers(repository))
            .fold(base, |acc, r| acc.union(r.actions()))
    }

    fn catalog(&self, identity: &Identity) -> bool {
        // Listing the catalog is for those who may pull everywhere; the listing is filtered by
        // what each caller may read anyway.
        identity.user().is_some()
            && self
                .rules
                .iter()
                .any(|r| r.applies_to(identity) && r.repositories.iter().any(|p| p == "*"))
    }
}

/// The same rules enforce every operation on the registry, whatever credentials reached it
/// (Basic or token), through `ociregistry-filter`'s access checker.
#[async_trait::async_trait]
impl AccessPolicy for Rules {
    async fn check(&self, cx: &Context, access: &Access) -> ociregistry_core::Result<()> {
        let identity = cx.identity();
        let allowed = if access.is_catalog() {
            self.catalog(identity)
        } else {
            let may = Permissions::repository(self, identity, &access.repository);
            match &access.kind {
                AccessKind::Read | AccessKind::List => may.pull,
                AccessKind::Write { .. } => may.push,
                AccessKind::Delete(_) => may.delete,
            }
        };
        if allowed {
            Ok(())
        } else if identity.user().is_none() {
            Err(Error::new(Code::Unauthorized, "authentication required"))
        } else {
            Err(Error::new(Code::Denied, format!("may not {access}")))
        }
    }
}

/// Why the `[auth]` section cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error(transparent)]
    Htpasswd(#[from] HtpasswdError),
    #[error("auth.users.{0}: not a bcrypt hash")]
    User(String),
    #[error("auth.rules: unknown action {0:?} (pull, push, delete or *)")]
    Action(String),
    #[error("auth: no users (set htpasswd or [auth.users])")]
    NoUsers,
}

impl AuthSection {
    /// Checks the section and builds what the server needs. `base` is the directory of the
    /// config file; `addr` the bound address (for the default realm).
    pub(crate) fn build(
        &self,
        base: &Path,
        addr: std::net::SocketAddr,
    ) -> Result<(AuthConfig, Htpasswd, Rules), AuthError> {
        let mut text = String::new();
        if let Some(path) = &self.htpasswd {
            let path = if path.is_absolute() {
                path.clone()
            } else {
                base.join(path)
            };
            text.push_str(&std::fs::read_to_string(&path).map_err(|source| {
                HtpasswdError::Read {
                    path: path.display().to_string(),
                    source,
                }
            })?);
            text.push('\n');
        }
        for (user, hash) in &self.users {
            if !hash.starts_with("$2") {
                return Err(AuthError::User(user.clone()));
            }
            text.push_str(&format!("{user}:{hash}\n"));
        }
        let users = Htpasswd::parse(&text)?;
        if users.is_empty() {
            return Err(AuthError::NoUsers);
        }
        for rule in &self.rules {
            for a in &rule.actions {
                if !matches!(a.as_str(), "pull" | "push" | "delete" | "*") {
                    return Err(AuthError::Action(a.clone()));
                }
            }
        }
        let realm = self
            .realm
            .clone()
            .unwrap_or_else(|| format!("http://{addr}/token"));
        let config = AuthConfig::new(self.service.clone())
            .realm(realm)
            .anonymous_pull(self.anonymous_pull)
            .token_ttl(Duration::from_secs(self.token_ttl_secs.max(1)));
        Ok((
            config,
            users,
            Rules {
                rules: self.rules.clone(),
                anonymous_pull: self.anonymous_pull,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> AuthSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn rules_add_up() {
        let s = section(
            r#"
            [users]
            alice = "$2y$04$abcdefghijklmnopqrstuu5Z4dQYb6o5l5q6z3N7r2cB9Q1ZlG5m6"
            [[rules]]
            users = ["*"]
            repositories = ["*"]
            actions = ["pull"]
            [[rules]]
            users = ["alice"]
            repositories = ["team/*", "solo"]
            actions = ["push", "delete"]
            [[rules]]
            users = ["anonymous"]
            repositories = ["public/*"]
            actions = ["pull"]
            "#,
        );
        let (_, users, rules) = s
            .build(Path::new("."), "127.0.0.1:5000".parse().unwrap())
            .unwrap();
        assert_eq!(users.len(), 1);
        let alice = Identity::User("alice".into());
        let bob = Identity::User("bob".into());
        assert_eq!(rules.repository(&alice, "team/x"), Actions::ALL);
        assert_eq!(rules.repository(&alice, "solo"), Actions::ALL);
        assert_eq!(rules.repository(&alice, "solo2"), Actions::PULL);
        assert_eq!(rules.repository(&bob, "team/x"), Actions::PULL);
        assert_eq!(
            rules.repository(&Identity::Anonymous, "team/x"),
            Actions::NONE
        );
        assert_eq!(
            rules.repository(&Identity::Anonymous, "public/x"),
            Actions::PULL
        );
        assert!(rules.catalog(&alice));
        assert!(!rules.catalog(&Identity::Anonymous));
    }

    #[tokio::test]
    async fn the_policy_follows_the_rules() {
        let s = section(
            r#"
            [users]
            alice = "$2y$04$abcdefghijklmnopqrstuu5Z4dQYb6o5l5q6z3N7r2cB9Q1ZlG5m6"
            [[rules]]
            users = ["alice"]
            repositories = ["team/*"]
            actions = ["pull", "push"]
            "#,
        );
        let (_, _, rules) = s
            .build(Path::new("."), "127.0.0.1:5000".parse().unwrap())
            .unwrap();
        let alice = Context::new().with_identity(Identity::User("alice".into()));
        let d = ociregistry_core::Digest::sha256(b"");
        assert!(rules.check(&alice, &Access::read("team/a")).await.is_ok());
        assert!(
            rules
                .check(&alice, &Access::write_tags("team/a", vec!["v1".into()]))
                .await
                .is_ok()
        );
        let e = rules
            .check(
                &alice,
                &Access::delete("team/a", ociregistry_filter::DeleteTarget::Blob(d)),
            )
            .await
            .unwrap_err();
        assert!(e.is(&Code::Denied));
        assert!(
            rules
                .check(&alice, &Access::read("other"))
                .await
                .unwrap_err()
                .is(&Code::Denied)
        );
        let e = rules
            .check(&Context::new(), &Access::read("team/a"))
            .await
            .unwrap_err();
        assert!(e.is(&Code::Unauthorized));
    }

    #[test]
    fn bad_sections_are_refused() {
        let addr = "127.0.0.1:5000".parse().unwrap();
        assert!(matches!(
            section("").build(Path::new("."), addr),
            Err(AuthError::NoUsers)
        ));
        assert!(matches!(
            section("[users]\na = \"plain\"").build(Path::new("."), addr),
            Err(AuthError::User(_))
        ));
        let s = section(
            "[users]\na = \"$2y$04$abcdefghijklmnopqrstuu5Z4dQYb6o5l5q6z3N7r2cB9Q1ZlG5m6\"\n[[rules]]\nusers=[\"a\"]\nrepositories=[\"*\"]\nactions=[\"fly\"]",
        );
        assert!(matches!(
            s.build(Path::new("."), addr),
            Err(AuthError::Action(_))
        ));
        assert!(toml::from_str::<AuthSection>("bogus = 1").is_err());
    }
}
