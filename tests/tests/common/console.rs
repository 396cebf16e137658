//! Driving `seatsync serve`: the server as a process on a free loopback
//! port, and a small cookie-keeping HTTP client.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seatsync_fixtures::{DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PUBLIC_KEY};

use super::{Env, wait_until};

pub const OWNER: &str = "owner";
pub const OWNER_PASSWORD: &str = "correct horse battery";

/// A running `seatsync serve`, stopped (SIGKILL) on drop unless stopped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The one-time setup link it printed, if any.
    pub setup_link: Option<String>,
    output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `seatsync serve --listen 127.0.0.1:0 ARGS…` on `env`'s database,
    /// with the clock at `now`; waits for the address it prints.
    pub fn start(env: &Env, args: &[&str], now: Option<&str>) -> Server {
        let mut command = env.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.args(args);
        if let Some(now) = now {
            command.env(seatsync_host::clock::NOW_VAR, now);
        }
        let mut child = command.spawn().expect("seatsync serve starts");
        // Both streams are read as they come (a full pipe would stall the
        // server), into one list of lines.
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let lines = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut server = Server {
            child,
            base: String::new(),
            setup_link: None,
            output,
        };
        wait_until("the console's address", Duration::from_secs(120), || {
            let out = server.output.lock().unwrap();
            out.iter()
                .any(|l| l.starts_with("Create the owner") || l.starts_with("Log in at"))
        });
        let out = server.output();
        let url = out
            .lines()
            .find_map(|l| l.strip_prefix("seatsync console: "))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the console prints its address");
        server.base = url.trim_end_matches('/').to_owned();
        server.setup_link = out
            .lines()
            .filter_map(|l| {
                l.split_once(": http")
                    .map(|(_, link)| format!("http{link}"))
            })
            .find(|link| link.contains("/setup?token="));
        server
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// A client with no cookie.
    pub fn client(&self) -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .max_redirects(0)
                .http_status_as_error(false)
                // A new connection per request: the server may close one
                // after refusing a form without reading its body, and a
                // POST on a pooled connection it closed fails ("peer
                // disconnected") instead of reaching it.
                .max_idle_connections(0)
                .build()
                .new_agent(),
            base: self.base.clone(),
            cookies: BTreeMap::new(),
            seen: Vec::new(),
        }
    }

    /// Stops it with SIGTERM and returns its exit status.
    pub fn stop(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = self.child.wait().expect("the server exits");
        wait_until("the last output", Duration::from_secs(5), || {
            self.output().contains("Stopped")
        });
        (status.code().unwrap_or(-1), self.output())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One answer.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

/// A client that keeps cookies, as a browser does, and every body it saw.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    /// The cookies it holds.
    pub cookies: BTreeMap<String, String>,
    /// Every body it received.
    pub seen: Vec<String>,
}

impl Client {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn page(&mut self, mut response: ureq::http::Response<ureq::Body>) -> Page {
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        self.seen.push(body.clone());
        Page {
            status,
            location,
            set_cookies,
            body,
        }
    }

    pub fn get(&mut self, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let response = self
            .agent
            .get(&url)
            .header("cookie", self.cookie_header())
            .call()
            .expect("the console answers");
        self.page(response)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send_form(form.iter().copied())
            .expect("the console answers");
        self.page(response)
    }

    /// The session's CSRF token, from any page's forms.
    pub fn csrf(&mut self) -> String {
        let page = self.get("/accounts");
        let page = if page.status == 200 {
            page
        } else {
            self.get("/")
        };
        hidden(&page.body, "csrf").unwrap_or_default()
    }

    /// Logs in; returns the answer to the login form.
    pub fn log_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login");
        let token = hidden(&form.body, "form").expect("the login form has a token");
        self.post(
            "/login",
            &[
                ("form", &token),
                ("username", username),
                ("password", password),
            ],
        )
    }
}

/// A hidden field's value in a page.
pub fn hidden(body: &str, name: &str) -> Option<String> {
    let at = body.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &body[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Creates the owner through the setup link; the client is logged in.
pub fn set_up_owner(server: &Server) -> Client {
    let mut owner = server.client();
    let link = server
        .setup_link
        .clone()
        .expect("a first start prints a setup link");
    let form = owner.get(&link);
    assert_eq!(form.status, 200, "{}", form.body);
    let token = hidden(&form.body, "token").expect("the setup token");
    let form_token = hidden(&form.body, "form").expect("the form token");
    let created = owner.post(
        "/setup",
        &[
            ("token", &token),
            ("form", &form_token),
            ("username", OWNER),
            ("password", OWNER_PASSWORD),
            ("confirm", OWNER_PASSWORD),
        ],
    );
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.location.as_deref(), Some("/?done=welcome"));
    owner
}

/// The connection form's fields for the demo site, with `private_key`.
pub fn demo_connection<'a>(
    csrf: &'a str,
    site: &'a str,
    private_key: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("setting:site", site),
        ("setting:company-id", DEMO_COMPANY_ID),
        ("setting:public-key", DEMO_PUBLIC_KEY),
        ("setting:private-key", private_key),
        ("setting:client-id", DEMO_CLIENT_ID),
        ("setting:codebase", ""),
        ("allow_http", "on"),
    ]
}
