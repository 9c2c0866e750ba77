//! A local stand-in for the services the remediator's Graph and Gmail adapters talk to, on
//! the loopback: Microsoft's identity platform (client credentials, with a secret or a
//! certificate assertion) and Graph's mail endpoints; Google's token endpoint (a service
//! account's signed JWT) and Gmail's. It answers as the published API descriptions in
//! `fixtures/contracts/` say, checks every Graph and Gmail request against them (a request
//! they do not describe is answered 400 and recorded as a violation), and can fail the way
//! the services do: tokens that expire, throttling with `Retry-After`, a forbidden mailbox,
//! an unknown user, a wrong secret.

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The API descriptions the adapters are held to.
pub struct Contracts {
    graph: Value,
    gmail: Value,
}

impl Contracts {
    pub fn load() -> Result<Self> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/contracts");
        let read = |name: &str| -> Result<Value> {
            let path = dir.join(name);
            serde_json::from_slice(&std::fs::read(&path).with_context(|| path.display().to_string())?)
                .with_context(|| path.display().to_string())
        };
        Ok(Contracts { graph: read("graph-v1.0-mail.json")?, gmail: read("gmail-v1-discovery.json")? })
    }

    /// Checks a Graph request (`path` after `/v1.0`, `query` decoded) against the OpenAPI
    /// description: the path and method, the query parameters it declares, the required
    /// ones, and the JSON body's properties. Ok: the operation's id.
    pub fn check_graph(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<String, String> {
        let paths = self.graph["paths"].as_object().ok_or("no paths in the Graph description")?;
        let (template, item) = paths
            .iter()
            .find(|(template, _)| segments_match(template, path))
            .ok_or_else(|| format!("{method} {path}: no such path in Graph's description"))?;
        let op = &item[method.to_ascii_lowercase()];
        if op.is_null() {
            return Err(format!("{method} {template}: the description has no {method} there"));
        }
        let params: Vec<Value> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(item["parameters"].as_array().into_iter().flatten())
            .map(|p| self.graph_ref(p))
            .collect();
        for (name, _) in query {
            if !params.iter().any(|p| p["in"] == "query" && p["name"] == name.as_str()) {
                return Err(format!("{method} {template}: query parameter {name} is not declared"));
            }
        }
        for p in params.iter().filter(|p| p["in"] == "query" && p["required"] == true) {
            if !query.iter().any(|(n, _)| p["name"] == n.as_str()) {
                return Err(format!("{method} {template}: required query parameter {} missing", p["name"]));
            }
        }
        let request_body = &op["requestBody"];
        match (request_body.is_null(), body) {
            (true, Some(_)) => return Err(format!("{method} {template}: takes no body")),
            (false, None) if request_body["required"] == true => {
                return Err(format!("{method} {template}: requires a body"));
            }
            (false, Some(body)) => {
                let schema = self.graph_ref(&request_body["content"]["application/json"]["schema"]);
                check_properties(&format!("{method} {template}"), body, &schema["properties"])?;
            }
            _ => {}
        }
        Ok(op["operationId"].as_str().unwrap_or_default().to_owned())
    }

    fn graph_ref(&self, value: &Value) -> Value {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
            Some(pointer) => self.graph.pointer(&format!("/{pointer}")).cloned().unwrap_or(Value::Null),
            None => value.clone(),
        }
    }

    /// Checks a Gmail request (`path` as the discovery document writes it, from `gmail/v1/`)
    /// against the discovery document: method and path, declared query parameters, required
    /// ones, and the body's properties against the request schema. Ok: the method's id.
    pub fn check_gmail(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<String, String> {
        let mut methods = Vec::new();
        collect_methods(&self.gmail["resources"], &mut methods);
        let found = methods
            .iter()
            .find(|m| m["httpMethod"] == method && m["path"].as_str().is_some_and(|t| segments_match(t, path)))
            .ok_or_else(|| format!("{method} {path}: no such method in Gmail's discovery document"))?;
        let id = found["id"].as_str().unwrap_or_default().to_owned();
        let params = found["parameters"].as_object().cloned().unwrap_or_default();
        for (name, _) in query {
            if !params.get(name).is_some_and(|p| p["location"] == "query") {
                return Err(format!("{id}: query parameter {name} is not declared"));
            }
        }
        for (name, p) in &params {
            if p["location"] == "query" && p["required"] == true && !query.iter().any(|(n, _)| n == name) {
                return Err(format!("{id}: required query parameter {name} missing"));
            }
        }
        match (found["request"]["$ref"].as_str(), body) {
            (None, Some(_)) => Err(format!("{id}: takes no body")),
            (Some(schema), Some(body)) => {
                check_properties(&id, body, &self.gmail["schemas"][schema]["properties"])?;
                Ok(id)
            }
            (Some(_), None) => Err(format!("{id}: requires a body")),
            (None, None) => Ok(id),
        }
    }
}

