//! `JsonClient` against real servers on 127.0.0.1: a well-behaved one
//! (axum) and hand-written ones that misbehave the ways nodes do. Timeouts
//! are real but short; tests wait on what the server observed, never on a
//! sleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tf_core::http::{HttpError, JsonClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Far above any wait a passing test does; only a broken one reaches it.
const TEST_GUARD: Duration = Duration::from_secs(20);
const SHORT_TIMEOUT: Duration = Duration::from_millis(200);
const HUGE: u64 = 200 * 1024 * 1024;
const BOUND: usize = 1024 * 1024;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Info {
    height: u64,
    leader: String,
}

/// The node API as it should be.
async fn good_node() -> String {
    let router = axum::Router::new()
        .route(
            "/info",
            get(|| async {
                Json(Info {
                    height: 7,
                    leader: "n1".into(),
                })
            }),
        )
        .route("/echo", post(|Json(info): Json<Info>| async { Json(info) }))
        .route("/accept", post(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no block 42\n") }),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "x".repeat(1000)) }),
        )
        .route("/garbage", get(|| async { "<html>\n<b>oops</b></html>" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A server for one connection, which `serve` handles once the request's
/// head has arrived; its result is what the server observed.
async fn one_connection<F, Fut, T>(serve: F) -> (String, JoinHandle<T>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await;
        serve(stream).await
    });
    (addr, server)
}

async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "client hung up before sending a request");
        head.extend_from_slice(&buf[..n]);
    }
}

/// Waits until the client hangs up.
async fn until_closed(mut stream: TcpStream) {
    let mut buf = [0; 1024];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {TEST_GUARD:?}"))
}

#[tokio::test]
async fn a_json_answer_decodes() {
    let addr = good_node().await;
    let node = JsonClient::new(&addr);

    let info: Info = node.get("/info").await.unwrap();
    assert_eq!(
        info,
        Info {
            height: 7,
            leader: "n1".into()
        }
    );
    // A path without its leading slash means the same.
    let again: Info = node.get("info").await.unwrap();
    assert_eq!(again, info);
}

#[tokio::test]
async fn a_post_sends_its_body_as_json_and_decodes_the_answer() {
    let addr = good_node().await;
    let node = JsonClient::new(&addr);
    let sent = Info {
        height: 9,
        leader: "n3".into(),
    };

    let echoed: Info = node.post("/echo", &sent).await.unwrap();
    assert_eq!(echoed, sent);
}

#[tokio::test]
async fn an_empty_answer_decodes_as_unit() {
    let addr = good_node().await;

    let () = JsonClient::new(&addr)
        .post("/accept", &serde_json::json!({}))
        .await
        .unwrap();
}

#[tokio::test]
async fn clients_sharing_one_reqwest_client_reach_their_own_nodes() {
    let (a, b) = (good_node().await, good_node().await);
    let http = JsonClient::http_builder().build().unwrap();
    let first = JsonClient::with_http(&a, http);
    let second = first.at(&b);

    assert_eq!(second.addr(), b);
    assert_eq!(first.get::<Info>("/info").await.unwrap().height, 7);
    assert_eq!(second.get::<Info>("/info").await.unwrap().height, 7);
}

#[tokio::test]
async fn an_error_status_names_the_status_and_the_nodes_explanation() {
    let addr = good_node().await;
    let node = JsonClient::new(&addr);

    let error = node.get::<Info>("/missing").await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(
        error.to_string(),
        format!("node {addr} GET /missing: answered 404 Not Found: no block 42")
    );

    let error = node.get::<Info>("/broken").await.unwrap_err();
    let HttpError::Status { body, .. } = &error else {
        panic!("expected a status error, got {error}");
    };
    assert_eq!(body, &format!("{}…", "x".repeat(200)));
}

#[tokio::test]
async fn garbage_names_the_decode_error_and_shows_what_arrived() {
    let addr = good_node().await;

    let error = JsonClient::new(&addr)
        .get::<Info>("/garbage")
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Malformed { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "node {addr} GET /garbage: answer is not the JSON expected: \
             expected value at line 1 column 1; received `<html>\\n<b>oops</b></html>`"
        )
    );
}

