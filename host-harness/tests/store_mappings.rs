//! Connections, data types, usage, mappings and the sync plan.

mod common;

use common::TestDb;
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use seatsync_contract::{Settings, SyncLine};
use seatsync_host::store::{
    DataType, DataTypes, OrgMapping, PackageMapping, Store, StoreError, StoredConnection,
};
use seatsync_host::usage::{Usage, parse_usage};

const T: &str = "default";

fn open() -> (TestDb, Store) {
    let db = TestDb::new();
    let store = db.open();
    (db, store)
}

fn usage(rows: &str) -> Usage {
    let text = format!("org_id,org_name,package,active_users\n{rows}");
    parse_usage(text.as_bytes(), None).expect("test usage is valid")
}

/// A ConnectWise connection: its six settings, the private key secret.
fn conn(private_key: &str) -> StoredConnection {
    let settings: Settings = [
        ("site", "na.myconnectwise.net"),
        ("company-id", "acme"),
        ("public-key", "pub123"),
        ("private-key", private_key),
        ("client-id", "0000-1111"),
        ("codebase", "auto"),
    ]
    .into_iter()
    .collect();
    StoredConnection::new(
        settings,
        ["private-key".to_string()],
        false,
        Some("/etc/ssl/extra.pem".into()),
    )
}

/// Options from (key, value) pairs.
fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// ConnectWise's options for a billable, taxable product.
fn billable() -> BTreeMap<String, String> {
    opts(&[("bill-method", "billable"), ("taxable", "true")])
}

/// ConnectWise's options for a no-charge, untaxed product.
fn no_charge() -> BTreeMap<String, String> {
    opts(&[("bill-method", "no-charge"), ("taxable", "false")])
}

fn pkg_map(product_id: i64) -> PackageMapping {
    PackageMapping {
        product_id,
        product_identifier: Some(format!("SKU-{product_id}")),
        product_description: Some("Email security".into()),
        options: billable(),
    }
}

fn org_map(company_id: i64, agreement_id: i64) -> OrgMapping {
    OrgMapping {
        company_id,
        agreement_id,
        company_name: Some("Contoso Ltd".into()),
        agreement_name: Some("Managed Services".into()),
    }
}

#[test]
fn connection_round_trips_and_debug_redacts_the_key() {
    let (d, store) = open();
    assert_eq!(store.connection(T).unwrap(), None);
    store.save_connection(T, &conn("s3cr3t-private")).unwrap();
    let got = store.connection(T).unwrap().expect("saved");
    assert_eq!(got, conn("s3cr3t-private"));
    assert_eq!(got.settings.get("private-key"), Some("s3cr3t-private"));
    assert_eq!(
        got.settings.keys().collect::<Vec<_>>(),
        [
            "client-id",
            "codebase",
            "company-id",
            "private-key",
            "public-key",
            "site"
        ]
    );
    assert_eq!(got.secret_keys, BTreeSet::from(["private-key".to_string()]));
    assert!(!got.allow_http);
    assert_eq!(
        got.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ssl/extra.pem"))
    );
    let debug = format!("{got:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(debug.contains("private-key"), "{debug}");
    // The secret is kept apart from the plain settings, sealed
    // (`tests/sealed_secrets.rs` has the rest).
    if !d.is_sqlite() {
        return;
    }
    let raw = rusqlite::Connection::open(d.location()).unwrap();
    let secrets: Vec<(String, String)> = raw
        .prepare("SELECT key, value FROM connection_secrets WHERE tenant = ?1")
        .unwrap()
        .query_map([T], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].0, "private-key");
    assert!(secrets[0].1.starts_with("sealed:v1:"), "{secrets:?}");
    assert!(!secrets[0].1.contains("s3cr3t"), "{secrets:?}");
    let plain: i64 = raw
        .query_row(
            "SELECT count(*) FROM connection_settings
             WHERE tenant = ?1 AND (key = 'private-key' OR value LIKE '%s3cr3t%')",
            [T],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plain, 0, "the secret is not among the plain settings");
    // Saving again replaces; other tenants are separate.
    store.save_connection(T, &conn("new-key")).unwrap();
    assert_eq!(
        store
            .connection(T)
            .unwrap()
            .unwrap()
            .settings
            .get("private-key"),
        Some("new-key")
    );
    assert_eq!(store.connection("other").unwrap(), None);
}

#[test]
fn connection_with_empty_key_is_rejected_and_nothing_changes() {
    let (_d, store) = open();
    store.save_connection(T, &conn("good")).unwrap();
    let err = store
        .save_connection(T, &conn("  "))
        .expect_err("empty key");
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("private-key is empty"), "{err}");
    assert_eq!(store.connection(T).unwrap(), Some(conn("good")));
}

