//! Where everything lives in the object store: the [`Layout`] of keys under the configured
//! prefix, and the encodings that keep keys valid and lexically ordered.
//!
//! Tag names and repository names in the catalog are followed by `!` in keys ([`name_key`]):
//! `!` sorts before every character names may contain (`/` included), so a store that lists
//! keys in lexical order lists them in name order (`a`, `a-b`, `a/b`), and a repository's
//! catalog entry (`_catalog/a!`) never collides with the directory of another's
//! (`_catalog/a/b!`) on a file system. Upload parts and tag log entries are named by
//! fixed-width decimal numbers, so key order is numeric order.

use object_store::path::Path;
use ociregistry_core::Digest;

/// The keys of one registry in its store, under a prefix.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    prefix: String,
}

/// The key form of a tag or repository name: the name followed by `!`.
pub(crate) fn name_key(s: &str) -> String {
    format!("{s}!")
}

/// The name a [`name_key`] stands for.
pub(crate) fn name_of(key: &str) -> Option<&str> {
    key.strip_suffix('!')
}

/// A sequence number as a fixed-width decimal key segment, so lexical order is numeric order.
pub(crate) fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

impl Layout {
    pub(crate) fn new(prefix: &str) -> Layout {
        Layout {
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    fn path(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    /// The content of a blob: `blobs/<alg>/<hex>`.
    pub(crate) fn blob(&self, d: &Digest) -> Path {
        self.path(&format!("blobs/{}/{}", d.algorithm(), d.hex()))
    }

    /// Every blob's content.
    pub(crate) fn blobs(&self) -> Path {
        self.path("blobs")
    }

    /// The digest of the blob stored at `path`, if it is one.
    pub(crate) fn blob_digest(&self, path: &Path) -> Option<Digest> {
        let mut parts: Vec<_> = path.parts().collect();
        let hex = parts.pop()?;
        let alg = parts.pop()?;
        Digest::parse(&format!("{}:{}", alg.as_ref(), hex.as_ref())).ok()
    }

    /// The index of a composite blob: `composite/<alg>/<hex>`.
    pub(crate) fn composite(&self, d: &Digest) -> Path {
        self.path(&format!("composite/{}/{}", d.algorithm(), d.hex()))
    }

    /// Every composite blob's index.
    pub(crate) fn composites(&self) -> Path {
        self.path("composite")
    }

    /// Every part of every composite blob.
    pub(crate) fn all_blob_parts(&self) -> Path {
        self.path("parts")
    }

    /// The parts of composite blob `d`, from any upload.
    pub(crate) fn blob_parts(&self, d: &Digest) -> Path {
        self.path(&format!("parts/{}/{}", d.algorithm(), d.hex()))
    }

    /// The parts of composite blob `d` that came from upload `id`.
    pub(crate) fn blob_parts_of(&self, d: &Digest, id: &str) -> Path {
        self.path(&format!("parts/{}/{}/{id}", d.algorithm(), d.hex()))
    }

    /// A part of composite blob `d`: `parts/<alg>/<hex>/<id>/<offset>`.
    pub(crate) fn blob_part(&self, d: &Digest, id: &str, offset: u64) -> Path {
        self.path(&format!(
            "parts/{}/{}/{id}/{}",
            d.algorithm(),
            d.hex(),
            seq_key(offset)
        ))
    }

    /// The blob and upload a part stored at `path` belongs to, if it is one.
    pub(crate) fn blob_part_owner(&self, path: &Path) -> Option<(Digest, String)> {
        let mut parts: Vec<_> = path.parts().collect();
        parts.pop()?;
        let id = parts.pop()?;
        let hex = parts.pop()?;
        let alg = parts.pop()?;
        let digest = Digest::parse(&format!("{}:{}", alg.as_ref(), hex.as_ref())).ok()?;
        Some((digest, id.as_ref().to_owned()))
    }

    /// The claim of a blob: `claims/<alg>/<hex>`, rewritten whenever a repository takes the
    /// blob (push, commit or mount), so garbage collection sees it as in use.
    pub(crate) fn claim(&self, d: &Digest) -> Path {
        self.path(&format!("claims/{}/{}", d.algorithm(), d.hex()))
    }

    /// Every claim.
    pub(crate) fn path_claims(&self) -> Path {
        self.path("claims")
    }

    /// The registry-level marker of a repository: `_catalog/<repo>!`.
    pub(crate) fn catalog_entry(&self, repo: &str) -> Path {
        self.path(&format!("_catalog/{}", name_key(repo)))
    }

    /// The catalog.
    pub(crate) fn catalog(&self) -> Path {
        self.path("_catalog")
    }

    fn repo(&self, repo: &str, rest: &str) -> Path {
        self.path(&format!("repos/{repo}/{rest}"))
    }

    /// The membership marker of a blob in a repository: `repos/<repo>/_blobs/<alg>/<hex>`.
    pub(crate) fn member(&self, repo: &str, d: &Digest) -> Path {
        self.repo(repo, &format!("_blobs/{}/{}", d.algorithm(), d.hex()))
    }

    /// Every membership marker of a repository.
    pub(crate) fn members(&self, repo: &str) -> Path {
        self.repo(repo, "_blobs")
    }

    /// A manifest: `repos/<repo>/_manifests/<alg>/<hex>`.
    pub(crate) fn manifest(&self, repo: &str, d: &Digest) -> Path {
        self.repo(repo, &format!("_manifests/{}/{}", d.algorithm(), d.hex()))
    }

    /// Every manifest of a repository.
    pub(crate) fn manifests(&self, repo: &str) -> Path {
        self.repo(repo, "_manifests")
    }

    /// The update log of a tag: `repos/<repo>/_tags/<tag>!`.
    pub(crate) fn tag_log(&self, repo: &str, tag: &str) -> Path {
        self.repo(repo, &format!("_tags/{}", name_key(tag)))
    }

    /// One entry of a tag's update log.
    pub(crate) fn tag_entry(&self, repo: &str, tag: &str, seq: u64) -> Path {
        self.repo(repo, &format!("_tags/{}/{}", name_key(tag), seq_key(seq)))
    }

    /// A floor marker of a tag's update log: entries below `floor` may have been pruned.
    pub(crate) fn tag_floor(&self, repo: &str, tag: &str, floor: u64) -> Path {
        self.repo(
            repo,
            &format!("_tags/{}/f{}", name_key(tag), seq_key(floor)),
        )
    }

    /// Every tag log of a repository.
    pub(crate) fn tags(&self, repo: &str) -> Path {
        self.repo(repo, "_tags")
    }

    /// The reverse-index marker saying `tag` was pointed at manifest `d`:
    /// `repos/<repo>/_tagged/<alg>/<hex>/<tag>!`.
    pub(crate) fn tagged(&self, repo: &str, d: &Digest, tag: &str) -> Path {
        self.repo(
            repo,
            &format!("_tagged/{}/{}/{}", d.algorithm(), d.hex(), name_key(tag)),
        )
    }

    /// The reverse-index markers of manifest `d`.
    pub(crate) fn tagged_dir(&self, repo: &str, d: &Digest) -> Path {
        self.repo(repo, &format!("_tagged/{}/{}", d.algorithm(), d.hex()))
    }

    /// The referrers-index entry of manifest `referrer` under its subject:
    /// `repos/<repo>/_referrers/<alg>/<hex>/<alg>-<hex>`.
    pub(crate) fn referrer(&self, repo: &str, subject: &Digest, referrer: &Digest) -> Path {
        self.repo(
            repo,
            &format!(
                "_referrers/{}/{}/{}-{}",
                subject.algorithm(),
                subject.hex(),
                referrer.algorithm(),
                referrer.hex()
            ),
        )
    }

    /// The referrers-index entries of a subject.
    pub(crate) fn referrers(&self, repo: &str, subject: &Digest) -> Path {
        self.repo(
            repo,
            &format!("_referrers/{}/{}", subject.algorithm(), subject.hex()),
        )
    }

    /// Every upload session.
    pub(crate) fn uploads(&self) -> Path {
        self.path("uploads")
    }

    /// Everything of one upload session.
    pub(crate) fn upload(&self, id: &str) -> Path {
        self.path(&format!("uploads/{id}"))
    }

    /// The description of an upload session: `uploads/<id>/info`.
    pub(crate) fn upload_info(&self, id: &str) -> Path {
        self.path(&format!("uploads/{id}/info"))
    }

    /// The parts of an upload session.
    pub(crate) fn upload_parts(&self, id: &str) -> Path {
        self.path(&format!("uploads/{id}/parts"))
    }

    /// The part of an upload session starting at `offset`: `uploads/<id>/parts/<offset>`.
    pub(crate) fn upload_part(&self, id: &str, offset: u64) -> Path {
        self.path(&format!("uploads/{id}/parts/{}", seq_key(offset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_round_trip_and_keep_order() {
        for s in ["a", "a-b", "a/b", "library/ubuntu", "v1.0_x"] {
            assert_eq!(name_of(&name_key(s)).unwrap(), s);
        }
        // Sorted names give sorted keys, also when keys are compared as whole paths.
        let names = ["A1", "a", "a-b", "a.b", "a/b", "a0", "a_b", "ab", "b"];
        let mut keys: Vec<String> = names.iter().map(|n| format!("{}/0", name_key(n))).collect();
        keys.sort();
        let back: Vec<&str> = keys
            .iter()
            .map(|k| name_of(k.strip_suffix("/0").unwrap()).unwrap())
            .collect();
        assert_eq!(back, names);
        assert!(name_of("a").is_none());
    }

    #[test]
    fn keys_are_under_the_prefix() {
        let l = Layout::new("/reg/");
        let d = Digest::sha256(b"x");
        assert_eq!(l.blob(&d).as_ref(), format!("reg/blobs/sha256/{}", d.hex()));
        assert_eq!(l.blob_digest(&l.blob(&d)), Some(d.clone()));
        assert_eq!(
            l.member("a/b", &d).as_ref(),
            format!("reg/repos/a/b/_blobs/sha256/{}", d.hex())
        );
        assert_eq!(
            l.tag_entry("r", "t", 7).as_ref(),
            "reg/repos/r/_tags/t!/00000000000000000007"
        );
        assert_eq!(Layout::new("").catalog_entry("a").as_ref(), "_catalog/a!");
        let part = l.blob_part(&d, "abc", 8);
        assert_eq!(
            part.as_ref(),
            format!("reg/parts/sha256/{}/abc/00000000000000000008", d.hex())
        );
        assert_eq!(
            l.blob_part_owner(&part),
            Some((d.clone(), "abc".to_owned()))
        );
        assert!(part.prefix_matches(&l.blob_parts_of(&d, "abc")));
        assert!(part.prefix_matches(&l.blob_parts(&d)));
        assert!(part.prefix_matches(&l.all_blob_parts()));
        assert_eq!(l.blob_digest(&l.composite(&d)), Some(d.clone()));
    }
}