fn collect_methods(resources: &Value, out: &mut Vec<Value>) {
    for resource in resources.as_object().into_iter().flat_map(|r| r.values()) {
        out.extend(resource["methods"].as_object().into_iter().flat_map(|m| m.values().cloned()));
        collect_methods(&resource["resources"], out);
    }
}

/// Whether `path` (percent-decoded segments) fits `template` (`{name}` any one segment).
fn segments_match(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || decode(p) == *t)
}

/// Every property of `body` is declared, with the declared JSON type.
fn check_properties(what: &str, body: &Value, declared: &Value) -> Result<(), String> {
    let body = body.as_object().ok_or_else(|| format!("{what}: the body is not a JSON object"))?;
    for (name, value) in body {
        let schema = &declared[name];
        if schema.is_null() {
            return Err(format!("{what}: body property {name} is not declared"));
        }
        let fits = match schema["type"].as_str() {
            Some("string") => value.is_string(),
            Some("array") => value.is_array(),
            Some("boolean") => value.is_boolean(),
            Some("integer") | Some("number") => value.is_number(),
            _ => true,
        };
        if !fits {
            return Err(format!("{what}: body property {name} is not of type {}", schema["type"]));
        }
    }
    Ok(())
}

/// A path segment, percent-decoded.
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// A query string or a form body, decoded as `application/x-www-form-urlencoded`.
fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// The Microsoft 365 app the stand-in accepts.
#[derive(Clone, Debug)]
pub struct MicrosoftAccount {
    pub tenant: String,
    pub client_id: String,
    /// Its client secret, when it signs in with one.
    pub client_secret: Option<String>,
    /// Its certificate's public key (DER RSAPublicKey) and SHA-1 thumbprint, when it signs
    /// in with a certificate assertion.
    pub certificate: Option<(Vec<u8>, Vec<u8>)>,
}

/// The Google service account the stand-in accepts.
#[derive(Clone, Debug)]
pub struct GoogleAccount {
    pub client_email: String,
    /// Its public key (DER RSAPublicKey).
    pub public_key: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Message {
    id: String,
    internet_message_id: String,
    /// Graph: the folder (a well-known name or a created folder's id).
    folder: String,
    /// Gmail: its labels.
    labels: BTreeSet<String>,
}

#[derive(Default)]
struct Mailbox {
    messages: Vec<Message>,
    /// Graph folders made by the client: (id, display name).
    folders: Vec<(String, String)>,
    /// Gmail user labels: (id, name).
    labels: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    microsoft: Option<MicrosoftAccount>,
    google: Option<GoogleAccount>,
    /// Valid tokens and whom each is for ("graph", or "google:<user>").
    tokens: HashMap<String, String>,
    token_requests: usize,
    mailboxes: HashMap<String, Mailbox>,
    forbidden: HashSet<String>,
    throttle: Vec<u64>,
    violations: Vec<String>,
    calls: Vec<String>,
    next_id: u64,
    base: String,
}

const GRAPH_WELL_KNOWN: &[&str] = &[
    "archive",
    "clutter",
    "conflicts",
    "conversationhistory",
    "deleteditems",
    "drafts",
    "inbox",
    "junkemail",
    "localfailures",
    "msgfolderroot",
    "outbox",
    "recoverableitemsdeletions",
    "scheduled",
    "searchfolders",
    "sentitems",
    "serverfailures",
    "syncissues",
];
const GMAIL_SYSTEM_LABELS: &[&str] = &["INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT"];

/// The running stand-in; stops when dropped.
pub struct MailboxApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MailboxApi {
    pub fn start(microsoft: Option<MicrosoftAccount>, google: Option<GoogleAccount>) -> Result<Self> {
        let contracts = Arc::new(Contracts::load()?);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state =
            Arc::new(Mutex::new(State { microsoft, google, base: format!("http://{addr}"), ..State::default() }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                    let state = served.clone();
                    let contracts = contracts.clone();
                    async move { answer(&state, &contracts, request).await }
                });
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(MailboxApi { addr, state, stop: Some(stop), thread: Some(thread) })
    }

