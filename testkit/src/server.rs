//! The scripted HTTP/1.1 server on 127.0.0.1: answers each request from the
//! kit's [`Responder`] and records it with its answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::KitError;
use crate::request::RecordedRequest;
use crate::script::{BASE_URL_PLACEHOLDER, Script, ScriptedResponse, UNMATCHED_STATUS};

/// The largest request body the server reads (a connector's write is a few
/// KiB; anything near this is a bug worth seeing).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// A handler closure: the response for a request, or `None` when it does
/// not answer it (the request is then unmatched).
pub(crate) type Handler = Arc<dyn Fn(&RecordedRequest) -> Option<ScriptedResponse> + Send + Sync>;

/// What answers the server's requests.
#[derive(Clone)]
pub(crate) enum Responder {
    Script(Script),
    Handler(Handler),
}

/// Who answered a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnsweredBy {
    /// A scripted exchange, by name (or `exchange N`).
    Exchange(String),
    /// The handler closure.
    Handler,
    /// Nothing matched; the server sent [`UNMATCHED_STATUS`].
    Unmatched,
    /// The kit could not answer as scripted (the handler panicked, the
    /// scripted response was not valid HTTP, the body could not be read);
    /// the server sent [`UNMATCHED_STATUS`].
    Broken(String),
}

impl AnsweredBy {
    pub(crate) fn describe(&self) -> String {
        match self {
            AnsweredBy::Exchange(name) => name.clone(),
            AnsweredBy::Handler => "handler".into(),
            AnsweredBy::Unmatched => "unmatched".into(),
            AnsweredBy::Broken(why) => format!("kit error: {why}"),
        }
    }
}

/// One request and the status it was answered with.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) request: RecordedRequest,
    pub(crate) status: u16,
    pub(crate) answered_by: AnsweredBy,
}

/// One listening socket of the kit: the main one (no name) or a named one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listening {
    pub(crate) name: Option<String>,
    pub(crate) addr: SocketAddr,
}

