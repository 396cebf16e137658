//! Why a kit could not be built or a script could not be read.
//!
//! What a *call* does wrong (the connector's error, a trap, a limit, a
//! request nothing answered) is never a [`KitError`]: it is part of the
//! call's [`Transcript`](crate::Transcript), where a snapshot shows it.

use std::path::PathBuf;

use seatsync_host::runtime::RuntimeError;

/// Why a [`Kit`](crate::Kit) could not be built or a
/// [`Script`](crate::Script) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// The component cannot be loaded by the host: not a component, not a
    /// seatsync connector, a contract version the host does not run, or
    /// imports the sandbox does not provide.
    #[error("{0}")]
    Component(#[from] RuntimeError),
    /// A file could not be read, or the kit's server or its Tokio runtime
    /// could not be started.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file when there is one.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A name for another server of the kit
    /// ([`Kit::server_url`](crate::Kit::server_url)) that is empty or has
    /// characters other than letters, digits, `-` and `_`.
    #[error("'{0}' cannot name a server of the kit: use letters, digits, - and _")]
    InvalidServerName(String),
    /// A script file (or script text) is not a valid script.
    #[error("the script {}: {message}", file.display())]
    Script {
        /// The file, or `<inline>` for text given directly.
        file: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
}

impl KitError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> KitError {
        KitError::Io {
            what: what.into(),
            source,
        }
    }
}
