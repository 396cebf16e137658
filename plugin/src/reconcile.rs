//! Deciding what a sync does, without doing it.
//!
//! Given the agreement's additions and the requested lines, [`plan`] says for
//! each line whether to create, update, leave alone, report a conflict or
//! skip. It is pure so every rule is tested directly; `sync` carries the plan
//! out.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::SyncRequest;
use crate::wire;

/// An addition that is billing (or will bill): not cancelled as of the sync's
/// day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveAddition {
    /// The addition's id.
    pub id: u32,
    /// The catalog item it bills.
    pub product_id: u32,
    /// Its quantity, as ConnectWise stores it (a double).
    pub quantity: f64,
}

/// The additions of `additions` that are active on `today` (`YYYY-MM-DD`).
///
/// An addition is cancelled when its cancelled date is on or before today;
/// a future cancelled date still bills, so it stays active. Additions without
/// an id or a product cannot be matched and are left out.
pub fn active_additions(additions: &[wire::Addition], today: &str) -> Vec<ActiveAddition> {
    additions
        .iter()
        .filter(|a| !is_cancelled(a.cancelled_date.as_deref(), today))
        .filter_map(|a| {
            Some(ActiveAddition {
                id: wire::id(a.id)?,
                product_id: wire::id(a.product.as_ref()?.id)?,
                quantity: a.quantity.unwrap_or(0.0),
            })
        })
        .collect()
}

/// Whether a cancelled date (`YYYY-MM-DDTHH:MM:SSZ`, or null/empty) is on or
/// before `today`. A date that does not parse counts as not cancelled: the
/// safer mistake is updating a line, not creating a second one.
pub fn is_cancelled(cancelled_date: Option<&str>, today: &str) -> bool {
    match cancelled_date.map(str::trim) {
        None | Some("") => false,
        Some(date) => match date.get(..10) {
            Some(day) if is_day(day) => day <= today,
            _ => false,
        },
    }
}

