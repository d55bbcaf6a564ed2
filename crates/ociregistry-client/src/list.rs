//! Listings: the pager behind `tags` and `repositories`.
//!
//! It asks for pages of [`list_page_size`](crate::ClientOptions::list_page_size) entries and
//! moves on by the `Link` header when there is one (resolved against the request, same origin
//! only), else by `last=<final entry>` when a page is full. It copes with the registries that
//! get paging wrong without ever looping: a page longer than asked for means the registry
//! ignores paging (everything came at once); a page that brings nothing new ends the list
//! (the registry ignores `last`); a `Link` back to a page already read is an error; entries at
//! or before `start_after` are dropped, for registries that ignore `last`; each page is sorted,
//! for registries that send unsorted lists. Each page body is bounded by
//! [`max_list_page_bytes`](crate::ClientOptions::max_list_page_bytes).

use std::collections::{HashSet, VecDeque};

use http::header::LINK;
use http::{Method, StatusCode};
use ociregistry_core::route::{ListQuery, Route, parse_next_link};
use ociregistry_core::stream;
use ociregistry_core::{Code, Error, ListStream};
use serde::Deserialize;
use url::Url;

use crate::auth::Scope;
use crate::client::{Client, check_repo};
use crate::decode::{self, Subject, with_host};
use crate::transport::Req;
use crate::urls;

/// The largest `n` AWS ECR accepts; a list request refused with `400` for a larger `n` is
/// repeated once with this.
const ECR_MAX_PAGE: usize = 1000;

/// How many pages in a row may follow a `Link` without bringing a new entry.
pub(crate) const MAX_STALLED_PAGES: u32 = 5;

/// What is listed.
#[derive(Clone)]
enum Listing {
    Tags(String),
    Catalog,
}

impl Listing {
    fn route(&self, n: usize, last: Option<String>) -> Route {
        let list = ListQuery { n: Some(n), last };
        match self {
            Listing::Tags(repo) => Route::TagsList {
                repo: repo.clone(),
                list,
            },
            Listing::Catalog => Route::Catalog { list },
        }
    }
}

