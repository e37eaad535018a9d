//! The HTTP side of the GitHub forge: octocrab's raw requests, run through the shared [`Budget`], with an ETag
//! cache, pagination that stays on the API host, and status codes mapped onto [`GitHubError`].
//!
//! Every REST request goes out as a path relative to the configured API URL. That is deliberate: octocrab only
//! attaches the credentials to relative URLs (and to api.github.com), so a `Link: <https://ghe.example/api/v3/...>`
//! next-page URL followed as is would go out unauthenticated. Links are therefore rewritten to relative paths, and a
//! link to any other host is refused rather than followed.

use std::{sync::Arc, time::Duration};

use dashmap::DashMap;
use futures::StreamExt;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde_json::Value;
use tokio::sync::SemaphorePermit;

use super::{
    GitHubAuth, GitHubConfig, GitHubError, Secret,
    budget::{Budget, RequestKind, Resource, is_rate_limited},
};

/// What holds a request during a rate limit's window, as a refusal names it.
const RATE_LIMIT: &str = "github's rate limit";
/// What holds a write between two others, as a refusal names it.
const PACING: &str = "the pacing of writes (a second apart, 80 a minute)";
/// Attempts for one request that hit a rate limit: the budget makes each retry wait out the window.
const RATE_LIMIT_ATTEMPTS: u32 = 3;
/// The longest GitHub message quoted in an error.
const MAX_MESSAGE: usize = 200;

/// What a GET found: a page, or GitHub's 404.
#[derive(Debug)]
pub(crate) enum Found {
    /// The answer.
    Page(Page),
    /// 404: the error as [`Client::get`] gives it, and GitHub's message (`Not Found`, or what is missing).
    Missing {
        /// The error.
        error: GitHubError,
        /// GitHub's message.
        message: String,
    },
}

/// GitHub's `message`, with the field errors of a 422 after it (`Validation Failed` alone does not say what is
/// wrong; its `errors` do).
fn message_of(body: &[u8]) -> Option<String> {
    let body = serde_json::from_slice::<Value>(body).ok()?;
    let message = body.get("message").and_then(Value::as_str)?;
    let details: Vec<&str> = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("message").and_then(Value::as_str))
        .collect();
    Some(if details.is_empty() { message.to_owned() } else { format!("{message} ({})", details.join("; ")) })
}

/// How GraphQL requests are named in errors.
const GRAPHQL_REQUEST: &str = "POST graphql";

/// A GraphQL answer with data: the data, and the errors about parts of it.
#[derive(Debug, Clone)]
pub(crate) struct GraphqlAnswer {
    /// `data`, never null.
    pub data: Value,
    /// `errors`, each about the field at its path.
    pub errors: Vec<GraphqlError>,
}

/// One GraphQL error as GitHub words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphqlError {
    /// GitHub's `type` (`NOT_FOUND`, `FORBIDDEN`, `RATE_LIMITED`), empty when it gave none.
    pub kind: String,
    /// The response keys down to the field the error is about; empty for an error about the whole query.
    pub path: Vec<String>,
    /// The message.
    pub message: String,
}

impl GraphqlError {
    fn from_json(error: &Value) -> GraphqlError {
        let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let path = error
            .get("path")
            .and_then(Value::as_array)
            .map(|path| path.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned)).collect())
            .unwrap_or_default();
        GraphqlError { kind: text("type"), path, message: text("message") }
    }
}

/// One page of a GET, fresh or from the ETag cache.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// The JSON body.
    pub body: Value,
    /// The next page as a relative path, if any.
    pub next: Option<String>,
    /// The last page as a relative path, if the answer said.
    pub last: Option<String>,
}

#[derive(Debug)]
struct Cached {
    etag: String,
    page: Page,
}

/// Where GraphQL queries go.
#[derive(Debug, Clone)]
enum GraphqlEndpoint {
    /// A path under the API URL (octocrab authenticates it).
    Relative(String),
    /// Another URL, authenticated by us with the token (only the configured URL, never a link from a response).
    Absolute(Uri),
}

/// A raw response: status, headers and body bytes, read completely.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// GitHub's REST and GraphQL APIs behind one budget and one cache.
pub(crate) struct Client {
    octo: Octocrab,
    /// The API URL's path (`/api/v3` on GitHub Enterprise Server, empty on github.com), stripped from links.
    base_path: String,
    /// The API URL's host and port, the only one links may point to.
    authority: Option<String>,
    graphql: GraphqlEndpoint,
    token: Option<Secret>,
    budget: Arc<Budget>,
    cache: DashMap<String, Arc<Cached>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base_path", &self.base_path).field("authority", &self.authority).finish()
    }
}

