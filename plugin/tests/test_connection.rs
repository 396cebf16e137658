//! `test-connection`: the request it sends and every way it can fail.

mod support;

use insta::assert_snapshot;
use seatsync_plugin::error::ConnectorError;
use support::*;

fn tenant_json(status: u16, file: &str) -> Reply {
    let body = fixture(&format!("tenant/{file}"));
    json_body(status, serde_json::from_str(&body).unwrap(), file)
}

/// The answers to the rights check's four probes (catalog, companies,
/// agreements, one agreement's additions), all allowed.
fn rights_granted() -> Vec<Reply> {
    vec![
        json_body(200, serde_json::json!([{"id": 19}]), "one catalog id"),
        json_body(200, serde_json::json!([{"id": 254}]), "one company id"),
        json_body(200, serde_json::json!([{"id": 102}]), "one agreement id"),
        json_body(200, serde_json::json!([{"id": 15}]), "one addition id"),
    ]
}

#[test]
fn cloud_site_gets_api_prefix_and_all_headers() {
    let mut replies = vec![tenant_json(200, "system_info.json")];
    replies.extend(rights_granted());
    let mut t = Scripted::new(replies);
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    let info = result.as_ref().unwrap();
    assert_eq!(
        info.api_url,
        "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"
    );
    assert!(info.is_cloud);
    assert_eq!(
        t.requests.len(),
        5,
        "the system info, then one probe per right"
    );
    assert_snapshot!(t.finish(&result));
}

#[test]
fn auto_codebase_is_looked_up_first() {
    let mut conn = cloud_connection();
    conn.codebase = Some("auto".into());
    let mut replies = vec![
        tenant_json(200, "company_info.json"),
        tenant_json(200, "system_info.json"),
    ];
    replies.extend(rights_granted());
    let mut t = Scripted::new(replies);
    let result = seatsync_plugin::test_connection(&mut t, &conn);
    assert_eq!(result.as_ref().unwrap().codebase, "v2025_1/");
    assert_snapshot!(t.finish(&result));
}

#[test]
fn unauthorized_says_which_credentials_to_check() {
    let mut t = Scripted::new([json(401, "error_401.json")]);
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    assert!(
        matches!(&result, Err(ConnectorError::Unauthorized(m)) if m.contains("public and private keys"))
    );
    assert_eq!(t.requests.len(), 1, "a 401 is never retried");
    assert_snapshot!(t.finish(&result));
}

#[test]
fn forbidden_names_the_missing_permission() {
    let mut t = Scripted::new([json(403, "error_403.json")]);
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    let Err(ConnectorError::Forbidden { permission, .. }) = &result else {
        panic!("{result:?}")
    };
    assert_eq!(
        permission.as_deref(),
        Some("Finance > Agreements (Inquire Level)")
    );
    assert_snapshot!(t.finish(&result));
}

#[test]
fn cloud_404_points_at_credentials_and_the_api_prefix() {
    let mut t = Scripted::new([json(404, "error_404.json")]);
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    assert!(matches!(&result, Err(ConnectorError::NotFound(m)) if m.contains("api- prefix")));
    assert_snapshot!(t.finish(&result));
}

#[test]
fn an_html_login_page_is_not_the_api() {
    let mut conn = cloud_connection();
    conn.site = "https://cw.example.com".into();
    let mut t = Scripted::new([raw(200, "text/html; charset=utf-8", "login_page.html")]);
    let result = seatsync_plugin::test_connection(&mut t, &conn);
    assert!(matches!(&result, Err(ConnectorError::InvalidResponse(m)) if m.contains("HTML page")));
    assert_snapshot!(t.finish(&result));
}

#[test]
fn unreachable_site_is_retried_then_reported() {
    let mut t = Scripted::new((0..5).map(|_| no_response("connection refused")));
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    assert!(matches!(&result, Err(ConnectorError::Transport(_))));
    assert_eq!(t.requests.len(), 5, "bounded: five attempts");
    assert_snapshot!(t.finish(&result));
}

#[test]
fn invalid_config_sends_nothing() {
    let mut conn = cloud_connection();
    conn.public_key = String::new();
    let mut t = Scripted::new([]);
    let result = seatsync_plugin::test_connection(&mut t, &conn);
    assert!(matches!(&result, Err(ConnectorError::InvalidConfig(_))));
    assert!(t.requests.is_empty());
    assert_snapshot!(t.finish(&result));
}

/// A request the host's sandbox refuses was never sent: it is reported at
/// once, not retried.
#[test]
fn a_request_the_host_refuses_is_not_retried() {
    let mut t = Scripted::new([Reply::Refused("the host denied the request".into())]);
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    assert!(
        matches!(&result, Err(ConnectorError::Transport(m)) if m.contains("refused before it was sent"))
    );
    assert_eq!(t.requests.len(), 1);
    assert_snapshot!(t.finish(&result));
}

/// An API member whose role lacks read rights passes the credentials check
/// but fails the test, naming every missing right and where to grant it.
#[test]
fn missing_read_rights_are_all_named_with_where_to_grant_them() {
    let forbidden = |area: &str| {
        json_body(
            403,
            serde_json::json!({
                "code": "Forbidden",
                "message": format!("You do not have access to {area} (Inquire Level)."),
                "errors": null
            }),
            "403",
        )
    };
    let mut t = Scripted::new([
        tenant_json(200, "system_info.json"),
        forbidden("Procurement > Product Catalog"),
        json_body(200, serde_json::json!([{"id": 254}]), "one company id"),
        json_body(200, serde_json::json!([{"id": 102}]), "one agreement id"),
        forbidden("Finance > Agreements"),
    ]);
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    let Err(ConnectorError::Forbidden {
        message,
        permission,
    }) = &result
    else {
        panic!("{result:?}")
    };
    assert!(message.contains("System > Security Roles"), "{message}");
    assert_eq!(
        permission.as_deref(),
        Some(
            "Procurement > Product Catalog: Inquire Level All; Finance > Agreements: Inquire, Add and Edit \
             Level All"
        )
    );
    assert_eq!(t.requests.len(), 5, "a 403 is not retried");
    assert_snapshot!(t.finish(&result));
}

/// A tenant with no agreement yet has no additions to probe.
#[test]
fn a_tenant_without_agreements_skips_the_additions_probe() {
    let mut t = Scripted::new([
        tenant_json(200, "system_info.json"),
        json_body(200, serde_json::json!([{"id": 19}]), "one catalog id"),
        json_body(200, serde_json::json!([{"id": 254}]), "one company id"),
        json_body(200, serde_json::json!([]), "no agreement"),
    ]);
    let result = seatsync_plugin::test_connection(&mut t, &cloud_connection());
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(t.requests.len(), 4);
}
