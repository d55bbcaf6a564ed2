//! Content builders, push helpers and assertion helpers shared by the suite and by backend tests.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::blob::BlobReader;
use crate::descriptor::Descriptor;
use crate::digest::{Algorithm, Digest};
use crate::error::{Code, Error, Result};
use crate::media_type::{self, OCI_INDEX, OCI_MANIFEST};
use crate::registry::Registry;
use crate::stream::{self, ByteStream, ListStream};
use crate::{Context, ManifestInfo};

/// The media type the builders give layers.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// The media type the builders give image configs.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The largest content the helpers read back into memory.
pub const READ_LIMIT: usize = 64 << 20;

/// A deterministic pseudo-random generator (xorshift64*): reproducible test content without a
/// dependency on `rand`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, zero included); distinct seeds give
    /// distinct streams.
    pub fn new(seed: u64) -> Rng {
        // SplitMix64's mix of the seed: a bijection, so distinct seeds give distinct states
        // (xorshift needs a non-zero one).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z })
    }

    /// A generator seeded from a name (FNV-1a), so each test gets its own content.
    pub fn from_name(name: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng::new(h)
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` pseudo-random bytes.
    pub fn bytes(&mut self, len: usize) -> Bytes {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        Bytes::from(out)
    }

    /// `n` pseudo-random bytes as lower-case hex (`2n` characters).
    pub fn hex(&mut self, n: usize) -> String {
        self.bytes(n).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A blob: content, its media type and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The media type descriptors of this blob carry.
    pub media_type: String,
    /// The content.
    pub data: Bytes,
    /// The digest of `data` (SHA-256 unless [`Blob::with_algorithm`] was used).
    pub digest: Digest,
}

impl Blob {
    /// A blob of `data` with its SHA-256 digest.
    pub fn new(media_type: impl Into<String>, data: impl Into<Bytes>) -> Blob {
        let data = data.into();
        Blob {
            media_type: media_type.into(),
            digest: Digest::sha256(&data),
            data,
        }
    }

    /// The same blob digested with `algorithm`.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Blob {
        self.digest = Digest::compute(algorithm, &self.data);
        self
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// The blob's descriptor: media type, digest and size.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.size())
    }

    /// The content as a stream of chunks of at most `chunk` bytes (no chunk at all when empty).
    pub fn stream(&self, chunk: usize) -> ByteStream {
        chunked(self.data.clone(), chunk)
    }
}

/// `data` as a stream of chunks of at most `chunk` bytes; an empty `data` yields no chunk.
pub fn chunked(data: Bytes, chunk: usize) -> ByteStream {
    let chunk = chunk.max(1);
    let mut parts = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = chunk.min(rest.len());
        parts.push(Ok(rest.split_to(n)));
    }
    Box::pin(futures_util::stream::iter(parts))
}

/// A manifest: its exact bytes, media type and digest.
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The media type it is pushed with.
    pub media_type: String,
    /// The exact bytes.
    pub data: Bytes,
    /// The digest of `data` (SHA-256 unless [`Manifest::with_algorithm`] was used).
    pub digest: Digest,
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("data", &String::from_utf8_lossy(&self.data))
            .finish()
    }
}

impl Manifest {
    /// A manifest of `data` with its SHA-256 digest.
    pub fn new(media_type: impl Into<String>, data: impl Into<Bytes>) -> Manifest {
        let data = data.into();
        Manifest {
            media_type: media_type.into(),
            digest: Digest::sha256(&data),
            data,
        }
    }

    /// The same manifest digested with `algorithm`.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Manifest {
        self.digest = Digest::compute(algorithm, &self.data);
        self
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// The manifest's descriptor: media type, digest and size (the shape `resolve_*` return).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.size())
    }

    /// What the manifest refers to, as a registry parses it. Panics if it does not parse.
    pub fn info(&self) -> ManifestInfo {
        match ManifestInfo::parse(&self.media_type, &self.data) {
            Ok(info) => info,
            Err(e) => panic!("test manifest {self:?} does not parse: {e}"),
        }
    }

    /// The descriptor a referrers listing gives for this manifest: media type, digest, size,
    /// the referrer artifact type and the manifest's annotations.
    pub fn referrer_descriptor(&self) -> Descriptor {
        let info = self.info();
        let mut d = self.descriptor();
        d.artifact_type = info.referrer_artifact_type().map(str::to_owned);
        d.annotations = info.annotations;
        d
    }
}

/// Builds the JSON of an image manifest or index. Keys serialize in sorted order.
#[derive(Debug, Clone)]
pub struct ManifestBuilder {
    media_type: String,
    body: Map<String, Value>,
    annotations: BTreeMap<String, String>,
}

fn to_value(d: &Descriptor) -> Value {
    // A descriptor is plain data: it always serializes.
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// An OCI image manifest with `config` and `layers`.
pub fn image_manifest(config: &Descriptor, layers: &[Descriptor]) -> ManifestBuilder {
    let mut body = Map::new();
    body.insert("schemaVersion".into(), json!(2));
    body.insert("mediaType".into(), json!(OCI_MANIFEST));
    body.insert("config".into(), to_value(config));
    body.insert(
        "layers".into(),
        Value::Array(layers.iter().map(to_value).collect()),
    );
    ManifestBuilder {
        media_type: OCI_MANIFEST.to_owned(),
        body,
        annotations: BTreeMap::new(),
    }
}

/// An OCI image index of `children` (manifest descriptors).
pub fn index_manifest(children: &[Descriptor]) -> ManifestBuilder {
    let mut body = Map::new();
    body.insert("schemaVersion".into(), json!(2));
    body.insert("mediaType".into(), json!(OCI_INDEX));
    body.insert(
        "manifests".into(),
        Value::Array(children.iter().map(to_value).collect()),
    );
    ManifestBuilder {
        media_type: OCI_INDEX.to_owned(),
        body,
        annotations: BTreeMap::new(),
    }
}

impl ManifestBuilder {
    /// Sets the media type it is pushed with, and its `mediaType` field.
    #[must_use]
    pub fn media_type(mut self, media_type: &str) -> ManifestBuilder {
        self.media_type = media_type.to_owned();
        self.body.insert("mediaType".into(), json!(media_type));
        self
    }

    /// Drops the `mediaType` field (optional in OCI manifests), so the same bytes can be pushed
    /// under several media types.
    #[must_use]
    pub fn without_media_type_field(mut self) -> ManifestBuilder {
        self.body.remove("mediaType");
        self
    }

    /// Sets the `subject`.
    #[must_use]
    pub fn subject(mut self, subject: &Descriptor) -> ManifestBuilder {
        self.body.insert("subject".into(), to_value(subject));
        self
    }

    /// Sets the `artifactType`.
    #[must_use]
    pub fn artifact_type(mut self, artifact_type: &str) -> ManifestBuilder {
        self.body
            .insert("artifactType".into(), json!(artifact_type));
        self
    }

    /// Adds an annotation.
    #[must_use]
    pub fn annotation(mut self, key: &str, value: &str) -> ManifestBuilder {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets any other field (extensions survive: registries store manifests verbatim).
    #[must_use]
    pub fn field(mut self, key: &str, value: Value) -> ManifestBuilder {
        self.body.insert(key.to_owned(), value);
        self
    }

    /// The manifest.
    pub fn build(self) -> Manifest {
        let mut body = self.body;
        if !self.annotations.is_empty() {
            body.insert("annotations".into(), json!(self.annotations));
        }
        // A map of JSON values always serializes.
        let data = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
        Manifest::new(self.media_type, data)
    }
}

/// An image: config and layer blobs, and the manifest that refers to them.
#[derive(Debug, Clone)]
pub struct Image {
    /// The config blob.
    pub config: Blob,
    /// The layer blobs.
    pub layers: Vec<Blob>,
    /// The image manifest.
    pub manifest: Manifest,
}

/// A source of deterministic test content, seeded from a name.
#[derive(Debug, Clone)]
pub struct Content {
    rng: Rng,
}

impl Content {
    /// Content seeded from `name` (typically the test name).
    pub fn new(name: &str) -> Content {
        Content {
            rng: Rng::from_name(name),
        }
    }

    /// The generator.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// `len` pseudo-random bytes.
    pub fn bytes(&mut self, len: usize) -> Bytes {
        self.rng.bytes(len)
    }

    /// A layer blob of `len` pseudo-random bytes.
    pub fn layer(&mut self, len: usize) -> Blob {
        Blob::new(LAYER_MEDIA_TYPE, self.rng.bytes(len))
    }

    /// A small, unique image config blob.
    pub fn config(&mut self) -> Blob {
        self.config_of_type(CONFIG_MEDIA_TYPE)
    }

    /// A small, unique JSON config blob of the given media type.
    pub fn config_of_type(&mut self, media_type: &str) -> Blob {
        let data = json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "x-test-nonce": self.rng.hex(16),
        });
        Blob::new(media_type, data.to_string())
    }

    /// An image of a fresh config and `layers` fresh layers of 1 to 200 bytes each; build the
    /// manifest further from [`Content::image_builder`] if needed.
    pub fn image(&mut self, layers: usize) -> Image {
        let (config, layers, builder) = self.image_builder(layers);
        Image {
            config,
            layers,
            manifest: builder.build(),
        }
    }

    /// A fresh config, `layers` fresh layers, and a builder of the manifest referring to them.
    pub fn image_builder(&mut self, layers: usize) -> (Blob, Vec<Blob>, ManifestBuilder) {
        let config = self.config();
        let layers: Vec<Blob> = (0..layers)
            .map(|_| {
                let len = 1 + (self.rng.next_u64() % 200) as usize;
                self.layer(len)
            })
            .collect();
        let descs: Vec<Descriptor> = layers.iter().map(Blob::descriptor).collect();
        let builder = image_manifest(&config.descriptor(), &descs);
        (config, layers, builder)
    }

    /// A unique image manifest whose config and layer are never pushed: handy for referrers and
    /// for registries that do not check children.
    pub fn sparse_image(&mut self) -> ManifestBuilder {
        let config = self.config();
        let layer = self.layer(32);
        image_manifest(&config.descriptor(), &[layer.descriptor()])
    }
}

// ---------------------------------------------------------------------------------------------
// Assertion helpers
// ---------------------------------------------------------------------------------------------

/// The value of `result`; panics naming `what` and the error otherwise.
pub fn expect_ok<T>(result: Result<T>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e} (code {})", e.code()),
    }
}

/// The error of `result`, which must have `code`; panics naming `what` otherwise.
pub fn expect_code<T>(result: Result<T>, code: Code, what: &str) -> Error {
    match result {
        Ok(_) => panic!("{what}: succeeded, but it should fail with {code}"),
        Err(e) => {
            assert!(
                e.is(&code),
                "{what}: failed with {} ({e}), but it should fail with {code}",
                e.code()
            );
            e
        }
    }
}

/// The error of `result`, which must have one of `codes`; panics naming `what` otherwise.
pub fn expect_code_in<T>(result: Result<T>, codes: &[Code], what: &str) -> Error {
    let names: Vec<&str> = codes.iter().map(Code::as_str).collect();
    match result {
        Ok(_) => panic!("{what}: succeeded, but it should fail with one of {names:?}"),
        Err(e) => {
            assert!(
                codes.iter().any(|c| e.is(c)),
                "{what}: failed with {} ({e}), but it should fail with one of {names:?}",
                e.code()
            );
            e
        }
    }
}

/// Reads a reader to its end; panics naming `what` on error.
pub async fn read_all(reader: BlobReader, what: &str) -> Bytes {
    expect_ok(reader.bytes(READ_LIMIT).await, what)
}

/// Collects a listing; panics naming `what` on error.
pub async fn list<T>(items: ListStream<T>, what: &str) -> Vec<T> {
    expect_ok(stream::collect(items).await, what)
}

/// Shows bytes for assertion messages: text if UTF-8, else a length and a short hex prefix.
pub fn show(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) if s.len() <= 2000 => format!("{s:?}"),
        _ => {
            let hex: String = data.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("{} bytes starting {hex}", data.len())
        }
    }
}

/// Asserts two byte strings are equal, with a readable message.
pub fn assert_bytes_eq(got: &[u8], want: &[u8], what: &str) {
    assert!(
        got == want,
        "{what}: got {}, want {}",
        show(got),
        show(want)
    );
}

// ---------------------------------------------------------------------------------------------
// Push and read helpers
// ---------------------------------------------------------------------------------------------

/// Pushes `blob` into `repo` with `push_blob` (in chunks of up to 16 KiB), checking the returned
/// descriptor (digest and size). Panics on error.
pub async fn push_blob(registry: &dyn Registry, repo: &str, blob: &Blob) -> Descriptor {
    let what = format!("push_blob {} into {repo}", blob.digest);
    let desc = expect_ok(
        registry
            .push_blob(
                &Context::new(),
                repo,
                &blob.descriptor(),
                blob.stream(16 << 10),
            )
            .await,
        &what,
    );
    assert_eq!(desc.digest, blob.digest, "{what}: returned digest");
    assert_eq!(desc.size, blob.size(), "{what}: returned size");
    desc
}

/// Pushes several blobs into `repo`.
pub async fn push_blobs<'a>(
    registry: &dyn Registry,
    repo: &str,
    blobs: impl IntoIterator<Item = &'a Blob>,
) {
    for b in blobs {
        push_blob(registry, repo, b).await;
    }
}

/// Pushes `manifest` into `repo`, tagged `tag` if set: with digest `None` when its digest is
/// SHA-256, with its digest otherwise. Checks the returned descriptor; panics on error.
pub async fn push_manifest(
    registry: &dyn Registry,
    repo: &str,
    tag: Option<&str>,
    manifest: &Manifest,
) -> Descriptor {
    let what = format!(
        "push_manifest {} (tag {tag:?}) into {repo}",
        manifest.digest
    );
    let digest = (manifest.digest.algorithm() != Algorithm::Sha256).then_some(&manifest.digest);
    let desc = expect_ok(
        registry
            .push_manifest(
                &Context::new(),
                repo,
                tag,
                manifest.data.clone(),
                &manifest.media_type,
                digest,
            )
            .await,
        &what,
    );
    assert_eq!(desc.digest, manifest.digest, "{what}: returned digest");
    assert_eq!(desc.size, manifest.size(), "{what}: returned size");
    assert_eq!(
        media_type::essence(&desc.media_type),
        media_type::essence(&manifest.media_type),
        "{what}: returned media type"
    );
    desc
}

/// Pushes an image's blobs and then its manifest, tagged `tag` if set.
pub async fn push_image(
    registry: &dyn Registry,
    repo: &str,
    tag: Option<&str>,
    image: &Image,
) -> Descriptor {
    push_blob(registry, repo, &image.config).await;
    push_blobs(registry, repo, &image.layers).await;
    push_manifest(registry, repo, tag, &image.manifest).await
}

/// Asserts that `repo` serves `blob` through `get_blob` and `resolve_blob`.
pub async fn assert_blob(registry: &dyn Registry, repo: &str, blob: &Blob) {
    let cx = Context::new();
    let what = format!("get_blob {} from {repo}", blob.digest);
    let reader = expect_ok(registry.get_blob(&cx, repo, &blob.digest).await, &what);
    assert_eq!(reader.descriptor().digest, blob.digest, "{what}: digest");
    assert_eq!(reader.descriptor().size, blob.size(), "{what}: size");
    assert_eq!(reader.range(), None, "{what}: a whole read has no range");
    let data = read_all(reader, &what).await;
    assert_bytes_eq(&data, &blob.data, &what);
    let what = format!("resolve_blob {} in {repo}", blob.digest);
    let desc = expect_ok(registry.resolve_blob(&cx, repo, &blob.digest).await, &what);
    assert_eq!(
        desc,
        Descriptor::new(media_type::OCTET_STREAM, blob.digest.clone(), blob.size()),
        "{what}"
    );
}

/// Asserts that `repo` has no blob `digest` (`BLOB_UNKNOWN` from `resolve_blob` and `get_blob`).
pub async fn assert_no_blob(registry: &dyn Registry, repo: &str, digest: &Digest) {
    let cx = Context::new();
    expect_code(
        registry.resolve_blob(&cx, repo, digest).await,
        Code::BlobUnknown,
        &format!("resolve_blob {digest} in {repo}"),
    );
    expect_code(
        registry.get_blob(&cx, repo, digest).await,
        Code::BlobUnknown,
        &format!("get_blob {digest} in {repo}"),
    );
}

/// Asserts that `repo` serves `manifest` by digest, exactly as pushed, through `get_manifest`
/// and `resolve_manifest`.
pub async fn assert_manifest(registry: &dyn Registry, repo: &str, manifest: &Manifest) {
    let cx = Context::new();
    let what = format!("get_manifest {} from {repo}", manifest.digest);
    let reader = expect_ok(
        registry.get_manifest(&cx, repo, &manifest.digest).await,
        &what,
    );
    assert_reader_is(reader, manifest, &what).await;
    let what = format!("resolve_manifest {} in {repo}", manifest.digest);
    let desc = expect_ok(
        registry.resolve_manifest(&cx, repo, &manifest.digest).await,
        &what,
    );
    assert_eq!(desc, manifest.descriptor(), "{what}");
}

/// Asserts that `tag` of `repo` points at `manifest` through `get_tag` and `resolve_tag`.
pub async fn assert_tag(registry: &dyn Registry, repo: &str, tag: &str, manifest: &Manifest) {
    let cx = Context::new();
    let what = format!("get_tag {repo}:{tag}");
    let reader = expect_ok(registry.get_tag(&cx, repo, tag).await, &what);
    assert_reader_is(reader, manifest, &what).await;
    let what = format!("resolve_tag {repo}:{tag}");
    let desc = expect_ok(registry.resolve_tag(&cx, repo, tag).await, &what);
    assert_eq!(desc, manifest.descriptor(), "{what}");
}

/// Asserts that `repo` has no manifest `digest` (`MANIFEST_UNKNOWN`).
pub async fn assert_no_manifest(registry: &dyn Registry, repo: &str, digest: &Digest) {
    let cx = Context::new();
    expect_code(
        registry.resolve_manifest(&cx, repo, digest).await,
        Code::ManifestUnknown,
        &format!("resolve_manifest {digest} in {repo}"),
    );
    expect_code(
        registry.get_manifest(&cx, repo, digest).await,
        Code::ManifestUnknown,
        &format!("get_manifest {digest} in {repo}"),
    );
}

/// Asserts that `repo` has no tag `tag` (`MANIFEST_UNKNOWN`).
pub async fn assert_no_tag(registry: &dyn Registry, repo: &str, tag: &str) {
    let cx = Context::new();
    expect_code(
        registry.resolve_tag(&cx, repo, tag).await,
        Code::ManifestUnknown,
        &format!("resolve_tag {repo}:{tag}"),
    );
    expect_code(
        registry.get_tag(&cx, repo, tag).await,
        Code::ManifestUnknown,
        &format!("get_tag {repo}:{tag}"),
    );
}

async fn assert_reader_is(reader: BlobReader, manifest: &Manifest, what: &str) {
    let d = reader.descriptor().clone();
    assert_eq!(d.digest, manifest.digest, "{what}: digest");
    assert_eq!(d.size, manifest.size(), "{what}: size");
    assert_eq!(
        media_type::essence(&d.media_type),
        media_type::essence(&manifest.media_type),
        "{what}: media type"
    );
    let data = read_all(reader, what).await;
    assert_bytes_eq(&data, &manifest.data, &format!("{what}: exact bytes"));
}

/// The tags of `repo`; panics on error.
pub async fn tags(registry: &dyn Registry, repo: &str, start_after: Option<&str>) -> Vec<String> {
    list(
        registry.tags(&Context::new(), repo, start_after),
        &format!("tags of {repo} after {start_after:?}"),
    )
    .await
}

/// The repositories whose names start with `prefix`, listed strictly after `start_after`
/// (checking the whole listing is sorted and after `start_after`). Lets tests share one registry.
pub async fn repositories_with_prefix(
    registry: &dyn Registry,
    prefix: &str,
    start_after: Option<&str>,
) -> Vec<String> {
    let what = format!("repositories after {start_after:?}");
    let all = list(registry.repositories(&Context::new(), start_after), &what).await;
    assert_strictly_sorted(&all, start_after, &what);
    all.into_iter().filter(|r| r.starts_with(prefix)).collect()
}

/// Asserts `items` are in strictly increasing lexical order, all after `start_after`.
pub fn assert_strictly_sorted(items: &[String], start_after: Option<&str>, what: &str) {
    for w in items.windows(2) {
        assert!(
            w[0] < w[1],
            "{what}: not in strictly increasing order: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    if let (Some(after), Some(first)) = (start_after, items.first()) {
        assert!(
            first.as_str() > after,
            "{what}: {first:?} is not strictly after {after:?}"
        );
    }
}

/// The referrers of `subject` in `repo`; panics on error.
pub async fn referrers(
    registry: &dyn Registry,
    repo: &str,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Vec<Descriptor> {
    list(
        registry.referrers(&Context::new(), repo, subject, artifact_type),
        &format!("referrers of {subject} in {repo} (artifact type {artifact_type:?})"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_seeds_give_distinct_content() {
        // Regression: seeds that differed only in their lowest bit gave the same stream.
        let mut seen = std::collections::HashSet::new();
        for seed in 0..4096 {
            assert!(seen.insert(Rng::new(seed).bytes(16)), "seed {seed}");
        }
        assert_eq!(Rng::new(7).bytes(100), Rng::new(7).bytes(100));
    }
}
