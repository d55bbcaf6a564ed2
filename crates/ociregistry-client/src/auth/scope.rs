//! Authorization scopes: what a token allows, in the docker token-auth syntax.
//!
//! A scope string is a space-separated list of items `type:resource:action1,action2`, for
//! example `repository:library/alpine:pull,push registry:catalog:*`. A [`Scope`] is the set of
//! the single-action [`ResourceScope`]s such a string names; items that do not follow the
//! syntax are kept verbatim (as a resource type with no resource or action), so nothing a
//! server asks for is lost.
//!
//! A scope parsed from a string remembers that string: some token servers insist on receiving
//! the scope of their challenge exactly as they sent it, so [`Scope`]'s `Display` gives the
//! original text until the scope is changed (see [`Scope::canonical`]).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// The resource type of repository scopes.
pub const TYPE_REPOSITORY: &str = "repository";
/// The resource type of registry-wide scopes (the catalog).
pub const TYPE_REGISTRY: &str = "registry";
/// The action that allows reading.
pub const ACTION_PULL: &str = "pull";
/// The action that allows writing.
pub const ACTION_PUSH: &str = "push";
/// The action that allows deleting (required by some registries for DELETE requests).
pub const ACTION_DELETE: &str = "delete";

/// One resource and one action: `repository:foo:pull` is one, `repository:foo:pull,push` is
/// two.
///
/// Items that do not have the `type:resource:actions` shape are held with the whole item as
/// `resource_type` and empty `resource` and `action`. Ordering is by type, then resource, then
/// action, as strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceScope {
    /// The resource type, usually [`TYPE_REPOSITORY`] or [`TYPE_REGISTRY`].
    pub resource_type: String,
    /// The resource, for repositories the repository name.
    pub resource: String,
    /// The action, usually [`ACTION_PULL`] or [`ACTION_PUSH`].
    pub action: String,
}

impl ResourceScope {
    /// A resource scope from its three parts.
    pub fn new(
        resource_type: impl Into<String>,
        resource: impl Into<String>,
        action: impl Into<String>,
    ) -> ResourceScope {
        ResourceScope {
            resource_type: resource_type.into(),
            resource: resource.into(),
            action: action.into(),
        }
    }

    /// The catalog scope `registry:catalog:*`, needed to list the repositories of a registry.
    pub fn catalog() -> ResourceScope {
        ResourceScope::new(TYPE_REGISTRY, "catalog", "*")
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resource_type)?;
        if !self.resource.is_empty() || !self.action.is_empty() {
            write!(f, ":{}:{}", self.resource, self.action)?;
        }
        Ok(())
    }
}

/// A set of [`ResourceScope`]s, or the unlimited scope that contains every other.
///
/// Equality compares the sets only, not the string a scope was parsed from.
///
/// ```
/// use ociregistry_client::auth::Scope;
///
/// let s = Scope::parse("repository:foo:push,pull registry:catalog:*");
/// assert_eq!(s.to_string(), "repository:foo:push,pull registry:catalog:*"); // verbatim
/// assert_eq!(s.canonical().to_string(), "registry:catalog:* repository:foo:pull,push");
/// assert!(s.contains(&Scope::repository("foo", &["pull"])));
/// assert!(!s.contains(&Scope::repository("bar", &["pull"])));
/// assert!(Scope::unlimited().contains(&s));
/// ```
#[derive(Clone, Default)]
pub struct Scope {
    /// The string the scope was parsed from, kept while the set is unchanged.
    original: Option<Arc<str>>,
    unlimited: bool,
    items: BTreeSet<ResourceScope>,
}

impl Scope {
    /// Parses a space-separated scope string.
    ///
    /// Each item `type:resource:a1,a2` gives one [`ResourceScope`] per action. The type is the
    /// text before the first `:` and the actions the text after the last one, so a resource
    /// may itself contain `:` (as in `repository:localhost:5000/foo:pull`). An item with fewer
    /// than two `:` is kept whole as a resource type. Parsing never fails.
    pub fn parse(s: &str) -> Scope {
        let mut items = BTreeSet::new();
        for item in s.split_whitespace() {
            let parsed = item.split_once(':').and_then(|(ty, rest)| {
                rest.rsplit_once(':')
                    .map(|(resource, actions)| (ty, resource, actions))
            });
            match parsed {
                Some((ty, resource, actions)) => {
                    for action in actions.split(',') {
                        items.insert(ResourceScope::new(ty, resource, action));
                    }
                }
                None => {
                    items.insert(ResourceScope::new(item, "", ""));
                }
            }
        }
        Scope {
            original: Some(Arc::from(s)),
            unlimited: false,
            items,
        }
    }

