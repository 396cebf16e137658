//! The kit itself, with the real ConnectWise component as the connector:
//! requests nothing answers are shown, secrets never are (whatever the
//! server echoes or the component logs), scripts and handlers answer as
//! documented, and the kit works from async tests too.

use std::path::PathBuf;

use insta::assert_yaml_snapshot;
use seatsync_testkit::{
    ConnectorError, Kit, KitError, RequestMatcher, Script, ScriptedExchange, ScriptedResponse,
    Settings, UNMATCHED_STATUS,
};
use serde_json::json;

const API: &str = "/v4_6_release/apis/3.0";

fn kit() -> Kit {
    Kit::new(seatsync_host::DEFAULT_COMPONENT).expect("the built-in connector loads")
}

fn settings(kit: &Kit, private_key: &str) -> Settings {
    [
        ("site", kit.base_url()),
        ("company-id", "acmeit".to_string()),
        ("public-key", "X3pUbl1cK3y".to_string()),
        ("private-key", private_key.to_string()),
        (
            "client-id",
            "3c8e1f52-7d2a-4c5b-9f0e-seatsync-test".to_string(),
        ),
    ]
    .into_iter()
    .collect()
}

fn test_connection_script() -> Script {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts/connectwise/test_connection.json");
    Script::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Everything a transcript shows, in each of the forms a test may print.
fn every_rendering<T>(t: &seatsync_testkit::Transcript<T>) -> String {
    format!(
        "{}\n{}\n{t:?}",
        serde_json::to_string(t).unwrap(),
        t.to_json()
    )
}

/// The script answers the system info and three probes, but not the fourth
/// (one agreement's additions): that request is answered 599, listed under
/// `unmatched`, and the connector's error says so.
#[test]
fn an_unmatched_request_shows_up_in_the_transcript() {
    let kit = kit();
    let mut exchanges = test_connection_script().exchanges().to_vec();
    exchanges.pop();
    let script = exchanges.into_iter().fold(Script::new(), Script::push);
    kit.script(script);
    let t = kit.test_connection(&settings(&kit, "Pr1vate-K3y-do-not-print"));
    assert_eq!(t.unmatched().len(), 1, "{t:?}");
    assert_eq!(
        t.unmatched()[0].path,
        format!("{API}/finance/agreements/102/additions")
    );
    let last = t.exchanges().last().unwrap();
    assert_eq!(
        (last.response.status, last.response.answered_by.as_str()),
        (UNMATCHED_STATUS, "unmatched")
    );
    match t.err() {
        Some(ConnectorError::Remote {
            status, message, ..
        }) => {
            assert_eq!(*status, UNMATCHED_STATUS);
            assert!(message.contains("seatsync-testkit"), "{message}");
        }
        other => panic!("expected the connector to report the 599, got {other:?}"),
    }
    assert_yaml_snapshot!(t.without_headers());
}

/// A kit with no script answers nothing: the first request is unmatched.
#[test]
fn a_kit_without_a_script_leaves_every_request_unmatched() {
    let kit = kit();
    let t = kit.list_companies(&settings(&kit, "Pr1vate-K3y-do-not-print"));
    assert_eq!(t.unmatched().len(), 1, "{t:?}");
    assert!(t.ok().is_none());
}

/// ConnectWise echoes the private key: in an error message (which the
/// connector puts in its error) and as a company's name (which the
/// connector returns). The values the connector returned hold the key; no
/// rendering of the transcript does.
#[test]
fn a_secret_the_server_echoes_never_appears_in_a_transcript() {
    const KEY: &str = "Echo-Me-Pr1vate-K3y";
    let kit = kit();
    kit.script(
        Script::new()
            .exchange(
                RequestMatcher::get(format!("{API}/system/info")),
                ScriptedResponse::json(
                    400,
                    json!({
                        "code": "InvalidObject",
                        "message": format!("the key {KEY} is not valid"),
                        "errors": [{"code": "Bad", "message": KEY, "field": KEY}],
                    }),
                ),
            )
            .exchange(
                RequestMatcher::get(format!("{API}/company/companies")),
                ScriptedResponse::json(
                    200,
                    json!([{"id": 254, "identifier": KEY, "name": format!("Contoso {KEY}")}]),
                )
                .header("X-Echo", KEY),
            ),
    );
    let settings = settings(&kit, KEY);

    let t = kit.test_connection(&settings);
    let raw = format!("{:?}", t.outcome());
    assert!(
        raw.contains(KEY),
        "the echo reached the connector's error: {raw}"
    );
    let shown = every_rendering(&t);
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert_yaml_snapshot!("server_echo_error", t.without_headers());

    let t = kit.list_companies(&settings);
    let companies = t.expect_ok();
    assert_eq!(companies[0].name, format!("Contoso {KEY}"));
    let shown = every_rendering(&t);
    assert!(!shown.contains(KEY), "{shown}");
    assert_yaml_snapshot!("server_echo_value", t.without_headers());
}

/// The server hands the private key back as the tenant's codebase (the
/// connector's `codebase = auto` lookup): the connector then sends it in
/// every path, logs it (`connected to …/<key>/apis/3.0`) and returns it as
/// the endpoint. The key is 5 characters, shorter than the host's own
/// redactor looks for, so only the kit's redaction stands between it and
/// the snapshot.
#[test]
fn a_secret_the_component_logs_never_appears_in_a_transcript() {
    const KEY: &str = "Zq7Xw";
    let kit = kit();
    let api = format!("/{KEY}/apis/3.0");
    let mut script = Script::new().exchange(
        RequestMatcher::get("/login/companyinfo/acmeit"),
        ScriptedResponse::json(
            200,
            json!({"Codebase": format!("{KEY}/"), "IsCloud": "False"}),
        ),
    );
    for exchange in test_connection_script().exchanges() {
        let mut exchange = exchange.clone();
        exchange.request.path = exchange.request.path.replace(API, &api);
        script = script.push(exchange);
    }
    kit.script(script);
    let mut settings = settings(&kit, KEY);
    settings.set("codebase", "auto");

    let t = kit.test_connection(&settings);
    let info = t.expect_ok();
    assert_eq!(info.endpoint, format!("{}{api}", kit.base_url()));
    assert!(
        t.log().iter().any(|l| l.contains("connected to")),
        "{:?}",
        t.log()
    );
    assert!(t.unmatched().is_empty(), "{t:?}");
    let shown = every_rendering(&t);
    assert!(!shown.contains(KEY), "{shown}");
    assert!(
        shown.contains("/[redacted]/apis/3.0/system/info"),
        "{shown}"
    );
    assert_yaml_snapshot!(t.without_headers());
}

/// Settings `plan-network` refuses: nothing is called, nothing is sent, and
/// the transcript says why.
#[test]
fn settings_the_connector_refuses_are_not_called_with() {
    let kit = kit();
    kit.script(test_connection_script());
    let mut settings = settings(&kit, "Pr1vate-K3y-do-not-print");
    settings.remove("client-id");
    let t = kit.test_connection(&settings);
    assert!(
        matches!(t.err(), Some(ConnectorError::InvalidConfig(_))),
        "{t:?}"
    );
    assert!(t.exchanges().is_empty());
    assert_yaml_snapshot!(t);
}

#[test]
fn plan_network_shows_the_endpoints_and_counts_the_secrets() {
    let kit = kit();
    let t = kit.plan_network(&settings(&kit, "Pr1vate-K3y-do-not-print"));
    let plan = t.expect_ok();
    assert_eq!(plan.endpoints.len(), 1);
    assert_eq!(plan.endpoints[0].authority, kit.authority());
    assert!(plan.derived_secrets > 0);
    assert_yaml_snapshot!(t);
}

/// A 503 scripted for one answer, then a 200: the connector retries once.
/// Use counts start again with every call, so the second call sees the 503
/// too.
#[test]
fn a_used_up_exchange_lets_the_next_one_answer_and_every_call_starts_afresh() {
    let kit = kit();
    let unavailable = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/connectwise/scenarios/service_unavailable.html");
    let mut script = Script::new().push(
        ScriptedExchange::new(
            RequestMatcher::get(format!("{API}/system/info")),
            ScriptedResponse::file(503, &unavailable).unwrap(),
        )
        .named("503 gateway page")
        .times(1),
    );
    script = script.then(test_connection_script());
    kit.script(script);
    for _ in 0..2 {
        let t = kit.test_connection(&settings(&kit, "Pr1vate-K3y-do-not-print"));
        t.expect_ok();
        let answered: Vec<&str> = t
            .exchanges()
            .iter()
            .take(2)
            .map(|e| e.response.answered_by.as_str())
            .collect();
        assert_eq!(answered, ["503 gateway page", "system info"]);
        assert_eq!(t.requests(), 6);
    }
}

/// A handler that panics: the request is answered 599 and the panic's
/// message is in the transcript; the kit goes on working.
#[test]
fn a_panicking_handler_is_reported_not_fatal() {
    let kit = Kit::with_handler(seatsync_host::DEFAULT_COMPONENT, |request| {
        if request.path.ends_with("/company/companies") {
            panic!("the handler cannot answer {}", request.path);
        }
        None
    })
    .unwrap();
    let t = kit.list_companies(&settings(&kit, "Pr1vate-K3y-do-not-print"));
    assert_eq!(t.unmatched().len(), 1);
    assert_eq!(
        t.exchanges()[0].response.answered_by,
        format!(
            "kit error: the handler panicked: the handler cannot answer {API}/company/companies"
        )
    );
    kit.handler(|_| Some(ScriptedResponse::json(200, json!([]))));
    let t = kit.list_companies(&settings(&kit, "Pr1vate-K3y-do-not-print"));
    assert_eq!(t.expect_ok().len(), 0);
}

/// `{base_url}` in a scripted response is the server's own URL (for a
/// `Link` header or an absolute URL in a body); the transcript shows the
/// placeholder again.
#[test]
fn base_url_placeholders_in_responses_are_filled_in() {
    let kit = kit();
    kit.script(Script::new().exchange(
        RequestMatcher::get(format!("{API}/company/companies")),
        ScriptedResponse::json(
            200,
            json!([{"id": 1, "name": "Contoso at {base_url}/contoso"}]),
        ),
    ));
    let t = kit.list_companies(&settings(&kit, "Pr1vate-K3y-do-not-print"));
    let companies = t.expect_ok();
    assert_eq!(
        companies[0].name,
        format!("Contoso at {}/contoso", kit.base_url())
    );
    assert!(
        t.to_json().contains("\"Contoso at {base_url}/contoso\""),
        "{t:?}"
    );
}

#[test]
fn what_is_not_a_component_is_refused_with_the_hosts_reason() {
    let error = Kit::new(b"not a component").unwrap_err();
    assert!(matches!(error, KitError::Component(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("cannot load the connector component"),
        "{error}"
    );
    let error = Kit::from_file("/nonexistent/connector.wasm").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cargo build --target wasm32-wasip2"),
        "{error}"
    );
}

/// From an async test the kit blocks the test's thread while its own
/// runtime drives the call.
#[tokio::test]
async fn the_kit_works_inside_an_async_test() {
    let kit = kit();
    kit.script(test_connection_script());
    let t = kit.test_connection(&settings(&kit, "Pr1vate-K3y-do-not-print"));
    assert_eq!(t.requests(), 5);
    t.expect_ok();
}

/// Settings that lead elsewhere than the kit: the kit leaves that endpoint
/// out of the sandbox's policy, so the host refuses every request (nothing
/// reaches the network) and the transcript says why.
#[test]
fn requests_to_anything_but_the_kit_are_refused_not_sent() {
    let kit = kit();
    kit.script(test_connection_script());
    let mut settings = settings(&kit, "Pr1vate-K3y-do-not-print");
    settings.set("site", "https://cw.example.invalid");
    let t = kit.test_connection(&settings);
    assert!(t.exchanges().is_empty(), "{t:?}");
    assert_eq!(t.requests(), 0, "refused requests are not sent");
    assert!(!t.not_answered().is_empty(), "{t:?}");
    assert!(t.not_answered().iter().all(|n| n.denied), "{t:?}");
    assert!(t.ok().is_none());
    assert_yaml_snapshot!(t);
}

/// A second server of the kit (for a connector with a separate sign-in
/// host): requests to it are marked with its name, its URL has its own
/// placeholder, and matchers can ask for it.
#[test]
fn a_named_server_answers_from_the_same_script() {
    let kit = kit();
    let other = kit.server_url("cw").unwrap();
    assert_ne!(other, kit.base_url());
    assert_eq!(kit.server_url("cw").unwrap(), other, "started once");
    assert!(matches!(
        kit.server_url("not a name"),
        Err(KitError::InvalidServerName(_))
    ));
    let script = Script::new()
        .exchange(
            RequestMatcher::get(format!("{API}/system/info")).on_server("elsewhere"),
            ScriptedResponse::empty(500),
        )
        .then(test_connection_script());
    kit.script(script);
    let mut settings = settings(&kit, "Pr1vate-K3y-do-not-print");
    settings.set("site", other.as_str());
    let t = kit.test_connection(&settings);
    assert_eq!(t.expect_ok().endpoint, format!("{other}{API}"));
    assert!(
        t.exchanges()
            .iter()
            .all(|e| e.request.server.as_deref() == Some("cw")),
        "{t:?}"
    );
    let shown = t.to_json();
    assert!(shown.contains("{base_url:cw}/v4_6_release"), "{shown}");
    assert!(!shown.contains(&kit.base_url()), "{shown}");
}
