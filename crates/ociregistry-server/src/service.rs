//! [`RegistryService`]: the distribution API as a tower `Service`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use ociregistry_core::route::Route;
use ociregistry_core::{ByteStream, Context, Error, Registry, media_type};

use crate::body::{self, BoxError, ResponseBody};
use crate::options::Options;
use crate::response::{self, Reply};

/// Serves the OCI distribution API over any [`Registry`].
///
/// It holds no state of its own: every request becomes calls on the registry, and upload
/// sessions live in the registry (the upload URL carries the registry's upload id), so a
/// service in front of a client registry is a stateless proxy. Cloning is cheap.
///
/// The [`Context`] passed to the registry is taken from the request's extensions when an outer
/// layer (such as authentication) put one there, and is empty otherwise.
#[derive(Clone)]
pub struct RegistryService {
    inner: Arc<Handler>,
}

pub(crate) struct Handler {
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) opts: Options,
}

impl RegistryService {
    /// Serves `registry` with default [`Options`].
    pub fn new(registry: Arc<dyn Registry>) -> RegistryService {
        RegistryService::with_options(registry, Options::default())
    }

    /// Serves `registry` with `options`.
    pub fn with_options(registry: Arc<dyn Registry>, options: Options) -> RegistryService {
        RegistryService {
            inner: Arc::new(Handler {
                registry,
                opts: options,
            }),
        }
    }

    /// Handles one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.inner.clone().handle(req).await
    }
}

impl fmt::Debug for RegistryService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryService")
            .field("options", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for RegistryService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let handler = self.inner.clone();
        Box::pin(async move { Ok(handler.handle(req).await) })
    }
}

/// What a handler gets from the request besides its route.
pub(crate) struct Incoming {
    pub(crate) cx: Context,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Option<ByteStream>,
}

impl Incoming {
    /// The request body; it can be taken once.
    pub(crate) fn take_body(&mut self) -> ByteStream {
        self.body
            .take()
            .unwrap_or_else(|| ociregistry_core::stream::bytes(Bytes::new()))
    }

    /// The `Content-Length` header, if present and valid.
    pub(crate) fn content_length(&self) -> Result<Option<u64>, Error> {
        match self.headers.get(http::header::CONTENT_LENGTH) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| {
                    Error::new(
                        ociregistry_core::Code::SizeInvalid,
                        "invalid Content-Length",
                    )
                }),
        }
    }

    pub(crate) fn header_str(&self, name: &http::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Handler {
    async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let head = req.method() == Method::HEAD;
        let (parts, body) = req.into_parts();
        let route = if parts.headers.contains_key(http::header::TRANSFER_ENCODING)
            && parts.headers.contains_key(http::header::CONTENT_LENGTH)
        {
            // Request smuggling's favourite ambiguity: refuse it (hyper closes the connection).
            Err(Error::new(
                ociregistry_core::Code::Unsupported,
                "conflicting Transfer-Encoding and Content-Length",
            ))
        } else {
            Route::parse(&parts.method, parts.uri.path(), parts.uri.query())
        };
        let mut resp = match route {
            Err(e) => response::write_error(&self.opts, &e, head),
            Ok(route) => {
                let cx = parts
                    .extensions
                    .get::<Context>()
                    .cloned()
                    .unwrap_or_default();
                let mut incoming = Incoming {
                    cx,
                    headers: parts.headers,
                    body: Some(body::request_stream(body, self.opts.body_timeout)),
                };
                match self.dispatch(route, &mut incoming).await {
                    Ok(resp) => resp,
                    Err(e) => {
                        if let Some(body) = incoming.body.take() {
                            drain(body).await;
                        }
                        response::write_error(&self.opts, &e, head)
                    }
                }
            }
        };
        response::stamp(&mut resp);
        resp
    }

    async fn dispatch(
        &self,
        route: Route,
        req: &mut Incoming,
    ) -> Result<Response<ResponseBody>, Error> {
        match route {
            Route::Ping => Ok(Reply::new(StatusCode::OK)
                .json(media_type::JSON, b"{}".to_vec())
                .finish()),
            Route::Catalog { list } => self.catalog(req, list).await,
            Route::BlobGet { repo, digest } => self.blob_get(req, &repo, &digest).await,
            Route::BlobHead { repo, digest } => self.blob_head(req, &repo, &digest).await,
            Route::BlobDelete { repo, digest } => self.blob_delete(req, &repo, &digest).await,
            Route::UploadStart { repo } => self.upload_start(req, &repo).await,
            Route::UploadMonolithic { repo, digest } => {
                self.upload_monolithic(req, &repo, &digest).await
            }
            Route::UploadMount { repo, digest, from } => {
                self.upload_mount(req, &repo, &digest, from.as_deref())
                    .await
            }
            Route::UploadStatus { repo, id } => self.upload_status(req, &repo, &id).await,
            Route::UploadChunk { repo, id } => self.upload_chunk(req, &repo, &id).await,
            Route::UploadComplete { repo, id, digest } => {
                self.upload_complete(req, &repo, &id, &digest).await
            }
            Route::UploadCancel { repo, id } => self.upload_cancel(req, &repo, &id).await,
            Route::ManifestGet { repo, reference } => {
                self.manifest_get(req, &repo, &reference, false).await
            }
            Route::ManifestHead { repo, reference } => {
                self.manifest_get(req, &repo, &reference, true).await
            }
            Route::ManifestPut {
                repo,
                reference,
                tags,
            } => self.manifest_put(req, &repo, &reference, &tags).await,
            Route::ManifestDelete { repo, reference } => {
                self.manifest_delete(req, &repo, &reference).await
            }
            Route::TagsList { repo, list } => self.tags_list(req, &repo, list).await,
            Route::Referrers {
                repo,
                digest,
                artifact_type,
            } => self.referrers(req, &repo, &digest, artifact_type).await,
            // Route is non-exhaustive: a route this version does not serve.
            #[allow(unreachable_patterns)]
            _ => Err(
                Error::new(ociregistry_core::Code::Unsupported, "route not served")
                    .with_status(StatusCode::NOT_FOUND),
            ),
        }
    }
}

/// The most of an unread request body read and discarded before an error answer. A client
/// that sends a chunk the registry refuses (an out-of-order chunk, say) is usually still
/// writing it; reading it lets the client see the answer instead of a broken connection.
/// Larger bodies are left unread and the connection is closed after the answer.
const DRAIN_LIMIT: u64 = 8 << 20;

/// How long draining may take.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn drain(mut body: ByteStream) {
    use futures_util::StreamExt;
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, read).await;
}
