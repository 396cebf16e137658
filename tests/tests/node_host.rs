//! The connector component in a non-Rust host: `examples/node-host` (Node.js,
//! jco and preview2-shim) runs its `npm test` against the simulator, with
//! the component this build embeds.
//!
//! Needs Node.js 20+ and npm. Without them the test says so and passes,
//! unless `SEATSYNC_REQUIRE_NODE=1` (CI) makes it fail. `npm ci` runs
//! first when `node_modules` is missing or older than `package-lock.json`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use seatsync_fixtures::{
    DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SimConfig, Simulator,
};

const NEED_NODE: &str =
    "Node.js 20+ and npm are needed for examples/node-host: apt-get install nodejs npm";

/// Each npm command is killed after this long, so the test always ends.
const NPM_TIMEOUT: Duration = Duration::from_secs(300);

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/node-host")
}

/// Why Node.js 20+ and npm cannot be used here, if they cannot.
fn missing_node() -> Option<String> {
    let version = |program: &str| -> Result<String, String> {
        let out = Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("`{program} --version`: {e}"))?;
        if !out.status.success() {
            return Err(format!("`{program} --version` failed: {}", out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let node = match version("node") {
        Ok(v) => v,
        Err(e) => return Some(e),
    };
    let major: u32 = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return Some(format!("node is {node}"));
    }
    version("npm").err()
}

fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|m| m.modified()).ok()
}

/// What an npm command did; its output went to files.
struct Npm {
    status: Option<ExitStatus>,
    took: Duration,
    stdout: String,
    stderr: String,
}

impl Npm {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn report(&self, what: &str) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after {NPM_TIMEOUT:?}"),
        };
        format!(
            "`{what}` in examples/node-host: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs `npm ARGS` in the example with `envs`, killing it (and what it
/// started) after [`NPM_TIMEOUT`].
fn npm(args: &[&str], envs: &[(&str, String)], logs: &Path) -> Npm {
    let name = args.join("-");
    let out_path = logs.join(format!("{name}.stdout"));
    let err_path = logs.join(format!("{name}.stderr"));
    let mut command = Command::new("npm");
    command
        .args(args)
        .current_dir(example_dir())
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("a log file"))
        .stderr(File::create(&err_path).expect("a log file"));
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let start = Instant::now();
    let mut child = command.spawn().expect("npm starts");
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for npm") {
            break Some(status);
        }
        if start.elapsed() > NPM_TIMEOUT {
            // npm runs node in a child process: end the whole group.
            #[cfg(unix)]
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Npm {
        status,
        took: start.elapsed(),
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

#[test]
fn node_host_runs_the_component_with_its_allow_list() {
    if let Some(why) = missing_node() {
        if std::env::var("SEATSYNC_REQUIRE_NODE").as_deref() == Ok("1") {
            panic!("{NEED_NODE} ({why})");
        }
        eprintln!("skipping the Node.js host test: {NEED_NODE} ({why})");
        return;
    }

    let dir = tempfile::tempdir().expect("a temporary directory");
    let component = dir.path().join("seatsync_plugin.wasm");
    std::fs::write(&component, seatsync_host::DEFAULT_COMPONENT).expect("the component is written");
    let sim = Simulator::start_blocking(SimConfig::default()).expect("the simulator starts");

    let example = example_dir();
    let installed = modified(&example.join("node_modules/.package-lock.json"));
    let locked = modified(&example.join("package-lock.json"));
    if installed.is_none() || installed < locked {
        let ci = npm(&["ci"], &[], dir.path());
        assert!(ci.ok(), "{}", ci.report("npm ci"));
        eprintln!("npm ci took {:.1?}", ci.took);
    }

    let envs = [
        ("SEATSYNC_COMPONENT", component.display().to_string()),
        ("SEATSYNC_SIM_SITE", format!("http://{}", sim.addr())),
        ("SEATSYNC_SIM_COMPANY_ID", DEMO_COMPANY_ID.to_string()),
        ("SEATSYNC_SIM_PUBLIC_KEY", DEMO_PUBLIC_KEY.to_string()),
        ("SEATSYNC_SIM_PRIVATE_KEY", DEMO_PRIVATE_KEY.to_string()),
        ("SEATSYNC_SIM_CLIENT_ID", DEMO_CLIENT_ID.to_string()),
    ];
    let test = npm(&["test"], &envs, dir.path());
    assert!(test.ok(), "{}", test.report("npm test"));
    eprintln!("npm test took {:.1?}", test.took);

    // The Node host reached the simulator, and nothing it ran wrote.
    let counts = sim.counts();
    assert!(counts.total > 0, "the simulator got no request from Node");
    assert_eq!(counts.writes, 0, "a dry run and reads only: no writes");
    sim.shutdown();
}
