//! Who is asking: passwords (argon2id), session cookies, CSRF tokens and
//! the login rate limit.
//!
//! A session is a random token in an `HttpOnly`, `SameSite=Strict` cookie
//! (`Secure` under TLS); the store keeps only its SHA-256 hash. Each session
//! has a CSRF token that every form carries and every POST checks
//! ([`Posted`]); the forms before a session exists (login, setup) use a
//! double-submit cookie instead.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{Console, ConsoleError};
use crate::store::{Account, Role, Store};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "seatsync_session";
/// The cookie of the double-submit token on the login and setup forms.
pub const FORM_COOKIE: &str = "seatsync_form";
/// How long a session lasts.
pub const SESSION_LENGTH: TimeDelta = TimeDelta::hours(12);
/// The shortest password accepted.
pub const MIN_PASSWORD_LENGTH: usize = 10;

/// A new random token: 32 bytes from the OS, base64url.
pub fn random_token() -> Result<String, ConsoleError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ConsoleError::Internal(format!("the OS gave no random numbers: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether two secrets are equal, in time that does not depend on where
/// they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The argon2id hash (a PHC string) of a new password, after checking it
/// is long enough.
pub fn hash_password(password: &str) -> Result<String, ConsoleError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(ConsoleError::BadRequest(format!(
            "the password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| ConsoleError::Internal(format!("the OS gave no random numbers: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ConsoleError::Internal(format!("cannot encode a salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ConsoleError::Internal(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the stored `hash`. A hash that does not
/// parse matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The cookie that carries a session. It has no age: the browser forgets
/// it when it closes, and the server ends it after [`SESSION_LENGTH`]
/// whatever the browser does.
pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .build()
}

/// The double-submit cookie of a login or setup form.
pub fn form_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((FORM_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .build()
}

/// Checks a login or setup form's token against its cookie.
pub fn check_form_token(jar: &CookieJar, submitted: &str) -> Result<(), ConsoleError> {
    match jar.get(FORM_COOKIE) {
        Some(cookie) if !submitted.is_empty() && same_secret(cookie.value(), submitted) => Ok(()),
        _ => Err(ConsoleError::Forbidden(
            "the form has expired or did not come from this console: reload the page and try again"
                .into(),
        )),
    }
}

/// Starts a session for `account`: its cookie's token (to set) and CSRF
/// token (stored).
pub fn start_session(
    store: &Store,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<String, ConsoleError> {
    let token = random_token()?;
    let csrf = random_token()?;
    store.create_console_session(&token_hash(&token), account.id, &csrf, now + SESSION_LENGTH)?;
    Ok(token)
}

/// A logged-in account, found from the session cookie. As an extractor it
/// refuses anonymous requests: a page redirects to the login form, any
/// other request gets 401.
#[derive(Debug, Clone)]
pub struct User {
    /// The account.
    pub account: Account,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// The session token's hash (logout ends it).
    pub session: String,
}

impl User {
    /// Whether the account is the partner's owner.
    pub fn is_owner(&self) -> bool {
        self.account.role == Role::Owner
    }

    /// The customer's own tenant, if this is a customer.
    pub fn own_tenant(&self) -> Option<&str> {
        match &self.account.role {
            Role::Owner => None,
            Role::Customer { tenant } => Some(tenant),
        }
    }

    /// Refuses unless the account is the owner.
    pub fn require_owner(&self) -> Result<(), ConsoleError> {
        if self.is_owner() {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(
                "only the partner's owner account can do this".into(),
            ))
        }
    }

    /// Checks the account may see `tenant` and that it exists. Another
    /// tenant's pages do not exist for a customer: 404, as for a tenant
    /// that does not exist at all.
    pub fn require_tenant(&self, store: &Store, tenant: &str) -> Result<(), ConsoleError> {
        let visible = match &self.account.role {
            Role::Owner => true,
            Role::Customer { tenant: own } => own == tenant,
        };
        if visible && store.tenants()?.iter().any(|t| t == tenant) {
            Ok(())
        } else {
            Err(ConsoleError::NotFound)
        }
    }

    /// Whether the account may change `tenant`'s integration: the owner
    /// may; a customer only if the partner lets it.
    pub fn may_manage(&self, store: &Store, tenant: &str) -> Result<bool, ConsoleError> {
        Ok(match &self.account.role {
            Role::Owner => true,
            Role::Customer { tenant: own } => own == tenant && store.customer_manages(tenant)?,
        })
    }

    /// [`User::require_tenant`], then refuses unless the account may change
    /// it.
    pub fn require_manage(&self, store: &Store, tenant: &str) -> Result<(), ConsoleError> {
        self.require_tenant(store, tenant)?;
        if self.may_manage(store, tenant)? {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(
                "this integration is read-only for your account: ask your partner to let you \
                 manage it"
                    .into(),
            ))
        }
    }
}

impl FromRequestParts<Console> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET {
                Redirect::to("/login").into_response()
            } else {
                ConsoleError::Unauthorized.into_response()
            }
        };
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(refuse(parts));
        };
        let hash = token_hash(&token);
        let lookup = hash.clone();
        let session = console
            .with_store(move |store| Ok(store.console_session(&lookup)?))
            .await
            .map_err(IntoResponse::into_response)?;
        match session {
            Some(s) => Ok(User {
                account: s.account,
                csrf: s.csrf,
                session: hash,
            }),
            None => Err(refuse(parts)),
        }
    }
}

/// A form that carries the session's CSRF token in a field `csrf`.
pub trait CsrfForm {
    /// The submitted token.
    fn csrf(&self) -> &str;
}

/// Implements [`CsrfForm`] for forms whose token is their `csrf` field.
macro_rules! csrf_forms {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::console::auth::CsrfForm for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(crate) use csrf_forms;

/// A POSTed form from a logged-in user whose CSRF token matches the
/// session's: the only way handlers get a form, so none can forget the
/// check.
pub struct Posted<T> {
    /// Who sent it.
    pub user: User,
    /// What was sent.
    pub form: T,
}

impl<T> FromRequest<Console> for Posted<T>
where
    T: CsrfForm + DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, console: &Console) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let user = User::from_request_parts(&mut parts, console).await?;
        // A cross-site form cannot read the token; a missing one reads as
        // empty and is refused like a wrong one.
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(csrf_refused().into_response());
        }
        let req = Request::from_parts(parts, body);
        // axum-extra's form reads a repeated field into a list (ticked
        // boxes of one name).
        let Form(form) = Form::<T>::from_request(req, console)
            .await
            .map_err(|e| ConsoleError::BadRequest(e.body_text()).into_response())?;
        user.check_csrf(form.csrf())
            .map_err(IntoResponse::into_response)?;
        Ok(Posted { user, form })
    }
}

