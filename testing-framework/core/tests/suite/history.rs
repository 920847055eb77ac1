//! Recording, writing and reading client histories.

use serde_json::json;
use tf_core::history::{
    Event, EventKind, History, HistoryError, Outcome, operations, parse_edn, parse_jsonl,
    read_history, write_edn,
};

#[test]
fn an_unknown_outcome_retires_the_process_and_a_dropped_op_is_unknown() {
    let history = History::in_memory();
    let mut client = history.client();
    let mut other = history.client();
    assert_eq!((client.process(), other.process()), (0, 1));

    let op = client.invoke("write", json!(["k", "a"]));
    let read = other.invoke("read", json!(["k", null]));
    read.ok(json!(["k", "a"]));
    op.ok(json!(["k", "a"]));
    client
        .invoke("write", json!(["k", "b"]))
        .unknown("timed out");
    assert_eq!(
        client.process(),
        2,
        "a new process after an unknown outcome"
    );
    drop(client.invoke("read", json!(["k", null])));
    assert_eq!(client.process(), 3, "a dropped op is unknown too");
    client
        .invoke("write", json!(["k", "c"]))
        .fail("not the leader");
    assert_eq!(
        client.process(),
        3,
        "a failed op does not retire its process"
    );

    let events = history.events().unwrap();
    let kinds: Vec<(u64, EventKind)> = events.iter().map(|e| (e.process, e.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (0, EventKind::Invoke),
            (1, EventKind::Invoke),
            (1, EventKind::Ok),
            (0, EventKind::Ok),
            (0, EventKind::Invoke),
            (0, EventKind::Info),
            (2, EventKind::Invoke),
            (2, EventKind::Info),
            (3, EventKind::Invoke),
            (3, EventKind::Fail),
        ]
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].time <= w[1].time && w[0].index + 1 == w[1].index)
    );
    assert_eq!(events[5].error.as_deref(), Some("timed out"));
    assert_eq!(
        events[5].value,
        json!(["k", "b"]),
        "a completion without output carries the input"
    );
    let ops = operations(&events).unwrap();
    assert_eq!(ops.len(), 5);
    assert_eq!(ops[0].outcome, Outcome::Ok(json!(["k", "a"])));
    assert!(ops[2].is_unknown() && ops[3].is_unknown());
    assert_eq!(ops[4].outcome, Outcome::Fail(Some("not the leader".into())));
}

#[tokio::test]
async fn a_file_history_streams_to_disk_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let history = History::to_file(&path, tokio::time::Instant::now()).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let history = history.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = history.client();
            for n in 0..250 {
                let op = client.invoke("write", json!(["k", n]));
                tokio::task::yield_now().await;
                op.ok(json!(["k", n]));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(history.len(), 2_000);
    let events = history.events().unwrap();
    assert_eq!(events, read_history(&path).unwrap());
    assert_eq!(events.len(), 2_000);
    assert!(
        events.windows(2).all(|w| w[0].time <= w[1].time),
        "file order is time order"
    );
    assert_eq!(operations(&events).unwrap().len(), 1_000);
}

#[test]
fn a_torn_last_line_is_left_out_but_a_bad_line_elsewhere_is_an_error() {
    let good = r#"{"index":0,"type":"invoke","process":0,"f":"read","value":null,"time":5}"#;
    let torn = format!("{good}\n{{\"index\":1,\"type\":\"o");
    assert_eq!(parse_jsonl(&torn).unwrap().len(), 1);

    let bad = format!("{good}\nnot json\n{good}\n");
    let error = parse_jsonl(&bad).unwrap_err().to_string();
    assert!(error.contains("line 2 is not an event"), "{error}");
}

fn event(index: u64, kind: EventKind, process: u64, f: &str, value: serde_json::Value) -> Event {
    Event {
        index,
        kind,
        process,
        f: f.into(),
        value,
        time: index * 1_000,
        error: (kind == EventKind::Info).then(|| "timeout".into()),
        client: None,
    }
}