impl Client {
    /// A client for `config`, sharing `budget`.
    pub(crate) fn new(config: &GitHubConfig, budget: Arc<Budget>) -> Result<Client, GitHubError> {
        let bad_url = |what: &str, url: &str| GitHubError::Config {
            message: format!("{what} '{url}' is not a URL; give one such as https://api.github.com"),
        };
        let api: Uri = config.api_url.parse().map_err(|_| bad_url("GITHUB_API_URL", &config.api_url))?;
        if api.scheme().is_none() || api.authority().is_none() {
            return Err(bad_url("GITHUB_API_URL", &config.api_url));
        }
        let base_path = api.path().trim_end_matches('/').to_owned();
        let authority = api.authority().map(|a| a.as_str().to_owned());
        let graphql_url = config.graphql_url();
        let graphql_uri: Uri = graphql_url.parse().map_err(|_| bad_url("GITHUB_GRAPHQL_URL", &graphql_url))?;
        let graphql = match graphql_uri.authority().map(|a| a.as_str().to_owned()) {
            Some(host) if Some(&host) == authority.as_ref() && graphql_uri.path().starts_with(&base_path) => {
                GraphqlEndpoint::Relative(graphql_uri.path()[base_path.len()..].to_owned())
            }
            _ => GraphqlEndpoint::Absolute(graphql_uri),
        };
        let builder = Octocrab::builder()
            .base_uri(api)
            .map_err(|_| bad_url("GITHUB_API_URL", &config.api_url))?
            // The budget decides about waiting and the pilot about retrying; octocrab's own retries would hide
            // responses (and their rate-limit headers) from the budget.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(config.timeout))
            .set_read_timeout(Some(config.timeout))
            .set_write_timeout(Some(config.timeout));
        let build_failed =
            |err: octocrab::Error| GitHubError::Config { message: format!("cannot build the http client: {err}") };
        let (octo, token) = match &config.auth {
            GitHubAuth::None => (builder.build().map_err(build_failed)?, None),
            GitHubAuth::Token(token) => {
                (builder.personal_token(token.expose().to_owned()).build().map_err(build_failed)?, Some(token.clone()))
            }
            GitHubAuth::App { app_id, private_key_pem, installation_id } => {
                let key = octocrab::EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes()).map_err(|_| {
                    GitHubError::Config {
                        message: "the GitHub App private key is not an RSA key in PEM form; download a new one from \
                                  the app's settings"
                            .to_owned(),
                    }
                })?;
                let app = builder.app((*app_id).into(), key).build().map_err(build_failed)?;
                (app.installation((*installation_id).into()).map_err(build_failed)?, None)
            }
        };
        Ok(Client { octo, base_path, authority, graphql, token, budget, cache: DashMap::new() })
    }

    /// The shared budget.
    pub(crate) fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// A conditional GET of `path` (relative, with its query): a `304 Not Modified` reuses the cached page and costs
    /// nothing.
    pub(crate) async fn get(&self, path: &str) -> Result<Page, GitHubError> {
        match self.get_found(path).await? {
            Found::Page(page) => Ok(page),
            Found::Missing { error, .. } => Err(error),
        }
    }

    /// [`Client::get`], with a 404 answered as [`Found::Missing`] and GitHub's message, for the endpoints whose 404s
    /// differ in what is missing (the contents API: a path, or the commit a ref should name).
    pub(crate) async fn get_found(&self, path: &str) -> Result<Found, GitHubError> {
        let cached = self.cache.get(path).map(|entry| Arc::clone(entry.value()));
        let mut headers = HeaderMap::new();
        if let Some(etag) = cached.as_ref().and_then(|c| http::HeaderValue::from_str(&c.etag).ok()) {
            headers.insert(header::IF_NONE_MATCH, etag);
        }
        let raw = self.send(Method::GET, path, headers, None, RequestKind::Read).await?;
        let request = label(&Method::GET, path);
        if raw.status == StatusCode::NOT_MODIFIED {
            return match cached {
                Some(cached) => Ok(Found::Page(cached.page.clone())),
                None => Err(GitHubError::Malformed { request, message: "304 to a request without an etag".into() }),
            };
        }
        if raw.status == StatusCode::NOT_FOUND {
            let message = self.clean(&message_of(&raw.body).unwrap_or_default());
            return Ok(Found::Missing { error: self.status_error(request, &raw), message });
        }
        if !raw.status.is_success() {
            return Err(self.status_error(request, &raw));
        }
        let body = self.json(&request, &raw.body)?;
        let next = match link(&raw.headers, "next") {
            Some(link) => Some(self.relative_link(&request, &link)?),
            None => None,
        };
        let last = match link(&raw.headers, "last") {
            Some(link) => Some(self.relative_link(&request, &link)?),
            None => None,
        };
        let page = Page { body, next, last };
        if let Some(etag) = raw.headers.get(header::ETAG).and_then(|v| v.to_str().ok()) {
            self.cache.insert(path.to_owned(), Arc::new(Cached { etag: etag.to_owned(), page: page.clone() }));
        }
        Ok(Found::Page(page))
    }

    /// Every item of a paginated list, up to `max_pages` pages. When the first page's `Link` names the last one and
    /// the pages differ only by their `page` number (as GitHub writes them), the rest are asked for together,
    /// [`PAGES_AT_ONCE`] at a time, so a warm listing of ten pages costs two round trips after the first instead of
    /// nine; otherwise `rel="next"` is followed page by page.
    pub(crate) async fn get_all(&self, path: &str, max_pages: usize) -> Result<Vec<Value>, GitHubError> {
        let first = self.get(path).await?;
        let mut items = array(path, first.body)?;
        if max_pages <= 1 {
            return Ok(items);
        }
        if let Some(rest) = first.next.as_deref().zip(first.last.as_deref()).and_then(|(n, l)| numbered(n, l)) {
            let paths: Vec<String> = rest.take(max_pages - 1).collect();
            let mut pages = futures::stream::iter(paths.into_iter().map(|path| async move {
                let page = self.get(&path).await;
                (path, page)
            }))
            .buffered(PAGES_AT_ONCE);
            while let Some((path, page)) = pages.next().await {
                items.extend(array(&path, page?.body)?);
            }
            return Ok(items);
        }
        let mut next = first.next;
        let mut pages = 1;
        while let Some(path) = next.take() {
            let page = self.get(&path).await?;
            items.extend(array(&path, page.body)?);
            pages += 1;
            if pages < max_pages {
                next = page.next;
            }
        }
        Ok(items)
    }

    /// A write (or any uncached request): the JSON answer, `Value::Null` for an empty body.
    pub(crate) async fn write(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, GitHubError> {
        let raw = self.send(method.clone(), path, HeaderMap::new(), body, RequestKind::Write).await?;
        let request = label(&method, path);
        if !raw.status.is_success() {
            return Err(self.status_error(request, &raw));
        }
        if raw.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        self.json(&request, &raw.body)
    }

    /// A GraphQL query: its `data`, or the first of its `errors`. `NOT_FOUND` errors alongside data only null their
    /// own field (one deleted repository of a batch), so the data is returned then.
    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> Result<Value, GitHubError> {
        let answer = self.graphql_answer(query, variables).await?;
        let partial = answer.errors.iter().all(|e| e.kind == "NOT_FOUND");
        if let Some(error) = answer.errors.first().filter(|_| !partial) {
            return Err(GitHubError::Rejected {
                request: GRAPHQL_REQUEST.to_owned(),
                status: 200,
                message: self.clean(&error.message),
            });
        }
        Ok(answer.data)
    }

    /// A GraphQL query's whole answer: its `data` with every error beside it, for a caller that uses what came back
    /// and decides about each error by its path. An answer without data is an error: `RATE_LIMITED` is a rate limit,
    /// others are GitHub refusing the query. A 404, 405 or 501 means the server has no GraphQL endpoint at all
    /// ([`GitHubError::NotFound`]), which a caller may take as "use REST"; other statuses are mapped as for REST.
    ///
    /// The query's `rateLimit { cost }`, when selected, is what it costs: the budget counts it, not one point.
    pub(crate) async fn graphql_answer(&self, query: &str, variables: Value) -> Result<GraphqlAnswer, GitHubError> {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let (path, mut headers) = match &self.graphql {
            GraphqlEndpoint::Relative(path) => (path.clone(), HeaderMap::new()),
            GraphqlEndpoint::Absolute(uri) => {
                let mut headers = HeaderMap::new();
                // octocrab leaves absolute URLs unauthenticated; this one is configured, not taken from a response.
                if let Some(token) = &self.token {
                    let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                        .map_err(|_| GitHubError::Config { message: "the token is not a valid header value".into() })?;
                    value.set_sensitive(true);
                    headers.insert(header::AUTHORIZATION, value);
                }
                (uri.to_string(), headers)
            }
        };
        headers.insert(header::ACCEPT, http::HeaderValue::from_static("application/json"));
        // A query only reads, so it is not paced like a write, though it travels as a POST.
        let raw = self.send(Method::POST, &path, headers, Some(&body), RequestKind::Read).await?;
        let request = GRAPHQL_REQUEST.to_owned();
        if matches!(raw.status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED) {
            return Err(GitHubError::NotFound { request });
        }
        if !raw.status.is_success() {
            return Err(self.status_error(request, &raw));
        }
        let mut answer = self.json(&request, &raw.body)?;
        let errors: Vec<GraphqlError> = answer
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| errors.iter().map(GraphqlError::from_json).collect())
            .unwrap_or_default();
        let data = answer.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        if let Some(cost) = data.pointer("/rateLimit/cost").and_then(Value::as_u64) {
            // The response was counted as one point when it arrived; a query costs what GitHub says it cost.
            self.budget.add_points(cost.saturating_sub(1));
        }
        if data.is_null() {
            let error = errors.first();
            let message = error.map_or("an answer without data or errors", |e| e.message.as_str());
            return Err(match error.map(|e| e.kind.as_str()) {
                Some("RATE_LIMITED") => GitHubError::RateLimited { request },
                _ => GitHubError::Rejected { request, status: 200, message: self.clean(message) },
            });
        }
        Ok(GraphqlAnswer { data, errors })
    }

    /// Sends one request through the budget, retrying rate-limited answers after their window.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<&Value>,
        kind: RequestKind,
    ) -> Result<Raw, GitHubError> {
        let request = label(&method, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let raw = {
                let _permit = self.acquire(&request, kind, &self.resource_of(path)).await?;
                let mut builder = http::Request::builder().method(method.clone()).uri(path);
                for (name, value) in &headers {
                    builder = builder.header(name, value);
                }
                let built = self.octo.build_request(builder, body).map_err(|err| GitHubError::Malformed {
                    request: request.clone(),
                    message: self.clean(&err.to_string()),
                })?;
                // A request that changes something and is not plainly refused may have been carried out: the
                // write's scope is told, so a failure after it is not taken for nothing done.
                let acts = method != Method::GET && self.resource_of(path) != Resource::GRAPHQL;
                let answered = async {
                    let response =
                        self.octo.execute(built).await.map_err(|err| self.transport_error(&request, &err))?;
                    let (parts, body) = response.into_parts();
                    let bytes = body.collect().await.map_err(|err| self.transport_error(&request, &err))?.to_bytes();
                    Ok::<_, GitHubError>(Raw { status: parts.status, headers: parts.headers, body: bytes.to_vec() })
                }
                .await;
                if acts && answered.as_ref().map_or(true, |raw| !raw.status.is_client_error()) {
                    crate::deadline::may_have_acted();
                }
                answered?
            };
            self.budget.observe(raw.status, &raw.headers, &raw.body);
            tracing::debug!(%request, status = raw.status.as_u16(), "github");
            if is_rate_limited(raw.status, &raw.headers, &raw.body) && attempt < RATE_LIMIT_ATTEMPTS {
                // The budget now holds every request until the window ends, this one included.
                continue;
            }
            return Ok(raw);
        }
    }

    /// The budget's permit for one request, within the write's deadline when it has one ([`crate::send_before`]):
    /// refused at once when the budget's window ends at or past the deadline, refused when the deadline comes while
    /// the budget holds the request (its window, the pacing of writes), and refused when it has come by the time the
    /// permit is given. A refusal sends nothing.
    async fn acquire(
        &self,
        request: &str,
        kind: RequestKind,
        resource: &Resource,
    ) -> Result<SemaphorePermit<'_>, GitHubError> {
        let Some(deadline) = crate::deadline::current() else { return Ok(self.budget.acquire(kind, resource).await) };
        let late = |waited_for| GitHubError::Late { request: request.to_owned(), waited_for };
        let held_by = || match (self.budget.resume_at(resource), kind) {
            (Some(_), _) => RATE_LIMIT,
            (None, RequestKind::Write) => PACING,
            (None, RequestKind::Read) => "a free request slot",
        };
        if self.budget.resume_at(resource).is_some_and(|at| at >= deadline) {
            return Err(late(RATE_LIMIT));
        }
        let permit = tokio::time::timeout_at(deadline, self.budget.acquire_before(kind, resource, Some(deadline)))
            .await
            .map_err(|_| late(held_by()))?
            .ok_or_else(|| late(PACING))?;
        if crate::deadline::passed() {
            return Err(late(held_by()));
        }
        Ok(permit)
    }

    /// The rate-limit resource a request to `path` spends: GraphQL's endpoint spends `graphql`, every REST path
    /// `core` (the forge asks no search endpoint, which would spend `search`).
    fn resource_of(&self, path: &str) -> Resource {
        let graphql = match &self.graphql {
            GraphqlEndpoint::Relative(relative) => relative == path,
            GraphqlEndpoint::Absolute(uri) => uri == path,
        };
        if graphql { Resource::GRAPHQL } else { Resource::CORE }
    }

    fn json(&self, request: &str, body: &[u8]) -> Result<Value, GitHubError> {
        serde_json::from_slice(body).map_err(|err| GitHubError::Malformed {
            request: request.to_owned(),
            message: format!("invalid json ({err})"),
        })
    }

    fn status_error(&self, request: String, raw: &Raw) -> GitHubError {
        let message = message_of(&raw.body).unwrap_or_else(|| format!("status {}", raw.status.as_u16()));
        let message = self.clean(&message);
        match raw.status {
            status if is_rate_limited(status, &raw.headers, &raw.body) => GitHubError::RateLimited { request },
            StatusCode::NOT_FOUND | StatusCode::GONE => GitHubError::NotFound { request },
            StatusCode::UNAUTHORIZED => GitHubError::Unauthorized { request },
            StatusCode::FORBIDDEN => GitHubError::Forbidden { request, message },
            status if status.is_server_error() => GitHubError::Transient { request, message },
            StatusCode::REQUEST_TIMEOUT => GitHubError::Transient { request, message },
            status => GitHubError::Rejected { request, status: status.as_u16(), message },
        }
    }

    fn transport_error(&self, request: &str, err: &dyn std::fmt::Display) -> GitHubError {
        GitHubError::Transient { request: request.to_owned(), message: self.clean(&err.to_string()) }
    }

    /// Shortens a message and removes the token from it, should a server or library ever echo it.
    fn clean(&self, message: &str) -> String {
        let mut message: String = message.chars().take(MAX_MESSAGE).collect();
        if let Some(token) = &self.token
            && !token.expose().is_empty()
        {
            message = message.replace(token.expose(), "***");
        }
        message
    }

    /// A next-page link as a path relative to the API URL; links to any other host are refused.
    fn relative_link(&self, request: &str, link: &str) -> Result<String, GitHubError> {
        let refused = || GitHubError::Malformed {
            request: request.to_owned(),
            message: format!("pagination link '{link}' leaves the api host; not following it"),
        };
        let uri: Uri = link.parse().map_err(|_| refused())?;
        if let Some(authority) = uri.authority()
            && Some(authority.as_str()) != self.authority.as_deref()
        {
            return Err(refused());
        }
        let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let relative = path_and_query.strip_prefix(self.base_path.as_str()).unwrap_or(path_and_query);
        Ok(if relative.starts_with('/') { relative.to_owned() } else { format!("/{relative}") })
    }
}

