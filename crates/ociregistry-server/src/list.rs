//! Lists: tags, the catalog and referrers, with `n`/`last` pagination and `Link` headers.

use futures_util::StreamExt;
use http::header::LINK;
use http::{Response, StatusCode};
use ociregistry_core::header::OCI_FILTERS_APPLIED;
use ociregistry_core::route::{self, ListQuery};
use ociregistry_core::{Code, Descriptor, Digest, Error, ListStream, media_type};
use serde::Serialize;

use crate::body::ResponseBody;
use crate::response::Reply;
use crate::service::{Handler, Incoming};

#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: Vec<String>,
}

#[derive(Serialize)]
struct Catalog {
    repositories: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferrersIndex {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

/// One page of a list, and where the next one starts.
struct Page {
    items: Vec<String>,
    next: Option<String>,
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(Error::internal)
}

impl Handler {
    /// The effective page size and start of a list request.
    fn page_params(&self, list: ListQuery) -> Result<(usize, Option<String>), Error> {
        if self.opts.ignore_pagination {
            return Ok((self.opts.list_page_cap, None));
        }
        if let (Some(n), Some(max)) = (list.n, self.opts.max_list_page_size)
            && n > max
        {
            return Err(Error::new(
                Code::Unsupported,
                format!("query parameter n is too large (n={n}, max={max})"),
            ));
        }
        let n = list.n.unwrap_or(usize::MAX).min(self.opts.list_page_cap);
        Ok((n, list.last))
    }

    async fn page(&self, mut items: ListStream<String>, n: usize) -> Result<Page, Error> {
        let mut page = Vec::new();
        if n == 0 {
            return Ok(Page {
                items: page,
                next: None,
            });
        }
        while let Some(item) = items.next().await {
            let item = item?;
            if page.len() == n {
                let next = page.last().cloned();
                return Ok(Page { items: page, next });
            }
            page.push(item);
        }
        Ok(Page {
            items: page,
            next: None,
        })
    }

    fn list_reply(&self, path: &str, n: usize, next: Option<&str>, json: Vec<u8>) -> Reply {
        let mut reply = Reply::new(StatusCode::OK);
        if let Some(last) = next
            && !self.opts.omit_link_header_from_responses
        {
            reply = reply.header(LINK, route::next_link(path, n, last));
        }
        reply.json(media_type::JSON, json)
    }

    pub(crate) async fn tags_list(
        &self,
        req: &mut Incoming,
        repo: &str,
        list: ListQuery,
    ) -> Result<Response<ResponseBody>, Error> {
        let (n, last) = self.page_params(list)?;
        let stream = self.registry.tags(&req.cx, repo, last.as_deref());
        let page = if n == 0 {
            // n=0 still says whether the repository exists.
            let mut stream = stream;
            if let Some(Err(e)) = stream.next().await {
                return Err(e);
            }
            Page {
                items: Vec::new(),
                next: None,
            }
        } else {
            self.page(stream, n).await?
        };
        let json = to_json(&TagList {
            name: repo,
            tags: page.items,
        })?;
        let path = format!("/v2/{repo}/tags/list");
        Ok(self
            .list_reply(&path, n, page.next.as_deref(), json)
            .finish())
    }

    pub(crate) async fn catalog(
        &self,
        req: &mut Incoming,
        list: ListQuery,
    ) -> Result<Response<ResponseBody>, Error> {
        let (n, last) = self.page_params(list)?;
        let page = self
            .page(self.registry.repositories(&req.cx, last.as_deref()), n)
            .await?;
        let json = to_json(&Catalog {
            repositories: page.items,
        })?;
        Ok(self
            .list_reply("/v2/_catalog", n, page.next.as_deref(), json)
            .finish())
    }

    pub(crate) async fn referrers(
        &self,
        req: &mut Incoming,
        repo: &str,
        digest: &Digest,
        artifact_type: Option<String>,
    ) -> Result<Response<ResponseBody>, Error> {
        if self.opts.disable_referrers_api {
            return Err(Error::new(Code::Unknown, "referrers API has been disabled")
                .with_status(StatusCode::NOT_FOUND));
        }
        let filter = artifact_type.filter(|_| !self.opts.disable_referrers_filtering);
        let mut stream = self
            .registry
            .referrers(&req.cx, repo, digest, filter.as_deref());
        let mut manifests = Vec::new();
        while let Some(desc) = stream.next().await {
            manifests.push(desc?);
        }
        let json = to_json(&ReferrersIndex {
            schema_version: 2,
            media_type: media_type::OCI_INDEX,
            manifests,
        })?;
        let mut reply = Reply::new(StatusCode::OK);
        if filter.is_some() {
            reply = reply.header(OCI_FILTERS_APPLIED, "artifactType");
        }
        Ok(reply.json(media_type::OCI_INDEX, json).finish())
    }
}
