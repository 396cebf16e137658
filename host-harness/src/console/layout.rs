//! The page shell: head, navigation, the style sheet and the headers every
//! answer carries.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};

use super::auth::User;

/// The console's style sheet, served at `/static/console.css` (no inline
/// styles: the content security policy forbids them).
pub const STYLE: &str = include_str!("static/console.css");

/// htmx, vendored (`static/README.md`), served at `/static/htmx.min.js`.
pub const HTMX: &str = include_str!("static/htmx-2.0.11.min.js");

/// `/static/console.css`.
pub async fn style() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
}

/// `/static/htmx.min.js`.
pub async fn htmx() -> impl axum::response::IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        HTMX,
    )
}

/// Headers on every answer: no scripts or frames from anywhere, no
/// referrer (the setup link carries a token), nothing cached.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · seatsync" }
            // htmx without its inline indicator styles and without eval:
            // the content security policy allows neither.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
            link rel="stylesheet" href="/static/console.css";
            script src="/static/htmx.min.js" defer {}
        }
    }
}

/// A page without navigation: login, setup, errors.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare { main { (body) } }
        }
    }
}

/// The sections of a tenant's pages, in the wizard's order.
pub const TENANT_SECTIONS: [(&str, &str); 8] = [
    ("", "Overview"),
    ("connection", "1. Connection"),
    ("data", "2. Data to sync"),
    ("usage", "3. Usage"),
    ("products", "4. Products"),
    ("customers", "5. Customers"),
    ("review", "6. Review"),
    ("history", "7. History"),
];

/// A page for a logged-in `user`; `tenant` adds the tenant's section bar
/// with `section` marked.
pub fn page(user: &User, title: &str, tenant: Option<(&str, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a.brand href="/" { "seatsync" }
                    nav {
                        @if user.is_owner() {
                            a href="/" { "Tenants" }
                            a href="/accounts" { "Accounts" }
                        }
                    }
                    form.logout method="post" action="/logout" {
                        span.who { (user.account.username) }
                        input type="hidden" name="csrf" value=(user.csrf);
                        button type="submit" { "Log out" }
                    }
                }
                @if let Some((tenant, section)) = tenant {
                    nav.sections aria-label="Tenant" {
                        span.tenant { (tenant) }
                        @for (path, label) in TENANT_SECTIONS {
                            @let href = if path.is_empty() { format!("/t/{tenant}") } else { format!("/t/{tenant}/{path}") };
                            a href=(href) aria-current=[(path == section).then_some("page")] { (label) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The notice after a form was handled (`?done=CODE`): fixed texts only,
/// so nothing in a URL is echoed into the page.
pub fn notice(code: Option<&str>) -> Markup {
    let text = match code.unwrap_or_default() {
        "connected" => "Connected: the connection test passed and the settings are saved.",
        "tested" => "The connection test passed.",
        "saved" => "Saved.",
        "added" => "Added.",
        "welcome" => "Welcome: your owner account is ready. Add a tenant to start.",
        "mapped" => "Mapped.",
        "refreshed" => "The PSA's lists are read again.",
        "decided" => "Decision saved.",
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}

/// What a URL path segment or query value keeps as is: RFC 3986's
/// unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one segment of a URL path (vendor ids can hold anything).
pub fn seg(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}
