//! Paging of the lists that grow with the apps installed: the citizen
//! catalogue and the operator's overview, by app id, a page at a time.

use serde::Deserialize;

/// Apps on one page of a list of apps when `limit` is not given.
const APPS_PAGE: usize = 100;
/// The most apps one page of a list of apps may hold.
const MAX_APPS_PAGE: usize = 500;

/// Paging of the lists of apps (`GET /api/v1/apps` and the operator's
/// `GET /api/v1/operator/overview`): apps in the order of their ids,
/// `limit` at a time, each page after the previous page's `next`. Checked
/// as the query is read, so a bad one is a 400 `invalid_query` before any
/// work.
#[derive(Debug, Deserialize)]
#[serde(try_from = "AppsPageQuery")]
pub struct AppsPage {
    after: Option<String>,
    limit: usize,
}

/// The query `AppsPage` is read from (and the OpenAPI document describes).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct AppsPageQuery {
    /// Only apps whose id sorts after this (the previous page's `next`).
    after: Option<String>,
    /// At most this many apps: 1 to 500, 100 when absent.
    limit: Option<usize>,
}

/// A page size out of range.
#[derive(Debug, thiserror::Error)]
#[error("`limit` must be from 1 to {MAX_APPS_PAGE}, not {0}")]
pub struct PageSizeError(usize);

impl TryFrom<AppsPageQuery> for AppsPage {
    type Error = PageSizeError;

    fn try_from(query: AppsPageQuery) -> Result<Self, PageSizeError> {
        let limit = query.limit.unwrap_or(APPS_PAGE);
        if !(1..=MAX_APPS_PAGE).contains(&limit) {
            return Err(PageSizeError(limit));
        }
        Ok(AppsPage {
            after: query.after,
            limit,
        })
    }
}

impl AppsPage {
    /// This page of `items`, known by `id`: those after `after`, by id, at
    /// most `limit` of them; and the id to ask the next page `after`, when
    /// more remain. Cuts before anything is read for an item, so a page
    /// costs the reads of its own items only.
    pub fn cut<T>(&self, mut items: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        if let Some(after) = self.after.as_deref() {
            items.retain(|item| id(item) > after);
        }
        items.sort_by(|a, b| id(a).cmp(id(b)));
        let next = if items.len() > self.limit {
            items.truncate(self.limit);
            items.last().map(|item| id(item).to_string())
        } else {
            None
        };
        (items, next)
    }
}
