//! What a request needs: repository actions and the catalog, in the token-scope vocabulary
//! (`repository:<name>:pull,push,delete`, `registry:catalog:*`).

use std::fmt;

use ociregistry_core::Identity;
use ociregistry_core::route::Route;
use serde::{Deserialize, Serialize};

/// A set of repository actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Actions {
    /// Read blobs, manifests, tags and referrers.
    pub pull: bool,
    /// Write blobs, manifests and tags.
    pub push: bool,
    /// Delete blobs, manifests and tags.
    pub delete: bool,
}

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions {
        pull: false,
        push: false,
        delete: false,
    };
    /// Pull only.
    pub const PULL: Actions = Actions {
        pull: true,
        push: false,
        delete: false,
    };
    /// Pull and push.
    pub const PULL_PUSH: Actions = Actions {
        pull: true,
        push: true,
        delete: false,
    };
    /// Every action.
    pub const ALL: Actions = Actions {
        pull: true,
        push: true,
        delete: true,
    };

    /// Parses a comma-separated action list (`pull,push`; `*` means all). Unknown actions are
    /// ignored.
    pub fn parse(s: &str) -> Actions {
        let mut a = Actions::NONE;
        for action in s.split(',') {
            match action.trim() {
                "pull" => a.pull = true,
                "push" => a.push = true,
                "delete" => a.delete = true,
                "*" => a = Actions::ALL,
                _ => {}
            }
        }
        a
    }

    /// Whether every action of `other` is in `self`.
    pub fn contains(self, other: Actions) -> bool {
        (self.pull || !other.pull) && (self.push || !other.push) && (self.delete || !other.delete)
    }

    /// The actions in both.
    pub fn intersect(self, other: Actions) -> Actions {
        Actions {
            pull: self.pull && other.pull,
            push: self.push && other.push,
            delete: self.delete && other.delete,
        }
    }

    /// The actions in either.
    pub fn union(self, other: Actions) -> Actions {
        Actions {
            pull: self.pull || other.pull,
            push: self.push || other.push,
            delete: self.delete || other.delete,
        }
    }

    /// Whether there is no action.
    pub fn is_empty(self) -> bool {
        self == Actions::NONE
    }

    /// The actions as a list of names.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.pull {
            v.push("pull");
        }
        if self.push {
            v.push("push");
        }
        if self.delete {
            v.push("delete");
        }
        v
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// One entry of a token's access list, as in the distribution token specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAccess {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name, or `catalog`.
    pub name: String,
    /// The actions granted.
    pub actions: Vec<String>,
}

impl ResourceAccess {
    /// Access to a repository.
    pub fn repository(name: &str, actions: Actions) -> ResourceAccess {
        ResourceAccess {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.names().into_iter().map(str::to_owned).collect(),
        }
    }

    /// Access to the catalog.
    pub fn catalog() -> ResourceAccess {
        ResourceAccess {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }
    }

    /// Parses one scope item (`repository:foo/bar:pull,push`); the name may itself hold colons
    /// (a host with a port), so the type is split off the left and the actions off the right.
    pub fn parse(item: &str) -> Option<ResourceAccess> {
        let (kind, rest) = item.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(ResourceAccess {
            kind: kind.into(),
            name: name.into(),
            actions: actions.split(',').map(str::to_owned).collect(),
        })
    }

    /// The repository actions of this entry (none when it is not a repository).
    pub fn actions(&self) -> Actions {
        if self.kind != "repository" {
            return Actions::NONE;
        }
        Actions::parse(&self.actions.join(","))
    }

    /// The scope string of this entry.
    pub fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }

    fn is_catalog(&self) -> bool {
        self.kind == "registry" && self.name == "catalog"
    }
}

/// Who may do what. Implemented by the deployment (for example from a configuration file) and
/// consulted when issuing tokens; the same rules are meant to back an access-checking filter.
pub trait Permissions: Send + Sync + 'static {
    /// What `identity` may do in `repository`.
    fn repository(&self, identity: &Identity, repository: &str) -> Actions;
    /// Whether `identity` may list the catalog.
    fn catalog(&self, identity: &Identity) -> bool;
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Required {
    /// Nothing beyond being allowed in (the `/v2/` ping).
    Nothing,
    /// Listing the catalog.
    Catalog,
    /// Actions on repositories.
    Repositories(Vec<(String, Actions)>),
}

