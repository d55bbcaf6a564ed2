//! [`ObjectStoreRegistry`] and its [`Registry`] implementation.
//!
//! Every write is ordered so that one atomic object operation is its commit point (see the
//! crate documentation): content before the markers that make it visible, index entries before
//! the objects they index, the manifest before the tag that names it.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::try_join_all;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use ociregistry_core::media_type::OCTET_STREAM;
use ociregistry_core::names::{validate_repository, validate_tag};
use ociregistry_core::{
    BlobReader, BlobWriter, ByteRange, ByteStream, Code, Context, Descriptor, Digest, Digester,
    Error, ListStream, ManifestInfo, Registry, Result, stream,
};

use crate::config::StoreConfig;
use crate::content::Content;
use crate::layout::Layout;
use crate::list;
use crate::store::{ContentSink, Store};
use crate::tags::Tags;
use crate::upload::{StoreBlobWriter, Uploads};

/// A durable OCI registry kept in an [`ObjectStore`]: the local file system, S3, or any other
/// store `object_store` supports.
///
/// Cloning is cheap and gives another handle on the same registry. Any number of registries,
/// in any number of processes, may share one store (and prefix). See the [crate
/// documentation](crate) for the layout and the guarantees.
#[derive(Clone)]
pub struct ObjectStoreRegistry {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) layout: Layout,
    pub(crate) config: StoreConfig,
    pub(crate) tags: Tags,
    /// Repositories known to exist. Repositories are never removed, so this never goes stale.
    known_repos: Mutex<HashSet<String>>,
    /// Running SHA-256s of the upload sessions this process is writing.
    pub(crate) running: crate::upload::RunningHashes,
}

impl fmt::Debug for ObjectStoreRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreRegistry")
            .field("store", &self.shared.store.inner.to_string())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Why a local registry cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The directory cannot be created.
    #[error("cannot create the storage directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The object store refuses the directory.
    #[error("cannot open the storage directory {path}: {source}")]
    Store {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: object_store::Error,
    },
}

pub(crate) fn name_unknown(repo: &str) -> Error {
    Error::new(
        Code::NameUnknown,
        format!("repository {repo} not known to registry"),
    )
}

pub(crate) fn blob_unknown(digest: &Digest) -> Error {
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

pub(crate) fn tag_unknown(tag: &str) -> Error {
    if ociregistry_core::names::is_valid_tag(tag) {
        Error::new(Code::ManifestUnknown, format!("tag {tag} does not exist"))
    } else {
        Error::new(Code::ManifestUnknown, "tag does not exist")
    }
}

pub(crate) fn blob_descriptor(digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(OCTET_STREAM, digest.clone(), size)
}

/// A stored manifest: the media type line, then the exact bytes pushed.
pub(crate) fn encode_manifest(media_type: &str, contents: &Bytes) -> Vec<Bytes> {
    vec![Bytes::from(format!("{media_type}\n")), contents.clone()]
}

/// Splits a stored manifest into media type and content.
pub(crate) fn decode_manifest(data: &Bytes) -> Result<(String, Bytes)> {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return Err(Error::new(Code::Unknown, "corrupt stored manifest"));
    };
    let media_type = std::str::from_utf8(&data[..nl])
        .map_err(|_| Error::new(Code::Unknown, "corrupt stored manifest"))?;
    Ok((media_type.to_owned(), data.slice(nl + 1..)))
}

