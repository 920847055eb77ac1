//! RaftObserver against scripted nodes: small HTTP servers whose `/state`
//! answer the test sets, so every event and every bad answer is exact.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use openraft_kv_node::api::{NodeState, Role};
use openraft_kv_node::client::KvClient;
use openraft_kv_tf::{Leader, RaftEvent, RaftObserver};
use parking_lot::Mutex;
use tf_core::observation::*;

/// What a scripted node answers.
#[derive(Clone)]
enum Answer {
    State(NodeState),
    Garbage(&'static str),
    Down,
}

fn state(id: u64, role: Role, term: u64, voters: &[u64]) -> Answer {
    Answer::State(NodeState {
        id,
        role,
        leader: (role == Role::Leader).then_some(id),
        term,
        last_log_index: Some(1),
        last_applied: Some(1),
        voters: voters.to_vec(),
        kv_len: 0,
        kv_digest: "0".into(),
    })
}

/// Starts a scripted node; returns its client and its script.
async fn scripted(first: Answer) -> (KvClient, Arc<Mutex<Answer>>) {
    let script = Arc::new(Mutex::new(first));
    let served = Arc::clone(&script);
    let app = Router::new().route(
        "/state",
        get(move || {
            let answer = served.lock().clone();
            async move {
                match answer {
                    Answer::State(state) => axum::Json(state).into_response(),
                    Answer::Garbage(body) => (StatusCode::OK, body).into_response(),
                    Answer::Down => Response::builder().status(503).body("down".into()).unwrap(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (KvClient::new(addr.to_string()).unwrap(), script)
}

const WAIT: Duration = Duration::from_secs(10);

struct Cluster {
    scripts: Vec<Arc<Mutex<Answer>>>,
    handle: ObservationHandle<RaftObserver>,
    _runtime: ObservationRuntime<RaftObserver>,
}

async fn cluster(first: Vec<Answer>) -> Cluster {
    let mut sources = Vec::new();
    let mut scripts = Vec::new();
    for (i, answer) in first.into_iter().enumerate() {
        let (client, script) = scripted(answer).await;
        sources.push(ObservedSource::new(format!("node-{i}"), client));
        scripts.push(script);
    }
    let config = ObservationConfig::default().with_poll_interval(Duration::from_millis(20));
    let runtime =
        ObservationRuntime::start(SourceSet::from(sources), RaftObserver, config).unwrap();
    Cluster {
        scripts,
        handle: runtime.handle(),
        _runtime: runtime,
    }
}

fn leader(node: &str, id: u64, term: u64) -> Option<Leader> {
    Some(Leader {
        node: node.into(),
        id,
        term,
    })
}

#[tokio::test]
async fn leader_term_reachability_and_membership_changes_are_events() {
    let voters = [0, 1, 2];
    let c = cluster(vec![
        state(0, Role::Leader, 1, &voters),
        state(1, Role::Follower, 1, &voters),
        state(2, Role::Follower, 1, &voters),
    ])
    .await;
    let first = c
        .handle
        .wait_until(|s| s.leader.is_some(), WAIT)
        .await
        .unwrap();
    assert_eq!(first.snapshot.leader, leader("node-0", 0, 1));
    let cursor = c.handle.cursor();

    // node-0 goes down; node-1 wins term 2.
    *c.scripts[0].lock() = Answer::Down;
    // The framework's own reachability says so, with the node's answer.
    let unreachable = c
        .handle
        .wait_for_reachability_from(cursor, |r| r.is_lost("node-0"), WAIT)
        .await
        .unwrap();
    assert!(
        unreachable
            .error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 503")),
        "{unreachable:?}"
    );
    *c.scripts[1].lock() = state(1, Role::Leader, 2, &voters);
    *c.scripts[2].lock() = state(2, Role::Follower, 2, &voters);
    // The leader is first lost with its node, then another takes over.
    let lost = RaftEvent::LeaderChanged {
        from: leader("node-0", 0, 1),
        to: None,
    };
    let won = RaftEvent::LeaderChanged {
        from: None,
        to: leader("node-1", 1, 2),
    };
    c.handle
        .wait_for_event_from(cursor, |e| *e == lost, WAIT)
        .await
        .unwrap();
    c.handle
        .wait_for_event_from(cursor, |e| *e == won, WAIT)
        .await
        .unwrap();
    c.handle
        .wait_for_event_from(
            cursor,
            |e| *e == RaftEvent::TermChanged { from: 1, to: 2 },
            WAIT,
        )
        .await
        .unwrap();

    // node-0 is back (as a follower of term 2); then node-2 is removed.
    let cursor = c.handle.cursor();
    *c.scripts[0].lock() = state(0, Role::Follower, 2, &voters);
    c.handle
        .wait_for_reachability_from(cursor, |r| r.is_back("node-0"), WAIT)
        .await
        .unwrap();
    *c.scripts[1].lock() = state(1, Role::Leader, 2, &[0, 1]);
    c.handle
        .wait_for_event_from(
            cursor,
            |e| {
                *e == RaftEvent::MembershipChanged {
                    from: vec![0, 1, 2],
                    to: vec![0, 1],
                }
            },
            WAIT,
        )
        .await
        .unwrap();

    let last = c.handle.latest_snapshot().unwrap();
    assert_eq!(
        last.snapshot.leaders_by_term.get(&1).map(|s| s.len()),
        Some(1)
    );
    assert_eq!(
        last.snapshot.leaders_by_term.get(&2).map(|s| s.len()),
        Some(1)
    );
    assert!(last.snapshot.split_terms().is_empty());
}

#[tokio::test]
async fn two_leaders_in_one_term_are_recorded_for_the_safety_check() {
    let c = cluster(vec![
        state(0, Role::Leader, 3, &[0, 1]),
        state(1, Role::Leader, 3, &[0, 1]),
    ])
    .await;
    let seen = c
        .handle
        .wait_until(|s| !s.split_terms().is_empty(), WAIT)
        .await
        .unwrap();
    let split = seen.snapshot.split_terms();
    assert_eq!(split.len(), 1);
    assert_eq!(split[0].0, 3);
    assert_eq!(split[0].1.iter().copied().collect::<Vec<_>>(), vec![0, 1]);
}

#[tokio::test]
async fn a_malformed_answer_is_a_failing_source_not_a_failed_cycle() {
    let c = cluster(vec![
        state(0, Role::Leader, 1, &[0, 1]),
        Answer::Garbage("{\"id\": \"not a number\""),
    ])
    .await;
    c.handle
        .wait_until(|s| s.leader.is_some(), WAIT)
        .await
        .unwrap();
    let seen = c
        .handle
        .wait_until(
            |s| {
                s.nodes
                    .get("node-1")
                    .is_some_and(|v| v.unreachable.is_some())
            },
            WAIT,
        )
        .await
        .unwrap();
    let error = seen.snapshot.nodes["node-1"].unreachable.clone().unwrap();
    assert!(error.contains("malformed answer from node"), "{error}");
    assert!(
        c.handle.last_error().is_none(),
        "the cycle itself succeeded"
    );
    let health = c.handle.source_health();
    assert!(health[1].is_failing() && !health[0].is_failing());
    // It answered: the report must not call it unreachable.
    let lost = c
        .handle
        .history()
        .iter()
        .flat_map(|o| o.reachability.clone())
        .find(|r| r.is_lost("node-1"))
        .expect("node-1's failure is published");
    let said = lost.to_string();
    assert!(
        said.starts_with("node-1 answered, but not usefully: malformed answer from node"),
        "{said}"
    );
}

#[tokio::test]
async fn a_leader_that_still_claims_an_older_term_is_a_deposed_leader_event() {
    let voters = [0, 1, 2];
    let c = cluster(vec![
        state(0, Role::Leader, 2, &voters),
        state(1, Role::Follower, 2, &voters),
        state(2, Role::Follower, 2, &voters),
    ])
    .await;
    let cursor = c.handle.cursor();
    // node-0 is cut off and keeps claiming term 2; the others elect node-1.
    *c.scripts[1].lock() = state(1, Role::Leader, 3, &voters);
    *c.scripts[2].lock() = state(2, Role::Follower, 3, &voters);
    let event = c
        .handle
        .wait_for_event_from(
            cursor,
            |e| matches!(e, RaftEvent::DeposedLeader { .. }),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        event.to_string(),
        "node-0 still claims to lead (term 2) while node-1 leads (term 3)"
    );
    let seen = c
        .handle
        .wait_until(|s| !s.deposed_leaders().is_empty(), WAIT)
        .await
        .unwrap();
    assert_eq!(seen.snapshot.deposed_leaders(), vec![("node-0", 2)]);
}
