//! Loading the component: the compile cache and the contract-version check.

mod runtime_support;

use seatsync_host::DEFAULT_COMPONENT;
use seatsync_host::runtime::{
    Runtime, RuntimeError, RuntimeOptions, SUPPORTED_CONTRACT_VERSIONS, check_contract,
    connector_version,
};

fn options(cache_dir: &std::path::Path) -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: Some(cache_dir.to_path_buf()),
        ..RuntimeOptions::default()
    }
}

/// The first runtime compiles and writes `<hash>.cwasm`; the second loads
/// it without compiling, and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compiled_component_is_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let first = Runtime::new(DEFAULT_COMPONENT, options(dir.path())).unwrap();
    assert!(!first.loaded_from_cache());
    let file = first
        .cache_file()
        .expect("a cache file was written")
        .to_path_buf();
    assert!(file.is_file());
    assert_eq!(file.parent(), Some(dir.path()));
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("seatsync-connector-") && name.ends_with(".cwasm"),
        "{name}"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file is left behind");
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();

    let second = Runtime::new(DEFAULT_COMPONENT, options(dir.path())).unwrap();
    assert!(second.loaded_from_cache());
    assert_eq!(second.cache_file(), Some(file.as_path()));
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified,
        "the cache file is not rewritten"
    );

    // The cached component runs.
    let server = runtime_support::TestServer::start(runtime_support::connectwise).await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", &server.authority(), true);
    let call = second
        .test_connection(&policy, &runtime_support::connection(&site))
        .await
        .unwrap();
    assert!(call.value.is_ok(), "{:?}", call.value);
}

/// A damaged cache file is replaced, not trusted.
#[test]
fn a_corrupt_cache_file_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let first = Runtime::new(DEFAULT_COMPONENT, options(dir.path())).unwrap();
    let file = first.cache_file().unwrap().to_path_buf();
    std::fs::write(&file, b"not a compiled component").unwrap();
    let second = Runtime::new(DEFAULT_COMPONENT, options(dir.path())).unwrap();
    assert!(!second.loaded_from_cache());
    let third = Runtime::new(DEFAULT_COMPONENT, options(dir.path())).unwrap();
    assert!(third.loaded_from_cache());
}

#[test]
fn without_a_cache_dir_nothing_is_written() {
    let runtime = Runtime::new(DEFAULT_COMPONENT, RuntimeOptions::default()).unwrap();
    assert!(!runtime.loaded_from_cache());
    assert_eq!(runtime.cache_file(), None);
    assert_eq!(runtime.contract_version(), "0.2.0");
}

#[test]
fn bytes_that_are_not_a_component_are_a_load_error() {
    let err = Runtime::new(b"\0asm\x01\0\0\0garbage", RuntimeOptions::default()).unwrap_err();
    assert!(matches!(err, RuntimeError::Load(_)), "{err:?}");
}

/// The component with its connector export renamed: same length, so the
/// binary stays valid and only the name changes.
fn with_connector_export_renamed(to: &str) -> Vec<u8> {
    let from = b"seatsync:psa/connector@0.2.0";
    assert_eq!(from.len(), to.len());
    let mut bytes = DEFAULT_COMPONENT.to_vec();
    let mut replaced = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to.as_bytes());
            replaced += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(replaced > 0, "the component names its connector export");
    bytes
}

#[test]
fn a_component_built_for_another_contract_version_is_refused() {
    let bytes = with_connector_export_renamed("seatsync:psa/connector@0.3.0");
    let err = Runtime::new(&bytes, RuntimeOptions::default()).unwrap_err();
    assert_eq!(
        err,
        RuntimeError::UnsupportedContract {
            found: "0.3.0".into(),
            supported: SUPPORTED.into()
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("0.3.0") && message.contains(SUPPORTED),
        "{message}"
    );
}

/// The versions this host names when it refuses one.
const SUPPORTED: &str = "0.1.x, 0.2.x";

/// A later patch release of a contract this host knows (0.2.1) is
/// semver-compatible: it loads and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compatible_later_version_of_a_known_contract_runs() {
    let bytes = with_connector_export_renamed("seatsync:psa/connector@0.2.1");
    let runtime = Runtime::new(&bytes, RuntimeOptions::default()).expect("0.2.1 is compatible");
    assert_eq!(runtime.contract_version(), "0.2.1");
    let server = runtime_support::TestServer::start(runtime_support::connectwise).await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", &server.authority(), true);
    let call = runtime
        .test_connection(&policy, &runtime_support::connection(&site))
        .await
        .unwrap();
    assert!(call.value.is_ok(), "{:?}", call.value);
}