    /// The scope holding exactly the given resource scopes.
    pub fn from_resources(resources: impl IntoIterator<Item = ResourceScope>) -> Scope {
        Scope {
            original: None,
            unlimited: false,
            items: resources.into_iter().collect(),
        }
    }

    /// The scope `repository:<name>:<actions>`.
    ///
    /// ```
    /// use ociregistry_client::auth::Scope;
    /// assert_eq!(Scope::repository("a/b", &["push", "pull"]).to_string(), "repository:a/b:pull,push");
    /// ```
    pub fn repository(name: &str, actions: &[&str]) -> Scope {
        Scope::from_resources(
            actions
                .iter()
                .map(|a| ResourceScope::new(TYPE_REPOSITORY, name, *a)),
        )
    }

    /// The catalog scope `registry:catalog:*`.
    pub fn catalog() -> Scope {
        Scope::from_resources([ResourceScope::catalog()])
    }

    /// The empty scope: allows nothing, and is contained in every scope.
    pub fn empty() -> Scope {
        Scope::default()
    }

    /// The unlimited scope, containing every other (the scope of a registry token from a
    /// configuration file). It has no representation in the scope syntax; it displays as `*`.
    pub fn unlimited() -> Scope {
        Scope {
            original: None,
            unlimited: true,
            items: BTreeSet::new(),
        }
    }

    /// Whether the scope is unlimited.
    pub fn is_unlimited(&self) -> bool {
        self.unlimited
    }

    /// Whether the scope allows nothing.
    pub fn is_empty(&self) -> bool {
        !self.unlimited && self.items.is_empty()
    }

    /// The resource scopes, in order (none for the unlimited scope).
    pub fn iter(&self) -> impl Iterator<Item = &ResourceScope> + '_ {
        self.items.iter()
    }

    /// Whether the scope holds one resource scope.
    pub fn holds(&self, resource: &ResourceScope) -> bool {
        self.unlimited || self.items.contains(resource)
    }

    /// Whether `self` is a (non-strict) superset of `other`.
    pub fn contains(&self, other: &Scope) -> bool {
        if self.unlimited {
            return true;
        }
        if other.unlimited {
            return false;
        }
        other.items.is_subset(&self.items)
    }

    /// Everything in either scope. When the result equals `self`, it keeps `self`'s original
    /// string, so a challenge's scope unioned with a scope it already covers is still echoed
    /// verbatim.
    #[must_use]
    pub fn union(&self, other: &Scope) -> Scope {
        if self.unlimited || other.unlimited {
            return Scope::unlimited();
        }
        if self.contains(other) {
            return self.clone();
        }
        Scope {
            original: None,
            unlimited: false,
            items: self.items.union(&other.items).cloned().collect(),
        }
    }

    /// The same set, displayed in canonical form rather than as the string it was parsed from.
    #[must_use]
    pub fn canonical(&self) -> Scope {
        Scope {
            original: None,
            unlimited: self.unlimited,
            items: self.items.clone(),
        }
    }

    fn write_canonical(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prev: Option<&ResourceScope> = None;
        for item in &self.items {
            if let Some(p) = prev {
                if p.resource_type == TYPE_REPOSITORY
                    && item.resource_type == TYPE_REPOSITORY
                    && p.resource == item.resource
                {
                    write!(f, ",{}", item.action)?;
                    prev = Some(item);
                    continue;
                }
                f.write_str(" ")?;
            }
            write!(f, "{item}")?;
            prev = Some(item);
        }
        Ok(())
    }
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.unlimited == other.unlimited && self.items == other.items
    }
}

impl Eq for Scope {}

impl fmt::Display for Scope {
    /// The original string if the scope was parsed and not changed since, else the canonical
    /// form (items sorted, actions of one repository joined with `,`), or `*` if unlimited.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unlimited {
            return f.write_str("*");
        }
        match &self.original {
            Some(original) => f.write_str(original),
            None => self.write_canonical(f),
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({:?})", self.to_string())
    }
}