/// Checks `content` against `desc` while it flows, handing each chunk to `sink` if any.
async fn receive(
    desc: &Descriptor,
    mut content: ByteStream,
    sink: &mut Option<ContentSink>,
) -> Result<()> {
    let mut digester = Digester::new(desc.digest.algorithm());
    while let Some(chunk) = content.next().await {
        let chunk = chunk?;
        digester.update(&chunk);
        if digester.len() > desc.size {
            return Err(Error::new(
                Code::SizeInvalid,
                format!("content is longer than the declared {} bytes", desc.size),
            ));
        }
        if let Some(sink) = sink.as_mut() {
            sink.write(chunk).await?;
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
    Ok(())
}

impl ObjectStoreRegistry {
    /// A registry in `store`, configured by `config`. Whatever the store already holds under
    /// the configured prefix is served as is: there is no recovery step.
    pub fn new(store: Arc<dyn ObjectStore>, config: StoreConfig) -> ObjectStoreRegistry {
        let store = Store { inner: store };
        let layout = Layout::new(&config.prefix);
        let tags = Tags {
            store: store.clone(),
            layout: layout.clone(),
        };
        ObjectStoreRegistry {
            shared: Arc::new(Shared {
                store,
                layout,
                config,
                tags,
                known_repos: Mutex::new(HashSet::new()),
                running: crate::upload::RunningHashes::default(),
            }),
        }
    }

    /// A registry on the local disk in `dir` (created if missing), with the default
    /// configuration.
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<ObjectStoreRegistry, OpenError> {
        ObjectStoreRegistry::local_with_config(dir, StoreConfig::default())
    }

    /// A registry on the local disk in `dir` (created if missing), configured by `config`.
    pub fn local_with_config(
        dir: impl AsRef<std::path::Path>,
        config: StoreConfig,
    ) -> Result<ObjectStoreRegistry, OpenError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| OpenError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        // Automatic cleanup removes the directories deletes leave empty (ended upload
        // sessions), so they do not pile up.
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(|source| OpenError::Store {
                path: dir.to_owned(),
                source,
            })?
            .with_automatic_cleanup(true);
        Ok(ObjectStoreRegistry::new(Arc::new(fs), config))
    }

    /// The registry's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// The object store the registry keeps everything in.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.shared.store.inner
    }

    pub(crate) fn store(&self) -> &Store {
        &self.shared.store
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.shared.layout
    }

    fn tags_log(&self) -> &Tags {
        &self.shared.tags
    }

    fn is_known(&self, repo: &str) -> bool {
        self.shared
            .known_repos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(repo)
    }

    fn remember(&self, repo: &str) {
        self.shared
            .known_repos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(repo.to_owned());
    }

    /// Creates `repo` if it does not exist: writes its catalog entry.
    pub(crate) async fn ensure_repo(&self, repo: &str) -> Result<()> {
        if self.is_known(repo) {
            return Ok(());
        }
        self.store()
            .put(&self.layout().catalog_entry(repo), Bytes::new().into())
            .await?;
        self.remember(repo);
        Ok(())
    }

    /// Fails with `NAME_INVALID` or `NAME_UNKNOWN` unless `repo` exists.
    pub(crate) async fn check_repo(&self, repo: &str) -> Result<()> {
        validate_repository(repo)?;
        if self.is_known(repo) {
            return Ok(());
        }
        if self
            .store()
            .exists(&self.layout().catalog_entry(repo))
            .await?
        {
            self.remember(repo);
            return Ok(());
        }
        Err(name_unknown(repo))
    }

    /// The size of blob `digest` if `repo` holds it: its marker and its content both exist.
    pub(crate) async fn member_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.member_content(repo, digest).await?.map(|c| c.size()))
    }

    /// How blob `digest` is stored if `repo` holds it: its marker and its content both exist.
    pub(crate) async fn member_content(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<Content>> {
        let (marker, content) = futures_util::future::try_join(
            self.store().exists(&self.layout().member(repo, digest)),
            self.content(digest),
        )
        .await?;
        Ok(content.filter(|_| marker))
    }

    /// Makes the stored blob `digest` a blob of `repo`: records the claim GC looks at, then the
    /// membership marker (the commit point).
    pub(crate) async fn add_member(&self, repo: &str, digest: &Digest) -> Result<()> {
        let layout = self.layout();
        self.store()
            .put(&layout.claim(digest), Bytes::new().into())
            .await?;
        self.store()
            .put(&layout.member(repo, digest), Bytes::new().into())
            .await
    }

    /// Stores verified content at the blob key of `digest` unless it is already there:
    /// `content` is checked against `desc` while it flows and published only if it matches.
    async fn store_blob(&self, desc: &Descriptor, content: ByteStream) -> Result<()> {
        let path = self.layout().blob(&desc.digest);
        if self.content_exists(&desc.digest).await? {
            // Identical bytes are stored once: only verify.
            return receive(desc, content, &mut None).await;
        }
        let mut sink = Some(ContentSink::new(
            self.store().clone(),
            path,
            self.config().part_size,
        ));
        let res = receive(desc, content, &mut sink).await;
        let Some(sink) = sink else {
            return res;
        };
        match res {
            Ok(()) => sink.finish().await,
            Err(e) => {
                sink.abort().await;
                Err(e)
            }
        }
    }

    fn upload_state(&self) -> Uploads {
        Uploads {
            registry: self.clone(),
        }
    }

    /// The stored manifest `digest` of `repo`: media type and content.
    async fn manifest(&self, repo: &str, digest: &Digest) -> Result<(String, Bytes)> {
        self.check_repo(repo).await?;
        let data = self
            .store()
            .get(&self.layout().manifest(repo, digest))
            .await?
            .ok_or_else(|| manifest_unknown(digest))?;
        decode_manifest(&data)
    }

    /// The manifest `tag` names: digest, media type and content. A tag naming a manifest
    /// that is gone (a crash interrupted its deletion) is as unknown as a missing tag.
    async fn tagged(&self, repo: &str, tag: &str) -> Result<(Digest, String, Bytes)> {
        self.check_repo(repo).await?;
        let digest = self
            .tags_log()
            .target(repo, tag)
            .await?
            .ok_or_else(|| tag_unknown(tag))?;
        let data = self
            .store()
            .get(&self.layout().manifest(repo, &digest))
            .await?
            .ok_or_else(|| tag_unknown(tag))?;
        let (mt, content) = decode_manifest(&data)?;
        Ok((digest, mt, content))
    }

    /// Checks that the config, layers and child manifests of `info` are in `repo`.
    async fn check_children(&self, repo: &str, info: &ManifestInfo) -> Result<()> {
        let blobs = info.required_blobs().map(|(what, d)| async move {
            match self.member_size(repo, &d.digest).await? {
                Some(_) => Ok(()),
                None => Err(Error::new(
                    Code::ManifestBlobUnknown,
                    format!("blob for {what} not found: {}", d.digest),
                )),
            }
        });
        try_join_all(blobs).await?;
        let children = info.manifests.iter().enumerate().map(|(i, d)| async move {
            if self
                .store()
                .exists(&self.layout().manifest(repo, &d.digest))
                .await?
            {
                Ok(())
            } else {
                Err(Error::new(
                    Code::ManifestBlobUnknown,
                    format!("manifest for manifests[{i}] not found: {}", d.digest),
                ))
            }
        });
        try_join_all(children).await?;
        Ok(())
    }

    /// Deletes every tag of `repo` still naming `digest` (found through the reverse index),
    /// then the reverse-index markers.
    async fn untag_all(&self, repo: &str, digest: &Digest) -> Result<()> {
        let markers = self
            .store()
            .list(&self.layout().tagged_dir(repo, digest))
            .await?;
        for m in &markers {
            let Some(tag) = m
                .location
                .filename()
                .and_then(crate::layout::name_of)
                .map(str::to_owned)
            else {
                continue;
            };
            self.tags_log()
                .update(repo, &tag, |current| {
                    Ok((current == Some(digest)).then_some(None))
                })
                .await?;
        }
        self.store()
            .delete_all(markers.into_iter().map(|m| m.location).collect())
            .await
    }
}

