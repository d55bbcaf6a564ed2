//! Header names of the OCI distribution API, shared by client and server.

use http::HeaderName;

/// `Docker-Content-Digest`: the digest of the blob or manifest in the response.
pub const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
/// `Docker-Distribution-API-Version`: `registry/2.0` on every response.
pub const DOCKER_DISTRIBUTION_API_VERSION: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");
/// `Docker-Upload-UUID`: the upload session id, for Docker clients.
pub const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
/// `OCI-Chunk-Min-Length`: the smallest chunk a chunked upload accepts.
pub const OCI_CHUNK_MIN_LENGTH: HeaderName = HeaderName::from_static("oci-chunk-min-length");
/// `OCI-Subject`: the subject digest of a pushed manifest the registry indexed.
pub const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");
/// `OCI-Filters-Applied`: which referrers filters the registry applied.
pub const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");
/// `OCI-Tag`: a tag created by a manifest push with `?tag=` parameters.
pub const OCI_TAG: HeaderName = HeaderName::from_static("oci-tag");

/// The value of `Docker-Distribution-API-Version`.
pub const API_VERSION: &str = "registry/2.0";
