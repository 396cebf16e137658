//! `list-products`, `list-companies`, `list-agreements`: paging, conditions,
//! fields, retries and malformed answers.

mod support;

use insta::assert_snapshot;
use seatsync_plugin::error::ConnectorError;
use serde_json::Value;
use support::*;

/// The tenant's 1,234 catalog items, as ConnectWise would page them.
fn catalog() -> Vec<Value> {
    serde_json::from_str(&fixture("tenant/catalog.json")).unwrap()
}

fn page(items: &[Value], label: &str, link: Option<&str>) -> Reply {
    let reply = json_body(200, Value::Array(items.to_vec()), label);
    match link {
        Some(l) => with_headers(reply, &[("Link", l)]),
        None => reply,
    }
}

#[test]
fn a_catalog_of_1234_items_comes_back_whole_in_two_requests() {
    let items = catalog();
    assert_eq!(items.len(), 1234);
    let base = "https://api-na.myconnectwise.net/v4_6_release/apis/3.0/procurement/catalog";
    let mut t = Scripted::new([
        page(
            &items[..1000],
            "catalog items 1-1000",
            Some(&format!(
                r#"<{base}?page=2&pageSize=1000>; rel="next", <{base}?page=2&pageSize=1000>; rel="last""#
            )),
        ),
        page(
            &items[1000..],
            "catalog items 1001-1234",
            Some(&format!(
                r#"<{base}?page=1&pageSize=1000>; rel="first", <{base}?page=1&pageSize=1000>; rel="prev""#
            )),
        ),
    ]);
    let products = seatsync_plugin::list_products(&mut t, &cloud_connection()).unwrap();
    assert_eq!(products.len(), 1234);
    assert!(
        products.windows(2).all(|w| w[0].id < w[1].id),
        "ordered by id"
    );
    let business = products
        .iter()
        .find(|p| p.identifier == "PPE-BUSINESS")
        .unwrap();
    assert_eq!(
        (business.id, business.price, business.inactive),
        (19, Some(3.5), false)
    );
    assert!(
        products.iter().any(|p| p.inactive),
        "inactive items are listed, flagged"
    );
    let summary = format!(
        "{} products; first {:?}; last {:?}",
        products.len(),
        products.first().map(|p| (&p.id, &p.identifier)),
        products.last().map(|p| (&p.id, &p.identifier))
    );
    assert_snapshot!(t.finish(&summary));
}

#[test]
fn without_a_link_header_a_full_page_means_read_one_more() {
    let items = catalog();
    let mut t = Scripted::new([
        page(&items[..1000], "items 1-1000, no Link", None),
        page(&[], "empty page", None),
    ]);
    let products = seatsync_plugin::list_products(&mut t, &cloud_connection()).unwrap();
    assert_eq!(products.len(), 1000);
    assert_eq!(t.requests.len(), 2);
    assert!(
        t.requests[1].url.contains("page=2&"),
        "{}",
        t.requests[1].url
    );
}