impl User {
    /// Refuses a form whose CSRF token is not this session's (for forms
    /// [`Posted`] cannot read: file uploads).
    pub fn check_csrf(&self, submitted: &str) -> Result<(), ConsoleError> {
        if submitted.is_empty() || !same_secret(submitted, &self.csrf) {
            return Err(csrf_refused());
        }
        Ok(())
    }
}

fn csrf_refused() -> ConsoleError {
    ConsoleError::Forbidden(
        "the form did not carry this session's token (CSRF): reload the page and submit it again"
            .into(),
    )
}

/// Failed logins per user name: at most [`LoginLimiter::MAX_FAILURES`] in
/// [`LoginLimiter::WINDOW`], after which that name is refused until the
/// oldest failure leaves the window. In memory: a restart forgets it,
/// which gives an attacker nothing a patient one does not already have.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
}

impl LoginLimiter {
    /// Failures allowed per window.
    pub const MAX_FAILURES: usize = 5;
    /// The window.
    pub const WINDOW: TimeDelta = TimeDelta::minutes(15);

    fn key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// Refuses if `username` failed too often lately.
    pub fn check(&self, username: &str, now: DateTime<Utc>) -> Result<(), ConsoleError> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let recent = failures.entry(Self::key(username)).or_default();
        recent.retain(|t| now - *t < Self::WINDOW);
        if recent.len() >= Self::MAX_FAILURES {
            Err(ConsoleError::TooManyAttempts)
        } else {
            Ok(())
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, username: &str, now: DateTime<Utc>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.entry(Self::key(username)).or_default().push(now);
    }

    /// Forgets the failures of a name that logged in.
    pub fn succeeded(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&Self::key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        let short = hash_password("short").unwrap_err();
        assert!(short.to_string().contains("at least 10"), "{short}");
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret("", "x"));
    }

    #[test]
    fn the_limiter_refuses_after_five_failures_until_the_window_passes() {
        let limiter = LoginLimiter::default();
        let t0 = DateTime::parse_from_rfc3339("2026-11-27T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for i in 0..5 {
            limiter.check("Ann", t0).unwrap();
            limiter.failed("ann ", t0 + TimeDelta::seconds(i));
        }
        assert!(matches!(
            limiter.check("ANN", t0 + TimeDelta::minutes(1)),
            Err(ConsoleError::TooManyAttempts)
        ));
        // Another name is not affected.
        limiter.check("bob", t0).unwrap();
        // 15 minutes after the first failure, one slot frees up.
        limiter.check("ann", t0 + TimeDelta::minutes(15)).unwrap();
        limiter.succeeded("ann");
        limiter.check("ann", t0 + TimeDelta::minutes(1)).unwrap();
    }
}
