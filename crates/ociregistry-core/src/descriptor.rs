//! OCI content descriptors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// An OCI content descriptor: what a piece of content is, how big, and its digest.
///
/// Field names serialize as in the OCI image specification (`mediaType`, `artifactType`, …).
/// Annotations keep a stable (sorted) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content (empty when unknown, e.g. a blob HEAD).
    #[serde(default)]
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// The size of the referenced content in bytes.
    pub size: u64,
    /// URLs the content may also be downloaded from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The content itself, base64-encoded, for small content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The platform an image manifest is for (in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The type of an artifact, when the descriptor refers to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor with only media type, digest and size set.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            data: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// A copy keeping only media type, digest and size: the shape `resolve_*` operations return.
    pub fn resolved(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.size)
    }
}

/// The platform of an image, as found in an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// Operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Reserved CPU features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

#[cfg(feature = "oci-spec")]
mod oci_spec_conv {
    use super::*;
    use crate::error::{Code, Error};

    impl TryFrom<&oci_spec::image::Descriptor> for Descriptor {
        type Error = Error;
        fn try_from(d: &oci_spec::image::Descriptor) -> Result<Descriptor, Error> {
            // Both types serialize to the OCI JSON form, so convert through it.
            let v = serde_json::to_value(d)
                .map_err(|e| Error::new(Code::ManifestInvalid, e.to_string()))?;
            serde_json::from_value(v).map_err(|e| Error::new(Code::ManifestInvalid, e.to_string()))
        }
    }

    impl TryFrom<&Descriptor> for oci_spec::image::Descriptor {
        type Error = Error;
        fn try_from(d: &Descriptor) -> Result<oci_spec::image::Descriptor, Error> {
            let v = serde_json::to_value(d)
                .map_err(|e| Error::new(Code::ManifestInvalid, e.to_string()))?;
            serde_json::from_value(v).map_err(|e| Error::new(Code::ManifestInvalid, e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_oci_field_names_and_skips_empty() {
        let mut d = Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar",
            Digest::sha256(b""),
            0,
        );
        d.artifact_type = Some("application/x".into());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"artifactType":"application/x"}"#
        );
        let back: Descriptor = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn rejects_negative_size_and_bad_digest() {
        let bad = r#"{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":-1}"#;
        assert!(serde_json::from_str::<Descriptor>(bad).is_err());
        let bad = r#"{"mediaType":"a","digest":"sha256:zz","size":1}"#;
        assert!(serde_json::from_str::<Descriptor>(bad).is_err());
    }

    #[cfg(feature = "oci-spec")]
    #[test]
    fn converts_to_and_from_oci_spec() {
        let mut d = Descriptor::new(
            "application/vnd.oci.image.layer.v1.tar",
            Digest::sha256(b"x"),
            1,
        );
        d.annotations.insert("k".into(), "v".into());
        let o = oci_spec::image::Descriptor::try_from(&d).unwrap();
        assert_eq!(o.size(), 1);
        assert_eq!(Descriptor::try_from(&o).unwrap(), d);
    }
}
