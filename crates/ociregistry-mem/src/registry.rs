//! [`MemRegistry`]: the [`Registry`] implementation over the in-memory state.
//!
//! All state sits behind one [`RwLock`]: the content store and, per repository, the set of
//! blobs it holds and its [`Manifests`]. Upload sessions have their own lock (see
//! [`crate::upload`]). Every operation does its slow work (reading and hashing streams, parsing
//! manifests) before taking the lock, holds it only for map updates, and never across an
//! `.await`. Content is dropped after the lock is released.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use ociregistry_core::media_type::OCTET_STREAM;
use ociregistry_core::names::{validate_repository, validate_tag};
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Code, Context, Descriptor, Digest, Digester,
    Error, ListStream, ManifestInfo, Registry, Result, stream,
};

use crate::config::Config;
use crate::content::{BlobData, ChunkBuilder, ContentStore};
use crate::list;
use crate::manifest::{Manifest, Manifests};
use crate::upload::{MemBlobWriter, Uploads};

/// A complete OCI registry held in memory.
///
/// Cloning is cheap and gives another handle on the same registry. See the [crate
/// documentation](crate) for what it stores and how it behaves.
#[derive(Clone)]
pub struct MemRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    state: RwLock<State>,
    uploads: Uploads,
}

#[derive(Debug, Default)]
struct State {
    content: ContentStore,
    repos: BTreeMap<String, Repository>,
}

#[derive(Debug, Default)]
struct Repository {
    /// The blobs this repository may read; their content is in [`State::content`].
    blobs: HashSet<Digest>,
    manifests: Manifests,
}

impl fmt::Debug for MemRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemRegistry")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Default for MemRegistry {
    fn default() -> MemRegistry {
        MemRegistry::new()
    }
}

fn name_unknown(repo: &str) -> Error {
    Error::new(
        Code::NameUnknown,
        format!("repository {repo} not known to registry"),
    )
}

fn blob_unknown(digest: &Digest) -> Error {
    Error::new(
        Code::BlobUnknown,
        format!("blob {digest} unknown to registry"),
    )
}

fn manifest_unknown(digest: &Digest) -> Error {
    Error::new(
        Code::ManifestUnknown,
        format!("manifest {digest} unknown to registry"),
    )
}

fn tag_unknown(tag: &str) -> Error {
    if ociregistry_core::names::is_valid_tag(tag) {
        Error::new(Code::ManifestUnknown, format!("tag {tag} does not exist"))
    } else {
        Error::new(Code::ManifestUnknown, "tag does not exist")
    }
}

fn blob_descriptor(digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(OCTET_STREAM, digest.clone(), size)
}

fn lower_bound(after: Option<&str>) -> Bound<&str> {
    after.map_or(Bound::Unbounded, Bound::Excluded)
}

impl MemRegistry {
    /// An empty registry with the default [`Config`].
    pub fn new() -> MemRegistry {
        MemRegistry::with_config(Config::default())
    }

    /// An empty registry with the given configuration.
    pub fn with_config(config: Config) -> MemRegistry {
        MemRegistry {
            shared: Arc::new(Shared {
                config,
                state: RwLock::new(State::default()),
                uploads: Uploads::new(),
            }),
        }
    }

    /// The registry's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// How many upload sessions are open (expired ones are swept out first).
    pub fn upload_count(&self) -> usize {
        self.shared
            .uploads
            .count(self.shared.config.upload_idle_timeout)
    }

    /// How many bytes of distinct blob content the registry holds: a blob held by many
    /// repositories counts once. Manifests and open uploads are not counted.
    pub fn blob_bytes(&self) -> u64 {
        self.read().content.bytes()
    }