    /// `login_url` of a Graph tenant's config.
    pub fn login_url(&self) -> String {
        format!("http://{}/ms", self.addr)
    }
    /// `graph_url` of a Graph tenant's config.
    pub fn graph_url(&self) -> String {
        format!("http://{}/graph/v1.0", self.addr)
    }
    /// `gmail_url` of a Gmail tenant's config.
    pub fn gmail_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The `token_uri` of a service account key file.
    pub fn google_token_url(&self) -> String {
        format!("http://{}/google/token", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("stand-in state"))
    }

    /// Delivers a message with `internet_message_id` to `user`'s inbox.
    pub fn deliver(&self, user: &str, internet_message_id: &str) {
        self.with(|s| {
            s.next_id += 1;
            let id = format!("AAMkAGI{:04}", s.next_id);
            s.mailboxes.entry(user.to_ascii_lowercase()).or_default().messages.push(Message {
                id,
                internet_message_id: internet_message_id.to_owned(),
                folder: "inbox".to_owned(),
                labels: ["INBOX".to_owned(), "UNREAD".to_owned()].into(),
            });
        })
    }

    /// A user that exists with an empty mailbox.
    pub fn add_user(&self, user: &str) {
        self.with(|s| {
            s.mailboxes.entry(user.to_ascii_lowercase()).or_default();
        })
    }

    /// Where a message is: Graph's folder as a name (a created folder by its display name),
    /// and its Gmail labels; None once deleted.
    pub fn whereabouts(&self, user: &str, internet_message_id: &str) -> Option<(String, Vec<String>)> {
        self.with(|s| {
            let mailbox = s.mailboxes.get(&user.to_ascii_lowercase())?;
            let m = mailbox.messages.iter().find(|m| m.internet_message_id == internet_message_id)?;
            let folder = mailbox
                .folders
                .iter()
                .find(|(id, _)| *id == m.folder)
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| m.folder.clone());
            let labels = m
                .labels
                .iter()
                .map(|l| {
                    mailbox.labels.iter().find(|(id, _)| id == l).map(|(_, n)| n.clone()).unwrap_or_else(|| l.clone())
                })
                .collect();
            Some((folder, labels))
        })
    }

    /// Every token handed out so far stops being valid (as when they expire).
    pub fn expire_tokens(&self) {
        self.with(|s| s.tokens.clear())
    }
    /// The next request to Graph or Gmail is answered 429 with `Retry-After: seconds`.
    pub fn throttle_next(&self, seconds: u64) {
        self.with(|s| s.throttle.push(seconds))
    }
    /// Requests on `user`'s mailbox are answered 403.
    pub fn forbid(&self, user: &str) {
        self.with(|s| {
            s.forbidden.insert(user.to_ascii_lowercase());
        })
    }
    /// Requests the descriptions do not describe (each answered 400).
    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }
    /// Every request, `METHOD path`.
    pub fn calls(&self) -> Vec<String> {
        self.with(|s| s.calls.clone())
    }
    /// How many tokens were asked for.
    pub fn token_requests(&self) -> usize {
        self.with(|s| s.token_requests)
    }
}

impl Drop for MailboxApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Answer = (axum::http::StatusCode, axum::http::HeaderMap, String);

fn reply(status: u16, body: Value) -> Answer {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(axum::http::header::CONTENT_TYPE, "application/json".parse().expect("header"));
    let text = if body.is_null() { String::new() } else { body.to_string() };
    (axum::http::StatusCode::from_u16(status).expect("status"), headers, text)
}

fn graph_error(status: u16, code: &str, message: &str) -> Answer {
    reply(status, json!({ "error": { "code": code, "message": message } }))
}