#[async_trait]
impl Registry for ObjectStoreRegistry {
    async fn get_blob(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        self.check_repo(repo).await?;
        let layout = self.layout();
        if !self.store().exists(&layout.member(repo, digest)).await? {
            return Err(blob_unknown(digest));
        }
        let (size, body) = self
            .open_content(digest)
            .await?
            .ok_or_else(|| blob_unknown(digest))?;
        Ok(BlobReader::new(blob_descriptor(digest, size), body))
    }

    async fn get_blob_range(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
        range: ByteRange,
    ) -> Result<BlobReader> {
        self.check_repo(repo).await?;
        let content = self
            .member_content(repo, digest)
            .await?
            .ok_or_else(|| blob_unknown(digest))?;
        let size = content.size();
        let range = range.resolve(size)?;
        let desc = blob_descriptor(digest, size);
        if range.is_empty() {
            return Ok(BlobReader::new_range(
                desc,
                range,
                stream::bytes(Bytes::new()),
            ));
        }
        let body = self
            .content_range(digest, &content, range.clone())
            .await?
            .ok_or_else(|| blob_unknown(digest))?;
        Ok(BlobReader::new_range(desc, range, body))
    }

    async fn get_manifest(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<BlobReader> {
        let (mt, content) = self.manifest(repo, digest).await?;
        let desc = Descriptor::new(mt, digest.clone(), content.len() as u64);
        Ok(BlobReader::from_bytes(desc, content))
    }

    async fn get_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<BlobReader> {
        let (digest, mt, content) = self.tagged(repo, tag).await?;
        let desc = Descriptor::new(mt, digest, content.len() as u64);
        Ok(BlobReader::from_bytes(desc, content))
    }

    async fn resolve_blob(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<Descriptor> {
        self.check_repo(repo).await?;
        let size = self
            .member_size(repo, digest)
            .await?
            .ok_or_else(|| blob_unknown(digest))?;
        Ok(blob_descriptor(digest, size))
    }

    async fn resolve_manifest(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
    ) -> Result<Descriptor> {
        let (mt, content) = self.manifest(repo, digest).await?;
        Ok(Descriptor::new(mt, digest.clone(), content.len() as u64))
    }

    async fn resolve_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<Descriptor> {
        let (digest, mt, content) = self.tagged(repo, tag).await?;
        Ok(Descriptor::new(mt, digest, content.len() as u64))
    }

    async fn push_blob(
        &self,
        _cx: &Context,
        repo: &str,
        desc: &Descriptor,
        content: ByteStream,
    ) -> Result<Descriptor> {
        validate_repository(repo)?;
        self.ensure_repo(repo).await?;
        self.store_blob(desc, content).await?;
        self.add_member(repo, &desc.digest).await?;
        Ok(blob_descriptor(&desc.digest, desc.size))
    }

    async fn push_blob_chunked(
        &self,
        _cx: &Context,
        repo: &str,
        chunk_size: Option<usize>,
    ) -> Result<Box<dyn BlobWriter>> {
        validate_repository(repo)?;
        self.ensure_repo(repo).await?;
        let id = self.upload_state().start(repo).await?;
        Ok(Box::new(StoreBlobWriter::new(
            self.clone(),
            repo,
            id,
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
        let size = self.upload_state().resume(repo, id).await?;
        if let Some(offset) = offset
            && offset != size
        {
            return Err(Error::new(
                Code::RangeInvalid,
                format!("cannot resume the upload at offset {offset}: it holds {size} bytes"),
            ));
        }
        Ok(Box::new(StoreBlobWriter::new(
            self.clone(),
            repo,
            id.to_owned(),
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
        let size = match from_repo {
            Some(from_repo) => {
                self.check_repo(from_repo).await?;
                self.member_size(from_repo, digest).await?
            }
            // An anonymous mount takes the content from wherever it is stored.
            None => self.content(digest).await?.map(|c| c.size()),
        }
        .ok_or_else(|| blob_unknown(digest))?;
        self.ensure_repo(to_repo).await?;
        self.add_member(to_repo, digest).await?;
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
        if !self.config().lax_child_references {
            self.check_children(repo, &info).await?;
        }
        self.ensure_repo(repo).await?;
        let layout = self.layout();
        // The referrers entry goes first: it counts only once the manifest exists.
        if let Some(subject) = &info.subject {
            let mut entry = Descriptor::new(media_type, digest.clone(), size);
            entry.artifact_type = info.referrer_artifact_type().map(str::to_owned);
            entry.annotations = info.annotations.clone();
            let body =
                serde_json::to_vec(&entry).map_err(|e| Error::new(Code::Unknown, e.to_string()))?;
            self.store()
                .put(
                    &layout.referrer(repo, &subject.digest, &digest),
                    Bytes::from(body).into(),
                )
                .await?;
        }
        // The manifest itself: the commit point of an untagged push.
        self.store()
            .put(
                &layout.manifest(repo, &digest),
                encode_manifest(media_type, &contents).into_iter().collect(),
            )
            .await?;
        if let Some(tag) = tag {
            // The reverse index first, so that deleting the manifest finds the tag.
            self.store()
                .put(&layout.tagged(repo, &digest, tag), Bytes::new().into())
                .await?;
            let target = digest.clone();
            self.tags_log()
                .update(repo, tag, move |_| Ok(Some(Some(target.clone()))))
                .await?;
        }
        Ok(Descriptor::new(media_type, digest, size))
    }

    async fn delete_blob(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.check_repo(repo).await?;
        let marker = self.layout().member(repo, digest);
        if self.member_size(repo, digest).await?.is_none() {
            return Err(blob_unknown(digest));
        }
        self.store().delete(&marker).await
    }

    async fn delete_manifest(&self, _cx: &Context, repo: &str, digest: &Digest) -> Result<()> {
        self.check_repo(repo).await?;
        let path = self.layout().manifest(repo, digest);
        let Some(data) = self.store().get(&path).await? else {
            // Finish what an interrupted delete may have left: tags naming the missing manifest.
            self.untag_all(repo, digest).await?;
            return Err(manifest_unknown(digest));
        };
        let (mt, content) = decode_manifest(&data)?;
        // The commit point: from here on, tags naming it and its referrers entry are ignored.
        self.store().delete(&path).await?;
        self.untag_all(repo, digest).await?;
        if let Ok(info) = ManifestInfo::parse(&mt, &content)
            && let Some(subject) = info.subject
        {
            self.store()
                .delete(&self.layout().referrer(repo, &subject.digest, digest))
                .await?;
        }
        Ok(())
    }

    async fn delete_tag(&self, _cx: &Context, repo: &str, tag: &str) -> Result<()> {
        self.tagged(repo, tag).await?;
        self.tags_log()
            .update(repo, tag, |current| match current {
                Some(_) => Ok(Some(None)),
                None => Err(tag_unknown(tag)),
            })
            .await
    }

    fn repositories(&self, _cx: &Context, start_after: Option<&str>) -> ListStream<String> {
        list::repositories(self.clone(), start_after)
    }

    fn tags(&self, _cx: &Context, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        list::tags(self.clone(), repo, start_after)
    }

    fn referrers(
        &self,
        _cx: &Context,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        list::referrers(self.clone(), repo, digest, artifact_type)
    }
}
