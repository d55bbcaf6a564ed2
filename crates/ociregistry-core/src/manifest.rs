//! Reading what a manifest refers to, without ever re-serializing it.
//!
//! Manifests are stored as the exact bytes pushed. [`ManifestInfo::parse`] only validates them and
//! extracts what a registry needs: the config, layers, child manifests, subject, artifact type
//! and annotations. Unknown fields are ignored, so extensions survive untouched.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::descriptor::Descriptor;
use crate::digest::Digest;
use crate::error::{Code, Error, Result};
use crate::media_type;

/// What a manifest refers to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestInfo {
    /// The manifest's media type (as pushed).
    pub media_type: String,
    /// The `artifactType` field, if any.
    pub artifact_type: Option<String>,
    /// The config descriptor of an image manifest.
    pub config: Option<Descriptor>,
    /// The layers of an image manifest.
    pub layers: Vec<Descriptor>,
    /// The child manifests of an index.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (the referrers API's subject).
    pub subject: Option<Descriptor>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(Code::ManifestInvalid, msg.into())
}

impl ManifestInfo {
    /// Parses a manifest of `media_type`.
    ///
    /// OCI and Docker image manifests and indexes are validated (JSON shape, `schemaVersion` 2,
    /// well-formed descriptors with a media type, a `mediaType` field that agrees with
    /// `media_type`) and their references extracted; any other media type is opaque content
    /// with no references. Failures are `MANIFEST_INVALID`.
    pub fn parse(media_type: &str, data: &[u8]) -> Result<ManifestInfo> {
        let mt = media_type::essence(media_type);
        let image = media_type::is_image_manifest(mt);
        let index = media_type::is_index(mt);
        if !image && !index {
            return Ok(ManifestInfo {
                media_type: media_type.to_owned(),
                ..ManifestInfo::default()
            });
        }
        let raw: Raw = serde_json::from_slice(data)
            .map_err(|e| invalid(format!("invalid {mt} manifest JSON: {e}")))?;
        if raw.schema_version != Some(2) {
            return Err(invalid("schemaVersion must be 2"));
        }
        if let Some(inner) = &raw.media_type
            && inner != mt
        {
            return Err(invalid(format!(
                "manifest mediaType {inner:?} does not match the content type {mt:?}"
            )));
        }
        let info = ManifestInfo {
            media_type: media_type.to_owned(),
            artifact_type: raw.artifact_type,
            config: raw.config,
            layers: raw.layers.unwrap_or_default(),
            manifests: raw.manifests.unwrap_or_default(),
            subject: raw.subject,
            annotations: raw.annotations.unwrap_or_default(),
        };
        if image {
            let Some(config) = &info.config else {
                return Err(invalid("image manifest has no config"));
            };
            check_descriptor("config", config)?;
            if !info.manifests.is_empty() {
                return Err(invalid("image manifest has a manifests field"));
            }
            for (i, l) in info.layers.iter().enumerate() {
                check_descriptor(&format!("layers[{i}]"), l)?;
            }
        } else {
            if info.config.is_some() || !info.layers.is_empty() {
                return Err(invalid("index has config or layers"));
            }
            for (i, m) in info.manifests.iter().enumerate() {
                check_descriptor(&format!("manifests[{i}]"), m)?;
            }
        }
        if let Some(s) = &info.subject {
            check_descriptor("subject", s)?;
        }
        Ok(info)
    }

    /// Checks a manifest a client pushes, as every backend does before it stores one: a media
    /// type (not empty, no control characters: it is served back as `Content-Type`), content
    /// that hashes to `digest` when one is given (`DIGEST_INVALID` otherwise; without one, the
    /// SHA-256 of the content is its digest), and content valid for its media type
    /// ([`ManifestInfo::parse`]). Returns the digest and what the manifest refers to.
    ///
    /// ```
    /// use ociregistry_core::{Digest, ManifestInfo};
    ///
    /// let (digest, info) = ManifestInfo::check_push("application/x-custom", b"{}", None)?;
    /// assert_eq!(digest, Digest::sha256(b"{}"));
    /// assert!(info.layers.is_empty());
    /// assert!(ManifestInfo::check_push("", b"{}", None).is_err());
    /// assert!(ManifestInfo::check_push("text/plain", b"x", Some(&Digest::sha256(b"y"))).is_err());
    /// # Ok::<(), ociregistry_core::Error>(())
    /// ```
    pub fn check_push(
        media_type: &str,
        contents: &[u8],
        digest: Option<&Digest>,
    ) -> Result<(Digest, ManifestInfo)> {
        if media_type.is_empty() || media_type.chars().any(char::is_control) {
            return Err(invalid(
                "a manifest needs a media type without control characters",
            ));
        }
        let digest = match digest {
            None => Digest::sha256(contents),
            Some(want) => {
                let got = Digest::compute(want.algorithm(), contents);
                if got != *want {
                    return Err(Error::new(
                        Code::DigestInvalid,
                        format!("manifest has digest {got}, not {want}"),
                    ));
                }
                got
            }
        };
        Ok((digest, ManifestInfo::parse(media_type, contents)?))
    }