async fn answer(state: &Mutex<State>, contracts: &Contracts, request: axum::extract::Request) -> Answer {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parse_query(parts.uri.query());
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let mut s = state.lock().expect("stand-in state");
    s.calls.push(format!("{method} {path}"));
    if let Some(rest) = path.strip_prefix("/ms/") {
        return microsoft_token(&mut s, rest, &bytes);
    }
    if path == "/google/token" {
        return google_token(&mut s, &bytes);
    }
    let body: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() };
    if !bytes.is_empty() && body.is_none() {
        return graph_error(400, "BadRequest", "the body is not JSON");
    }
    let (service, api_path) = if let Some(rest) = path.strip_prefix("/graph/v1.0") {
        ("graph", rest.to_owned())
    } else if let Some(rest) = path.strip_prefix('/').filter(|p| p.starts_with("gmail/v1/")) {
        ("gmail", rest.to_owned())
    } else {
        return graph_error(404, "NotFound", "no such service here");
    };
    let checked = match service {
        "graph" => contracts.check_graph(&method, &api_path, &query, body.as_ref()),
        _ => contracts.check_gmail(&method, &api_path, &query, body.as_ref()),
    };
    // Creating a folder is a documented Graph call that the excerpt lacks: served, and
    // recorded as checked against the documentation only.
    let undescribed_folder_create =
        service == "graph" && method == "POST" && segments_match("/users/{user-id}/mailFolders", &api_path);
    if let Err(violation) = &checked
        && !undescribed_folder_create
    {
        s.violations.push(violation.clone());
        return graph_error(400, "BadRequest", violation);
    }
    if let Some(seconds) = (!s.throttle.is_empty()).then(|| s.throttle.remove(0)) {
        let mut answer = graph_error(429, "TooManyRequests", "Too many requests; retry later.");
        answer.1.insert(axum::http::header::RETRY_AFTER, seconds.to_string().parse().expect("header"));
        return answer;
    }
    let segments: Vec<String> = api_path.trim_matches('/').split('/').map(decode).collect();
    let user = match service {
        "graph" => segments.get(1).cloned().unwrap_or_default().to_ascii_lowercase(),
        _ => segments.get(3).cloned().unwrap_or_default().to_ascii_lowercase(),
    };
    let principal = bearer.as_ref().and_then(|t| s.tokens.get(t)).cloned();
    let allowed = match service {
        "graph" => principal.as_deref() == Some("graph"),
        _ => principal.as_deref() == Some(&format!("google:{user}")),
    };
    if !allowed {
        return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
    }
    if s.forbidden.contains(&user) {
        return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.");
    }
    if !s.mailboxes.contains_key(&user) {
        return graph_error(404, "ErrorInvalidUser", &format!("The requested user '{user}' is invalid."));
    }
    let next_id = {
        s.next_id += 1;
        s.next_id
    };
    let mailbox = s.mailboxes.get_mut(&user).expect("checked");
    let call = Call { method: &method, segments: &segments, query: &query, body: body.as_ref(), next_id };
    match service {
        "graph" => graph(mailbox, call),
        _ => gmail(mailbox, call),
    }
}

fn odata_string(filter: &str, property: &str) -> Option<String> {
    let quoted = filter.strip_prefix(&format!("{property} eq '"))?.strip_suffix('\'')?;
    Some(quoted.replace("''", "'"))
}

/// One API request, taken apart.
struct Call<'a> {
    method: &'a str,
    segments: &'a [String],
    query: &'a [(String, String)],
    body: Option<&'a Value>,
    /// A fresh number for ids this request makes.
    next_id: u64,
}

