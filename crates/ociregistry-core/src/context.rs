//! The per-request context that rides along every registry operation.
//!
//! Go's `ociregistry.Interface` passes a `context.Context` to every method; the server, the
//! client's authentication and the access-checking filter all communicate through it. In Rust the
//! same information travels in an explicit [`Context`] argument: a typed map of values (like
//! `http::Extensions`) plus the caller's [`Identity`]. Being explicit, it cannot be silently lost
//! across a spawned task or a returned stream, which matters when it carries who may do what.
//! Cancellation is not part of it: dropping an operation's future cancels it.

use std::fmt;
use std::sync::Arc;

/// Who is calling. Set by an authentication layer; read by access-control filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Identity {
    /// Nobody has authenticated.
    #[default]
    Anonymous,
    /// An authenticated user, by name.
    User(String),
}

impl Identity {
    /// The user name, if authenticated.
    pub fn user(&self) -> Option<&str> {
        match self {
            Identity::Anonymous => None,
            Identity::User(u) => Some(u),
        }
    }
}

/// The context of one request: the caller's identity and any typed values layers attach.
///
/// Cheap to clone (the values are shared); a clone that inserts a value copies the map first.
///
/// ```
/// use ociregistry_core::{Context, Identity};
/// #[derive(Clone, Debug, PartialEq)]
/// struct RequestId(u64);
///
/// let cx = Context::new().with_identity(Identity::User("alice".into())).with(RequestId(7));
/// assert_eq!(cx.identity().user(), Some("alice"));
/// assert_eq!(cx.get::<RequestId>(), Some(&RequestId(7)));
/// ```
#[derive(Clone, Default)]
pub struct Context {
    identity: Identity,
    values: Arc<http::Extensions>,
}

impl Context {
    /// An empty context: anonymous, no values.
    pub fn new() -> Context {
        Context::default()
    }

    /// The caller.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// This context with the caller set.
    #[must_use]
    pub fn with_identity(mut self, identity: Identity) -> Context {
        self.identity = identity;
        self
    }

    /// This context with a typed value added (replacing any value of the same type).
    #[must_use]
    pub fn with<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Context {
        Arc::make_mut(&mut self.values).insert(value);
        self
    }

    /// The value of type `T`, if one was added.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values.get::<T>()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("identity", &self.identity)
            .field("values", &self.values.len())
            .finish()
    }
}
