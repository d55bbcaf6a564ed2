//! [`Options`]: how the server behaves, including the emulation knobs used to test clients.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Response;
use ociregistry_core::{Descriptor, Error};

use crate::body::ResponseBody;

/// Writes an error response (see [`Options::write_error`]).
pub type WriteErrorFn = Arc<dyn Fn(&Error) -> Response<ResponseBody> + Send + Sync>;

/// Maps a backend upload id to the URL clients continue the upload at.
pub type UploadLocationFn = Arc<dyn Fn(&str) -> Result<String, Error> + Send + Sync>;

/// Gives the URLs a descriptor's content can be fetched from directly; the first is used.
/// The flag says whether the descriptor is a manifest's.
pub type LocationsFn = Arc<dyn Fn(bool, &Descriptor) -> Result<Vec<String>, Error> + Send + Sync>;

/// Server options. `Options::default()` serves the full API with safe limits.
///
/// The `disable_*`, `ignore_*` and `omit_*` knobs make the server behave like registries that
/// lack a feature, so that clients can be tested against those behaviours.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// Writes error responses instead of the default JSON envelope writer.
    pub write_error: Option<WriteErrorFn>,
    /// Answer the referrers API with 404, like registries that predate it, so clients fall back
    /// to the referrers tag schema.
    pub disable_referrers_api: bool,
    /// Ignore `artifactType` on referrers requests and never send `OCI-Filters-Applied`.
    pub disable_referrers_filtering: bool,
    /// Treat `POST .../uploads/?digest=` as the start of an upload session (202), as the spec
    /// allows registries without single-request uploads to do.
    pub disable_single_post_upload: bool,
    /// Reject list requests whose `n` exceeds this with `UNSUPPORTED` (400), like AWS ECR's
    /// limit of 1000.
    pub max_list_page_size: Option<usize>,
    /// Ignore `n` and `last` on list requests, like registries that do not paginate.
    pub ignore_pagination: bool,
    /// Leave `Docker-Content-Digest` out of manifest GET-by-tag responses, as ECR does.
    pub omit_digest_from_tag_get_response: bool,
    /// Never send `Link` headers on list responses, so clients must use `last=`.
    pub omit_link_header_from_responses: bool,
    /// Maps backend upload ids to upload URLs. By default upload URLs are this server's own
    /// `/v2/<repo>/blobs/uploads/<base64url(id)>`.
    pub location_for_upload_id: Option<UploadLocationFn>,
    /// Redirects blob GETs (307) and sets the `Location` of blob pushes and mounts to where
    /// the content can be fetched directly.
    pub locations_for_descriptor: Option<LocationsFn>,
    /// The largest manifest accepted, in bytes (default 4 MiB); larger pushes get 413.
    pub max_manifest_size: usize,
    /// The most entries one list page holds, whatever `n` asks for (default 10,000); longer
    /// lists continue through `Link`.
    pub list_page_cap: usize,
    /// How long a request body may stall between two chunks before the request fails
    /// (default 60 s). `None` waits forever.
    pub body_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            write_error: None,
            disable_referrers_api: false,
            disable_referrers_filtering: false,
            disable_single_post_upload: false,
            max_list_page_size: None,
            ignore_pagination: false,
            omit_digest_from_tag_get_response: false,
            omit_link_header_from_responses: false,
            location_for_upload_id: None,
            locations_for_descriptor: None,
            max_manifest_size: 4 << 20,
            list_page_cap: 10_000,
            body_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("write_error", &self.write_error.is_some())
            .field("disable_referrers_api", &self.disable_referrers_api)
            .field(
                "disable_referrers_filtering",
                &self.disable_referrers_filtering,
            )
            .field(
                "disable_single_post_upload",
                &self.disable_single_post_upload,
            )
            .field("max_list_page_size", &self.max_list_page_size)
            .field("ignore_pagination", &self.ignore_pagination)
            .field(
                "omit_digest_from_tag_get_response",
                &self.omit_digest_from_tag_get_response,
            )
            .field(
                "omit_link_header_from_responses",
                &self.omit_link_header_from_responses,
            )
            .field(
                "location_for_upload_id",
                &self.location_for_upload_id.is_some(),
            )
            .field(
                "locations_for_descriptor",
                &self.locations_for_descriptor.is_some(),
            )
            .field("max_manifest_size", &self.max_manifest_size)
            .field("list_page_cap", &self.list_page_cap)
            .field("body_timeout", &self.body_timeout)
            .finish()
    }
}
