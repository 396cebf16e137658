//! The console in a real browser: headless Chromium, driven over WebDriver
//! (chromedriver), clicks through the whole wizard against the simulator,
//! as a new user following the README would: the setup link, the owner
//! account, a tenant, its connection and test, the data to sync, the usage
//! upload, products, customers (suggestions, then one by hand), a review,
//! approving and applying it, and the history. It asserts on what a person
//! sees and on the simulated ConnectWise afterwards: the same additions as
//! a `seatsync sync` of the same mappings.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! says so and passes, so that `cargo test` passes on a machine with only
//! the Rust toolchain; `.ci/run` installs them and sets
//! `SEATSYNC_REQUIRE_BROWSER=1`, which makes their absence a failure.
//!
//! Screenshots of each page go to the test's temporary folder, and with
//! `SEATSYNC_UPDATE_SCREENSHOTS=1` to `docs/screenshots/` (the README's).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::console::{OWNER, OWNER_PASSWORD, Server};
use common::{Env, assert_no_secret, normalized_state, reference_state};
use fantoccini::{Client, ClientBuilder, Locator};
use seatsync_fixtures::{DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver does not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the browser is here; panics if it must be and is not.
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("SEATSYNC_REQUIRE_BROWSER").is_none(),
            "SEATSYNC_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing: \
             apt-get install chromium chromium-driver"
        );
        eprintln!(
            "skipped: {CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        );
    }
    present
}

/// A browser session with helpers that wait for what a person waits for.
struct Browser {
    client: Client,
    base: String,
    shots: Vec<PathBuf>,
    pages: Vec<String>,
}

impl Browser {
    async fn open(driver: &Driver, base: &str, profile: &Path) -> Browser {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000", "--no-first-run", "--no-default-browser-check",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        let mut shots =
            vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")];
        if std::env::var_os("SEATSYNC_UPDATE_SCREENSHOTS").is_some() {
            shots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots"));
        }
        for dir in &shots {
            std::fs::create_dir_all(dir).expect("a screenshot folder");
        }
        Browser {
            client,
            base: base.to_owned(),
            shots,
            pages: Vec::new(),
        }
    }

    async fn goto(&mut self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.expect("the page loads");
    }

    /// The visible text of the page; empty while a new page replaces it
    /// (its elements go stale under us).
    async fn text(&mut self) -> String {
        let Ok(body) = self.client.find(Locator::Css("body")).await else {
            return String::new();
        };
        let Ok(text) = body.text().await else {
            return String::new();
        };
        if let Ok(source) = self.client.source().await {
            assert_no_secret(&source);
            self.pages.push(source);
        }
        text
    }

    /// Waits until the page shows `needle`; returns the page's text.
    async fn sees(&mut self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the page never showed {needle:?}; it shows:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn fill(&mut self, name: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap_or_else(|_| panic!("a field {name}"));
        field.clear().await.expect("cleared");
        field.send_keys(value).await.expect("typed");
    }

    async fn select(&mut self, name: &str, value: &str) {
        let field = self
            .client
            .find(Locator::Css(&format!("select[name='{name}']")))
            .await
            .unwrap_or_else(|_| panic!("a select {name}"));
        field.select_by_value(value).await.expect("selected");
    }

    /// Clicks the button or link whose text is `label` (the first).
    async fn click(&mut self, label: &str) {
        let xpath = format!(
            "(//button[normalize-space()={q}] | //a[normalize-space()={q}])[1]",
            q = xpath_literal(label)
        );
        let element = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|_| panic!("nothing to click labelled {label:?}"));
        element.click().await.expect("clicked");
    }

    /// Waits until an element matches `css` (after a swap or a load).
    async fn waits_for(&mut self, css: &str) {
        let started = Instant::now();
        while self.client.find(Locator::Css(css)).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nothing ever matched {css}; the page shows:\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click_css(&mut self, css: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("nothing matches {css}"));
        element.click().await.expect("clicked");
    }

