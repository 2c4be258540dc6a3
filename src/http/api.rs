//! `/health`, `/ready`, `/nodes` and the REST API `/cache/{key}`.
//!
//! A REST request is run as a RESP client's request would be: a `Client` for the request
//! (authenticated by `Authorization: Bearer <requirepass>`, which is sent as `AUTH`), then
//! `GET` / `SET` / `DEL` through `commands::execute`: arity, auth, cluster routing, OOM,
//! MISCONF, LOADING, replica checks, the AOF and the replication stream apply as they do to
//! any client. Redis errors become HTTP statuses (see [`error_response`]); a `MOVED` becomes
//! a 307 to the owner's HTTP address.

use super::json_error;
use crate::client::{Blocked, Client, ClientInfo};
use crate::commands;
use crate::server::Shared;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferrocache_protocol::Reply;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Longest key the REST API takes, in bytes after percent-decoding (a URL is not the place
/// for bigger ones; RESP clients are not limited by this).
pub const MAX_KEY_LEN: usize = 8 * 1024;

const CACHE_PREFIX: &str = "/cache/";

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// `GET /health`: the process is up and serving HTTP.
pub async fn health() -> Response {
    json_response(StatusCode::OK, json!({ "status": "ok" }))
}

/// `GET /ready`: 200 when the dataset is loaded and, in cluster mode, the cluster is ok;
/// 503 otherwise (a load balancer's readiness probe).
pub async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let loading = shared.persistence.loading();
    let cluster_state = shared.cluster().map(|n| if n.health_ok() { "ok" } else { "fail" });
    let ready = !loading && cluster_state != Some("fail");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(status, json!({ "ready": ready, "loading": loading, "cluster_state": cluster_state }))
}

/// `GET /nodes`: the cluster's nodes and the slots each serves, as the applied cluster state
/// has them (CLUSTER NODES' content, as JSON). A standalone server lists itself.
pub async fn nodes(State(shared): State<Arc<Shared>>) -> Response {
    let Some(node) = shared.cluster() else {
        let role = if shared.repl.is_replica() { "replica" } else { "master" };
        let me = json!({
            "id": shared.run_id, "ip": "", "port": shared.port(), "role": role, "primary": null,
            "flags": ["myself", role], "link": "connected", "slots": [],
        });
        return json_response(
            StatusCode::OK,
            json!({ "cluster_enabled": false, "cluster_state": null, "myself": shared.run_id, "nodes": [me] }),
        );
    };
    let state = node.state.read();
    let runs = state.slot_runs();
    let nodes: Vec<Value> = state
        .nodes()
        .iter()
        .map(|n| {
            let slots: Vec<[u16; 2]> = runs.iter().filter(|(_, _, o)| o.id == n.id).map(|&(s, e, _)| [s, e]).collect();
            let flags = ferrocache_cluster::replies::flags_text(&state, n);
            json!({
                "id": n.id.as_str(),
                "ip": n.ip,
                "port": n.port,
                "cport": n.cport,
                "hostname": n.hostname().unwrap_or(""),
                "role": if n.is_master() { "master" } else { "replica" },
                "primary": n.primary.as_ref().map(|p| p.as_str().to_string()),
                "flags": flags.split(',').collect::<Vec<_>>(),
                "link": if n.link == ferrocache_cluster::LinkState::Connected { "connected" } else { "disconnected" },
                "config_epoch": n.config_epoch,
                "slots": slots,
            })
        })
        .collect();
    let health = if state.health() == ferrocache_cluster::ClusterHealth::Ok { "ok" } else { "fail" };
    let body = json!({
        "cluster_enabled": true,
        "cluster_state": health,
        "myself": state.myself().id.as_str(),
        "nodes": nodes,
    });
    drop(state);
    json_response(StatusCode::OK, body)
}

