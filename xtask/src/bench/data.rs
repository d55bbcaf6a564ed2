//! Test data: one buffer of pseudo-random bytes made once, and distinct blobs cut from it
//! without copying.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use sha2::{Digest as _, Sha256};

/// Bytes between the starts of two consecutive blobs cut from the buffer.
const STRIDE: usize = 8;

/// The shared data buffer. Blobs are slices of it ([`Bytes`] clones, no copy) at distinct
/// offsets, so their contents, and digests, differ.
#[derive(Debug)]
pub(crate) struct Data {
    buf: Bytes,
    next: AtomicU64,
}

/// A blob to push: its bytes and `sha256:<hex>` digest.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub(crate) data: Bytes,
    pub(crate) digest: String,
}

impl Blob {
    /// A blob of `data`, hashing it.
    pub(crate) fn new(data: Bytes) -> Blob {
        let digest = sha256_digest(&data);
        Blob { data, digest }
    }

    pub(crate) fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

impl Data {
    /// `len` bytes from a fixed-seed generator: not compressible, not all zeros, the same every
    /// run.
    pub(crate) fn generate(len: usize) -> Data {
        let mut buf = BytesMut::with_capacity(len + 8);
        let mut state = 0x0123_4567_89ab_cdef_u64;
        while buf.len() < len {
            buf.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        buf.truncate(len);
        Data {
            buf: buf.freeze(),
            next: AtomicU64::new(1),
        }
    }

    /// The whole buffer.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The first `len` bytes (capped at the buffer).
    pub(crate) fn prefix(&self, len: usize) -> Bytes {
        self.buf.slice(..len.min(self.buf.len()))
    }

    /// A blob of `len` bytes whose content differs from every blob this `Data` cut before (as
    /// long as the buffer has room for that many distinct offsets).
    pub(crate) fn blob(&self, len: usize) -> Blob {
        Blob::new(self.slice(len))
    }

    /// The bytes of [`Data::blob`], without hashing.
    pub(crate) fn slice(&self, len: usize) -> Bytes {
        let len = len.min(self.buf.len());
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let start = offset(i, self.buf.len() - len);
        self.buf.slice(start..start + len)
    }

    /// How many distinct blobs of `len` bytes the buffer holds.
    #[cfg(test)]
    pub(crate) fn distinct(&self, len: usize) -> u64 {
        (self.buf.len().saturating_sub(len) / STRIDE) as u64 + 1
    }
}

/// The start of the `i`-th blob in a buffer with `room` bytes to spare.
fn offset(i: u64, room: usize) -> usize {
    let slots = (room / STRIDE) as u64 + 1;
    ((i % slots) as usize) * STRIDE
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `sha256:<hex>` of `data`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    digest_string(&Sha256::digest(data))
}

/// `sha256:<hex>` of a finished hash.
pub(crate) fn digest_string(hash: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(7 + 2 * hash.len());
    s.push_str("sha256:");
    for b in hash {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// The OCI image manifest media type.
pub(crate) const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// An OCI image manifest with one config and one layer, made distinct by `annotation`.
pub(crate) fn image_manifest(config: &Blob, layer: &Blob, annotation: &str) -> Bytes {
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer.digest,
            "size": layer.len(),
        }],
        "annotations": { "org.example.bench": annotation },
    });
    Bytes::from(m.to_string())
}

/// A config blob: a small valid image configuration.
pub(crate) fn config_blob() -> Blob {
    Blob::new(Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_deterministic_and_not_trivial() {
        let a = Data::generate(1 << 16);
        let b = Data::generate(1 << 16);
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.bytes().len(), 1 << 16);
        let zeros = a.bytes().iter().filter(|&&x| x == 0).count();
        assert!(zeros < 1 << 10, "{zeros} zero bytes");
        assert_eq!(Data::generate(13).bytes().len(), 13);
    }

    #[test]
    fn blobs_are_distinct_slices() {
        let d = Data::generate(4096 + 64);
        assert_eq!(d.distinct(4096), 9);
        let blobs: Vec<Blob> = (0..9).map(|_| d.blob(4096)).collect();
        let mut digests: Vec<&str> = blobs.iter().map(|b| b.digest.as_str()).collect();
        digests.sort_unstable();
        digests.dedup();
        assert_eq!(digests.len(), 9);
        for b in &blobs {
            assert_eq!(b.len(), 4096);
            // A slice of the buffer, not a copy.
            let start = b.data.as_ptr() as usize - d.bytes().as_ptr() as usize;
            assert!(start + 4096 <= d.bytes().len());
        }
        // Larger than the buffer: the whole buffer.
        assert_eq!(d.slice(1 << 20).len(), 4096 + 64);
    }

    #[test]
    fn offsets_wrap_within_the_room() {
        assert_eq!(offset(0, 0), 0);
        assert_eq!(offset(5, 0), 0);
        assert_eq!(offset(1, 16), 8);
        assert_eq!(offset(2, 16), 16);
        assert_eq!(offset(3, 16), 0);
        assert_eq!(offset(3, 23), 0);
    }

    #[test]
    fn digests_are_sha256() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn manifests_reference_their_blobs() {
        let config = config_blob();
        let layer = Blob::new(Bytes::from_static(b"layer"));
        let m = image_manifest(&config, &layer, "r0-1");
        let v: serde_json::Value = serde_json::from_slice(&m).expect("json");
        assert_eq!(v["mediaType"], MANIFEST_TYPE);
        assert_eq!(v["config"]["digest"], config.digest.as_str());
        assert_eq!(v["layers"][0]["size"], 5);
        assert_eq!(v["annotations"]["org.example.bench"], "r0-1");
        assert_ne!(m, image_manifest(&config, &layer, "r0-2"));
    }
}