#[test]
fn invalid_tenant_names_are_rejected() {
    let (_d, store) = open();
    let err = store.data_types("a b").expect_err("space");
    assert!(err.to_string().contains("invalid tenant name"), "{err}");
}

#[test]
fn data_types_default_on_and_toggle_per_tenant() {
    let (_d, store) = open();
    assert_eq!(store.data_types(T).unwrap(), DataTypes::default());
    assert_eq!(
        DataTypes::default(),
        DataTypes {
            user_counts: true,
            packages: true
        }
    );
    store.set_data_type(T, DataType::Packages, false).unwrap();
    assert_eq!(
        store.data_types(T).unwrap(),
        DataTypes {
            user_counts: true,
            packages: false
        }
    );
    assert_eq!(store.data_types("other").unwrap(), DataTypes::default());
    store.set_data_type(T, DataType::Packages, true).unwrap();
    assert!(store.data_types(T).unwrap().packages);
    assert_eq!(
        "user-counts".parse::<DataType>().unwrap(),
        DataType::UserCounts
    );
    let err = "seats".parse::<DataType>().expect_err("unknown");
    assert!(
        err.to_string().contains("use user-counts or packages"),
        "{err}"
    );
}

#[test]
fn usage_import_creates_enabled_unmapped_and_lists() {
    let (_d, store) = open();
    assert_eq!(store.usage_imported_at(T).unwrap(), None);
    let summary = store
        .replace_usage(
            T,
            &usage("o1,One,business,10\no1,One,advanced,2\no2,Two,business,5\n"),
        )
        .unwrap();
    assert_eq!(summary.orgs, 2);
    assert_eq!(summary.rows, 3);
    assert_eq!(summary.new_orgs, ["o1", "o2"]);
    assert_eq!(summary.new_packages, ["advanced", "business"]);
    assert!(store.usage_imported_at(T).unwrap().is_some());

    let packages = store.list_packages(T).unwrap();
    assert_eq!(packages.len(), 2);
    let business = &packages[1];
    assert_eq!(business.key, "business");
    assert!(business.enabled);
    assert_eq!(business.mapping, None);
    assert_eq!((business.orgs, business.active_users), (2, 15));

    let orgs = store.list_orgs(T).unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0].org_id, "o1");
    assert!(orgs[0].enabled && orgs[0].mapping.is_none());
    assert_eq!(orgs[0].usage.get("advanced"), Some(&2));
    assert_eq!(orgs[1].usage.len(), 1);

    // Nothing is mapped, so nothing is synced.
    assert!(store.sync_plan(T).unwrap().is_empty());
}

#[test]
fn mapping_unknown_keys_lists_known_ones() {
    let (_d, store) = open();
    let err = store
        .upsert_package_mapping(T, "business", &pkg_map(1))
        .expect_err("no packages yet");
    assert!(
        err.to_string().contains("no packages are known yet"),
        "{err}"
    );

    store
        .replace_usage(T, &usage("o1,One,business,10\no1,One,advanced,2\n"))
        .unwrap();
    let err = store
        .set_package_enabled(T, "x", false)
        .expect_err("unknown");
    assert_eq!(
        err.to_string(),
        "no package named 'x' in tenant 'default'; known packages: advanced, business — run `seatsync packages`"
    );
    let err = store
        .upsert_org_mapping(T, "o9", &org_map(1, 2))
        .expect_err("unknown org");
    assert_eq!(
        err.to_string(),
        "no organization with id 'o9' in tenant 'default'; known organizations: o1 — run `seatsync orgs`"
    );
    assert!(matches!(
        store.set_org_enabled("other", "o1", false),
        Err(StoreError::UnknownOrg { .. })
    ));
}

#[test]
fn zero_ids_are_rejected_and_change_nothing() {
    let (_d, store) = open();
    store
        .replace_usage(T, &usage("o1,One,business,10\n"))
        .unwrap();
    store
        .upsert_package_mapping(T, "business", &pkg_map(7))
        .unwrap();
    let err = store
        .upsert_package_mapping(T, "business", &pkg_map(0))
        .expect_err("zero");
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("product id cannot be 0"), "{err}");
    assert_eq!(
        store.list_packages(T).unwrap()[0]
            .mapping
            .as_ref()
            .map(|m| m.product_id),
        Some(7)
    );
    assert!(store.upsert_org_mapping(T, "o1", &org_map(0, 1)).is_err());
    assert!(store.upsert_org_mapping(T, "o1", &org_map(1, 0)).is_err());
    assert_eq!(store.list_orgs(T).unwrap()[0].mapping, None);
}

