//! What a refused or failed request shows: a page that says what went
//! wrong and what to do, with the status that fits.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::layout;
use crate::connection::{ConnectionError, ConnectorFailed};
use crate::mapping::MappingError;
use crate::plans::PlanError;
use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// Why a request did not get what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No such page, or one the account may not see (the same answer, so
    /// an id guessed in a URL tells nothing).
    #[error("there is no such page")]
    NotFound,
    /// Not logged in.
    #[error("log in first")]
    Unauthorized,
    /// Logged in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request was wrong in a way the message explains.
    #[error("{0}")]
    BadRequest(String),
    /// Too many failed logins.
    #[error("too many failed logins: wait a few minutes and try again")]
    TooManyAttempts,
    /// Something failed on the server; the message says what.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            // Ids come from URLs: one that names nothing is a page that
            // does not exist.
            StoreError::UnknownPackage { .. }
            | StoreError::UnknownOrg { .. }
            | StoreError::NoSuchRun(_)
            | StoreError::NoSuchPlan(_) => ConsoleError::NotFound,
            StoreError::InvalidInput(_)
            | StoreError::PlanNotPending { .. }
            | StoreError::LockBusy(_) => ConsoleError::BadRequest(e.to_string()),
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<MappingError> for ConsoleError {
    fn from(e: MappingError) -> Self {
        match e {
            MappingError::Store(e) => e.into(),
            other => ConsoleError::BadRequest(other.to_string()),
        }
    }
}

impl From<PlanError> for ConsoleError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Store(e) => e.into(),
            other => ConsoleError::BadRequest(other.to_string()),
        }
    }
}

impl From<ConnectorFailed> for ConsoleError {
    // The PSA's answer, its secrets already redacted.
    fn from(e: ConnectorFailed) -> Self {
        ConsoleError::BadRequest(e.to_string())
    }
}

impl From<RuntimeError> for ConsoleError {
    fn from(e: RuntimeError) -> Self {
        ConsoleError::BadRequest(e.to_string())
    }
}

impl From<ConnectionError> for ConsoleError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Store(e) => e.into(),
            other => ConsoleError::BadRequest(other.to_string()),
        }
    }
}

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Unauthorized => StatusCode::UNAUTHORIZED,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "console request failed");
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let body = layout::bare(
            title,
            maud::html! {
                h1 { (title) }
                p.error { (self.to_string()) }
                p { a href="/" { "Back to the console" } }
            },
        );
        (status, body).into_response()
    }
}

/// The answer to a URL no route knows.
pub async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}
