//! Building responses: headers every response carries, JSON bodies and errors.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, HeaderName, Response, StatusCode};
use ociregistry_core::header::{API_VERSION, DOCKER_DISTRIBUTION_API_VERSION};
use ociregistry_core::{Error, media_type};

use crate::body::{self, ResponseBody};
use crate::options::Options;

/// A response under construction.
pub(crate) struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: ResponseBody,
}

impl Reply {
    pub(crate) fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: HeaderMap::new(),
            body: body::empty(),
        }
    }

    /// Adds a header. Values that are not valid header text are skipped (they can only come
    /// from backend data such as a media type; a response without them is still valid).
    pub(crate) fn header(mut self, name: HeaderName, value: impl AsRef<str>) -> Reply {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.append(name, v);
        }
        self
    }

    pub(crate) fn content_length(self, len: u64) -> Reply {
        self.header(CONTENT_LENGTH, len.to_string())
    }

    pub(crate) fn body(mut self, body: ResponseBody) -> Reply {
        self.body = body;
        self
    }

    /// A JSON body with its `Content-Type` and `Content-Length`.
    pub(crate) fn json(self, content_type: &str, data: Vec<u8>) -> Reply {
        let len = data.len() as u64;
        self.header(CONTENT_TYPE, content_type)
            .content_length(len)
            .body(body::full(data))
    }

    pub(crate) fn finish(self) -> Response<ResponseBody> {
        let mut resp = Response::new(self.body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }
}

/// The default error response: the JSON envelope with the status the error calls for. HEAD
/// responses carry the headers but no body.
pub fn error_response(err: &Error, head: bool) -> Response<ResponseBody> {
    let data = err.to_wire_json();
    let reply = Reply::new(err.status());
    let reply = if head {
        reply
            .header(CONTENT_TYPE, media_type::JSON)
            .content_length(data.len() as u64)
    } else {
        reply.json(media_type::JSON, data)
    };
    reply.finish()
}

/// The response for `err`, through the custom writer when one is set.
pub(crate) fn write_error(opts: &Options, err: &Error, head: bool) -> Response<ResponseBody> {
    let mut resp = match &opts.write_error {
        Some(f) => f(err),
        None => error_response(err, head),
    };
    if head {
        *resp.body_mut() = body::empty();
    }
    resp
}

/// Adds `Docker-Distribution-API-Version` to a response.
pub(crate) fn stamp(resp: &mut Response<ResponseBody>) {
    resp.headers_mut().insert(
        DOCKER_DISTRIBUTION_API_VERSION,
        HeaderValue::from_static(API_VERSION),
    );
}
