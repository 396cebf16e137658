//! `seatsync secrets` and the key options: a connection's private key is
//! sealed in the database, a wrong key is named, rotation keeps the
//! connection working. (The store's own tests, in
//! `host-harness/tests/sealed_secrets.rs`, cover every kind of secret, the
//! upgrade of a database with secrets in clear, and an interrupted
//! rotation.)

mod common;

use std::path::{Path, PathBuf};

use common::{Env, Run, assert_no_secret};
use seatsync_fixtures::DEMO_PRIVATE_KEY;

fn files_hold(db: &Path, needle: &str) -> bool {
    ["", "-wal", "-shm"].iter().any(|suffix| {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        std::fs::read(PathBuf::from(path))
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

fn key_line(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("seatsync-secret-key-v1:"))
        .expect("a key line")
        .to_string()
}

#[test]
fn the_private_key_is_sealed_and_rotation_keeps_the_connection_working() {
    let env = Env::new();
    assert_eq!(env.connect().status, 0);
    assert!(
        !files_hold(&env.db(), DEMO_PRIVATE_KEY),
        "the private key is in the database's files in clear"
    );
    let status = env.ok(&["secrets", "status", "--json"]);
    let status = json(&status);
    let key_id = status["key_ids"][0].as_str().expect("a key id").to_string();
    assert!(
        status["key_source"]
            .as_str()
            .unwrap()
            .ends_with("seatsync.db.key"),
        "{status}"
    );
    assert_eq!(status["sealed"][0]["key_id"], key_id.as_str());
    assert_eq!(status["sealed"][0]["secrets"], 1);

    let rotated = env.ok(&["secrets", "rotate", "--json"]);
    assert_no_secret(&rotated.stdout);
    let rotated = json(&rotated);
    assert_eq!(rotated["resealed"], 1);
    assert_eq!(rotated["retired_key_ids"][0], key_id.as_str());
    let new_id = rotated["new_key_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, key_id);
    let test = env.ok(&["test-connection"]);
    assert_no_secret(&format!("{}{}", test.stdout, test.stderr));
    assert!(!files_hold(&env.db(), DEMO_PRIVATE_KEY));

    // To a key file of the operator's: made by `new-key`, then given.
    let next = env.dir.path().join("next.key");
    let made = env.ok(&["secrets", "new-key", next.to_str().unwrap()]);
    assert!(made.stdout.contains("mode 0600"), "{}", made.stdout);
    let again = env.run(&["secrets", "new-key", next.to_str().unwrap()]);
    assert_eq!(again.status, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let moved = env.ok(&[
        "secrets",
        "rotate",
        "--new-key-file",
        next.to_str().unwrap(),
    ]);
    assert!(
        moved.stdout.contains("--secret-key-file"),
        "{}",
        moved.stdout
    );
    env.ok(&[
        "--secret-key-file",
        next.to_str().unwrap(),
        "test-connection",
    ]);
    // The file beside the database no longer opens the connection.
    let stale = env.run(&["test-connection"]);
    assert_eq!(stale.status, 1);
    assert!(stale.stderr.contains(&new_id), "{}", stale.stderr);
}

#[test]
fn a_wrong_key_is_named_and_two_keys_are_refused() {
    let env = Env::new();
    assert_eq!(env.connect().status, 0);
    let sealed_with = json(&env.ok(&["secrets", "status", "--json"]))["key_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let other = env.dir.path().join("other.key");
    env.ok(&["secrets", "new-key", other.to_str().unwrap()]);

    let wrong = env
        .command(&["test-connection"])
        .env("SEATSYNC_SECRET_KEY", key_line(&other))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&sealed_with), "{stderr}");
    assert!(stderr.contains("SEATSYNC_SECRET_KEY"), "{stderr}");
    assert_no_secret(&stderr);
    assert!(
        !stderr.contains(&key_line(&other)),
        "the key was shown: {stderr}"
    );

    let both = env
        .command(&["--secret-key-file", other.to_str().unwrap(), "history"])
        .env("SEATSYNC_SECRET_KEY", key_line(&other))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert_eq!(both.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("keep only one"), "{stderr}");

    // The right key, as the variable, works.
    let beside = env.db().with_extension("db.key");
    let right = env
        .command(&["test-connection"])
        .env("SEATSYNC_SECRET_KEY", key_line(&beside))
        .output()
        .unwrap();
    assert_eq!(
        right.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
}
