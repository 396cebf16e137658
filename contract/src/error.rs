//! Why a connector call failed: the WIT `connector-error` variant.
//!
//! Every message names the problem and what to check next, because it ends
//! up in front of an MSP's operator. No message ever contains a secret
//! setting or a credential derived from one: connectors build messages from
//! status codes, the PSA's own error text, paths and ids only, and hosts
//! redact what `plan-network` named anyway.

use serde::Serialize;
use thiserror::Error;

/// A failed connector call.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
pub enum ConnectorError {
    /// The connection or request is unusable as given; nothing was sent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// 401.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403.
    #[error("forbidden: {message}")]
    Forbidden {
        /// ConnectWise's message and what to do.
        message: String,
        /// The permission ConnectWise named, if it did.
        permission: Option<String>,
    },
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// 429 after every retry.
    #[error("rate limited: {message}")]
    RateLimited {
        /// The last `Retry-After`, in seconds.
        retry_after_seconds: Option<u32>,
        /// What happened and what to do.
        message: String,
    },
    /// Any other error status.
    #[error("ConnectWise error {status}{}: {message}", code_suffix(.code))]
    Remote {
        /// The HTTP status.
        status: u16,
        /// ConnectWise's error code, or empty.
        code: String,
        /// ConnectWise's message.
        message: String,
    },
    /// No response, after retries.
    #[error("transport: {0}")]
    Transport(String),
    /// A response the API does not document.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
}

/// ` Code` when ConnectWise gave a code, nothing otherwise.
fn code_suffix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" {code}")
    }
}

impl ConnectorError {
    /// The same error with `f` applied to each text it carries (e.g. to
    /// redact a secret the PSA echoed back).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> ConnectorError {
        match self {
            ConnectorError::InvalidConfig(m) => ConnectorError::InvalidConfig(f(&m)),
            ConnectorError::Unauthorized(m) => ConnectorError::Unauthorized(f(&m)),
            ConnectorError::Forbidden {
                message,
                permission,
            } => ConnectorError::Forbidden {
                message: f(&message),
                permission: permission.map(|p| f(&p)),
            },
            ConnectorError::NotFound(m) => ConnectorError::NotFound(f(&m)),
            ConnectorError::RateLimited {
                retry_after_seconds,
                message,
            } => ConnectorError::RateLimited {
                retry_after_seconds,
                message: f(&message),
            },
            ConnectorError::Remote {
                status,
                code,
                message,
            } => ConnectorError::Remote {
                status,
                code: f(&code),
                message: f(&message),
            },
            ConnectorError::Transport(m) => ConnectorError::Transport(f(&m)),
            ConnectorError::InvalidResponse(m) => ConnectorError::InvalidResponse(f(&m)),
        }
    }

    /// Whether later requests of the same call would fail the same way, so
    /// a sync should stop attempting its remaining lines.
    pub fn is_fatal_for_call(&self) -> bool {
        matches!(
            self,
            ConnectorError::Unauthorized(_)
                | ConnectorError::RateLimited { .. }
                | ConnectorError::Transport(_)
                | ConnectorError::InvalidConfig(_)
        )
    }
}