    /// The artifact type a referrers listing reports for this manifest: its `artifactType`, or
    /// for an image manifest without one, the config's media type.
    pub fn referrer_artifact_type(&self) -> Option<&str> {
        if let Some(a) = &self.artifact_type {
            return Some(a);
        }
        if media_type::is_image_manifest(media_type::essence(&self.media_type)) {
            return self.config.as_ref().map(|c| c.media_type.as_str());
        }
        None
    }

    /// The blobs this manifest needs present: config and layers, excluding non-distributable
    /// layers and layers that name external `urls` (those may live elsewhere).
    pub fn required_blobs(&self) -> impl Iterator<Item = (String, &Descriptor)> {
        let config = self.config.iter().map(|c| ("config".to_owned(), c));
        let layers = self
            .layers
            .iter()
            .enumerate()
            .filter(|(_, l)| !is_non_distributable(l))
            .map(|(i, l)| (format!("layers[{i}]"), l));
        config.chain(layers)
    }
}

/// Whether a layer is non-distributable (foreign): its media type says so, or it lists `urls`.
pub fn is_non_distributable(desc: &Descriptor) -> bool {
    desc.media_type.contains(".nondistributable.")
        || desc.media_type.contains(".foreign.")
        || !desc.urls.is_empty()
}

fn check_descriptor(what: &str, d: &Descriptor) -> Result<()> {
    if d.media_type.is_empty() {
        return Err(invalid(format!("{what} has no mediaType")));
    }
    if let Some(data) = &d.data {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| invalid(format!("{what} has invalid base64 data")))?;
        if decoded.len() as u64 != d.size || !d.digest.verify(&decoded) {
            return Err(invalid(format!(
                "{what} data does not match its digest and size"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    fn desc(mt: &str, content: &[u8]) -> serde_json::Value {
        serde_json::json!({"mediaType": mt, "digest": Digest::sha256(content), "size": content.len()})
    }

    #[test]
    fn image_manifest_references() {
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": desc("application/vnd.oci.image.config.v1+json", b"{}"),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar", b"l"),
                       desc("application/vnd.oci.image.layer.nondistributable.v1.tar", b"n")],
            "subject": desc(media_type::OCI_MANIFEST, b"s"),
            "annotations": {"b": "2", "a": "1"},
            "custom": {"kept": true}
        });
        let info = ManifestInfo::parse(media_type::OCI_MANIFEST, m.to_string().as_bytes()).unwrap();
        assert_eq!(info.layers.len(), 2);
        assert_eq!(info.required_blobs().count(), 2);
        assert_eq!(
            info.referrer_artifact_type(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert!(info.subject.is_some());
        assert_eq!(info.annotations.len(), 2);
    }

    #[test]
    fn index_artifact_type_has_no_config_fallback() {
        let m = serde_json::json!({"schemaVersion": 2, "manifests": [desc(media_type::OCI_MANIFEST, b"x")]});
        let info = ManifestInfo::parse(media_type::OCI_INDEX, m.to_string().as_bytes()).unwrap();
        assert_eq!(info.manifests.len(), 1);
        assert_eq!(info.referrer_artifact_type(), None);
    }

    #[test]
    fn rejects_invalid_manifests() {
        let cases = [
            "not json",
            "{}",
            r#"{"schemaVersion":1}"#,
            r#"{"schemaVersion":2}"#,
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#,
            r#"{"schemaVersion":2,"config":{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#,
            r#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:bad","size":0},"layers":[]}"#,
            r#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":-5},"layers":[]}"#,
            r#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"data":"eA=="},"layers":[]}"#,
        ];
        for c in cases {
            let e = ManifestInfo::parse(media_type::OCI_MANIFEST, c.as_bytes()).expect_err(c);
            assert!(e.is(&Code::ManifestInvalid), "{c}: {e}");
        }
    }

    #[test]
    fn other_media_types_are_opaque() {
        let info = ManifestInfo::parse("application/x-whatever", b"\x00 not json").unwrap();
        assert!(info.layers.is_empty() && info.subject.is_none());
    }
}
