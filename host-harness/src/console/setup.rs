//! The one-time setup link that creates the owner account, login and
//! logout.

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::{self, Posted};
use super::{Console, ConsoleError, layout};

/// `/setup?token=…`.
#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// The setup and login forms.
#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    token: String,
    #[serde(default)]
    form: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// A page with a fresh double-submit token for its form.
fn with_form_token(
    console: &Console,
    jar: CookieJar,
    render: impl FnOnce(&str) -> Markup,
) -> Result<Response, ConsoleError> {
    let token = auth::random_token()?;
    let page = render(&token);
    let jar = jar.add(auth::form_cookie(token, console.options().secure_cookies));
    Ok((jar, page).into_response())
}

fn setup_form(setup_token: &str, form_token: &str, username: &str, error: Option<&str>) -> Markup {
    layout::bare(
        "Create the owner account",
        html! {
            h1 { "Create the owner account" }
            p { "This account is the partner's: it manages every tenant and the customers' accounts." }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.stack method="post" action="/setup" {
                input type="hidden" name="token" value=(setup_token);
                input type="hidden" name="form" value=(form_token);
                label { "User name" input type="text" name="username" value=(username) required autocomplete="username"; }
                label { "Password" span.help { "At least " (auth::MIN_PASSWORD_LENGTH) " characters." }
                    input type="password" name="password" required autocomplete="new-password"; }
                label { "Password again" input type="password" name="confirm" required autocomplete="new-password"; }
                button type="submit" { "Create the account" }
            }
        },
    )
}

/// `GET /setup?token=…`: the owner form, if the link is still valid.
pub async fn setup_page(
    State(console): State<Console>,
    jar: CookieJar,
    Query(q): Query<SetupQuery>,
) -> Result<Response, ConsoleError> {
    let hash = auth::token_hash(&q.token);
    let valid = console
        .with_store(move |s| Ok(!s.console_has_owner()? && s.console_setup_token_valid(&hash)?))
        .await?;
    if !valid {
        return Err(used_link());
    }
    with_form_token(&console, jar, |form| setup_form(&q.token, form, "", None))
}

fn used_link() -> ConsoleError {
    ConsoleError::Forbidden(
        "this setup link is not valid: it was used already, or a newer one was printed when \
         `seatsync serve` last started. Log in, or restart `seatsync serve` for a new link if no \
         owner account exists yet"
            .into(),
    )
}

/// `POST /setup`: creates the owner and logs them in.
pub async fn setup_post(
    State(console): State<Console>,
    jar: CookieJar,
    Form(f): Form<Credentials>,
) -> Result<Response, ConsoleError> {
    auth::check_form_token(&jar, &f.form)?;
    let retry = |error: String| {
        let page = setup_form(&f.token, &f.form, &f.username, Some(&error));
        (axum::http::StatusCode::BAD_REQUEST, page).into_response()
    };
    if f.password != f.confirm {
        return Ok(retry(
            "the two passwords differ: type the same one twice".into(),
        ));
    }
    let token_hash = auth::token_hash(&f.token);
    let username = f.username.clone();
    let password = f.password.clone();
    let now = console.now();
    let created = console
        .with_store(move |s| {
            // Hashing is slow on purpose: here, off the server's threads.
            let hash = auth::hash_password(&password)?;
            let Some(_) = s.create_console_owner(&token_hash, &username, &hash)? else {
                return Ok(None);
            };
            let account = s
                .console_account(&username)?
                .ok_or_else(|| ConsoleError::Internal("the new account vanished".into()))?;
            Ok(Some(auth::start_session(s, &account, now)?))
        })
        .await;
    let session = match created {
        Ok(Some(session)) => session,
        Ok(None) => return Err(used_link()),
        Err(ConsoleError::BadRequest(message)) => return Ok(retry(message)),
        Err(e) => return Err(e),
    };
    let jar = jar
        .remove(Cookie::from(auth::FORM_COOKIE))
        .add(auth::session_cookie(
            session,
            console.options().secure_cookies,
        ));
    Ok((jar, Redirect::to("/?done=welcome")).into_response())
}

fn login_form(form_token: &str, username: &str, error: Option<&str>) -> Markup {
    layout::bare(
        "Log in",
        html! {
            h1 { "seatsync" }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form.stack method="post" action="/login" {
                input type="hidden" name="form" value=(form_token);
                label { "User name" input type="text" name="username" value=(username) required autocomplete="username" autofocus; }
                label { "Password" input type="password" name="password" required autocomplete="current-password"; }
                button type="submit" { "Log in" }
            }
        },
    )
}

/// `GET /login`.
pub async fn login_page(
    State(console): State<Console>,
    jar: CookieJar,
) -> Result<Response, ConsoleError> {
    with_form_token(&console, jar, |form| login_form(form, "", None))
}

/// `POST /login`: a session for the right password; the same answer for a
/// wrong password and an unknown name.
pub async fn login_post(
    State(console): State<Console>,
    jar: CookieJar,
    Form(f): Form<Credentials>,
) -> Result<Response, ConsoleError> {
    auth::check_form_token(&jar, &f.form)?;
    let now = console.now();
    console.limiter().check(&f.username, now)?;
    let username = f.username.clone();
    let password = f.password.clone();
    let session = console
        .with_store(move |s| {
            let account = s.console_account(&username)?;
            // An unknown name costs a hash check too, so timing does not
            // tell which names exist.
            let hash = match &account {
                Some(a) => a.password_hash.as_str(),
                None => DUMMY_HASH.as_deref().unwrap_or_default(),
            };
            let ok = auth::verify_password(&password, hash);
            match account {
                Some(account) if ok => Ok(Some(auth::start_session(s, &account, now)?)),
                _ => Ok(None),
            }
        })
        .await?;
    let Some(session) = session else {
        console.limiter().failed(&f.username, now);
        let page = login_form(
            &f.form,
            &f.username,
            Some("wrong user name or password: check both and try again"),
        );
        return Ok((axum::http::StatusCode::UNAUTHORIZED, page).into_response());
    };
    console.limiter().succeeded(&f.username);
    let jar = jar
        .remove(Cookie::from(auth::FORM_COOKIE))
        .add(auth::session_cookie(
            session,
            console.options().secure_cookies,
        ));
    Ok((jar, Redirect::to("/")).into_response())
}

/// The hash of a random password nobody knows, checked for unknown names.
static DUMMY_HASH: std::sync::LazyLock<Option<String>> = std::sync::LazyLock::new(|| {
    auth::random_token()
        .and_then(|password| auth::hash_password(&password))
        .ok()
});

/// The logout form.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: ends the session.
pub async fn logout(
    State(console): State<Console>,
    jar: CookieJar,
    posted: Posted<LogoutForm>,
) -> Result<Response, ConsoleError> {
    let session = posted.user.session.clone();
    console
        .with_store(move |s| Ok(s.delete_console_session(&session)?))
        .await?;
    let jar = jar.remove(Cookie::build(auth::SESSION_COOKIE).path("/"));
    Ok((jar, Redirect::to("/login")).into_response())
}

auth::csrf_forms!(LogoutForm);
