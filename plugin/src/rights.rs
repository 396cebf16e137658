//! The read rights a sync depends on, checked by `test-connection` so that
//! an API member whose security role lacks one fails the test, not the
//! first sync: one small request per right (`fields=id`, one record).
//!
//! ConnectWise answers 403 when a role lacks a right. Every missing right
//! is named, with where to grant it, in one error.

use crate::client::Client;
use crate::error::ConnectorError;
use crate::http::Transport;
use crate::wire;

/// One right: what to read, what it is called for people, and where in
/// ConnectWise to grant it.
struct Right {
    path: &'static str,
    what: &'static str,
    grant: &'static str,
}

/// The lists a sync and the mapping commands read.
const RIGHTS: [Right; 3] = [
    Right {
        path: "/procurement/catalog",
        what: "the product catalog",
        grant: "Procurement > Product Catalog: Inquire Level All",
    },
    Right {
        path: "/company/companies",
        what: "companies",
        grant: "Companies > Company Maintenance: Inquire Level All",
    },
    Right {
        path: "/finance/agreements",
        what: "agreements",
        grant: "Finance > Agreements: Inquire Level All",
    },
];

/// Where a role's rights are changed.
const WHERE: &str = "System > Security Roles, the API member's role";

/// The smallest read of a list: one record's id.
const PROBE: &str = "fields=id&pageSize=1";

/// Reads one record of each list the sync depends on, and one agreement's
/// additions (when the tenant has an agreement). Every 403 is collected
/// and reported together; any other failure is returned as it is.
pub fn check_read_rights<T: Transport>(client: &mut Client<'_, T>) -> Result<(), ConnectorError> {
    let mut missing = Vec::new();
    let mut first_agreement = None;
    for right in &RIGHTS {
        match client.get_json::<Vec<wire::IdOnly>>(right.path, PROBE, right.what) {
            Ok(records) => {
                if right.path == "/finance/agreements" {
                    first_agreement = records.iter().find_map(|r| wire::id(r.id));
                }
            }
            Err(ConnectorError::Forbidden { .. }) => missing.push((right.what, right.grant)),
            Err(other) => return Err(other),
        }
    }
    if let Some(agreement) = first_agreement {
        let path = format!("/finance/agreements/{agreement}/additions");
        match client.get_json::<Vec<wire::IdOnly>>(&path, PROBE, "agreement additions") {
            Ok(_) => {}
            Err(ConnectorError::Forbidden { .. }) => missing.push((
                "agreement additions",
                // Additions are part of agreements: the sync also adds and
                // edits them.
                "Finance > Agreements: Inquire, Add and Edit Level All",
            )),
            Err(other) => return Err(other),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing
        .iter()
        .map(|(what, grant)| format!("{what} (grant {grant})"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(ConnectorError::Forbidden {
        message: format!(
            "the credentials work, but the API member's security role cannot read: {list}. Grant these rights \
             in {WHERE}, then test again"
        ),
        permission: Some(
            missing
                .iter()
                .map(|(_, grant)| *grant)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    })
}