fn graph(mailbox: &mut Mailbox, call: Call<'_>) -> Answer {
    let Call { method, segments, query, body, next_id } = call;
    let filter = query.iter().find(|(k, _)| k == "$filter").map(|(_, v)| v.as_str()).unwrap_or_default();
    match (method, &segments[2..]) {
        ("GET", [m]) if m == "messages" => {
            let Some(wanted) = odata_string(filter, "internetMessageId") else {
                return graph_error(400, "BadRequest", "this stand-in answers $filter=internetMessageId eq '...' only");
            };
            let value: Vec<Value> = mailbox
                .messages
                .iter()
                .filter(|m| m.internet_message_id == wanted)
                .map(|m| json!({ "id": m.id }))
                .collect();
            reply(200, json!({ "value": value }))
        }
        ("POST", [m, id, action]) if m == "messages" => {
            let Some(position) = mailbox.messages.iter().position(|m| &m.id == id) else {
                return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
            };
            match action.as_str() {
                "microsoft.graph.move" => {
                    let destination = body.and_then(|b| b["DestinationId"].as_str()).unwrap_or_default().to_owned();
                    let known = GRAPH_WELL_KNOWN.contains(&destination.to_ascii_lowercase().as_str())
                        || mailbox.folders.iter().any(|(f, _)| *f == destination);
                    if !known {
                        return graph_error(400, "ErrorInvalidIdMalformed", "Id is malformed.");
                    }
                    // A moved message gets a new id, as in Exchange.
                    let message = &mut mailbox.messages[position];
                    message.folder = destination.to_ascii_lowercase();
                    if let Some((f, _)) = mailbox.folders.iter().find(|(f, _)| *f == destination) {
                        message.folder = f.clone();
                    }
                    message.id = format!("AAMkAGI{next_id:04}");
                    reply(
                        201,
                        json!({ "id": message.id, "internetMessageId": message.internet_message_id, "parentFolderId": message.folder }),
                    )
                }
                "microsoft.graph.permanentDelete" => {
                    mailbox.messages.remove(position);
                    reply(204, Value::Null)
                }
                _ => graph_error(400, "BadRequest", "this stand-in does not serve that action"),
            }
        }
        ("GET", [f]) if f == "mailFolders" => {
            let name = odata_string(filter, "displayName");
            let value: Vec<Value> = mailbox
                .folders
                .iter()
                .filter(|(_, n)| name.as_deref().is_none_or(|want| want.eq_ignore_ascii_case(n)))
                .map(|(id, n)| json!({ "id": id, "displayName": n }))
                .collect();
            reply(200, json!({ "value": value }))
        }
        ("POST", [f]) if f == "mailFolders" => {
            let Some(name) = body.and_then(|b| b["displayName"].as_str()).map(str::to_owned) else {
                return graph_error(400, "ErrorInvalidRequest", "displayName is required");
            };
            if mailbox.folders.iter().any(|(_, n)| n.eq_ignore_ascii_case(&name)) {
                return graph_error(409, "ErrorFolderExists", "A folder with the specified name already exists.");
            }
            let id = format!("AAMkFolder{next_id:04}");
            mailbox.folders.push((id.clone(), name.clone()));
            reply(201, json!({ "id": id, "displayName": name }))
        }
        _ => graph_error(400, "BadRequest", "this stand-in does not serve that call"),
    }
}

