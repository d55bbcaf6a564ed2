//! The manifests, tags and referrers of one repository, and the reachability walks that
//! immutable tags need.
//!
//! Besides the manifests and tags themselves, [`Manifests`] keeps reverse indexes so that no
//! operation scans the whole repository:
//! - the tags naming each manifest, so deleting a manifest deletes its tags;
//! - the referrers of each subject digest, in digest order, for the referrers API;
//! - the manifests (indexes) listing each child manifest, and the manifests using each blob,
//!   so that "is this reachable from a tag?" walks up from the target through its ancestors
//!   only, instead of down from every tag.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use ociregistry_core::{Code, Descriptor, Digest, Error, ManifestInfo, Result};

/// A stored manifest: the exact bytes pushed, and what the registry needs from its content.
#[derive(Debug)]
pub(crate) struct Manifest {
    /// The media type it was pushed with.
    pub(crate) media_type: String,
    /// The bytes pushed.
    pub(crate) data: Bytes,
    /// The digest of `subject`, if any.
    subject: Option<Digest>,
    /// The artifact type a referrers listing reports.
    artifact_type: Option<String>,
    /// The manifest's annotations.
    annotations: BTreeMap<String, String>,
    /// The config and every layer.
    blobs: Vec<Digest>,
    /// The child manifests of an index.
    children: Vec<Digest>,
}

impl Manifest {
    /// A manifest of `media_type` with content `data`, already parsed into `info`.
    pub(crate) fn new(media_type: &str, data: Bytes, info: &ManifestInfo) -> Manifest {
        Manifest {
            media_type: media_type.to_owned(),
            data,
            subject: info.subject.as_ref().map(|s| s.digest.clone()),
            artifact_type: info.referrer_artifact_type().map(str::to_owned),
            annotations: info.annotations.clone(),
            blobs: info
                .config
                .iter()
                .chain(&info.layers)
                .map(|d| d.digest.clone())
                .collect(),
            children: info.manifests.iter().map(|d| d.digest.clone()).collect(),
        }
    }

    /// The descriptor `resolve_*` and reads report for the manifest stored under `digest`.
    pub(crate) fn descriptor(&self, digest: &Digest) -> Descriptor {
        Descriptor::new(
            self.media_type.clone(),
            digest.clone(),
            self.data.len() as u64,
        )
    }

    /// The descriptor a referrers listing reports for the manifest stored under `digest`.
    fn referrer_descriptor(&self, digest: &Digest) -> Descriptor {
        let mut d = self.descriptor(digest);
        d.artifact_type = self.artifact_type.clone();
        d.annotations = self.annotations.clone();
        d
    }
}

fn denied(message: &'static str) -> Error {
    Error::new(Code::Denied, message)
}

/// The manifests and tags of a repository, with the indexes described in the module docs.
#[derive(Debug, Default)]
pub(crate) struct Manifests {
    entries: HashMap<Digest, Arc<Manifest>>,
    tags: BTreeMap<String, Digest>,
    /// Reverse of `tags`.
    tags_of: HashMap<Digest, BTreeSet<String>>,
    /// Subject digest → the manifests whose subject it is.
    referrers: HashMap<Digest, BTreeSet<Digest>>,
    /// Child manifest digest → the indexes listing it.
    index_parents: HashMap<Digest, HashSet<Digest>>,
    /// Blob digest → the manifests using it as config or layer.
    blob_parents: HashMap<Digest, HashSet<Digest>>,
}

impl Manifests {
    /// The manifest stored under `digest`.
    pub(crate) fn get(&self, digest: &Digest) -> Option<&Arc<Manifest>> {
        self.entries.get(digest)
    }

    /// The digest `tag` names.
    pub(crate) fn tag(&self, tag: &str) -> Option<&Digest> {
        self.tags.get(tag)
    }

    /// All tags, for paging.
    pub(crate) fn tags(&self) -> &BTreeMap<String, Digest> {
        &self.tags
    }

    /// Checks that immutable tags allow pushing the manifest `digest` of `media_type`, tagged
    /// `tag`: an existing tag may only be "moved" to the digest it already names, and a stored
    /// manifest that a tag reaches keeps its media type.
    pub(crate) fn check_immutable_push(
        &self,
        tag: Option<&str>,
        digest: &Digest,
        media_type: &str,
    ) -> Result<()> {
        if let Some(tag) = tag
            && let Some(current) = self.tags.get(tag)
            && current != digest
        {
            return Err(denied("cannot overwrite tag"));
        }
        if let Some(m) = self.entries.get(digest)
            && m.media_type != media_type
            && self.manifest_reachable_from_tag(digest)
        {
            return Err(denied("mismatched media type"));
        }
        Ok(())
    }