impl Listening {
    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{base_url}`, or `{base_url:NAME}` for a named server.
    pub(crate) fn url_placeholder(&self) -> String {
        match &self.name {
            None => BASE_URL_PLACEHOLDER.to_string(),
            Some(name) => format!("{{base_url:{name}}}"),
        }
    }

    /// `{authority}`, or `{authority:NAME}` for a named server.
    pub(crate) fn authority_placeholder(&self) -> String {
        match &self.name {
            None => crate::transcript::AUTHORITY_PLACEHOLDER.to_string(),
            Some(name) => format!("{{authority:{name}}}"),
        }
    }
}

struct State {
    responder: Responder,
    /// How often each scripted exchange answered in this call.
    uses: Vec<u32>,
    served: Vec<Served>,
    /// The main server first.
    servers: Vec<Listening>,
}

/// The kit's servers, all answering from one responder into one record;
/// they stop (with their connections) when this is dropped.
pub(crate) struct Server {
    state: Arc<Mutex<State>>,
    main: Listening,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Dropping an accept loop drops its JoinSet, which aborts every
        // connection task.
        for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            task.abort();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Starts the main server on a free port of 127.0.0.1, on `rt`.
    pub(crate) fn start(rt: &tokio::runtime::Runtime) -> Result<Server, KitError> {
        let state = Arc::new(Mutex::new(State {
            responder: Responder::Script(Script::new()),
            uses: Vec::new(),
            served: Vec::new(),
            servers: Vec::new(),
        }));
        let (main, task) = listen(rt, &state, None)?;
        Ok(Server {
            state,
            main,
            tasks: Mutex::new(vec![task]),
        })
    }

    /// The named server, started on a free port on first use.
    pub(crate) fn named(
        &self,
        rt: &tokio::runtime::Runtime,
        name: &str,
    ) -> Result<Listening, KitError> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = self
            .servers()
            .into_iter()
            .find(|l| l.name.as_deref() == Some(name))
        {
            return Ok(found);
        }
        let (listening, task) = listen(rt, &self.state, Some(name.to_string()))?;
        tasks.push(task);
        Ok(listening)
    }

    /// The main server.
    pub(crate) fn main(&self) -> &Listening {
        &self.main
    }

    /// Every server, the main one first.
    pub(crate) fn servers(&self) -> Vec<Listening> {
        lock(&self.state).servers.clone()
    }

    /// Replaces what answers requests.
    pub(crate) fn set_responder(&self, responder: Responder) {
        let mut state = lock(&self.state);
        state.responder = responder;
        state.uses.clear();
    }

    /// Starts a call: forgets what was served and how often each exchange
    /// answered.
    pub(crate) fn begin_call(&self) {
        let mut state = lock(&self.state);
        state.uses.clear();
        state.served.clear();
    }

    /// What was served since [`Server::begin_call`].
    pub(crate) fn take_served(&self) -> Vec<Served> {
        std::mem::take(&mut lock(&self.state).served)
    }
}

/// Listens on a free port of 127.0.0.1 and serves it on `rt`.
fn listen(
    rt: &tokio::runtime::Runtime,
    state: &Arc<Mutex<State>>,
    name: Option<String>,
) -> Result<(Listening, JoinHandle<()>), KitError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| KitError::io("cannot listen on 127.0.0.1", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| KitError::io("cannot read the server's address", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| KitError::io("cannot set up the server's socket", e))?;
    let listener = {
        let _in_runtime = rt.enter();
        TcpListener::from_std(listener)
            .map_err(|e| KitError::io("cannot set up the server's socket", e))?
    };
    let listening = Listening { name, addr };
    lock(state).servers.push(listening.clone());
    let task = rt.spawn(accept_loop(listener, state.clone(), listening.name.clone()));
    Ok((listening, task))
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>, server: Option<String>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // A failed accept (out of descriptors, a reset before
                    // accept) affects that connection only.
                    tokio::task::yield_now().await;
                    continue;
                };
                let state = state.clone();
                let server = server.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        serve(request, state.clone(), server.clone())
                    });
                    // A connection the client breaks off ends here; the
                    // call's transcript shows what the host made of it.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
    server: Option<String>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (body, body_error) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => (collected.to_bytes().to_vec(), None),
        Err(e) => (
            Vec::new(),
            Some(format!("the request body could not be read: {e}")),
        ),
    };
    let recorded = RecordedRequest {
        server,
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers,
        body,
    };

    let (answered_by, scripted) = match body_error {
        Some(why) => (AnsweredBy::Broken(why), None),
        None => decide(&state, &recorded),
    };
    let servers = lock(&state).servers.clone();
    let (answered_by, response) = match scripted {
        Some(scripted) => match build(&scripted, &servers) {
            Ok(response) => (answered_by, response),
            Err(why) => {
                let why = format!("the scripted response is not valid HTTP: {why}");
                (AnsweredBy::Broken(why.clone()), unmatched(&recorded, &why))
            }
        },
        None => {
            let why = match &answered_by {
                AnsweredBy::Broken(why) => why.clone(),
                _ => "no scripted exchange matches".to_string(),
            };
            (answered_by, unmatched(&recorded, &why))
        }
    };
    lock(&state).served.push(Served {
        request: recorded,
        status: response.status().as_u16(),
        answered_by,
    });
    Ok(response)
}

/// Who answers `request`, and with what (`None`: unmatched or broken).
fn decide(
    state: &Mutex<State>,
    request: &RecordedRequest,
) -> (AnsweredBy, Option<ScriptedResponse>) {
    let handler = {
        let mut guard = lock(state);
        let State {
            responder, uses, ..
        } = &mut *guard;
        match responder {
            Responder::Script(script) => {
                return match script.answer(request, uses) {
                    Some((name, response)) => (AnsweredBy::Exchange(name), Some(response)),
                    None => (AnsweredBy::Unmatched, None),
                };
            }
            Responder::Handler(handler) => handler.clone(),
        }
    };
    // Outside the lock: a handler may take its time, or panic.
    match catch_unwind(AssertUnwindSafe(|| handler(request))) {
        Ok(Some(response)) => (AnsweredBy::Handler, Some(response)),
        Ok(None) => (AnsweredBy::Unmatched, None),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            (
                AnsweredBy::Broken(format!("the handler panicked: {message}")),
                None,
            )
        }
    }
}

/// The HTTP response for a scripted one, with `{base_url}` (and
/// `{base_url:NAME}`) filled in.
fn build(
    scripted: &ScriptedResponse,
    servers: &[Listening],
) -> Result<Response<Full<Bytes>>, String> {
    let fill = |text: &str| {
        servers.iter().fold(text.to_string(), |text, server| {
            text.replace(&server.url_placeholder(), &server.base_url())
        })
    };
    let status = StatusCode::from_u16(scripted.status).map_err(|e| e.to_string())?;
    let mut builder = Response::builder().status(status);
    for (name, value) in &scripted.headers {
        builder = builder.header(name.as_str(), fill(value));
    }
    let body = match std::str::from_utf8(&scripted.body) {
        Ok(text) if text.contains("{base_url") => fill(text).into_bytes(),
        _ => scripted.body.clone(),
    };
    builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())
}

/// The answer to a request nothing answers: [`UNMATCHED_STATUS`], with a
/// JSON body in the `{code, message}` shape many APIs use, so that the
/// connector's error (and so the transcript's result) says what happened.
fn unmatched(request: &RecordedRequest, why: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "code": "SeatsyncTestkitUnmatched",
        "message": format!("seatsync-testkit: {} {}: {why}", request.method, request.path),
    })
    .to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(UNMATCHED_STATUS).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