struct Pager {
    client: Client,
    listing: Listing,
    scope: Scope,
    subject: Subject,
    n: usize,
    start_after: Option<String>,
    next: Option<Url>,
    first: bool,
    seen: HashSet<String>,
    visited: HashSet<String>,
    buf: VecDeque<String>,
    stalls: u32,
}

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct CatalogPage {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl Client {
    /// `tags`.
    pub(crate) fn list_tags(&self, repo: &str, start_after: Option<&str>) -> ListStream<String> {
        if let Err(e) = check_repo(repo) {
            return stream::error(e);
        }
        self.pager(
            Listing::Tags(repo.to_owned()),
            Client::pull(repo),
            Subject::Repository,
            start_after,
        )
    }

    /// `repositories` (the catalog).
    pub(crate) fn list_repositories(&self, start_after: Option<&str>) -> ListStream<String> {
        self.pager(
            Listing::Catalog,
            Scope::catalog(),
            Subject::Other,
            start_after,
        )
    }

    fn pager(
        &self,
        listing: Listing,
        scope: Scope,
        subject: Subject,
        start_after: Option<&str>,
    ) -> ListStream<String> {
        let n = self.opts().list_page_size;
        let start_after = start_after.filter(|s| !s.is_empty()).map(str::to_owned);
        let first = match self.url(&listing.route(n, start_after.clone())) {
            Ok(u) => u,
            Err(e) => return stream::error(e),
        };
        let pager = Pager {
            client: self.clone(),
            listing,
            scope,
            subject,
            n,
            start_after,
            next: Some(first),
            first: true,
            seen: HashSet::new(),
            visited: HashSet::new(),
            buf: VecDeque::new(),
            stalls: 0,
        };
        Box::pin(futures_util::stream::unfold(pager, |mut p| async move {
            loop {
                if let Some(item) = p.buf.pop_front() {
                    return Some((Ok(item), p));
                }
                let url = p.next.take()?;
                if let Err(e) = p.fetch(url).await {
                    p.next = None;
                    return Some((Err(e), p));
                }
            }
        }))
    }
}

impl Pager {
    async fn fetch(&mut self, mut url: Url) -> Result<(), Error> {
        let client = self.client.clone();
        let mut resp = client
            .send(Req::new(Method::GET, url.clone(), self.scope.clone()))
            .await?;
        if self.first && resp.status == StatusCode::BAD_REQUEST && self.n > ECR_MAX_PAGE {
            // AWS ECR refuses n > 1000: ask again with the largest page it serves.
            drop(resp);
            self.n = ECR_MAX_PAGE;
            url = client.url(&self.listing.route(self.n, self.start_after.clone()))?;
            resp = client
                .send(Req::new(Method::GET, url.clone(), self.scope.clone()))
                .await?;
        }
        self.first = false;
        self.visited.insert(url.to_string());
        let resp = client.expect(resp, &[StatusCode::OK], self.subject).await?;
        let link = next_link(&resp.headers, &resp.url, client.base_url(), &self.visited)
            .map_err(|e| with_host(e, client.host()))?;
        let body = resp
            .read(client.opts().max_list_page_bytes, "list page")
            .await?;
        let items = match self.listing {
            Listing::Tags(_) => serde_json::from_slice::<TagsPage>(&body).map(|p| p.tags),
            Listing::Catalog => {
                serde_json::from_slice::<CatalogPage>(&body).map(|p| p.repositories)
            }
        }
        .map_err(|e| decode::protocol(client.host(), format!("malformed list response: {e}")))?
        .unwrap_or_default();

        let page_len = items.len();
        let page_last = items.last().cloned();
        // Lists are in lexical order; some registries (CNCF Distribution 2.8 among them) send
        // their tags unsorted, all in one page.
        let mut items = items;
        items.sort_unstable();
        let mut fresh = 0;
        for item in items {
            if self.start_after.as_ref().is_some_and(|s| item <= *s) {
                continue;
            }
            if self.seen.insert(item.clone()) {
                self.buf.push_back(item);
                fresh += 1;
            }
        }
        if fresh == 0 {
            self.stalls += 1;
        } else {
            self.stalls = 0;
        }

        self.next = if let Some(link) = link {
            if self.stalls >= MAX_STALLED_PAGES {
                return Err(decode::protocol(
                    client.host(),
                    format!("{MAX_STALLED_PAGES} list pages in a row brought nothing new"),
                ));
            }
            Some(link)
        } else if page_len != self.n || self.stalls > 0 {
            // A short page is the last one; a longer one means the registry ignores paging and
            // sent everything; a page with nothing new means it ignores `last`.
            None
        } else {
            let next = client.url(&self.listing.route(self.n, page_last))?;
            (!self.visited.contains(next.as_str())).then_some(next)
        };
        Ok(())
    }
}

/// The next page's URL from a `Link` header: resolved against the request URL; an error when
/// malformed, on another origin than the registry, or already visited (a cycle).
pub(crate) fn next_link(
    headers: &http::HeaderMap,
    request: &Url,
    registry: &Url,
    visited: &HashSet<String>,
) -> Result<Option<Url>, Error> {
    let mut values = headers.get_all(LINK).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    let mut target = None;
    let mut any = false;
    for v in values {
        any = true;
        let Ok(text) = v.to_str() else {
            return Err(Error::new(Code::Unknown, "Link header is not valid text"));
        };
        if let Some(t) = parse_next_link(text) {
            target = Some(t.to_owned());
            break;
        }
        // A lone `<url>` without rel (older registries): take it, as Go's client does.
        let trimmed = text.trim();
        if let Some(inner) = trimmed.strip_prefix('<')
            && let Some((url, rest)) = inner.split_once('>')
            && !rest.contains("rel=")
            && !trimmed.contains(',')
        {
            target = Some(url.to_owned());
            break;
        }
        if !text.contains('<') {
            return Err(Error::new(
                Code::Unknown,
                format!("malformed Link header {:?}", urls::truncate(text)),
            ));
        }
    }
    let Some(target) = target.filter(|_| any) else {
        return Ok(None);
    };
    let url = urls::resolve(request, &target, "Link")?;
    if !urls::same_origin(&url, registry) {
        return Err(Error::new(
            Code::Denied,
            format!(
                "refusing to follow a Link to another origin: {}",
                urls::truncate(url.as_str())
            ),
        ));
    }
    if visited.contains(url.as_str()) {
        return Err(Error::new(
            Code::Unknown,
            format!(
                "Link points back to a page already read: {}",
                urls::truncate(url.as_str())
            ),
        ));
    }
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(v: &str) -> Result<Option<Url>, Error> {
        let mut h = http::HeaderMap::new();
        h.insert(LINK, v.parse().unwrap());
        let req = Url::parse("https://r.example/v2/a/tags/list?n=2").unwrap();
        let mut visited = HashSet::new();
        visited.insert(req.to_string());
        next_link(
            &h,
            &req,
            &Url::parse("https://r.example/").unwrap(),
            &visited,
        )
    }

    #[test]
    fn links() {
        assert_eq!(
            link("</v2/a/tags/list?n=2&last=b>; rel=\"next\"")
                .unwrap()
                .unwrap()
                .as_str(),
            "https://r.example/v2/a/tags/list?n=2&last=b"
        );
        assert_eq!(
            link("<list?n=2&last=c>").unwrap().unwrap().as_str(),
            "https://r.example/v2/a/tags/list?n=2&last=c"
        );
        assert!(link("</x>; rel=\"prev\"").unwrap().is_none());
        assert!(link("garbage").is_err());
        assert!(link("<https://evil.example/v2/a/tags/list>; rel=next").is_err());
        assert!(link("<http://r.example/v2/x>; rel=next").is_err());
        assert!(link("</v2/a/tags/list?n=2>; rel=next").is_err());
    }
}
