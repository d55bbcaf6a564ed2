//! Referrers: the referrers API, and the referrers tag schema for registries without it.
//!
//! `GET /v2/<repo>/referrers/<digest>` is tried first, following `Link` pages. A `404` means the
//! registry predates the API: the client then reads the index tagged
//! [`referrers_tag(digest)`](referrers_tag) (`MANIFEST_UNKNOWN` or `NAME_UNKNOWN` there, or
//! something that is not an index, means no referrers). The `artifactType` filter is applied by
//! the client unless the registry says it applied it (`OCI-Filters-Applied: artifactType`).

use std::collections::{HashSet, VecDeque};

use http::{Method, StatusCode};
use ociregistry_core::header::OCI_FILTERS_APPLIED;
use ociregistry_core::route::Route;
use ociregistry_core::stream;
use ociregistry_core::{Descriptor, Digest, Error, ListStream, TagOrDigest};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::client::{Client, check_repo};
use crate::decode::{self, Subject, with_host};
use crate::list::{MAX_STALLED_PAGES, next_link};
use crate::transport::Req;

/// The tag under which registries without the referrers API keep the referrers of `digest`
/// (the distribution spec's referrers tag schema): the algorithm and the encoded digest, each
/// with every character outside `[A-Za-z0-9._-]` replaced by `-`, truncated to 32 and 64
/// characters, joined by `-`.
///
/// ```
/// use ociregistry_client::referrers_tag;
/// use ociregistry_core::Digest;
///
/// let d = Digest::sha256(b"");
/// assert_eq!(referrers_tag(&d), format!("sha256-{}", d.hex()));
/// ```
pub fn referrers_tag(digest: &Digest) -> String {
    let alg = digest
        .as_str()
        .split_once(':')
        .map_or(digest.as_str(), |(a, _)| a);
    format!(
        "{}-{}",
        map_tag_chars(alg, 32),
        map_tag_chars(digest.hex(), 64)
    )
}

fn map_tag_chars(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect()
}

#[derive(Deserialize)]
struct IndexPage {
    #[serde(default)]
    manifests: Option<Vec<Value>>,
}

/// The descriptors of an index body; entries that are not descriptors are skipped.
fn descriptors(entries: Vec<Value>) -> Vec<Descriptor> {
    entries
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Descriptor>(v).ok())
        .collect()
}

struct Referrers {
    client: Client,
    repo: String,
    digest: Digest,
    artifact_type: Option<String>,
    next: Option<Url>,
    first: bool,
    seen: HashSet<Digest>,
    visited: HashSet<String>,
    buf: VecDeque<Descriptor>,
    stalls: u32,
}

impl Client {
    /// `referrers`.
    pub(crate) fn list_referrers(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> ListStream<Descriptor> {
        if let Err(e) = check_repo(repo) {
            return stream::error(e);
        }
        let artifact_type = artifact_type.filter(|a| !a.is_empty()).map(str::to_owned);
        let first = match self.url(&Route::Referrers {
            repo: repo.to_owned(),
            digest: digest.clone(),
            artifact_type: artifact_type.clone(),
        }) {
            Ok(u) => u,
            Err(e) => return stream::error(e),
        };
        let state = Referrers {
            client: self.clone(),
            repo: repo.to_owned(),
            digest: digest.clone(),
            artifact_type,
            next: Some(first),
            first: true,
            seen: HashSet::new(),
            visited: HashSet::new(),
            buf: VecDeque::new(),
            stalls: 0,
        };
        Box::pin(futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(d) = st.buf.pop_front() {
                    return Some((Ok(d), st));
                }
                let url = st.next.take()?;
                if let Err(e) = st.fetch(url).await {
                    st.next = None;
                    return Some((Err(e), st));
                }
            }
        }))
    }

    /// The referrers from the tag schema, filtered and in digest order.
    async fn referrers_from_tag(
        &self,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, Error> {
        let tag = referrers_tag(digest);
        let reader = match self.manifest_get(repo, &TagOrDigest::Tag(tag)).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let data = reader.bytes(self.opts().max_manifest_size).await?;
        // Whatever is not an index of descriptors counts as no referrers.
        let entries = serde_json::from_slice::<IndexPage>(&data)
            .ok()
            .and_then(|p| p.manifests)
            .unwrap_or_default();
        let mut out: Vec<Descriptor> = descriptors(entries)
            .into_iter()
            .filter(|d| artifact_type.is_none() || d.artifact_type.as_deref() == artifact_type)
            .collect();
        out.sort_by(|a, b| a.digest.as_str().cmp(b.digest.as_str()));
        out.dedup_by(|a, b| a.digest == b.digest);
        Ok(out)
    }
}

impl Referrers {
    async fn fetch(&mut self, url: Url) -> Result<(), Error> {
        let client = self.client.clone();
        let resp = client
            .send(Req::new(Method::GET, url.clone(), Client::pull(&self.repo)))
            .await?;
        self.visited.insert(url.to_string());
        if self.first && resp.status == StatusCode::NOT_FOUND {
            drop(resp);
            self.first = false;
            client.mark_referrers_tag();
            let found = client
                .referrers_from_tag(&self.repo, &self.digest, self.artifact_type.as_deref())
                .await?;
            self.buf.extend(found);
            return Ok(());
        }
        self.first = false;
        let resp = client
            .expect(resp, &[StatusCode::OK], Subject::Other)
            .await?;
        let filtered = decode::header_str(&resp.headers, &OCI_FILTERS_APPLIED)
            .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
        let link = next_link(&resp.headers, &resp.url, client.base_url(), &self.visited)
            .map_err(|e| with_host(e, client.host()))?;
        let body = resp
            .read(client.opts().max_list_page_bytes, "referrers page")
            .await?;
        let page = serde_json::from_slice::<IndexPage>(&body).map_err(|e| {
            decode::protocol(client.host(), format!("malformed referrers response: {e}"))
        })?;
        let mut fresh = 0;
        for d in descriptors(page.manifests.unwrap_or_default()) {
            if !filtered && self.artifact_type.is_some() && d.artifact_type != self.artifact_type {
                continue;
            }
            if self.seen.insert(d.digest.clone()) {
                self.buf.push_back(d);
                fresh += 1;
            }
        }
        self.stalls = if fresh == 0 { self.stalls + 1 } else { 0 };
        if link.is_some() && self.stalls >= MAX_STALLED_PAGES {
            return Err(decode::protocol(
                client.host(),
                format!("{MAX_STALLED_PAGES} referrers pages in a row brought nothing new"),
            ));
        }
        self.next = link;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ociregistry_core::Algorithm;

    #[test]
    fn spec_examples() {
        let d = Digest::parse(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .unwrap();
        assert_eq!(
            referrers_tag(&d),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let d = Digest::compute(Algorithm::Sha512, b"");
        let tag = referrers_tag(&d);
        assert_eq!(tag, format!("sha512-{}", &d.hex()[..64]));
        assert_eq!(map_tag_chars("a+b:c", 32), "a-b-c");
        assert_eq!(map_tag_chars(&"x".repeat(40), 32).len(), 32);
        assert!(ociregistry_core::names::is_valid_tag(&tag));
    }
}