impl Required {
    /// What `route` needs. A mount needs push on the target and pull on the source.
    pub fn of(route: &Route) -> Required {
        let one = |repo: &str, a: Actions| Required::Repositories(vec![(repo.to_owned(), a)]);
        match route {
            Route::Ping => Required::Nothing,
            Route::Catalog { .. } => Required::Catalog,
            Route::UploadMount { repo, from, .. } => {
                let mut v = vec![(
                    repo.clone(),
                    Actions {
                        push: true,
                        ..Actions::PULL
                    },
                )];
                if let Some(from) = from {
                    v.push((from.clone(), Actions::PULL));
                }
                Required::Repositories(v)
            }
            Route::BlobDelete { repo, .. } | Route::ManifestDelete { repo, .. } => one(
                repo,
                Actions {
                    delete: true,
                    ..Actions::NONE
                },
            ),
            Route::UploadStart { repo }
            | Route::UploadMonolithic { repo, .. }
            | Route::UploadStatus { repo, .. }
            | Route::UploadChunk { repo, .. }
            | Route::UploadComplete { repo, .. }
            | Route::UploadCancel { repo, .. }
            | Route::ManifestPut { repo, .. } => one(repo, Actions::PULL_PUSH),
            other => match other.repository() {
                Some(repo) => one(repo, Actions::PULL),
                None => Required::Nothing,
            },
        }
    }

    /// Whether `granted` covers this.
    pub fn granted_by(&self, granted: &[ResourceAccess]) -> bool {
        match self {
            Required::Nothing => true,
            Required::Catalog => granted.iter().any(ResourceAccess::is_catalog),
            Required::Repositories(v) => v.iter().all(|(repo, need)| {
                let have = granted
                    .iter()
                    .filter(|g| g.kind == "repository" && &g.name == repo)
                    .fold(Actions::NONE, |acc, g| acc.union(g.actions()));
                have.contains(*need)
            }),
        }
    }

    /// Whether anonymous callers allowed to pull may do this.
    pub fn is_pull_only(&self) -> bool {
        match self {
            Required::Nothing => true,
            Required::Catalog => false,
            Required::Repositories(v) => v.iter().all(|(_, a)| Actions::PULL.contains(*a)),
        }
    }

    /// The scope string a challenge asks for.
    pub fn scope(&self) -> Option<String> {
        match self {
            Required::Nothing => None,
            Required::Catalog => Some(ResourceAccess::catalog().scope()),
            Required::Repositories(v) => Some(
                v.iter()
                    .map(|(repo, a)| ResourceAccess::repository(repo, *a).scope())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn required(method: Method, path: &str, query: Option<&str>) -> Required {
        Required::of(&Route::parse(&method, path, query).unwrap())
    }

    #[test]
    fn routes_need_the_expected_access() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(required(Method::GET, "/v2/", None), Required::Nothing);
        assert_eq!(
            required(Method::GET, "/v2/_catalog", None),
            Required::Catalog
        );
        assert_eq!(
            required(Method::GET, "/v2/a/tags/list", None),
            Required::Repositories(vec![("a".into(), Actions::PULL)])
        );
        assert_eq!(
            required(Method::PUT, "/v2/a/manifests/t", None)
                .scope()
                .unwrap(),
            "repository:a:pull,push"
        );
        assert_eq!(
            required(Method::DELETE, "/v2/a/manifests/t", None)
                .scope()
                .unwrap(),
            "repository:a:delete"
        );
        assert_eq!(
            required(
                Method::POST,
                "/v2/a/blobs/uploads/",
                Some(&format!("mount={d}&from=b"))
            )
            .scope()
            .unwrap(),
            "repository:a:pull,push repository:b:pull"
        );
        assert!(required(Method::HEAD, &format!("/v2/a/blobs/{d}"), None).is_pull_only());
        assert!(!required(Method::DELETE, &format!("/v2/a/blobs/{d}"), None).is_pull_only());
    }

    #[test]
    fn grants_cover_requirements_exactly() {
        let r = Required::Repositories(vec![
            ("a".into(), Actions::PULL_PUSH),
            ("b".into(), Actions::PULL),
        ]);
        let pull_a = ResourceAccess::repository("a", Actions::PULL);
        let push_a = ResourceAccess::repository(
            "a",
            Actions {
                push: true,
                ..Actions::NONE
            },
        );
        let pull_b = ResourceAccess::repository("b", Actions::PULL);
        assert!(!r.granted_by(&[pull_a.clone(), pull_b.clone()]));
        assert!(r.granted_by(&[pull_a, push_a, pull_b]));
        assert!(
            !Required::Catalog.granted_by(&[ResourceAccess::repository("catalog", Actions::ALL)])
        );
        assert!(Required::Catalog.granted_by(&[ResourceAccess::catalog()]));
    }

    #[test]
    fn scope_items_parse_with_colons_in_names() {
        let a = ResourceAccess::parse("repository:localhost:5000/foo:pull,push").unwrap();
        assert_eq!(a.name, "localhost:5000/foo");
        assert_eq!(a.actions(), Actions::PULL_PUSH);
        assert!(ResourceAccess::parse("garbage").is_none());
        assert_eq!(
            ResourceAccess::parse("registry:catalog:*").unwrap().scope(),
            "registry:catalog:*"
        );
    }
}