#[tokio::test]
async fn json_of_the_wrong_shape_names_what_is_missing() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Other {
        term: u64,
    }
    let addr = good_node().await;

    let error = JsonClient::new(&addr)
        .get::<Other>("/info")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("missing field `term`"), "{message}");
    assert!(
        message.contains(r#"received `{"height":7,"leader":"n1"}`"#),
        "{message}"
    );
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_shows_the_cause_chain() {
    let (addr, server) = one_connection(|stream| async { drop(stream) }).await;

    let error = JsonClient::new(&addr)
        .get::<Info>("/info")
        .await
        .unwrap_err();
    guarded("the server's hang-up", server).await.unwrap();
    assert!(error.is_unreachable(), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("node {addr} GET /info: connection failed: ")),
        "{message}"
    );
    // reqwest's own message stops at `error sending request for url (...)`.
    assert!(
        message.contains("connection closed before message completed"),
        "{message}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_and_names_the_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);

    let error = JsonClient::new(&addr)
        .get::<Info>("/info")
        .await
        .unwrap_err();
    assert!(error.is_unreachable(), "{error}");
    assert_eq!(error.addr(), addr);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("node {addr} GET /info:")),
        "{message}"
    );
    assert!(
        message.to_lowercase().contains("connection refused"),
        "{message}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_timeout() {
    let (addr, _server) = one_connection(|stream| async move {
        let _held = stream;
        std::future::pending::<()>().await
    })
    .await;
    let node = JsonClient::new(&addr).timeout(SHORT_TIMEOUT);

    let started = Instant::now();
    let error = guarded("the timeout", node.get::<Info>("/info"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(error.is_timeout(), "{error}");
    assert!(took >= SHORT_TIMEOUT, "gave up after {took:?}");
    assert!(took < SHORT_TIMEOUT * 5, "gave up only after {took:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "node {addr} GET /info: no complete answer within 200ms (connected, but no answer's headers came); \
             the node may be stuck, or raise JsonClient::timeout if it is just slow"
        )
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_times_out_within_the_timeout() {
    let (addr, _server) = one_connection(|mut stream| async move {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(br#"{"height":"#).await.unwrap();
        std::future::pending::<()>().await
    })
    .await;
    let node = JsonClient::new(&addr).timeout(SHORT_TIMEOUT);

    let started = Instant::now();
    let error = guarded("the timeout", node.get::<Info>("/info"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(error.is_timeout(), "{error}");
    assert!(took < SHORT_TIMEOUT * 5, "gave up only after {took:?}");
    assert!(
        error
            .to_string()
            .contains("(the answer's headers came (200 OK), but only 10 bytes of its body)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_port_that_answers_without_http_is_named_as_such() {
    let (addr, server) = one_connection(|mut stream| async move {
        stream
            .write_all(b"SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n")
            .await
            .unwrap();
        until_closed(stream).await;
    })
    .await;
    let error = JsonClient::new(&addr)
        .get::<Info>("/info")
        .await
        .unwrap_err();
    guarded("the client's hang-up", server).await.unwrap();
    assert!(matches!(error, HttpError::NotHttp { .. }), "{error:?}");
    assert!(!error.is_unreachable());
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "node {addr} GET /info: answered, but not with HTTP ("
        )),
        "{message}"
    );
    assert!(
        message.ends_with("is another program listening on that port?"),
        "{message}"
    );
}

#[tokio::test]
async fn observers_say_unreachable_only_when_no_answer_came() {
    use tf_core::observation::Contact;
    use tf_core::observation::error::SourceFailure;
    let node = good_node().await;
    let client = JsonClient::new(&node);
    let garbage = client.get::<Info>("/garbage").await.unwrap_err();
    assert_eq!(
        SourceFailure::Error(garbage).describe().1,
        Contact::Answered
    );
    let status = client.get::<Info>("/missing").await.unwrap_err();
    assert_eq!(SourceFailure::Error(status).describe().1, Contact::Answered);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = listener.local_addr().unwrap().to_string();
    drop(listener);
    let refused = JsonClient::new(&gone)
        .get::<Info>("/info")
        .await
        .unwrap_err();
    let (text, contact) = SourceFailure::Error(refused).describe();
    assert_eq!(contact, Contact::Unreachable);
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    let timed_out: SourceFailure<HttpError> = SourceFailure::TimedOut(SHORT_TIMEOUT);
    assert_eq!(
        timed_out.describe(),
        ("no answer within 200ms".to_owned(), Contact::Unreachable)
    );
}

#[tokio::test]
async fn a_declared_length_over_the_bound_is_refused_before_the_body_arrives() {
    // The server sends only the head, then waits for the client to hang up:
    // the answer can only come from the Content-Length.
    let (addr, server) = one_connection(|mut stream| async move {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        until_closed(stream).await
    })
    .await;
    let node = JsonClient::new(&addr).max_body(BOUND);

    let error = guarded("the refusal", node.get::<Info>("/state"))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "node {addr} GET /state: answer is larger than 1 MiB; \
             raise JsonClient::max_body or fix the node"
        )
    );
    // `node` is still alive: dropping the answer alone closed the connection.
    guarded("the client's hang-up", server).await.unwrap();
    drop(node);
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_off_at_the_bound_without_being_read() {
    let written = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&written);
    let (addr, server) = one_connection(|mut stream| async move {
        // A JSON array that would go on for 200 MiB, made as it is sent.
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                    Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        let items = "0,".repeat(32 * 1024);
        let chunk = format!("{:x}\r\n{items}\r\n", items.len());
        while counter.load(Ordering::Relaxed) < HUGE {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            counter.fetch_add(items.len() as u64, Ordering::Relaxed);
        }
    })
    .await;
    let node = JsonClient::new(&addr).max_body(BOUND);

    let error = guarded("the refusal", node.get::<Vec<u8>>("/state"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, HttpError::TooLarge { limit: BOUND, .. }),
        "{error}"
    );
    // The server stops once the client hangs up, with `node` still alive.
    guarded("the client's hang-up", server).await.unwrap();
    let written = written.load(Ordering::Relaxed);
    assert!(
        written > BOUND as u64,
        "the server wrote only {written} bytes"
    );
    // What the server got into the sockets: the bound plus kernel buffers.
    assert!(
        written < 32 * 1024 * 1024,
        "the server wrote {written} bytes before the client hung up"
    );
    drop(node);
}

#[tokio::test]
async fn an_address_that_is_not_host_port_is_reported_before_sending() {
    let error = JsonClient::new("not a host")
        .get::<Info>("/info")
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Invalid { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("node not a host GET /info: request not sent: "),
        "{error}"
    );
}