    async fn screenshot(&mut self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        for dir in &self.shots {
            std::fs::write(dir.join(format!("{name}.png")), &png)
                .expect("the screenshot is written");
        }
    }
}

/// `N` in "N active products match".
fn match_count(text: &str) -> Option<usize> {
    let at = text.find(" active products match")?;
    text[..at]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn xpath_literal(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_completes_the_wizard_to_a_first_sync_in_a_browser() {
    if !browser_available() {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &["--allow-http"], None);
    let link = server
        .setup_link
        .clone()
        .expect("a first start prints the setup link");
    let driver = Driver::start();
    let profile = tempfile::tempdir().expect("a browser profile folder");
    let mut b = Browser::open(&driver, &server.base, profile.path()).await;

    // The owner account, from the printed link.
    b.goto(&link).await;
    b.sees("Create the owner account").await;
    b.fill("username", OWNER).await;
    b.fill("password", OWNER_PASSWORD).await;
    b.fill("confirm", OWNER_PASSWORD).await;
    b.screenshot("01-setup").await;
    b.click("Create the account").await;
    b.sees("your owner account is ready").await;

    // A tenant, then step 1: the connection, tested before it is saved.
    b.fill("name", "acme").await;
    b.click("Add the tenant").await;
    b.sees("Connection to ConnectWise Manage").await;
    b.fill("setting:site", &env.site()).await;
    b.fill("setting:company-id", DEMO_COMPANY_ID).await;
    b.fill("setting:public-key", DEMO_PUBLIC_KEY).await;
    b.fill("setting:private-key", "a-wrong-key").await;
    b.fill("setting:client-id", DEMO_CLIENT_ID).await;
    b.click_css("input[name='allow_http']").await;
    b.click("Test and save").await;
    let refused = b.sees("the connection test failed").await;
    assert!(!refused.contains("a-wrong-key"));
    // The form kept what was typed, but not the key.
    b.fill("setting:private-key", DEMO_PRIVATE_KEY).await;
    b.click("Test and save").await;
    b.sees("Connected: the connection test passed").await;
    b.click("Test connection").await;
    b.sees("The connection test passed").await;
    b.screenshot("02-connection").await;

    // Step 2: both data types stay on.
    b.click("2. Data to sync").await;
    b.sees("user-counts").await;
    b.screenshot("03-data").await;
    b.click("Save").await;
    b.sees("Saved.").await;

    // Step 3: the vendor's usage file.
    let usage = env.file("usage.csv", seatsync_fixtures::demo::USAGE_CSV);
    b.click("3. Usage").await;
    let file = b
        .client
        .find(Locator::Css("input[type='file']"))
        .await
        .expect("a file field");
    file.send_keys(usage.to_str().expect("a UTF-8 path"))
        .await
        .expect("the file is chosen");
    b.click("Upload").await;
    let text = b.sees("Imported 16 rows for 13 organizations").await;
    assert!(
        text.contains("New packages: advanced, business, professional"),
        "{text}"
    );
    b.screenshot("04-usage").await;

    // Step 4: each package to its product, with the bill method and
    // taxable as the demo's mappings say; the picker searches the catalog.
    let mappings = seatsync_fixtures::demo::mappings();
    let catalog = env.sim.tenant().catalog;
    for (key, m) in &mappings.packages {
        b.click("4. Products").await;
        b.sees(key).await;
        b.click_css(&format!("a[href='/t/acme/products/{key}']"))
            .await;
        let before = match_count(&b.sees(&format!("Product for package {key}")).await);
        // Typing narrows the matches as you type (htmx swaps them in).
        let identifier = catalog
            .iter()
            .find(|p| p["id"] == m.product_id)
            .and_then(|p| p["identifier"].as_str())
            .expect("the product is in the catalog")
            .to_owned();
        b.fill("q", &identifier).await;
        let radio = format!("input[name='product'][value='{}']", m.product_id);
        b.waits_for(&radio).await;
        let started = Instant::now();
        while match_count(&b.text().await) == before {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "typing never narrowed the matches"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        b.click_css(&radio).await;
        b.select("option:bill-method", &m.bill_customer).await;
        b.select("option:taxable", if m.taxable { "true" } else { "false" })
            .await;
        if key == "advanced" {
            b.screenshot("05-product-picker").await;
        }
        b.click(&format!("Map package {key}")).await;
        b.sees("Mapped.").await;
    }
    let text = b.sees("Products").await;
    assert!(!text.contains("not mapped"), "{text}");
    b.screenshot("06-products").await;

    // Step 5: suggestions first, then the rest by hand.
    b.click("5. Customers").await;
    b.click("Suggest matches for the unmapped organizations")
        .await;
    b.sees("Suggested matches").await;
    b.screenshot("07-suggestions").await;
    b.click_css("form[action='/t/acme/suggestions/accept'] button")
        .await;
    b.sees("Mapped.").await;
    let mapped = env.store().list_orgs("acme").expect("the orgs");
    for (org, m) in &mappings.organizations {
        let current = mapped
            .iter()
            .find(|o| &o.org_id == org)
            .and_then(|o| o.mapping.clone());
        if current.as_ref().is_some_and(|c| {
            c.company_id == i64::from(m.company_id) && c.agreement_id == i64::from(m.agreement_id)
        }) {
            continue;
        }
        // By hand: search the company as you type, choose it, then its
        // agreement.
        b.goto(&format!("/t/acme/customers/{org}")).await;
        b.sees("Search the companies").await;
        b.fill("q", &m.company_name).await;
        let choose = format!("a[href='/t/acme/customers/{org}?company={}']", m.company_id);
        b.waits_for(&choose).await;
        b.click_css(&choose).await;
        let radio = format!("input[name='agreement'][value='{}']", m.agreement_id);
        b.waits_for(&radio).await;
        b.click_css(&radio).await;
        b.screenshot("08-customer-picker").await;
        b.click_css("form.stack button[type='submit']").await;
        b.sees("Mapped.").await;
    }
    for (org, m) in &mappings.organizations {
        let view = env
            .store()
            .list_orgs("acme")
            .unwrap()
            .into_iter()
            .find(|o| &o.org_id == org)
            .unwrap();
        let got = view.mapping.expect("mapped");
        assert_eq!(
            (got.company_id, got.agreement_id),
            (i64::from(m.company_id), i64::from(m.agreement_id)),
            "{org}"
        );
    }
    b.goto("/t/acme/customers").await;
    b.sees("organizations are mapped").await;
    b.screenshot("09-customers").await;

    // Step 6: a review, every line approved, applied.
    b.click("6. Review").await;
    b.click("Start a review").await;
    let text = b.sees("Plan #1").await;
    assert!(
        text.contains("to update") && text.contains("to create"),
        "{text}"
    );
    assert_eq!(env.sim.counts().writes, 0, "a review writes nothing");
    b.click("Approve every line").await;
    b.sees("Decision saved.").await;
    b.screenshot("10-review").await;
    b.click("Apply the approved lines").await;
    let text = b.sees("Run #").await;
    assert!(
        text.contains("updated") && text.contains("created"),
        "{text}"
    );
    b.screenshot("11-run").await;

    // Step 7: the history lists the review's dry run and the apply's run.
    b.click("7. History").await;
    let text = b.sees("Next scheduled run").await;
    assert!(text.contains("#2") && text.contains("(dry run)"), "{text}");
    b.screenshot("12-history").await;

    // ConnectWise now holds what one `seatsync sync` of the same mappings
    // makes: the same additions, quantities and conflict left alone.
    assert_eq!(normalized_state(&env.sim), reference_state());

    b.goto("/t/acme").await;
    b.sees("7. History").await;
    b.screenshot("00-overview").await;
    for page in &b.pages {
        assert!(!page.contains(DEMO_PRIVATE_KEY));
    }
    b.client.close().await.expect("the session ends");
    drop(server);
}