    pub(crate) fn uploads(&self) -> &Uploads {
        &self.shared.uploads
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `data`, which hashes to `digest`, a blob of `repo` (creating the repository).
    pub(crate) fn add_blob(&self, repo: &str, digest: &Digest, data: BlobData) -> Descriptor {
        let size = data.len();
        let unused = {
            let mut st = self.write();
            let State { content, repos } = &mut *st;
            let r = repos.entry(repo.to_owned()).or_default();
            if r.blobs.insert(digest.clone()) {
                content.acquire(digest, data)
            } else {
                Some(data)
            }
        };
        drop(unused);
        blob_descriptor(digest, size)
    }

    /// Adds blob `digest`, whose content the caller shares, to `repo`.
    fn add_shared_blob(&self, repo: &str, digest: &Digest, data: Arc<BlobData>) -> Descriptor {
        let size = data.len();
        let mut st = self.write();
        let State { content, repos } = &mut *st;
        let r = repos.entry(repo.to_owned()).or_default();
        if r.blobs.insert(digest.clone()) {
            content.acquire_shared(digest, data);
        }
        blob_descriptor(digest, size)
    }

    /// The content of blob `digest` of `repo`.
    fn blob(&self, repo: &str, digest: &Digest) -> Result<Arc<BlobData>> {
        validate_repository(repo)?;
        let st = self.read();
        let r = st.repos.get(repo).ok_or_else(|| name_unknown(repo))?;
        if !r.blobs.contains(digest) {
            return Err(blob_unknown(digest));
        }
        st.content
            .get(digest)
            .cloned()
            .ok_or_else(|| blob_unknown(digest))
    }

    /// The manifest `digest` of `repo`.
    fn manifest(&self, repo: &str, digest: &Digest) -> Result<Arc<Manifest>> {
        validate_repository(repo)?;
        let st = self.read();
        let r = st.repos.get(repo).ok_or_else(|| name_unknown(repo))?;
        r.manifests
            .get(digest)
            .cloned()
            .ok_or_else(|| manifest_unknown(digest))
    }

    /// The manifest `tag` of `repo` names, and its digest.
    fn tagged(&self, repo: &str, tag: &str) -> Result<(Digest, Arc<Manifest>)> {
        validate_repository(repo)?;
        let st = self.read();
        let r = st.repos.get(repo).ok_or_else(|| name_unknown(repo))?;
        let digest = r.manifests.tag(tag).ok_or_else(|| tag_unknown(tag))?;
        let m = r.manifests.get(digest).ok_or_else(|| tag_unknown(tag))?;
        Ok((digest.clone(), Arc::clone(m)))
    }

    fn manifest_reader(digest: &Digest, m: &Manifest) -> BlobReader {
        BlobReader::from_bytes(m.descriptor(digest), m.data.clone())
    }
}

/// Reads `content` to its end while hashing it, checking it against `desc`'s digest and size.
/// Reads `content`, checking it against `desc` while it flows; keeps the chunks when `keep`.
async fn receive(desc: &Descriptor, mut content: ByteStream, keep: bool) -> Result<BlobData> {
    let mut digester = Digester::new(desc.digest.algorithm());
    let mut chunks = ChunkBuilder::default();
    while let Some(chunk) = content.next().await {
        let chunk = chunk?;
        digester.update(&chunk);
        if digester.len() > desc.size {
            return Err(Error::new(
                Code::SizeInvalid,
                format!("content is longer than the declared {} bytes", desc.size),
            ));
        }
        if keep {
            chunks.push(chunk);
        }
    }
    if digester.len() != desc.size {
        return Err(Error::new(
            Code::SizeInvalid,
            format!(
                "content is {} bytes, not the declared {}",
                digester.len(),
                desc.size
            ),
        ));
    }
    let got = digester.finish();
    if got != desc.digest {
        return Err(Error::new(
            Code::DigestInvalid,
            format!("content has digest {got}, not {}", desc.digest),
        ));
    }
    Ok(chunks.finish())
}

/// Checks that the config, layers and child manifests of `info` are in `repo`.
fn check_children(repo: Option<&Repository>, info: &ManifestInfo) -> Result<()> {
    let has_blob = |d: &Digest| repo.is_some_and(|r| r.blobs.contains(d));
    let has_manifest = |d: &Digest| repo.is_some_and(|r| r.manifests.get(d).is_some());
    for (what, d) in info.required_blobs() {
        if !has_blob(&d.digest) {
            return Err(Error::new(
                Code::ManifestBlobUnknown,
                format!("blob for {what} not found: {}", d.digest),
            ));
        }
    }
    for (i, d) in info.manifests.iter().enumerate() {
        if !has_manifest(&d.digest) {
            return Err(Error::new(
                Code::ManifestBlobUnknown,
                format!("manifest for manifests[{i}] not found: {}", d.digest),
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl Registry for MemRegistry {
    async fn get_blob(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        let data = self.blob(repo, digest)?;
        let size = data.len();
        Ok(BlobReader::new(
            blob_descriptor(digest, size),
            data.stream(0..size),
        ))
    }

    async fn get_blob_range(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        let data = self.blob(repo, digest)?;
        let size = data.len();
        let range = range.resolve(size)?;
        Ok(BlobReader::new_range(
            blob_descriptor(digest, size),
            range.clone(),
            data.stream(range),
        ))
    }

    async fn get_manifest(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        let m = self.manifest(repo, digest)?;
        Ok(MemRegistry::manifest_reader(digest, &m))
    }

    async fn get_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        let (digest, m) = self.tagged(repo, tag)?;
        Ok(MemRegistry::manifest_reader(&digest, &m))
    }

    async fn resolve_blob(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        let data = self.blob(repo, digest)?;
        Ok(blob_descriptor(digest, data.len()))
    }

    async fn resolve_manifest(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        Ok(self.manifest(repo, digest)?.descriptor(digest))
    }

    async fn resolve_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        let (digest, m) = self.tagged(repo, tag)?;
        Ok(m.descriptor(&digest))
    }

    async fn push_blob(
        &self,
        _cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        validate_repository(repo)?;
        // Content the registry already holds is only verified, not stored a second time, so
        // pushing a known blob costs no memory (identical bytes are stored once).
        let known = self.read().content.get(&desc.digest).cloned();
        match known {
            Some(shared) => {
                receive(desc, content, false).await?;
                Ok(self.add_shared_blob(repo, &desc.digest, shared))
            }
            None => {
                let data = receive(desc, content, true).await?;
                Ok(self.add_blob(repo, &desc.digest, data))
            }
        }
    }

    async fn push_blob_chunked(
        &self,
        _cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        validate_repository(repo)?;
        let session = self.uploads().start(repo, self.config())?;
        {
            let mut st = self.write();
            if !st.repos.contains_key(repo) {
                st.repos.insert(repo.to_owned(), Repository::default());
            }
        }
        Ok(Box::new(MemBlobWriter::new(
            self.clone(),
            session,
            0,
            chunk_size,
        )))
    }

    async fn push_blob_chunked_resume(
        &self,
        _cx: &Context,
        repo: &str,
        id: &str,
        offset: Option<u64>,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        validate_repository(repo)?;
        let session = self
            .uploads()
            .resume(repo, id, self.config().upload_idle_timeout)?;
        let size = session.len()?;
        if let Some(offset) = offset
            && offset != size
        {
            return Err(Error::new(
                Code::RangeInvalid,
                format!("cannot resume the upload at offset {offset}: it holds {size} bytes"),
            ));
        }
        Ok(Box::new(MemBlobWriter::new(
            self.clone(),
            session,
            size,
            chunk_size,
        )))
    }

    async fn mount_blob(
        &self,
        _cx: &Context,
        from_repo: Option<&str>,
        to_repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        if let Some(from_repo) = from_repo {
            validate_repository(from_repo)?;
        }
        validate_repository(to_repo)?;
        let mut st = self.write();
        let State { content, repos } = &mut *st;
        // An anonymous mount takes the content from wherever it is held: content exists in
        // the store exactly while some repository holds it.
        if let Some(from_repo) = from_repo {
            let from = repos
                .get(from_repo)
                .ok_or_else(|| name_unknown(from_repo))?;
            if !from.blobs.contains(digest) {
                return Err(blob_unknown(digest));
            }
        }
        let size = content
            .get(digest)
            .map(|d| d.len())
            .ok_or_else(|| blob_unknown(digest))?;
        let to = repos.entry(to_repo.to_owned()).or_default();
        if to.blobs.insert(digest.clone()) && !content.acquire_existing(digest) {
            // Unreachable: the content was found above, under the same lock.
            to.blobs.remove(digest);
            return Err(blob_unknown(digest));
        }
        Ok(blob_descriptor(digest, size))
    }

    async fn push_manifest(
        &self,
        _cx: &Context,
        repo: &str,
        tag: Option<&str>,
        contents: Bytes,
        media_type: &str,
        digest: Option<&Digest>,
    ) -> Result<Descriptor> {
        validate_repository(repo)?;
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        let (digest, info) = ManifestInfo::check_push(media_type, &contents, digest)?;
        let size = contents.len() as u64;
        let config = self.config();
        let manifest = Arc::new(Manifest::new(media_type, contents, &info));

        let replaced = {
            let mut st = self.write();
            let existing = st.repos.get(repo);
            if config.immutable_tags
                && let Some(r) = existing
            {
                r.manifests.check_immutable_push(tag, &digest, media_type)?;
            }
            if !config.lax_child_references {
                check_children(existing, &info)?;
            }
            let r = st.repos.entry(repo.to_owned()).or_default();
            let replaced = r.manifests.insert(&digest, manifest);
            if let Some(tag) = tag {
                r.manifests.set_tag(tag, &digest);
            }
            replaced
        };
        drop(replaced);
        Ok(Descriptor::new(media_type, digest, size))
    }

    async fn delete_blob(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        validate_repository(repo)?;
        let freed = {
            let mut st = self.write();
            let State { content, repos } = &mut *st;
            let r = repos.get_mut(repo).ok_or_else(|| name_unknown(repo))?;
            if !r.blobs.contains(digest) {
                return Err(blob_unknown(digest));
            }
            if self.config().immutable_tags && r.manifests.blob_reachable_from_tag(digest) {
                return Err(Error::new(
                    Code::Denied,
                    "deletion of tagged blob not permitted",
                ));
            }
            r.blobs.remove(digest);
            content.release(digest)
        };
        drop(freed);
        Ok(())
    }

    async fn delete_manifest(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        validate_repository(repo)?;
        let removed = {
            let mut st = self.write();
            let r = st.repos.get_mut(repo).ok_or_else(|| name_unknown(repo))?;
            if r.manifests.get(digest).is_none() {
                return Err(manifest_unknown(digest));
            }
            if self.config().immutable_tags && r.manifests.manifest_reachable_from_tag(digest) {
                return Err(Error::new(
                    Code::Denied,
                    "deletion of tagged manifest not permitted",
                ));
            }
            r.manifests.remove(digest)
        };
        drop(removed);
        Ok(())
    }

    async fn delete_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<()> {
        validate_repository(repo)?;
        let mut st = self.write();
        let r = st.repos.get_mut(repo).ok_or_else(|| name_unknown(repo))?;
        if r.manifests.tag(tag).is_none() {
            return Err(tag_unknown(tag));
        }
        if self.config().immutable_tags {
            return Err(Error::new(Code::Denied, "tag deletion not permitted"));
        }
        r.manifests.remove_tag(tag);
        Ok(())
    }

    fn repositories(&self, _cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        let registry = self.clone();
        let fetch = move |after: Option<&str>, limit: usize| {
            let st = registry.read();
            Ok(st
                .repos
                .range::<str, _>((lower_bound(after), Bound::Unbounded))
                .take(limit)
                .map(|(name, _)| name.clone())
                .collect())
        };
        list::paged(fetch, start_after)
    }

    fn tags(&self, _cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        if let Err(e) = validate_repository(repo) {
            return stream::error(e);
        }
        let registry = self.clone();
        let repo = repo.to_owned();
        let fetch = move |after: Option<&str>, limit: usize| {
            let st = registry.read();
            let r = st.repos.get(&repo).ok_or_else(|| name_unknown(&repo))?;
            Ok(r.manifests
                .tags()
                .range::<str, _>((lower_bound(after), Bound::Unbounded))
                .take(limit)
                .map(|(tag, _)| tag.clone())
                .collect())
        };
        list::paged(fetch, start_after)
    }

    fn referrers(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        if let Err(e) = validate_repository(repo) {
            return stream::error(e);
        }
        let list = match self.read().repos.get(repo) {
            Some(r) => r.manifests.referrers(digest, artifact_type),
            None => Vec::new(),
        };
        stream::iter(list)
    }
}
