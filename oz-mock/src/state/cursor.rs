//! Keyset pagination shared by every listing (runs, factories, factory tasks): opaque cursors
//! that name the listing, its sort and the last item of the page, so a cursor from one listing
//! or sort is refused by another.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::ids;

/// What a listing sorts by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SortKey {
    Time(i64),
    /// `None` sorts after every text in both directions.
    Text(Option<String>),
}

/// Where the previous page ended: its last item's key and index.
pub(crate) struct Cursor {
    pub(crate) key: SortKey,
    pub(crate) idx: usize,
}

/// The sort and the page a listing request asks for.
pub(crate) struct PageRequest {
    pub(crate) listing: &'static str,
    pub(crate) sort_by: &'static str,
    pub(crate) descending: bool,
    pub(crate) limit: usize,
    pub(crate) cursor: Option<Cursor>,
}

impl PageRequest {
    /// Decodes `raw` (when given and not empty) for this listing and sort.
    pub(crate) fn new(
        listing: &'static str,
        sort_by: &'static str,
        descending: bool,
        limit: usize,
        raw_cursor: Option<&str>,
    ) -> ApiResult<PageRequest> {
        let cursor = raw_cursor
            .filter(|c| !c.is_empty())
            .map(|c| decode(c, listing, sort_by, descending))
            .transpose()?;
        Ok(PageRequest {
            listing,
            sort_by,
            descending,
            limit,
            cursor,
        })
    }

    /// Sorts the matching items, keeps those after the cursor, and cuts one page. Returns the
    /// indexes of the page, in order, and its `PageInfo`.
    pub(crate) fn page(
        &self,
        items: impl Iterator<Item = (SortKey, usize)>,
    ) -> (Vec<usize>, Value) {
        let after = self.cursor.as_ref().map(|c| (c.key.clone(), c.idx));
        let mut candidates: Vec<(SortKey, usize)> = items
            .filter(|item| {
                after
                    .as_ref()
                    .is_none_or(|a| compare(item, a, self.descending) == Ordering::Greater)
            })
            .collect();
        let has_next = candidates.len() > self.limit;
        if has_next {
            candidates.select_nth_unstable_by(self.limit, |a, b| compare(a, b, self.descending));
            candidates.truncate(self.limit);
        }
        candidates.sort_by(|a, b| compare(a, b, self.descending));
        let mut page_info = json!({"has_next_page": has_next});
        if has_next && let Some((key, idx)) = candidates.last() {
            page_info["next_cursor"] =
                encode(self.listing, self.sort_by, self.descending, key, *idx).into();
        }
        (candidates.into_iter().map(|(_, i)| i).collect(), page_info)
    }
}

/// The listing order: by key, then by index; runs without a text key last in both directions.
pub(crate) fn compare(a: &(SortKey, usize), b: &(SortKey, usize), descending: bool) -> Ordering {
    let keys = match (&a.0, &b.0) {
        (SortKey::Text(None), SortKey::Text(Some(_))) => return Ordering::Greater,
        (SortKey::Text(Some(_)), SortKey::Text(None)) => return Ordering::Less,
        (x, y) => x.cmp(y),
    };
    let ord = keys.then(a.1.cmp(&b.1));
    if descending { ord.reverse() } else { ord }
}

fn encode(listing: &str, sort_by: &str, descending: bool, key: &SortKey, idx: usize) -> String {
    let key = match key {
        SortKey::Time(t) => format!("t{t}"),
        SortKey::Text(Some(s)) => format!("s{}", ids::hex(s.as_bytes())),
        SortKey::Text(None) => "n".to_owned(),
    };
    let order = if descending { "desc" } else { "asc" };
    ids::hex(format!("v1|{listing}|{sort_by}|{order}|{key}|{idx}").as_bytes())
}

fn decode(raw: &str, listing: &str, sort_by: &str, descending: bool) -> ApiResult<Cursor> {
    let invalid = || ApiError::invalid_request("cursor is not valid for this query");
    let text = ids::unhex(raw)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let parts: Vec<&str> = text.split('|').collect();
    let [version, list, by, order, key, idx] = parts.as_slice() else {
        return Err(invalid());
    };
    let order_matches = (*order == "desc") == descending;
    if *version != "v1" || *list != listing || *by != sort_by || !order_matches {
        return Err(invalid());
    }
    let key = match key.split_at_checked(1) {
        Some(("t", t)) => SortKey::Time(t.parse().map_err(|_| invalid())?),
        Some(("s", s)) => SortKey::Text(Some(
            ids::unhex(s)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(invalid)?,
        )),
        Some(("n", "")) => SortKey::Text(None),
        _ => return Err(invalid()),
    };
    Ok(Cursor {
        key,
        idx: idx.parse().map_err(|_| invalid())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(listing: &'static str, cursor: Option<&str>) -> ApiResult<PageRequest> {
        PageRequest::new(listing, "created_at", true, 2, cursor)
    }

    #[test]
    fn pages_follow_each_other_without_overlap() {
        let items = || (0..5).map(|i| (SortKey::Time(100 + i as i64 % 3), i));
        let first = request("tasks", None).expect("request");
        let (page, info) = first.page(items());
        assert_eq!(page, [2, 4]);
        let cursor = info["next_cursor"].as_str().expect("cursor").to_owned();
        let (second, _) = request("tasks", Some(&cursor)).expect("next").page(items());
        assert_eq!(second, [1, 3]);
    }

    #[test]
    fn a_cursor_fits_only_its_listing_and_sort() {
        let (_, info) = request("tasks", None)
            .expect("request")
            .page((0..3).map(|i| (SortKey::Time(i), i as usize)));
        let cursor = info["next_cursor"].as_str().expect("cursor").to_owned();
        assert!(request("factories", Some(&cursor)).is_err());
        assert!(PageRequest::new("tasks", "updated_at", true, 2, Some(&cursor)).is_err());
        assert!(PageRequest::new("tasks", "created_at", false, 2, Some(&cursor)).is_err());
        assert!(request("tasks", Some("zz")).is_err());
    }
}