/// The store keeps a package's options as given: it does not check them
/// (the mapping module checks them against the connector's description), so
/// an option ConnectWise does not know round-trips too. Mapping again
/// replaces the options, it does not merge them.
#[test]
fn package_options_round_trip_unchecked() {
    let (d, store) = open();
    store
        .replace_usage(T, &usage("o1,One,business,10\no1,One,advanced,2\n"))
        .unwrap();
    store
        .upsert_org_mapping(T, "o1", &org_map(254, 102))
        .unwrap();
    let custom = opts(&[
        ("bill-method", "do-not-bill"),
        ("taxable", "false"),
        ("colour", "blue \"quoted\" ünïcode"),
    ]);
    store
        .upsert_package_mapping(
            T,
            "business",
            &PackageMapping {
                options: custom.clone(),
                ..pkg_map(101)
            },
        )
        .unwrap();
    store
        .upsert_package_mapping(
            T,
            "advanced",
            &PackageMapping {
                options: BTreeMap::new(),
                ..pkg_map(102)
            },
        )
        .unwrap();

    let packages = store.list_packages(T).unwrap();
    let mapping = |key: &str| {
        packages
            .iter()
            .find(|p| p.key == key)
            .and_then(|p| p.mapping.clone())
            .expect("mapped")
    };
    assert_eq!(
        mapping("business"),
        PackageMapping {
            options: custom.clone(),
            ..pkg_map(101)
        }
    );
    assert_eq!(mapping("advanced").options, BTreeMap::new());
    let plan = store.sync_plan(T).unwrap();
    assert_eq!(
        plan[0].lines,
        [
            line("advanced", 102, 2, BTreeMap::new()),
            line("business", 101, 10, custom),
        ]
    );
    // Stored as a JSON object.
    if !d.is_sqlite() {
        return;
    }
    let raw = rusqlite::Connection::open(d.location()).unwrap();
    let colour: String = raw
        .query_row(
            "SELECT json_extract(options, '$.colour') FROM packages
             WHERE tenant = ?1 AND key = 'business'",
            [T],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(colour, "blue \"quoted\" ünïcode");

    // Mapping again replaces the options as a whole.
    store
        .upsert_package_mapping(
            T,
            "business",
            &PackageMapping {
                options: opts(&[("taxable", "true")]),
                ..pkg_map(101)
            },
        )
        .unwrap();
    assert_eq!(
        store.sync_plan(T).unwrap()[0].lines[1].options,
        opts(&[("taxable", "true")])
    );
    // Unmapping drops them; mapping again starts from what is given.
    store.clear_package_mapping(T, "business").unwrap();
    store
        .upsert_package_mapping(T, "business", &pkg_map(101))
        .unwrap();
    assert_eq!(store.sync_plan(T).unwrap()[0].lines[1].options, billable());
}

/// Ids are any non-zero 64-bit integer (Autotask's are 64-bit, HaloPSA has
/// negative ones); 0 is refused and changes nothing.
#[test]
fn ids_may_be_any_non_zero_64_bit_integer() {
    let (_d, store) = open();
    store
        .replace_usage(T, &usage("o1,One,business,10\no2,Two,business,5\n"))
        .unwrap();
    let big: i64 = 1 << 40;
    store
        .upsert_package_mapping(T, "business", &pkg_map(-42))
        .unwrap();
    store
        .upsert_org_mapping(T, "o1", &org_map(-42, big))
        .unwrap();
    store
        .upsert_org_mapping(T, "o2", &org_map(big, i64::MIN))
        .unwrap();

    let orgs = store.list_orgs(T).unwrap();
    assert_eq!(orgs[0].mapping, Some(org_map(-42, big)));
    assert_eq!(orgs[1].mapping, Some(org_map(big, i64::MIN)));
    assert_eq!(
        store.list_packages(T).unwrap()[0].mapping,
        Some(pkg_map(-42))
    );
    let plan = store.sync_plan(T).unwrap();
    assert_eq!(
        plan.iter()
            .map(|p| (p.org_id.as_str(), p.company_id, p.agreement_id))
            .collect::<Vec<_>>(),
        [("o1", -42, big), ("o2", big, i64::MIN)]
    );
    assert_eq!(plan[0].lines, [line("business", -42, 10, billable())]);
    let req = plan[0].to_request(
        DataTypes::default(),
        false,
        NaiveDate::from_ymd_opt(2027, 6, 15).unwrap(),
        NaiveDate::from_ymd_opt(2027, 6, 1).unwrap(),
    );
    assert_eq!((req.company_id, req.contract_id), (-42, big));
    assert_eq!(req.lines[0].product_id, -42);

    // A large positive product id too.
    store
        .upsert_package_mapping(T, "business", &pkg_map(big))
        .unwrap();
    assert_eq!(store.sync_plan(T).unwrap()[0].lines[0].product_id, big);

    // 0 is refused for each id, and the mapping stays as it was.
    for (result, what) in [
        (
            store.upsert_package_mapping(T, "business", &pkg_map(0)),
            "product id",
        ),
        (
            store.upsert_org_mapping(T, "o1", &org_map(0, big)),
            "company id",
        ),
        (
            store.upsert_org_mapping(T, "o1", &org_map(-42, 0)),
            "agreement id",
        ),
    ] {
        let err = result.expect_err("zero");
        assert!(matches!(err, StoreError::InvalidInput(_)), "{err:?}");
        assert!(
            err.to_string().contains(&format!("{what} cannot be 0")),
            "{err}"
        );
    }
    assert_eq!(
        store.list_packages(T).unwrap()[0].mapping,
        Some(pkg_map(big))
    );
    assert_eq!(
        store.list_orgs(T).unwrap()[0].mapping,
        Some(org_map(-42, big))
    );
}

/// Demo-like data: o1 fully mapped, o2 mapped but disabled, o3 unmapped,
/// `advanced` mapped but disabled, `pro` unmapped.
fn seeded() -> (TestDb, Store) {
    let (d, store) = open();
    store
        .replace_usage(
            T,
            &usage(
                "o1,One,business,10\no1,One,advanced,2\no1,One,pro,1\n\
                 o2,Two,business,5\no3,Three,business,7\no4,Four,business,0\n",
            ),
        )
        .unwrap();
    store
        .upsert_package_mapping(T, "business", &pkg_map(101))
        .unwrap();
    store
        .upsert_package_mapping(
            T,
            "advanced",
            &PackageMapping {
                options: no_charge(),
                ..pkg_map(102)
            },
        )
        .unwrap();
    store
        .upsert_org_mapping(T, "o1", &org_map(254, 102))
        .unwrap();
    store
        .upsert_org_mapping(T, "o2", &org_map(256, 105))
        .unwrap();
    store
        .upsert_org_mapping(T, "o4", &org_map(259, 108))
        .unwrap();
    (d, store)
}

fn line(key: &str, product_id: i64, quantity: u32, options: BTreeMap<String, String>) -> SyncLine {
    SyncLine {
        package_key: key.into(),
        product_id,
        quantity,
        options,
        description: None,
    }
}

#[test]
fn sync_plan_has_only_enabled_mapped_pairs() {
    let (_d, store) = seeded();
    store.set_org_enabled(T, "o2", false).unwrap();
    let plan = store.sync_plan(T).unwrap();
    let ids: Vec<_> = plan.iter().map(|p| p.org_id.as_str()).collect();
    assert_eq!(ids, ["o1", "o4"], "o2 disabled, o3 unmapped");
    assert_eq!((plan[0].company_id, plan[0].agreement_id), (254, 102));
    assert_eq!(plan[0].org_name, "One");
    assert_eq!(
        plan[0].lines,
        [
            line("advanced", 102, 2, no_charge()),
            line("business", 101, 10, billable()),
        ],
        "pro is unmapped"
    );
    assert_eq!(plan[1].lines, [line("business", 101, 0, billable())]);

    store.set_package_enabled(T, "advanced", false).unwrap();
    let plan = store.sync_plan(T).unwrap();
    assert_eq!(plan[0].lines.len(), 1);

    // Turning everything off leaves nothing; turning back on restores.
    store.set_package_enabled(T, "business", false).unwrap();
    assert!(store.sync_plan(T).unwrap().is_empty());
    store.set_package_enabled(T, "business", true).unwrap();
    store.set_org_enabled(T, "o2", true).unwrap();
    assert_eq!(store.sync_plan(T).unwrap().len(), 3);
}

#[test]
fn mapping_keeps_the_switch_and_clear_unmaps() {
    let (_d, store) = seeded();
    store.set_org_enabled(T, "o1", false).unwrap();
    store
        .upsert_org_mapping(T, "o1", &org_map(300, 301))
        .unwrap();
    let o1 = store.list_orgs(T).unwrap().into_iter().next().unwrap();
    assert!(!o1.enabled, "re-mapping does not re-enable");
    assert_eq!(o1.mapping, Some(org_map(300, 301)));
    store.clear_org_mapping(T, "o1").unwrap();
    store.clear_package_mapping(T, "business").unwrap();
    assert_eq!(store.list_orgs(T).unwrap()[0].mapping, None);
    let pkgs = store.list_packages(T).unwrap();
    assert!(
        pkgs.iter()
            .find(|p| p.key == "business")
            .unwrap()
            .mapping
            .is_none()
    );
    assert!(store.sync_plan(T).unwrap().is_empty());
}

#[test]
fn replacing_usage_keeps_mappings_and_drops_old_counts() {
    let (_d, store) = seeded();
    let summary = store
        .replace_usage(T, &usage("o1,One Renamed,business,11\no5,Five,newpkg,3\n"))
        .unwrap();
    assert_eq!(summary.new_orgs, ["o5"]);
    assert_eq!(summary.new_packages, ["newpkg"]);
    assert_eq!(summary.missing_mapped_orgs, ["o2", "o4"]);

    let orgs = store.list_orgs(T).unwrap();
    let o1 = &orgs[0];
    assert_eq!(o1.name, "One Renamed");
    assert_eq!(o1.mapping, Some(org_map(254, 102)), "mapping kept");
    assert_eq!(o1.usage.len(), 1, "old advanced/pro counts are gone");
    let o2 = orgs.iter().find(|o| o.org_id == "o2").unwrap();
    assert!(o2.usage.is_empty() && o2.mapping.is_some());

    let plan = store.sync_plan(T).unwrap();
    assert_eq!(plan.len(), 1, "orgs missing from the usage are not synced");
    assert_eq!(plan[0].lines, [line("business", 101, 11, billable())]);
    // The package mapping survived too.
    let advanced = store
        .list_packages(T)
        .unwrap()
        .into_iter()
        .find(|p| p.key == "advanced")
        .unwrap();
    assert_eq!(advanced.mapping.unwrap().product_id, 102);
    assert_eq!(advanced.orgs, 0);
}

#[test]
fn tenants_are_isolated() {
    let (_d, store) = seeded();
    store
        .replace_usage("acme", &usage("o1,Other One,business,99\n"))
        .unwrap();
    assert!(
        store.sync_plan("acme").unwrap().is_empty(),
        "acme has no mappings"
    );
    let plan = store.sync_plan(T).unwrap();
    assert_eq!(plan[0].lines[1].quantity, 10, "default's usage untouched");
    assert_eq!(store.tenants().unwrap(), ["acme", "default"]);
}

#[test]
fn to_request_carries_switches_and_date() {
    let (_d, store) = seeded();
    store.set_data_type(T, DataType::UserCounts, false).unwrap();
    let plan = store.sync_plan(T).unwrap();
    let req = plan[0].to_request(
        store.data_types(T).unwrap(),
        true,
        NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(),
        NaiveDate::from_ymd_opt(2028, 2, 1).unwrap(),
    );
    assert_eq!(req.today, "2028-02-29");
    assert_eq!(req.start_date, "2028-02-01");
    assert!(req.dry_run);
    assert!(!req.update_quantities);
    assert!(req.create_missing);
    assert_eq!((req.company_id, req.contract_id), (254, 102));
    assert_eq!(req.lines, plan[0].lines);
    assert_eq!(req.lines[0].options, no_charge(), "options carried");
}

#[test]
fn demo_fixture_imports() {
    let (_d, store) = open();
    let usage = parse_usage(include_bytes!("../../fixtures/demo/usage.csv"), None).unwrap();
    let summary = store.replace_usage(T, &usage).unwrap();
    assert_eq!(summary.rows, 16);
    assert_eq!(store.list_orgs(T).unwrap().len(), summary.orgs);
}

#[test]
fn failed_usage_import_changes_nothing() {
    let db = TestDb::new();
    if !db.is_sqlite() {
        // It adds an SQLite trigger to the file.
        return;
    }
    let path = db.location();
    let store = db.open();
    store
        .replace_usage(T, &usage("o1,One,business,10\n"))
        .unwrap();
    // Make the database refuse one row halfway through the next import.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON usage WHEN NEW.org_id = 'o3'
         BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;",
    )
    .unwrap();
    drop(raw);
    let err = store
        .replace_usage(
            T,
            &usage("o1,One,business,20\no2,Two,pro,1\no3,Three,pro,1\n"),
        )
        .expect_err("the trigger refuses o3");
    assert!(err.to_string().contains("refused for the test"), "{err}");
    let orgs = store.list_orgs(T).unwrap();
    assert_eq!(orgs.len(), 1, "o2 was not kept");
    assert_eq!(orgs[0].usage.get("business"), Some(&10), "old count kept");
    let keys: Vec<_> = store
        .list_packages(T)
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    assert_eq!(keys, ["business"], "pro was not kept");
}