    /// Stores `manifest` under `digest`, replacing any manifest stored there (the same bytes,
    /// perhaps pushed with another media type). Returns the replaced one, for the caller to
    /// drop outside any lock.
    pub(crate) fn insert(
        &mut self,
        digest: &Digest,
        manifest: Arc<Manifest>,
    ) -> Option<Arc<Manifest>> {
        let old = self.entries.remove(digest);
        if let Some(old) = &old {
            self.unlink(digest, old);
        }
        if let Some(subject) = &manifest.subject {
            self.referrers
                .entry(subject.clone())
                .or_default()
                .insert(digest.clone());
        }
        for child in &manifest.children {
            self.index_parents
                .entry(child.clone())
                .or_default()
                .insert(digest.clone());
        }
        for blob in &manifest.blobs {
            self.blob_parents
                .entry(blob.clone())
                .or_default()
                .insert(digest.clone());
        }
        self.entries.insert(digest.clone(), manifest);
        old
    }

    /// Removes the index entries of `manifest`, stored under `digest`, pointing at what it
    /// refers to.
    fn unlink(&mut self, digest: &Digest, manifest: &Manifest) {
        fn remove(map: &mut HashMap<Digest, impl SetOf>, key: &Digest, digest: &Digest) {
            if let Some(set) = map.get_mut(key) {
                set.remove_digest(digest);
                if set.is_empty_set() {
                    map.remove(key);
                }
            }
        }
        if let Some(subject) = &manifest.subject {
            remove(&mut self.referrers, subject, digest);
        }
        for child in &manifest.children {
            remove(&mut self.index_parents, child, digest);
        }
        for blob in &manifest.blobs {
            remove(&mut self.blob_parents, blob, digest);
        }
    }

    /// Points `tag` at `digest`, moving it if it named another manifest.
    pub(crate) fn set_tag(&mut self, tag: &str, digest: &Digest) {
        let old = self.tags.insert(tag.to_owned(), digest.clone());
        if let Some(old) = old {
            self.untag(&old, tag);
        }
        self.tags_of
            .entry(digest.clone())
            .or_default()
            .insert(tag.to_owned());
    }

    fn untag(&mut self, digest: &Digest, tag: &str) {
        if let Some(set) = self.tags_of.get_mut(digest) {
            set.remove(tag);
            if set.is_empty() {
                self.tags_of.remove(digest);
            }
        }
    }

    /// Removes the manifest `digest` and every tag naming it. Returns it, if it was there.
    pub(crate) fn remove(&mut self, digest: &Digest) -> Option<Arc<Manifest>> {
        let manifest = self.entries.remove(digest)?;
        self.unlink(digest, &manifest);
        for tag in self.tags_of.remove(digest).unwrap_or_default() {
            self.tags.remove(&tag);
        }
        Some(manifest)
    }

    /// Removes `tag`. Returns whether it was there.
    pub(crate) fn remove_tag(&mut self, tag: &str) -> bool {
        match self.tags.remove(tag) {
            Some(digest) => {
                self.untag(&digest, tag);
                true
            }
            None => false,
        }
    }

    /// Whether a tag reaches the manifest `digest`: names it, or names a manifest that refers
    /// to it, transitively, as an index child or as its subject.
    pub(crate) fn manifest_reachable_from_tag(&self, digest: &Digest) -> bool {
        self.reachable_from_tag(std::iter::once(digest))
    }

    /// Whether a tag reaches the blob `digest`: a manifest using it as config or layer is
    /// itself reachable from a tag.
    pub(crate) fn blob_reachable_from_tag(&self, digest: &Digest) -> bool {
        match self.blob_parents.get(digest) {
            Some(users) => self.reachable_from_tag(users.iter()),
            None => false,
        }
    }

    /// Walks up from the manifests `start` through the manifests referring to them until it
    /// finds a tagged one. Visits each ancestor once.
    fn reachable_from_tag<'a>(&'a self, start: impl Iterator<Item = &'a Digest>) -> bool {
        let mut queue: Vec<&Digest> = start.collect();
        let mut seen: HashSet<&Digest> = queue.iter().copied().collect();
        while let Some(d) = queue.pop() {
            if self.tags_of.contains_key(d) {
                return true;
            }
            let parents = self
                .index_parents
                .get(d)
                .into_iter()
                .flatten()
                .chain(self.referrers.get(d).into_iter().flatten());
            for p in parents {
                if seen.insert(p) {
                    queue.push(p);
                }
            }
        }
        false
    }

    /// The referrers of `subject`, in digest order, with the given artifact type if set.
    pub(crate) fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Vec<Descriptor> {
        let Some(digests) = self.referrers.get(subject) else {
            return Vec::new();
        };
        digests
            .iter()
            .filter_map(|d| Some((d, self.entries.get(d)?)))
            .filter(|(_, m)| artifact_type.is_none_or(|a| m.artifact_type.as_deref() == Some(a)))
            .map(|(d, m)| m.referrer_descriptor(d))
            .collect()
    }
}

/// The two kinds of digest set the reverse indexes use.
trait SetOf {
    fn remove_digest(&mut self, d: &Digest);
    fn is_empty_set(&self) -> bool;
}

impl SetOf for HashSet<Digest> {
    fn remove_digest(&mut self, d: &Digest) {
        self.remove(d);
    }
    fn is_empty_set(&self) -> bool {
        self.is_empty()
    }
}