/// What every `/cache/{key}` handler is given.
pub struct CacheRequest {
    shared: Arc<Shared>,
    peer: SocketAddr,
    headers: HeaderMap,
    key: Bytes,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CacheRequest
where
    Arc<Shared>: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Response> {
        let shared: Arc<Shared> = axum::extract::FromRef::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
        // The router is not nested, so this is the path the client sent.
        let raw = parts.uri.path().strip_prefix(CACHE_PREFIX).unwrap_or("");
        let key = percent_decode(raw.as_bytes())
            .ok_or_else(|| json_error(StatusCode::BAD_REQUEST, "BAD_KEY", "malformed percent-encoding in the key"))?;
        if key.is_empty() {
            return Err(json_error(StatusCode::BAD_REQUEST, "BAD_KEY", "empty key"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(json_error(
                StatusCode::URI_TOO_LONG,
                "KEY_TOO_LONG",
                &format!("key longer than {MAX_KEY_LEN} bytes"),
            ));
        }
        Ok(CacheRequest { shared, peer, headers: parts.headers.clone(), key: Bytes::from(key) })
    }
}

/// `GET /cache/{key}`: the value (`application/octet-stream`), 404 when there is none.
pub async fn get_key(req: CacheRequest) -> Response {
    let args = vec![Bytes::from_static(b"GET"), req.key.clone()];
    match run(&req, args).await {
        Ok(reply) => match reply.bulk_bytes() {
            Some(value) => {
                ([(header::CONTENT_TYPE, "application/octet-stream")], Bytes::copy_from_slice(value)).into_response()
            }
            None if reply == Reply::Null => json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such key"),
            None => json_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "unexpected reply"),
        },
        Err(response) => response,
    }
}

/// The bytes in-flight PUT bodies may hold together (see `BODY_BUDGET` in mod.rs).
#[derive(Clone)]
pub struct BodyBudget(pub Arc<tokio::sync::Semaphore>);

/// `PUT /cache/{key}[?ttl=seconds]`: `SET key <body> [EX ttl]`; 204 on success.
pub async fn put_key(
    State(budget): State<BodyBudget>,
    req: CacheRequest,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let mut ttl = None;
    for pair in query.as_deref().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value.as_bytes());
        match (name, value) {
            ("ttl", Some(v)) if ttl.is_none() => ttl = Some(v),
            ("ttl", _) => return json_error(StatusCode::BAD_REQUEST, "BAD_TTL", "ttl given twice or malformed"),
            _ => return json_error(StatusCode::BAD_REQUEST, "BAD_QUERY", &format!("unknown query parameter '{name}'")),
        }
    }
    // proto-max-bulk-len bounds a value sent over RESP; the same bounds one sent here, and
    // is checked before the body is read when the client says its length.
    let limit = req.shared.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize;
    let too_big = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            &format!("the value exceeds proto-max-bulk-len ({limit} bytes)"),
        )
    };
    let declared = req.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_big();
    }
    let share = declared.unwrap_or(limit as u64).min(u64::from(super::BODY_BUDGET)) as u32;
    let Ok(_held) = budget.0.acquire_many(share.max(1)).await else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "SHUTDOWN", "the server is stopping");
    };
    let value = match axum::body::to_bytes(body, limit).await {
        Ok(v) => v,
        Err(_) => return too_big(),
    };
    let mut args = vec![Bytes::from_static(b"SET"), req.key.clone(), value];
    if let Some(ttl) = ttl {
        args.push(Bytes::from_static(b"EX"));
        args.push(Bytes::from(ttl));
    }
    match run(&req, args).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

/// `DELETE /cache/{key}`: `DEL key`; 204 if it existed, 404 if not.
pub async fn delete_key(req: CacheRequest) -> Response {
    let args = vec![Bytes::from_static(b"DEL"), req.key.clone()];
    match run(&req, args).await {
        Ok(Reply::Integer(n)) if n > 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such key"),
        Err(response) => response,
    }
}

