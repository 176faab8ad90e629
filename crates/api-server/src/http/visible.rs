//! Lists that show each caller what they may read and nothing more (private by default).
//!
//! One query shape for every list of scoped content: the store is asked only for items in
//! the scopes the caller can reach (`RbacService::reach`: where they hold a grant or are a
//! member, with the units inside) or opened to the public, in id order; then every item
//! is decided on its own by the same engine as a single read, so deny overrides, expired
//! grants and narrower roles count exactly as they do for `GET …/{id}/`. Pages are filled
//! from further batches when items are dropped, within a bound on the work one request
//! may do.

use domain_core::{Cursor, PageLimit};
use domain_rbac::{RbacService, Reach, Scope, ScopeSet};
use uuid::Uuid;

use super::guard::Authorize;
use super::problem::ApiError;

/// Batches read for one page at most; past that the page is returned short, with a
/// cursor after the last item examined, so a caller who may read little of a large table
/// cannot make one request scan all of it.
const MAX_BATCHES: usize = 8;

/// What deciding one listed item needs.
pub struct ItemAccess {
    /// The item's id (the list's key).
    pub id: Uuid,
    /// The scope it belongs to.
    pub scope: Scope,
    /// Its creator.
    pub owner: Option<Uuid>,
    /// Opened to the public.
    pub public: bool,
}

/// A page of readable items and the cursor of the next one.
pub struct VisiblePage<T> {
    /// What the caller may read, in id order.
    pub items: Vec<T>,
    /// Cursor for the following page, if the list may go on.
    pub next: Option<String>,
}

/// The scopes (text form) a list of `auth`'s permission may draw from for this caller:
/// `None` when the caller reaches everywhere.
///
/// # Errors
/// Storage errors.
pub async fn readable_scopes(
    rbac: &RbacService,
    auth: &Authorize,
) -> Result<Option<Vec<String>>, ApiError> {
    Ok(match rbac.reach(auth.user_id(), auth.permission()).await? {
        Reach::Everywhere => None,
        Reach::Within(scopes) => Some(scopes.iter().map(ToString::to_string).collect()),
    })
}

/// The scopes where the caller holds the route's permission, for lists of things only
/// grant holders read (moderation actions, grants, overrides, the audit trail): a
/// signed-in caller gets what they may read, possibly nothing (an empty page, since a
/// grant could change that); a guest who may read nothing of the kind is asked to sign
/// in (401), as a single read would.
///
/// # Errors
/// [`ApiError::Unauthorized`] as above; storage errors.
pub async fn permitted_scopes(rbac: &RbacService, auth: &Authorize) -> Result<ScopeSet, ApiError> {
    let set = rbac.scopes_with(auth.user_id(), auth.permission()).await?;
    if set.is_empty() && auth.user_id().is_none() {
        return Err(ApiError::Unauthorized(format!(
            "sign in: {} is needed to list these",
            auth.permission()
        )));
    }
    Ok(set)
}

/// Fills a page with the items the caller may read. `fetch(readable, after, limit)` reads
/// a batch in id order from the store (restricted to `readable` scopes or public items);
/// `access` describes an item for the decision.
///
/// # Errors
/// Whatever `fetch` returns; storage errors.
pub async fn visible_page<T>(
    rbac: &RbacService,
    auth: &Authorize,
    limit: PageLimit,
    mut after: Option<Uuid>,
    fetch: impl AsyncFn(Option<Vec<String>>, Option<Uuid>, u32) -> Result<Vec<T>, ApiError>,
    access: impl Fn(&T) -> Result<ItemAccess, ApiError>,
) -> Result<VisiblePage<T>, ApiError> {
    let readable = readable_scopes(rbac, auth).await?;
    let want = limit.get() as usize;
    let mut items = Vec::with_capacity(want);
    for _ in 0..MAX_BATCHES {
        let batch = fetch(readable.clone(), after, limit.get()).await?;
        let exhausted = batch.len() < want;
        for item in batch {
            let a = access(&item)?;
            after = Some(a.id);
            let decision = rbac
                .check_resource(
                    auth.user_id(),
                    auth.permission(),
                    a.scope,
                    a.owner,
                    a.public,
                )
                .await;
            match decision {
                Ok(d) if d.allowed => items.push(item),
                Ok(_) | Err(domain_rbac::RbacError::UnknownScope(_)) => {}
                Err(e) => return Err(e.into()),
            }
            if items.len() == want {
                return Ok(VisiblePage {
                    items,
                    next: after.map(cursor),
                });
            }
        }
        if exhausted {
            return Ok(VisiblePage { items, next: None });
        }
    }
    Ok(VisiblePage {
        items,
        next: after.map(cursor),
    })
}

fn cursor(id: Uuid) -> String {
    Cursor::encode(&id.to_string()).as_str().to_owned()
}