fn gmail(mailbox: &mut Mailbox, call: Call<'_>) -> Answer {
    let Call { method, segments, query, body, next_id } = call;
    let label_exists =
        |mailbox: &Mailbox, l: &str| GMAIL_SYSTEM_LABELS.contains(&l) || mailbox.labels.iter().any(|(id, _)| id == l);
    match (method, &segments[4..]) {
        ("GET", [m]) if m == "messages" => {
            let q = query.iter().find(|(k, _)| k == "q").map(|(_, v)| v.as_str()).unwrap_or_default();
            let Some(wanted) = q.strip_prefix("rfc822msgid:") else {
                return reply(
                    400,
                    json!({"error": {"code": 400, "message": "this stand-in answers q=rfc822msgid: only"}}),
                );
            };
            let spam_and_trash = query.iter().any(|(k, v)| k == "includeSpamTrash" && v == "true");
            let found: Vec<Value> = mailbox
                .messages
                .iter()
                .filter(|m| m.internet_message_id.trim_matches(['<', '>']) == wanted)
                .filter(|m| spam_and_trash || !(m.labels.contains("SPAM") || m.labels.contains("TRASH")))
                .map(|m| json!({ "id": m.id, "threadId": m.id }))
                .collect();
            if found.is_empty() {
                reply(200, json!({ "resultSizeEstimate": 0 }))
            } else {
                reply(200, json!({ "messages": found, "resultSizeEstimate": found.len() }))
            }
        }
        (_, [m, id, rest @ ..]) if m == "messages" => {
            let Some(position) = mailbox.messages.iter().position(|m| &m.id == id) else {
                return reply(404, json!({"error": {"code": 404, "message": "Requested entity was not found."}}));
            };
            match (method, rest) {
                ("POST", [action]) if action == "modify" => {
                    let list = |key: &str| -> Vec<String> {
                        body.and_then(|b| b[key].as_array())
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    };
                    let (add, remove) = (list("addLabelIds"), list("removeLabelIds"));
                    if let Some(bad) = add.iter().chain(&remove).find(|l| !label_exists(mailbox, l)) {
                        return reply(400, json!({"error": {"code": 400, "message": format!("Invalid label: {bad}")}}));
                    }
                    let message = &mut mailbox.messages[position];
                    for l in remove {
                        message.labels.remove(&l);
                    }
                    message.labels.extend(add);
                    reply(200, json!({ "id": message.id, "threadId": message.id, "labelIds": message.labels }))
                }
                ("POST", [action]) if action == "untrash" => {
                    let message = &mut mailbox.messages[position];
                    message.labels.remove("TRASH");
                    reply(200, json!({ "id": message.id, "threadId": message.id, "labelIds": message.labels }))
                }
                ("POST", [action]) if action == "trash" => {
                    let message = &mut mailbox.messages[position];
                    message.labels.remove("INBOX");
                    message.labels.insert("TRASH".to_owned());
                    reply(200, json!({ "id": message.id, "threadId": message.id, "labelIds": message.labels }))
                }
                ("DELETE", []) => {
                    mailbox.messages.remove(position);
                    reply(204, Value::Null)
                }
                _ => reply(400, json!({"error": {"code": 400, "message": "this stand-in does not serve that call"}})),
            }
        }
        ("GET", [l]) if l == "labels" => {
            let mut labels: Vec<Value> =
                GMAIL_SYSTEM_LABELS.iter().map(|l| json!({ "id": l, "name": l, "type": "system" })).collect();
            labels.extend(mailbox.labels.iter().map(|(id, name)| json!({ "id": id, "name": name, "type": "user" })));
            reply(200, json!({ "labels": labels }))
        }
        ("POST", [l]) if l == "labels" => {
            let Some(name) = body.and_then(|b| b["name"].as_str()).map(str::to_owned) else {
                return reply(400, json!({"error": {"code": 400, "message": "Invalid label name"}}));
            };
            if mailbox.labels.iter().any(|(_, n)| n.eq_ignore_ascii_case(&name))
                || GMAIL_SYSTEM_LABELS.contains(&name.as_str())
            {
                return reply(409, json!({"error": {"code": 409, "message": "Label name exists or conflicts"}}));
            }
            let id = format!("Label_{next_id}");
            mailbox.labels.push((id.clone(), name.clone()));
            reply(200, json!({ "id": id, "name": name, "type": "user" }))
        }
        _ => reply(400, json!({"error": {"code": 400, "message": "this stand-in does not serve that call"}})),
    }
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    parse_query(Some(&String::from_utf8_lossy(bytes))).into_iter().collect()
}

/// Checks a JWT's RS256 signature with `public_key`; returns (header, claims).
pub fn verify_jwt(jwt: &str, public_key: &[u8]) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err("not a JWT".into()) };
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "bad signature encoding")?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "the signature does not verify")?;
    let decode = |p: &str| -> Result<Value, String> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).map_err(|_| "bad encoding")?)
            .map_err(|_| "not JSON".to_owned())
    };
    Ok((decode(header)?, decode(claims)?))
}

fn token_error(status: u16, error: &str, description: &str) -> Answer {
    reply(
        status,
        json!({ "error": error, "error_description": description, "error_codes": [7000215], "trace_id": "00000000-0000-0000-0000-000000000000" }),
    )
}

fn issue(s: &mut State, principal: String) -> Answer {
    s.token_requests += 1;
    let token = format!("tok-{}-{}", s.token_requests, ulid::Ulid::new());
    s.tokens.insert(token.clone(), principal);
    reply(200, json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token }))
}

