//! Query strings for list endpoints: `conditions`, `fields`, `orderBy` and
//! paging, percent-encoded the way ConnectWise needs.
//!
//! ConnectWise decodes `+` as a space and treats `*` as a wildcard, so values
//! are encoded strictly: everything but RFC 3986's unreserved characters.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are: RFC 3986 "unreserved".
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The largest page ConnectWise serves.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The parameters of one list request, before paging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// A `conditions` expression, or `None` for every record.
    pub conditions: Option<String>,
    /// The `fields` to return, to keep responses small.
    pub fields: &'static [&'static str],
    /// Records per page.
    pub page_size: u32,
}

impl ListQuery {
    /// A query for `fields` of every record, in pages of the maximum size.
    pub fn new(fields: &'static [&'static str]) -> Self {
        ListQuery {
            conditions: None,
            fields,
            page_size: MAX_PAGE_SIZE,
        }
    }

    /// Adds a `conditions` expression.
    pub fn with_conditions(mut self, conditions: impl Into<String>) -> Self {
        self.conditions = Some(conditions.into());
        self
    }

    /// The query string of page `page` (1-based), without the leading `?`.
    ///
    /// Every page repeats every parameter: rebuilding from our own values,
    /// rather than following the `Link` header, cannot lose `conditions`.
    /// Ordering by id keeps records from shifting between pages.
    pub fn page(&self, page: u32) -> String {
        let mut query = String::with_capacity(128);
        let mut pair = |key: &str, value: &str| {
            if !query.is_empty() {
                query.push('&');
            }
            push_encoded(&mut query, key);
            query.push('=');
            push_encoded(&mut query, value);
        };
        if let Some(c) = &self.conditions {
            pair("conditions", c);
        }
        if !self.fields.is_empty() {
            pair("fields", &self.fields.join(","));
        }
        pair("orderBy", "id asc");
        pair("page", &page.to_string());
        pair("pageSize", &self.page_size.to_string());
        query
    }
}

/// `k=v&k=v` with each key and value percent-encoded.
pub fn encode_pairs(pairs: &[(&str, String)]) -> String {
    let mut query = String::new();
    for (k, v) in pairs {
        if !query.is_empty() {
            query.push('&');
        }
        push_encoded(&mut query, k);
        query.push('=');
        push_encoded(&mut query, v);
    }
    query
}

/// Percent-encodes one query component.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_encoded(&mut out, value);
    out
}

/// Appends `value` percent-encoded. (Extending with the encoder's pieces
/// rather than going through `Display` matters inside the component, where
/// this runs for every request.)
fn push_encoded(out: &mut String, value: &str) {
    out.extend(utf8_percent_encode(value, QUERY_VALUE));
}

/// `path in (1,2,3)` over sorted, distinct ids.
pub fn id_in(path: &str, ids: impl IntoIterator<Item = u32>) -> String {
    let mut ids: Vec<u32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    format!("{path} in ({list})")
}

/// Whether a `Link` header offers a `next` page.
///
/// `None` when the response had no `Link` header at all: the caller then
/// falls back on whether the page was full.
pub fn link_has_next(link: Option<&str>) -> Option<bool> {
    let link = link?;
    Some(link.split(',').any(|part| {
        part.split(';').skip(1).any(|param| {
            param.trim().eq_ignore_ascii_case("rel=\"next\"") || param.trim() == "rel=next"
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_strictly() {
        assert_eq!(
            encode(r#"identifier="A+B*" and x=[2025-06-01T00:00:00Z]"#),
            "identifier%3D%22A%2BB%2A%22%20and%20x%3D%5B2025-06-01T00%3A00%3A00Z%5D"
        );
        assert_eq!(encode("a&b%c'd"), "a%26b%25c%27d");
    }

    #[test]
    fn every_page_repeats_every_parameter() {
        let q = ListQuery::new(&["id", "name"]).with_conditions("deletedFlag=false");
        assert_eq!(
            q.page(3),
            "conditions=deletedFlag%3Dfalse&fields=id%2Cname&orderBy=id%20asc&page=3&pageSize=1000"
        );
        assert_eq!(
            ListQuery::new(&[]).page(1),
            "orderBy=id%20asc&page=1&pageSize=1000"
        );
    }

    #[test]
    fn id_lists_are_sorted_and_distinct() {
        assert_eq!(
            id_in("product/id", [12, 3, 12, 7]),
            "product/id in (3,7,12)"
        );
    }

    #[test]
    fn link_header_next_detection() {
        let both = r#"<https://x/a?page=2&pageSize=50>; rel="next", <https://x/a?page=4&pageSize=50>; rel="last""#;
        assert_eq!(link_has_next(Some(both)), Some(true));
        let last = r#"<https://x/a?page=1>; rel="first", <https://x/a?page=3>; rel="prev""#;
        assert_eq!(link_has_next(Some(last)), Some(false));
        assert_eq!(link_has_next(Some("")), Some(false));
        assert_eq!(link_has_next(None), None);
    }
}