/// `YYYY-MM-DD` with a plausible month and day.
pub fn is_day(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
    };
    matches!((digits(0..4), digits(5..7), digits(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

/// Whether ConnectWise's double equals the wanted count, once rounded.
pub fn same_quantity(stored: f64, wanted: u32) -> bool {
    stored.round() == f64::from(wanted)
}

/// What to do for one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    /// No active addition: create one.
    Create,
    /// One active addition with another quantity.
    Update {
        /// The addition to patch.
        addition_id: u32,
        /// Its quantity now.
        previous: f64,
    },
    /// One active addition with the right quantity.
    Unchanged {
        /// The addition.
        addition_id: u32,
    },
    /// Several active additions (their ids), or several lines for one product
    /// (no ids).
    Conflict(Vec<u32>),
    /// Nothing to do, for a reason a person can read.
    Skip {
        /// Why.
        reason: String,
        /// The addition concerned, if there is one.
        addition_id: Option<u32>,
    },
}

/// One action per request line, in order.
pub fn plan(request: &SyncRequest, active: &[ActiveAddition]) -> Vec<Action> {
    let mut lines_per_product: HashMap<u32, usize> = HashMap::new();
    for line in &request.lines {
        *lines_per_product.entry(line.product_id).or_default() += 1;
    }
    request
        .lines
        .iter()
        .map(|line| {
            if lines_per_product.get(&line.product_id).copied().unwrap_or(0) > 1 {
                return Action::Conflict(Vec::new());
            }
            let matching: Vec<&ActiveAddition> =
                active.iter().filter(|a| a.product_id == line.product_id).collect();
            match matching.as_slice() {
                [] if !request.create_missing => Action::Skip {
                    reason: "the agreement has no addition for this product and creating additions (the packages data type) is disabled".into(),
                    addition_id: None,
                },
                [] if line.quantity == 0 => Action::Skip {
                    reason: "no active users and no addition: nothing to bill".into(),
                    addition_id: None,
                },
                [] => Action::Create,
                [one] if same_quantity(one.quantity, line.quantity) => Action::Unchanged { addition_id: one.id },
                [one] if !request.update_quantities => Action::Skip {
                    reason: "the quantity differs but updating user counts (the user-counts data type) is disabled".into(),
                    addition_id: Some(one.id),
                },
                [one] => Action::Update { addition_id: one.id, previous: one.quantity },
                several => {
                    let mut ids: Vec<u32> = several.iter().map(|a| a.id).collect();
                    ids.sort_unstable();
                    Action::Conflict(ids)
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BillCustomer, SyncLine};

    fn addition(id: i64, product: i64, quantity: f64, cancelled: Option<&str>) -> wire::Addition {
        wire::Addition {
            id: Some(id),
            product: Some(wire::Reference {
                id: Some(product),
                ..Default::default()
            }),
            quantity: Some(quantity),
            effective_date: Some("2026-01-01T00:00:00Z".into()),
            cancelled_date: cancelled.map(String::from),
            unit_price: None,
        }
    }

    fn request(lines: &[(u32, u32)]) -> SyncRequest {
        SyncRequest {
            company_id: 1,
            agreement_id: 2,
            lines: lines
                .iter()
                .map(|&(product_id, quantity)| SyncLine {
                    package_key: format!("p{product_id}"),
                    product_id,
                    quantity,
                    bill_customer: BillCustomer::Billable,
                    taxable: true,
                    description: None,
                })
                .collect(),
            dry_run: false,
            effective_date: "2026-11-27".into(),
            start_date: "2026-11-27".into(),
            update_quantities: true,
            create_missing: true,
        }
    }

    #[test]
    fn cancelled_means_cancelled_on_or_before_today() {
        let all = [
            addition(1, 10, 5.0, None),
            addition(2, 10, 5.0, Some("2026-11-27T00:00:00Z")),
            addition(3, 10, 5.0, Some("2026-11-26T00:00:00Z")),
            addition(4, 10, 5.0, Some("2026-12-31T00:00:00Z")),
            addition(5, 10, 5.0, Some("")),
            addition(6, 10, 5.0, Some("not a date")),
        ];
        let ids: Vec<u32> = active_additions(&all, "2026-11-27")
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, [1, 4, 5, 6]);
    }

    #[test]
    fn additions_without_id_or_product_are_ignored() {
        let mut no_product = addition(7, 10, 1.0, None);
        no_product.product = None;
        let mut bad_id = addition(-3, 10, 1.0, None);
        bad_id.quantity = None;
        assert!(active_additions(&[no_product, bad_id], "2026-11-27").is_empty());
    }

    #[test]
    fn each_rule_of_the_plan() {
        let active = active_additions(
            &[
                addition(100, 10, 42.0, None),
                addition(101, 11, 41.6, None),
                addition(102, 12, 7.0, None),
                addition(103, 13, 1.0, None),
                addition(104, 13, 2.0, None),
                addition(105, 14, 9.0, Some("2026-01-31T00:00:00Z")),
            ],
            "2026-11-27",
        );
        let req = request(&[
            (10, 42),
            (11, 42),
            (12, 8),
            (13, 5),
            (14, 9),
            (15, 0),
            (16, 3),
            (16, 4),
        ]);
        assert_eq!(
            plan(&req, &active),
            [
                Action::Unchanged { addition_id: 100 },
                Action::Unchanged { addition_id: 101 },
                Action::Update {
                    addition_id: 102,
                    previous: 7.0
                },
                Action::Conflict(vec![103, 104]),
                Action::Create,
                Action::Skip {
                    reason: "no active users and no addition: nothing to bill".into(),
                    addition_id: None
                },
                Action::Conflict(vec![]),
                Action::Conflict(vec![]),
            ]
        );
    }

    #[test]
    fn disabled_data_types_skip_their_writes_only() {
        let active = active_additions(
            &[addition(100, 10, 1.0, None), addition(101, 11, 3.0, None)],
            "2026-11-27",
        );
        let mut req = request(&[(10, 2), (11, 3), (12, 4)]);
        req.update_quantities = false;
        req.create_missing = false;
        let actions = plan(&req, &active);
        assert!(
            matches!(&actions[0], Action::Skip { addition_id: Some(100), reason } if reason.contains("user-counts"))
        );
        assert_eq!(actions[1], Action::Unchanged { addition_id: 101 });
        assert!(
            matches!(&actions[2], Action::Skip { addition_id: None, reason } if reason.contains("packages"))
        );
    }

    #[test]
    fn quantities_compare_after_rounding() {
        assert!(same_quantity(41.9999999, 42));
        assert!(same_quantity(42.4, 42));
        assert!(!same_quantity(42.5, 42));
        assert!(!same_quantity(0.0, 1));
    }

    #[test]
    fn days_are_checked() {
        assert!(is_day("2028-02-29"));
        for bad in [
            "2026-13-01",
            "2026-1-01",
            "20261127",
            "2026-11-00",
            "2026-11-2x",
            "",
            "２０２６-11-27",
        ] {
            assert!(!is_day(bad), "{bad}");
        }
    }
}
