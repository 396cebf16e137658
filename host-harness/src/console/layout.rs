//! The page shell: head, navigation, the style sheet and the headers every
//! answer carries.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};

use super::auth::User;

/// The console's style sheet, served at `/console.css` (no inline styles:
/// the content security policy forbids them).
pub const STYLE: &str = include_str!("console.css");

/// `/console.css`.
pub async fn style() -> impl axum::response::IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

/// Headers on every answer: no scripts or frames from anywhere, no
/// referrer (the setup link carries a token), nothing cached.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
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
            link rel="stylesheet" href="/console.css";
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
pub const TENANT_SECTIONS: [(&str, &str); 4] = [
    ("", "Overview"),
    ("connection", "Connection"),
    ("data", "Data to sync"),
    ("history", "History"),
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
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}
