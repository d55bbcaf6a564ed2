//! Serves the OCI distribution HTTP API over any [`Registry`](ociregistry_core::Registry).
//!
//! [`RegistryService`] is a tower `Service` that turns HTTP requests into registry calls. Put it
//! in front of an in-memory registry and you have a registry server; in front of a client of
//! another registry and you have a stateless proxy. [`serve`] runs it on hyper with HTTP/1.1
//! and h2c, timeouts against slow clients, and graceful shutdown.
//!
//! ```
//! use std::sync::Arc;
//! use http::{Request, StatusCode};
//! use http_body_util::Empty;
//! use ociregistry_server::RegistryService;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let service = RegistryService::new(Arc::new(ociregistry_mem::MemRegistry::new()));
//! let req = Request::get("/v2/").body(Empty::<bytes::Bytes>::new()).unwrap();
//! let resp = service.oneshot(req).await.unwrap();
//! assert_eq!(resp.status(), StatusCode::OK);
//! assert_eq!(resp.headers()["docker-distribution-api-version"], "registry/2.0");
//! # }
//! ```
//!
//! To serve on a socket:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use ociregistry_server::{RegistryService, ServeConfig, serve};
//!
//! let service = RegistryService::new(Arc::new(ociregistry_mem::MemRegistry::new()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! // Any future ends the server: a signal, a channel, ...
//! let shutdown = std::future::pending::<()>();
//! serve(listener, service, ServeConfig::default(), shutdown).await
//! # }
//! ```

mod access_log;
pub mod auth;
mod blob;
pub mod body;
mod list;
mod manifest;
mod options;
mod response;
mod serve;
mod service;
mod upload;

pub use access_log::{AccessLog, AccessLogLayer};
pub use body::ResponseBody;
pub use options::{LocationsFn, Options, UploadLocationFn, WriteErrorFn};
pub use response::error_response;
pub use serve::{ServeConfig, serve};
pub use service::RegistryService;