fn microsoft_token(s: &mut State, rest: &str, bytes: &[u8]) -> Answer {
    let Some(account) = s.microsoft.clone() else {
        return token_error(400, "invalid_request", "no Microsoft tenant here");
    };
    if rest != format!("{}/oauth2/v2.0/token", account.tenant) {
        return token_error(400, "invalid_tenant", "AADSTS90002: Tenant not found.");
    }
    let f = form(bytes);
    if f.get("grant_type").map(String::as_str) != Some("client_credentials")
        || f.get("scope").map(String::as_str) != Some("https://graph.microsoft.com/.default")
    {
        return token_error(400, "invalid_request", "AADSTS900144: grant_type and scope are required.");
    }
    if f.get("client_id") != Some(&account.client_id) {
        return token_error(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.");
    }
    let token_url = format!("{}/ms/{}", s.base, rest);
    let signed_in =
        match (&account.client_secret, &account.certificate, f.get("client_secret"), f.get("client_assertion")) {
            (Some(secret), _, Some(given), None) => secret == given,
            (_, Some((public_key, thumbprint)), None, Some(assertion)) => {
                f.get("client_assertion_type").map(String::as_str)
                    == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    && verify_jwt(assertion, public_key).is_ok_and(|(header, claims)| {
                        header["x5t"] == URL_SAFE_NO_PAD.encode(thumbprint)
                            && claims["aud"] == token_url.as_str()
                            && claims["iss"] == account.client_id.as_str()
                            && claims["sub"] == account.client_id.as_str()
                    })
            }
            _ => false,
        };
    if !signed_in {
        return token_error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0\r\nCorrelation ID: 0",
        );
    }
    issue(s, "graph".to_owned())
}

fn google_token(s: &mut State, bytes: &[u8]) -> Answer {
    let Some(account) = s.google.clone() else { return token_error(400, "invalid_request", "no Google account here") };
    let f = form(bytes);
    if f.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return token_error(400, "unsupported_grant_type", "Invalid grant_type");
    }
    let token_url = format!("{}/google/token", s.base);
    let claims = match f.get("assertion").map(|a| verify_jwt(a, &account.public_key)) {
        Some(Ok((_, claims))) => claims,
        _ => return token_error(400, "invalid_grant", "Invalid JWT Signature."),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let fresh = claims["iat"].as_u64().is_some_and(|iat| iat <= now + 60)
        && claims["exp"].as_u64().is_some_and(|exp| exp > now && exp <= now + 3660);
    if claims["iss"] != account.client_email.as_str() || claims["aud"] != token_url.as_str() || !fresh {
        return token_error(400, "invalid_grant", "Invalid JWT: iss, aud, iat or exp.");
    }
    if claims["scope"] != "https://www.googleapis.com/auth/gmail.modify" {
        return token_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    }
    let Some(user) = claims["sub"].as_str().map(str::to_ascii_lowercase) else {
        return token_error(400, "invalid_grant", "no sub: delegation needs the user");
    };
    issue(s, format!("google:{user}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptions_tell_good_requests_from_bad() {
        let c = Contracts::load().unwrap();
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(
            c.check_graph(
                "POST",
                "/users/bob%40x/messages/AAMk/microsoft.graph.move",
                &[],
                Some(&json!({"DestinationId": "junkemail"}))
            ),
            Ok("user.message_move".to_owned())
        );
        assert!(
            c.check_graph("POST", "/users/b/messages/A/microsoft.graph.move", &[], Some(&json!({"destination": "x"})))
                .is_err()
        );
        assert!(c.check_graph("POST", "/users/b/messages/A/move", &[], Some(&json!({"DestinationId": "x"}))).is_err());
        assert!(c.check_graph("GET", "/users/b/messages", &q(&[("$filter", "x"), ("$select", "id")]), None).is_ok());
        assert!(c.check_graph("GET", "/users/b/messages", &q(&[("filter", "x")]), None).is_err());
        assert!(
            c.check_gmail("POST", "gmail/v1/users/b/messages/1/modify", &[], Some(&json!({"addLabelIds": ["SPAM"]})))
                .is_ok()
        );
        assert!(
            c.check_gmail("POST", "gmail/v1/users/b/messages/1/modify", &[], Some(&json!({"addLabelIds": "SPAM"})))
                .is_err()
        );
        assert!(
            c.check_gmail(
                "GET",
                "gmail/v1/users/b/messages",
                &q(&[("q", "rfc822msgid:a"), ("includeSpamTrash", "true")]),
                None
            )
            .is_ok()
        );
        assert!(c.check_gmail("GET", "gmail/v1/users/b/messages", &q(&[("query", "a")]), None).is_err());
        assert!(c.check_gmail("POST", "gmail/v1/users/b/messages/1/trash", &[], Some(&json!({}))).is_err());
    }
}