#[test]
fn edn_round_trips_and_reads_jepsens_own_histories() {
    let events = vec![
        event(0, EventKind::Invoke, 0, "write", json!(3)),
        event(1, EventKind::Invoke, 1, "cas", json!([3, "four \"4\""])),
        event(2, EventKind::Ok, 0, "write", json!(3)),
        event(3, EventKind::Info, 1, "cas", json!([3, "four \"4\""])),
        event(4, EventKind::Invoke, 2, "read", json!(null)),
        event(5, EventKind::Ok, 2, "read", json!({"a": [1, 2.5, true]})),
    ];
    let mut edn = Vec::new();
    write_edn(&events, &mut edn).unwrap();
    let text = String::from_utf8(edn).unwrap();
    assert!(
        text.starts_with("{:index 0, :type :invoke, :process 0, :f :write, :value 3, :time 0}\n"),
        "{text}"
    );
    assert_eq!(parse_edn(&text).unwrap(), events);

    // As Jepsen writes them: keywords, a nemesis, a tagged op, a vector.
    let jepsen = r#"
        [{:type :invoke, :f :read, :value nil, :process 0, :time 10}
         {:type :info, :f :start-partition, :value :majority, :process :nemesis, :time 11}
         #jepsen.history.Op{:type :ok, :f :read, :value 1, :process 0, :time 12, :index 2}
         {:type :invoke, :f :write, :value [:k 2], :process 3, :time 13}
         {:type :fail, :f :write, :value [:k 2], :process 3, :time 14, :error [:not-leader 1]}]
    "#;
    let read = parse_edn(jepsen).unwrap();
    assert_eq!(read.len(), 4, "the nemesis is left out");
    assert_eq!(read[1].value, json!(1));
    assert_eq!(read[2].value, json!(["k", 2]));
    assert_eq!(read[3].error.as_deref(), Some(r#"["not-leader",1]"#));
    assert_eq!(operations(&read).unwrap().len(), 2);
}

#[test]
fn a_file_is_read_as_edn_or_json_lines_by_its_name_or_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let edn = dir.path().join("h.txt");
    std::fs::write(
        &edn,
        "{:type :invoke, :f :read, :value nil, :process 0, :time 1}\n",
    )
    .unwrap();
    assert_eq!(read_history(&edn).unwrap().len(), 1);
    let missing = read_history(&dir.path().join("nope.jsonl")).unwrap_err();
    assert!(matches!(missing, HistoryError::Io { .. }), "{missing}");
    let bad = dir.path().join("bad.edn");
    std::fs::write(&bad, "{:type :launch, :f :read, :process 0}").unwrap();
    let error = read_history(&bad).unwrap_err().to_string();
    assert!(
        error.contains("bad.edn") && error.contains(":launch"),
        "{error}"
    );
}

#[test]
fn pairing_refuses_histories_that_break_the_process_rules() {
    let two_in_flight = vec![
        event(0, EventKind::Invoke, 0, "write", json!(1)),
        event(1, EventKind::Invoke, 0, "write", json!(2)),
    ];
    let error = operations(&two_in_flight).unwrap_err().to_string();
    assert!(
        error.contains("process 0 invokes write while its write of event 0 is in flight"),
        "{error}"
    );

    let completes_nothing = vec![event(0, EventKind::Ok, 4, "read", json!(1))];
    let error = operations(&completes_nothing).unwrap_err().to_string();
    assert!(error.contains("no operation in flight"), "{error}");

    let other_f = vec![
        event(0, EventKind::Invoke, 0, "write", json!(1)),
        event(1, EventKind::Ok, 0, "read", json!(1)),
    ];
    let error = operations(&other_f).unwrap_err().to_string();
    assert!(
        error.contains("completes read but invoked write"),
        "{error}"
    );

    let never_completed = vec![event(0, EventKind::Invoke, 0, "write", json!(1))];
    let ops = operations(&never_completed).unwrap();
    assert!(ops[0].is_unknown() && ops[0].completed_at.is_none());
}

#[test]
fn a_history_that_cannot_be_written_says_so() {
    // /dev/full fails every write with ENOSPC.
    let history = History::to_file(
        std::path::Path::new("/dev/full"),
        tokio::time::Instant::now(),
    )
    .unwrap();
    let mut client = history.client();
    for n in 0..10_000 {
        client.invoke("write", json!(n)).ok(json!(n));
    }
    let error = history.flush().unwrap_err().to_string();
    assert!(error.contains("incomplete"), "{error}");
    assert!(error.contains("No space left"), "{error}");
    assert!(history.problem().is_some());
}