impl std::str::FromStr for Scope {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Scope, Self::Err> {
        Ok(Scope::parse(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(t: &str, r: &str, a: &str) -> ResourceScope {
        ResourceScope::new(t, r, a)
    }

    fn maybe_unlimited(s: &str) -> Scope {
        if s == "*" {
            Scope::unlimited()
        } else {
            Scope::parse(s)
        }
    }

    #[test]
    fn parse_scope() {
        let repo = |r: &str, a: &str| rs(TYPE_REPOSITORY, r, a);
        let cases: Vec<(&str, &str, Vec<ResourceScope>)> = vec![
            (
                "repository:foo/bar/baz:pull",
                "repository:foo/bar/baz:pull",
                vec![repo("foo/bar/baz", "pull")],
            ),
            (
                "repository:foo/bar/baz:push,pull",
                "repository:foo/bar/baz:pull,push",
                vec![repo("foo/bar/baz", "pull"), repo("foo/bar/baz", "push")],
            ),
            (
                "repository:foo/bar/baz:push,pull repository:other:pull",
                "repository:foo/bar/baz:pull,push repository:other:pull",
                vec![
                    repo("foo/bar/baz", "pull"),
                    repo("foo/bar/baz", "push"),
                    repo("other", "pull"),
                ],
            ),
            (
                "repository:foo/bar/baz:push,pull registry:catalog:* repository:other:pull",
                "registry:catalog:* repository:foo/bar/baz:pull,push repository:other:pull",
                vec![
                    ResourceScope::catalog(),
                    repo("foo/bar/baz", "pull"),
                    repo("foo/bar/baz", "push"),
                    repo("other", "pull"),
                ],
            ),
            ("otherScope", "otherScope", vec![rs("otherScope", "", "")]),
            (
                "repository:foo/bar/baz:delete,push,pull",
                "repository:foo/bar/baz:delete,pull,push",
                vec![
                    repo("foo/bar/baz", "delete"),
                    repo("foo/bar/baz", "pull"),
                    repo("foo/bar/baz", "push"),
                ],
            ),
            (
                "repository:foo/bar/baz:delete,pull,push repository:other:pull otherScope",
                "otherScope repository:foo/bar/baz:delete,pull,push repository:other:pull",
                vec![
                    rs("otherScope", "", ""),
                    repo("foo/bar/baz", "delete"),
                    repo("foo/bar/baz", "pull"),
                    repo("foo/bar/baz", "push"),
                    repo("other", "pull"),
                ],
            ),
            (
                "repository:foo/bar/baz:delete,pull,push otherScope repository:foo/bar/baz:pull,push repository:other:pull otherScope",
                "otherScope repository:foo/bar/baz:delete,pull,push repository:other:pull",
                vec![
                    rs("otherScope", "", ""),
                    repo("foo/bar/baz", "delete"),
                    repo("foo/bar/baz", "pull"),
                    repo("foo/bar/baz", "push"),
                    repo("other", "pull"),
                ],
            ),
        ];
        for (input, want_string, want_items) in cases {
            let scope = Scope::parse(input);
            assert_eq!(scope.to_string(), input, "original kept for {input:?}");
            assert_eq!(scope.canonical().to_string(), want_string, "{input:?}");
            let items: Vec<ResourceScope> = scope.iter().cloned().collect();
            assert_eq!(items, want_items, "{input:?}");
            assert!(items.windows(2).all(|w| w[0] < w[1]), "strict order");
            // Round trip through the canonical string preserves identity.
            assert_eq!(Scope::parse(&scope.canonical().to_string()), scope);
        }
    }

    #[test]
    fn parse_resource_with_colons_and_odd_items() {
        let s = Scope::parse("repository:localhost:5000/foo:pull");
        assert!(s.holds(&rs(TYPE_REPOSITORY, "localhost:5000/foo", "pull")));
        let s = Scope::parse("anotherScope:bad  \t  x");
        assert_eq!(
            s.iter().cloned().collect::<Vec<_>>(),
            vec![rs("anotherScope:bad", "", ""), rs("x", "", "")]
        );
        assert!(Scope::parse("").is_empty());
        assert!(Scope::parse("   ").is_empty());
        assert_eq!(Scope::parse("").to_string(), "");
    }

    #[test]
    fn union() {
        let cases = [
            ("", "", "", false),
            ("", "repository:foo:pull", "repository:foo:pull", false),
            ("repository:foo:pull", "", "repository:foo:pull", false),
            ("*", "repository:foo:pull", "*", true),
            ("repository:foo:pull", "*", "*", true),
            ("*", "*", "*", true),
            (
                "anotherScope:bad otherScope repository:arble:pull repository:foo:pull,push",
                "otherScope registry:catalog:* repository:foo:delete repository:bar/baz:pull yetAnotherScope",
                "anotherScope:bad otherScope registry:catalog:* repository:arble:pull repository:bar/baz:pull repository:foo:delete,pull,push yetAnotherScope",
                false,
            ),
            (
                "otherScope registry:catalog:* repository:bar/baz:pull repository:foo:delete yetAnotherScope",
                "otherScope registry:catalog:* repository:bar/baz:pull repository:foo:delete yetAnotherScope",
                "otherScope registry:catalog:* repository:bar/baz:pull repository:foo:delete yetAnotherScope",
                false,
            ),
        ];
        for (s1, s2, want, unlimited) in cases {
            let (a, b) = (maybe_unlimited(s1), maybe_unlimited(s2));
            let u1 = a.union(&b);
            let u2 = b.union(&a);
            assert_eq!(u1.to_string(), want, "{s1:?} ∪ {s2:?}");
            assert_eq!(u1.is_unlimited(), unlimited);
            assert_eq!(u1, u2, "commutative");
        }
    }

    #[test]
    fn union_keeps_original_string_of_the_covering_scope() {
        let exact = Scope::parse("other repository:foo:push,pull");
        let u = exact.union(&Scope::repository("foo", &["pull"]));
        assert_eq!(u.to_string(), "other repository:foo:push,pull");
        let wider = exact.union(&Scope::repository("bar", &["pull"]));
        assert_eq!(
            wider.to_string(),
            "other repository:bar:pull repository:foo:pull,push"
        );
    }

    #[test]
    fn holds() {
        let s = "otherScope registry:catalog:* repository:bar/baz:pull repository:foo:delete yetAnotherScope";
        let s2 = "otherScope repository:bar/baz:pull repository:foo:delete yetAnotherScope";
        let cases = [
            ("", rs(TYPE_REPOSITORY, "foo", "pull"), false),
            (s, rs(TYPE_REPOSITORY, "bar/baz", "pull"), true),
            (s, rs(TYPE_REPOSITORY, "bar/baz", "push"), false),
            (s, ResourceScope::catalog(), true),
            (s2, ResourceScope::catalog(), false),
            (s2, rs("otherScope", "", ""), true),
            (s2, rs("notThere", "", ""), false),
            ("*", rs(TYPE_REPOSITORY, "bar/baz", "push"), true),
        ];
        for (scope, item, want) in cases {
            assert_eq!(
                maybe_unlimited(scope).holds(&item),
                want,
                "{scope:?} holds {item}"
            );
        }
    }

    #[test]
    fn contains() {
        let big = "otherScope registry:catalog:* repository:bar/baz:push repository:foo:delete yetAnotherScope";
        let cases = [
            ("", "", true),
            ("foo", "", true),
            ("*", "foo", true),
            ("foo", "*", false),
            ("*", "*", true),
            (
                "otherScope registry:catalog:* repository:bar/baz:push,pull repository:foo:delete yetAnotherScope",
                "otherScope registry:catalog:* repository:bar/baz:pull",
                true,
            ),
            (
                big,
                "otherScope registry:catalog:* repository:bar/baz:pull",
                false,
            ),
            (big, "repository:other:pull", false),
            (big, "arble zaphod", false),
            (big, "arble", false),
        ];
        for (s1, s2, want) in cases {
            let (a, b) = (maybe_unlimited(s1), maybe_unlimited(s2));
            assert_eq!(a.contains(&b), want, "{s1:?} ⊇ {s2:?}");
            if a == b {
                assert!(b.contains(&a));
            } else if want {
                assert!(!b.contains(&a));
            }
        }
    }

    #[test]
    fn repository_scopes_never_cover_another_repository() {
        let a = Scope::repository("a", &["pull", "push"]);
        assert!(!a.contains(&Scope::repository("b", &["pull"])));
        assert!(!a.contains(&Scope::repository("a/b", &["pull"])));
        assert!(a.contains(&Scope::repository("a", &["push"])));
        assert!(!Scope::catalog().contains(&Scope::repository("a", &["pull"])));
    }
}