/// Runs `args` as a client of its own would over RESP (after `AUTH` when the request has a
/// bearer token); an error reply becomes the HTTP answer.
async fn run(req: &CacheRequest, mut args: Vec<Bytes>) -> Result<Reply, Response> {
    let shared = &req.shared;
    // Protected mode guards the data here as on the RESP port: no password, no outsiders.
    if shared.hot.protected_mode.load(Ordering::Relaxed)
        && !shared.auth_required()
        && !req.peer.ip().to_canonical().is_loopback()
    {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "DENIED",
            "protected mode is on and no password is set: only loopback clients may use the API",
        ));
    }
    let local = SocketAddr::from(([127, 0, 0, 1], shared.port()));
    let info = Arc::new(ClientInfo::new(shared.clients.next_id(), req.peer, local));
    let mut client = Client::new(info, !shared.auth_required());
    if let Some(value) = req.headers.get(header::AUTHORIZATION) {
        let Some(token) = value.as_bytes().strip_prefix(b"Bearer ") else {
            return Err(unauthorized("ERR the Authorization header must be 'Bearer <requirepass>'"));
        };
        let mut auth = vec![Bytes::from_static(b"AUTH"), Bytes::copy_from_slice(token)];
        if let Reply::Error(e) = commands::execute(shared, &mut client, &mut auth) {
            return Err(error_response(req, &e));
        }
    }
    let reply = loop {
        let reply = commands::execute(shared, &mut client, &mut args);
        match client.blocked.take() {
            // A write while a FAILOVER pauses writes: run it again once they may go on (after
            // which it may well meet a replica and be redirected).
            Some(Blocked::WritesPaused { args: again }) => {
                shared.repl.wait_writes_unpaused().await;
                args = again;
            }
            // A command blocked on keys (BLPOP, …): its reply once served or timed out.
            Some(Blocked::Keys { waiter, deadline, args: again }) => {
                match commands::blocking::wait_served(shared, waiter, deadline).await {
                    commands::blocking::Outcome::Served(reply) => break reply,
                    commands::blocking::Outcome::Retry => args = again,
                }
            }
            Some(Blocked::Replicas { .. }) | None => break reply,
        }
    };
    // Written to the AOF before the client hears it succeeded, as on the RESP port.
    if client.aof_upto != 0 {
        shared.aof_flush_upto(std::mem::take(&mut client.aof_upto));
    }
    client.publish_stats(shared);
    match reply {
        Reply::Error(e) => Err(error_response(req, &e)),
        reply => Ok(reply),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = json_error(StatusCode::UNAUTHORIZED, "NOAUTH", message);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

/// A Redis error reply as an HTTP answer: its first word is the JSON `error`, its text the
/// `message`; the status says what a client should do about it.
fn error_response(req: &CacheRequest, text: &str) -> Response {
    let code = text.split(' ').next().unwrap_or("ERR");
    let status = match code {
        "MOVED" => return moved(req, text),
        "NOAUTH" | "WRONGPASS" => {
            let mut r = unauthorized(text);
            *r.body_mut() = Body::from(json!({ "error": code, "message": text }).to_string());
            return r;
        }
        "LOADING" | "CLUSTERDOWN" | "TRYAGAIN" | "ASK" | "MASTERDOWN" | "MISCONF" | "NOREPLICAS" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "OOM" => StatusCode::INSUFFICIENT_STORAGE,
        "READONLY" => StatusCode::FORBIDDEN,
        "WRONGTYPE" => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    json_error(status, code, text)
}

/// `MOVED <slot> <ip>:<port>` as `307 Temporary Redirect` to the same path on the owner's
/// HTTP port. Nodes do not tell each other their HTTP ports: the owner's is taken to be as
/// far from its client port as ours is from ours (every node run with the same two ports,
/// or with the same distance between them, as the docker-compose deployment does).
fn moved(req: &CacheRequest, text: &str) -> Response {
    let shared = &req.shared;
    let target = text.split(' ').nth(2).and_then(|a| a.rsplit_once(':'));
    let our_http = i32::from(shared.config.read().http_port);
    let location = target.and_then(|(ip, port)| {
        let port = port.parse::<i32>().ok()? + our_http - i32::from(shared.port());
        let port = u16::try_from(port).ok().filter(|&p| p != 0)?;
        let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
        Some(format!("http://{host}:{port}{CACHE_PREFIX}{}", percent_encode(&req.key)))
    });
    let mut response = json_error(StatusCode::TEMPORARY_REDIRECT, "MOVED", text);
    match location.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
        Some(l) => {
            response.headers_mut().insert(header::LOCATION, l);
            response
        }
        None => json_error(StatusCode::SERVICE_UNAVAILABLE, "MOVED", text),
    }
}

/// RFC 3986 percent-decoding of a path segment or query value (`+` is not a space here).
fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_coding_round_trips_any_bytes() {
        let key: Vec<u8> = (0..=255).collect();
        assert_eq!(percent_decode(percent_encode(&key).as_bytes()).unwrap(), key);
        assert_eq!(percent_decode(b"a%2Fb%20c").unwrap(), b"a/b c");
        assert_eq!(percent_decode(b"%zz"), None);
        assert_eq!(percent_decode(b"%2"), None);
    }
}