#[test]
fn a_link_header_without_next_ends_paging_even_on_a_full_page() {
    let items = catalog();
    let mut t = Scripted::new([page(
        &items[..1000],
        "items 1-1000",
        Some(r#"<https://x/?page=1>; rel="first""#),
    )]);
    let products = seatsync_plugin::list_products(&mut t, &cloud_connection()).unwrap();
    assert_eq!(products.len(), 1000);
    assert_eq!(t.requests.len(), 1);
}

#[test]
fn throttled_429_waits_for_retry_after_then_succeeds() {
    let items = catalog();
    let mut t = Scripted::new([
        with_headers(json(429, "error_429.json"), &[("Retry-After", "3")]),
        page(&items[1000..], "a page of 234 items", None),
    ]);
    let result = seatsync_plugin::list_products(&mut t, &cloud_connection()).map(|p| p.len());
    assert_eq!(result, Ok(234));
    assert_snapshot!(t.finish(&result));
}

#[test]
fn a_503_html_page_is_retried_with_backoff() {
    let items = catalog();
    let mut t = Scripted::new([
        raw(503, "text/html", "service_unavailable.html"),
        raw(502, "text/html", "bad_gateway.html"),
        page(&items[1000..], "a page of 234 items", None),
    ]);
    let result = seatsync_plugin::list_products(&mut t, &cloud_connection()).map(|p| p.len());
    assert_eq!(result, Ok(234));
    assert_snapshot!(t.finish(&result));
}

#[test]
fn a_gateway_that_never_recovers_is_reported_after_bounded_retries() {
    let mut t = Scripted::new((0..5).map(|_| raw(502, "text/html", "bad_gateway.html")));
    let result = seatsync_plugin::list_products(&mut t, &cloud_connection());
    let Err(ConnectorError::Remote {
        status: 502,
        message,
        ..
    }) = &result
    else {
        panic!("{result:?}")
    };
    assert!(message.contains("502 Bad Gateway"), "{message}");
    assert_snapshot!(t.finish(&result));
}

#[test]
fn rate_limited_after_every_retry() {
    let mut t = Scripted::new(
        (0..5).map(|_| with_headers(json(429, "error_429.json"), &[("Retry-After", "5")])),
    );
    let result = seatsync_plugin::list_products(&mut t, &cloud_connection());
    assert!(matches!(
        &result,
        Err(ConnectorError::RateLimited {
            retry_after_seconds: Some(5),
            ..
        })
    ));
    assert_eq!(t.requests.len(), 5);
    assert_snapshot!(t.finish(&result));
}

/// A wait longer than a call may take is not spent inside the call.
#[test]
fn a_retry_after_longer_than_a_call_waits_ends_the_call_at_once() {
    let mut t = Scripted::new([with_headers(
        json(429, "error_429.json"),
        &[("Retry-After", "120")],
    )]);
    let result = seatsync_plugin::list_products(&mut t, &cloud_connection());
    assert!(
        matches!(&result, Err(ConnectorError::RateLimited { retry_after_seconds: Some(120), message }) if message.contains("wait 120 s"))
    );
    assert_snapshot!(t.finish(&result));
}

#[test]
fn malformed_json_is_an_invalid_response() {
    let mut t = Scripted::new([raw(200, "application/json", "malformed.json")]);
    let result = seatsync_plugin::list_products(&mut t, &cloud_connection());
    assert!(matches!(&result, Err(ConnectorError::InvalidResponse(m)) if m.contains("page 1")));
    assert_eq!(t.requests.len(), 1, "a malformed body is not retried");
    assert_snapshot!(t.finish(&result));
}

#[test]
fn companies_exclude_deleted_even_if_the_server_sends_them() {
    let mut t = Scripted::new([json(200, "companies_page.json")]);
    let result = seatsync_plugin::list_companies(&mut t, &cloud_connection());
    let companies = result.as_ref().unwrap();
    assert!(companies.iter().all(|c| c.id != 255));
    assert_eq!(companies.len(), 4);
    assert_snapshot!(t.finish(&result));
}

#[test]
fn agreements_of_one_company_flag_the_cancelled_ones() {
    let mut t = Scripted::new([json(200, "agreements_company_254.json")]);
    let result = seatsync_plugin::list_agreements(&mut t, &cloud_connection(), Some(254));
    let cancelled: Vec<u32> = result
        .as_ref()
        .unwrap()
        .iter()
        .filter(|a| a.cancelled)
        .map(|a| a.id)
        .collect();
    assert_eq!(cancelled, [103]);
    assert_snapshot!(t.finish(&result));
}

#[test]
fn all_agreements_have_no_condition() {
    let mut t = Scripted::new([json(200, "agreements_company_254.json")]);
    seatsync_plugin::list_agreements(&mut t, &cloud_connection(), None).unwrap();
    assert!(
        !t.requests[0].url.contains("conditions="),
        "{}",
        t.requests[0].url
    );
}