/// `GET /repos/acme/api` for error messages: method and path, without the query.
fn label(method: &Method, path: &str) -> String {
    format!("{method} {}", path.split('?').next().unwrap_or(path))
}

/// The URL a `Link` header gives for `rel` (`next`, `last`).
pub(crate) fn link(headers: &HeaderMap, rel: &str) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    let wanted = format!("rel=\"{rel}\"");
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == wanted)
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    })
}

/// The pages from `next` to `last`, when the two paths differ only by their `page=N` query parameter (`next`'s
/// number no more than `last`'s): the paths of every page between them, in order.
pub(crate) fn numbered(next: &str, last: &str) -> Option<impl Iterator<Item = String>> {
    let split = |path: &str| -> Option<(String, usize)> {
        let (base, query) = path.split_once('?')?;
        let mut number = None;
        let mut rest = Vec::new();
        for param in query.split('&') {
            match param.strip_prefix("page=") {
                Some(n) if number.is_none() => number = Some(n.parse::<usize>().ok()?),
                _ => rest.push(param),
            }
        }
        Some((format!("{base}?{}", rest.join("&")), number?))
    };
    let ((base, from), (last_base, to)) = (split(next)?, split(last)?);
    (base == last_base && from <= to).then(|| {
        let separator = if base.ends_with('?') { "" } else { "&" };
        (from..=to).map(move |n| format!("{base}{separator}page={n}"))
    })
}

/// A list page's items.
fn array(path: &str, body: Value) -> Result<Vec<Value>, GitHubError> {
    match body {
        Value::Array(items) => Ok(items),
        _ => {
            Err(GitHubError::Malformed { request: label(&Method::GET, path), message: "expected a json array".into() })
        }
    }
}

/// Pages of one list asked for at once: a listing of a thousand pages must not take every request the budget allows.
const PAGES_AT_ONCE: usize = 8;

/// The default timeout of one request.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