impl SetOf for BTreeSet<Digest> {
    fn remove_digest(&mut self, d: &Digest) {
        self.remove(d);
    }
    fn is_empty_set(&self) -> bool {
        self.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

    fn desc(mt: &str, d: &Digest) -> String {
        format!(r#"{{"mediaType":"{mt}","digest":"{d}","size":1}}"#)
    }

    /// An image manifest with config `config` and optional subject; returns (digest, manifest).
    fn image(config: &Digest, subject: Option<&Digest>, salt: &str) -> (Digest, Arc<Manifest>) {
        let subject = subject
            .map(|s| format!(r#","subject":{}"#, desc(OCI_MANIFEST, s)))
            .unwrap_or_default();
        let json = format!(
            r#"{{"schemaVersion":2,"config":{},"layers":[],"annotations":{{"salt":"{salt}"}}{subject}}}"#,
            desc("application/x.config", config)
        );
        let info = ManifestInfo::parse(OCI_MANIFEST, json.as_bytes()).unwrap();
        let digest = Digest::sha256(json.as_bytes());
        (
            digest,
            Arc::new(Manifest::new(OCI_MANIFEST, json.into(), &info)),
        )
    }

    fn index(children: &[&Digest]) -> (Digest, Arc<Manifest>) {
        let list: Vec<String> = children.iter().map(|c| desc(OCI_MANIFEST, c)).collect();
        let json = format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, list.join(","));
        let info = ManifestInfo::parse(OCI_INDEX, json.as_bytes()).unwrap();
        let digest = Digest::sha256(json.as_bytes());
        (
            digest,
            Arc::new(Manifest::new(OCI_INDEX, json.into(), &info)),
        )
    }

    #[test]
    fn reachability_walks_up_through_indexes_and_subjects() {
        let blob = Digest::sha256(b"config");
        let other = Digest::sha256(b"other");
        let mut ms = Manifests::default();
        let (m0, man0) = image(&blob, None, "0");
        let (m1, man1) = image(&other, Some(&m0), "1");
        let (ix, manix) = index(&[&m1]);
        let _ = ms.insert(&m0, man0);
        let _ = ms.insert(&m1, man1);
        let _ = ms.insert(&ix, manix);
        assert!(!ms.blob_reachable_from_tag(&blob));
        assert!(!ms.manifest_reachable_from_tag(&m0));
        ms.set_tag("t", &ix);
        // tag → index → m1 → (subject) m0 → config blob
        assert!(ms.manifest_reachable_from_tag(&m0));
        assert!(ms.blob_reachable_from_tag(&blob));
        assert!(ms.blob_reachable_from_tag(&other));
        assert!(!ms.blob_reachable_from_tag(&Digest::sha256(b"nope")));
        // Moving the tag away frees them all again.
        ms.set_tag("t", &m1);
        assert!(!ms.manifest_reachable_from_tag(&ix));
        assert!(ms.manifest_reachable_from_tag(&m0));
        assert!(ms.remove_tag("t"));
        assert!(!ms.remove_tag("t"));
        assert!(!ms.blob_reachable_from_tag(&blob));
    }

    #[test]
    fn removing_a_manifest_removes_its_tags_and_referrer_entry() {
        let blob = Digest::sha256(b"config");
        let mut ms = Manifests::default();
        let (m0, man0) = image(&blob, None, "0");
        let (m1, man1) = image(&blob, Some(&m0), "1");
        let _ = ms.insert(&m0, man0);
        let _ = ms.insert(&m1, man1);
        ms.set_tag("a", &m1);
        ms.set_tag("b", &m1);
        ms.set_tag("c", &m0);
        assert_eq!(ms.referrers(&m0, None).len(), 1);
        assert_eq!(
            ms.referrers(&m0, Some("application/x.config"))[0].annotations["salt"],
            "1"
        );
        assert!(ms.referrers(&m0, Some("application/other")).is_empty());
        assert!(ms.remove(&m1).is_some());
        assert!(ms.remove(&m1).is_none());
        assert!(ms.referrers(&m0, None).is_empty());
        assert_eq!(ms.tags().keys().collect::<Vec<_>>(), ["c"]);
        assert!(ms.referrers.is_empty());
        assert_eq!(ms.blob_parents[&blob].len(), 1);
        assert!(ms.tag("a").is_none());
    }

    #[test]
    fn immutable_push_rules() {
        let blob = Digest::sha256(b"config");
        let mut ms = Manifests::default();
        let (m0, man0) = image(&blob, None, "0");
        let (m1, _) = image(&blob, None, "1");
        let _ = ms.insert(&m0, man0);
        ms.set_tag("t", &m0);
        assert!(
            ms.check_immutable_push(Some("t"), &m0, OCI_MANIFEST)
                .is_ok()
        );
        assert!(
            ms.check_immutable_push(Some("u"), &m1, OCI_MANIFEST)
                .is_ok()
        );
        let e = ms
            .check_immutable_push(Some("t"), &m1, OCI_MANIFEST)
            .unwrap_err();
        assert!(e.is(&Code::Denied) && e.message() == "cannot overwrite tag");
        let e = ms
            .check_immutable_push(None, &m0, "application/other")
            .unwrap_err();
        assert!(e.is(&Code::Denied) && e.message() == "mismatched media type");
    }
}