#[test]
fn a_component_without_a_connector_is_refused() {
    let bytes = with_connector_export_renamed("seatsync:psa/collector@0.2.0");
    let err = Runtime::new(&bytes, RuntimeOptions::default()).unwrap_err();
    match &err {
        RuntimeError::NoConnectorExport { exports } => {
            assert_eq!(exports, &["seatsync:psa/collector@0.2.0".to_string()])
        }
        other => panic!("expected a missing-connector error, got {other:?}"),
    }
    assert!(err.to_string().contains("seatsync:psa/connector"));
}

#[test]
fn contract_versions_are_read_from_export_names() {
    assert_eq!(SUPPORTED_CONTRACT_VERSIONS, ["0.1.0", "0.2.0"]);
    assert_eq!(
        connector_version(["wasi:cli/run@0.2.0", "seatsync:psa/connector@0.1.0"]).unwrap(),
        Some("0.1.0")
    );
    assert_eq!(
        connector_version(["seatsync:psa/connector-admin@1.0.0"]).unwrap(),
        None
    );
    assert_eq!(connector_version([]).unwrap(), None);
    assert!(connector_version(["seatsync:psa/connector"]).is_err());

    assert_eq!(
        check_contract(["seatsync:psa/connector@0.1.0"]).unwrap(),
        "0.1.0"
    );
    assert_eq!(
        check_contract(["seatsync:psa/connector@0.1.1"]).unwrap(),
        "0.1.1",
        "a later patch release is compatible"
    );
    for (names, found) in [
        (vec!["seatsync:psa/connector@0.3.0"], "0.3.0"),
        (vec!["seatsync:psa/connector@1.0.0"], "1.0.0"),
        (vec!["seatsync:psa/connector@0.1"], "0.1"),
        (vec!["seatsync:psa/connector"], "(none)"),
    ] {
        match check_contract(names.clone()).unwrap_err() {
            RuntimeError::UnsupportedContract {
                found: f,
                supported,
            } => {
                assert_eq!(
                    (f.as_str(), supported.as_str()),
                    (found, SUPPORTED),
                    "{names:?}"
                )
            }
            other => panic!("{names:?}: {other:?}"),
        }
    }
    assert!(matches!(
        check_contract(["wasi:http/incoming-handler@0.2.0"]),
        Err(RuntimeError::NoConnectorExport { .. })
    ));
}

/// Cached files are loaded as native code, so the cache must be this user's
/// alone: it is created 0700 with 0600 files; a file others could have
/// replaced is compiled again rather than loaded; a directory others can
/// write to is not used at all.
#[test]
fn a_cache_others_can_write_to_is_not_trusted() {
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("new-cache");
    let first = Runtime::new(DEFAULT_COMPONENT, options(&dir)).unwrap();
    let file = first.cache_file().unwrap().to_path_buf();
    assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));

    std::fs::set_permissions(&file, Permissions::from_mode(0o664)).unwrap();
    let second = Runtime::new(DEFAULT_COMPONENT, options(&dir)).unwrap();
    assert!(
        !second.loaded_from_cache(),
        "a group-writable file is not loaded"
    );
    assert_eq!(
        mode(&file),
        0o600,
        "it was replaced by a fresh, private one"
    );

    std::fs::set_permissions(&dir, Permissions::from_mode(0o777)).unwrap();
    let third = Runtime::new(DEFAULT_COMPONENT, options(&dir)).unwrap();
    assert!(
        !third.loaded_from_cache(),
        "a world-writable cache is not used"
    );
    assert_eq!(third.cache_file(), None);
}
