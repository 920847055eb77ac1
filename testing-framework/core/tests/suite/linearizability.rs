//! The linearizability checker and the acknowledged-writes checker, proven
//! by the bugs they catch: histories built by hand, histories of a
//! simulated store (linearizable by construction), and the same with one
//! injected anomaly, each of which must be caught and named.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use tf_core::checker::{
    CheckOptions, KeyValue, Linearizability, Register, acknowledged_writes, check_linearizable,
};
use tf_core::history::{Event, EventKind, Operation, operations};
use tf_core::testing::{Anomaly, KvHistory};

/// A history written event by event: `invoke(p, f, v)`, `ok(p, f, v)`.
#[derive(Default)]
struct Script(Vec<Event>);

impl Script {
    fn push(&mut self, kind: EventKind, process: u64, f: &str, value: Value) -> &mut Self {
        let index = self.0.len() as u64;
        self.0.push(Event {
            index,
            kind,
            process,
            f: f.into(),
            value,
            time: index * 1_000_000,
            error: None,
            client: None,
        });
        self
    }
    fn invoke(&mut self, p: u64, f: &str, v: Value) -> &mut Self {
        self.push(EventKind::Invoke, p, f, v)
    }
    fn ok(&mut self, p: u64, f: &str, v: Value) -> &mut Self {
        self.push(EventKind::Ok, p, f, v)
    }
    fn info(&mut self, p: u64, f: &str, v: Value) -> &mut Self {
        self.push(EventKind::Info, p, f, v)
    }
    fn fail(&mut self, p: u64, f: &str, v: Value) -> &mut Self {
        self.push(EventKind::Fail, p, f, v)
    }
    fn ops(&self) -> Vec<Operation> {
        operations(&self.0).unwrap()
    }
}

fn register(script: &Script) -> Linearizability {
    check_linearizable(&Register, &script.ops(), &CheckOptions::default())
        .unwrap()
        .result
}

fn kv(events: &[Event]) -> Linearizability {
    check_linearizable(
        &KeyValue,
        &operations(events).unwrap(),
        &CheckOptions::default(),
    )
    .unwrap()
    .result
}

#[test]
fn sequential_and_overlapping_register_histories_are_linearizable() {
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(0, "read", json!(null)).ok(0, "read", json!(1));
    // A read overlapping a write may see either value.
    s.invoke(1, "write", json!(2))
        .invoke(2, "read", json!(null))
        .ok(2, "read", json!(1))
        .invoke(3, "read", json!(null))
        .ok(3, "read", json!(2))
        .ok(1, "write", json!(2));
    s.invoke(0, "cas", json!([2, 3]))
        .ok(0, "cas", json!([2, 3]));
    s.invoke(0, "read", json!(null)).ok(0, "read", json!(3));
    assert_eq!(register(&s), Linearizability::Linearizable);
}

#[test]
fn a_stale_read_is_not_linearizable_and_the_counterexample_names_it() {
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(0, "write", json!(2)).ok(0, "write", json!(2));
    s.invoke(1, "read", json!(null)).ok(1, "read", json!(1));
    let Linearizability::NotLinearizable(counterexample) = register(&s) else {
        panic!("a read of 1 after the write of 2 completed is stale");
    };
    assert_eq!(counterexample.blocked_op, 2, "{counterexample}");
    assert!(
        counterexample
            .blocked
            .contains("process 1 read null -> ok 1"),
        "{counterexample}"
    );
    assert_eq!(counterexample.state, r#""2""#);
    assert_eq!(counterexample.prefix_ops, vec![0, 1]);
    let shown = counterexample.to_string();
    assert!(
        shown.contains("cannot linearize: process 1 read"),
        "{shown}"
    );
    assert!(
        shown.contains("longest linearizable prefix (2 ops)"),
        "{shown}"
    );
}

#[test]
fn a_failed_cas_must_not_match_and_a_successful_one_must() {
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(0, "cas", json!([5, 6]))
        .fail(0, "cas", json!([5, 6]));
    s.invoke(0, "cas", json!([1, 7]))
        .ok(0, "cas", json!([1, 7]));
    s.invoke(0, "read", json!(null)).ok(0, "read", json!(7));
    assert_eq!(register(&s), Linearizability::Linearizable);

    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(0, "cas", json!([2, 3]))
        .ok(0, "cas", json!([2, 3]));
    assert!(matches!(register(&s), Linearizability::NotLinearizable(_)));
}

#[test]
fn an_unknown_write_may_take_effect_later_or_never() {
    // Seen by a read long after the client gave up on it.
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(1, "write", json!(2)).info(1, "write", json!(2));
    s.invoke(2, "read", json!(null)).ok(2, "read", json!(1));
    s.invoke(2, "read", json!(null)).ok(2, "read", json!(2));
    assert_eq!(register(&s), Linearizability::Linearizable);

    // Never seen at all.
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(1, "write", json!(2)).info(1, "write", json!(2));
    s.invoke(2, "read", json!(null)).ok(2, "read", json!(1));
    assert_eq!(register(&s), Linearizability::Linearizable);

    // But not before it was invoked.
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(2, "read", json!(null)).ok(2, "read", json!(2));
    s.invoke(1, "write", json!(2)).info(1, "write", json!(2));
    assert!(matches!(register(&s), Linearizability::NotLinearizable(_)));

    // Nor undone once seen.
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(1, "write", json!(2)).info(1, "write", json!(2));
    s.invoke(2, "read", json!(null)).ok(2, "read", json!(2));
    s.invoke(2, "read", json!(null)).ok(2, "read", json!(1));
    assert!(matches!(register(&s), Linearizability::NotLinearizable(_)));
}

#[test]
fn an_unknown_write_that_an_append_built_on_is_not_left_out() {
    let mut s = Script::default();
    s.invoke(0, "write", json!("a"))
        .info(0, "write", json!("a"));
    s.invoke(1, "append", json!("b"))
        .ok(1, "append", json!("b"));
    s.invoke(1, "read", json!(null)).ok(1, "read", json!("ab"));
    assert_eq!(register(&s), Linearizability::Linearizable);
}

#[test]
fn an_acknowledged_write_may_be_followed_by_an_unknown_one_that_timed_out_before_it() {
    // x timed out at event 1, before w began; x was applied late, after w.
    let mut s = Script::default();
    s.invoke(0, "write", json!(["k", "x"]))
        .info(0, "write", json!(["k", "x"]));
    s.invoke(1, "write", json!(["k", "w"]))
        .ok(1, "write", json!(["k", "w"]));
    s.invoke(2, "read", json!(["k", null]))
        .ok(2, "read", json!(["k", "x"]));
    assert_eq!(kv(&s.0), Linearizability::Linearizable);
    let acked = acknowledged_writes(&s.ops()).unwrap();
    assert!(acked.holds(), "{acked}");
}

#[test]
fn an_acknowledged_write_appended_to_since_survives() {
    let mut s = Script::default();
    s.invoke(0, "write", json!(["k", "a"]))
        .ok(0, "write", json!(["k", "a"]));
    s.invoke(0, "append", json!(["k", "x"]))
        .ok(0, "append", json!(["k", "x"]));
    s.invoke(1, "read", json!(["k", null]))
        .ok(1, "read", json!(["k", "ax"]));
    let acked = acknowledged_writes(&s.ops()).unwrap();
    assert!(acked.holds(), "{acked}");
}

#[test]
fn an_unknown_cas_may_have_found_another_value() {
    let mut s = Script::default();
    s.invoke(0, "write", json!(1)).ok(0, "write", json!(1));
    s.invoke(1, "cas", json!([9, 2]))
        .info(1, "cas", json!([9, 2]));
    s.invoke(2, "read", json!(null)).ok(2, "read", json!(1));
    assert_eq!(register(&s), Linearizability::Linearizable);
}

#[test]
fn keys_are_independent_and_each_is_checked() {
    let mut s = Script::default();
    s.invoke(0, "write", json!(["a", 1]))
        .ok(0, "write", json!(["a", 1]));
    s.invoke(1, "write", json!(["b", 1]))
        .ok(1, "write", json!(["b", 1]));
    s.invoke(0, "append", json!(["a", "x"]))
        .ok(0, "append", json!(["a", "x"]));
    s.invoke(1, "read", json!(["a", null]))
        .ok(1, "read", json!(["a", "1x"]));
    s.invoke(1, "read", json!(["b", null]))
        .ok(1, "read", json!(["b", 1]));
    let report = check_linearizable(&KeyValue, &s.ops(), &CheckOptions::default()).unwrap();
    assert!(report.is_linearizable(), "{report}");
    assert_eq!((report.ops, report.parts), (5, 2));

    s.invoke(2, "read", json!(["b", null]))
        .ok(2, "read", json!(["b", null]));
    let Linearizability::NotLinearizable(counterexample) = kv(&s.0) else {
        panic!("b was written before the read began");
    };
    assert_eq!(counterexample.part.as_deref(), Some("b"));
}

#[test]
fn an_operation_the_model_cannot_read_is_an_error_naming_it() {
    let mut s = Script::default();
    s.invoke(0, "write", json!("no key"))
        .ok(0, "write", json!("no key"));
    let error = check_linearizable(&KeyValue, &s.ops(), &CheckOptions::default()).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("operation 0") && text.contains("`kv` model"),
        "{text}"
    );
    assert!(text.contains("[key, value]"), "{text}");

    let mut s = Script::default();
    s.invoke(0, "increment", json!(1))
        .ok(0, "increment", json!(1));
    let text = check_linearizable(&Register, &s.ops(), &CheckOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("`increment` is not an operation of a register"),
        "{text}"
    );
}

#[test]
fn simulated_histories_are_linearizable_and_their_acknowledged_writes_survive() {
    for seed in 0..40 {
        let generated = KvHistory {
            seed,
            processes: 1 + (seed as usize % 8),
            keys: 1 + (seed as usize % 4),
            ops: 300,
            ..KvHistory::default()
        }
        .generate(None);
        let ops = operations(&generated.events).unwrap();
        let report = check_linearizable(&KeyValue, &ops, &CheckOptions::default()).unwrap();
        assert!(report.is_linearizable(), "seed {seed}: {report}");
        let acked = acknowledged_writes(&ops).unwrap();
        assert!(acked.holds(), "seed {seed}: {acked}");
    }
}

/// Generates with `anomaly` until the generator could inject it (a stale
/// read needs a replaced value at the right moment).
fn with_anomaly(anomaly: Anomaly, seed: u64) -> (Vec<Operation>, u64) {
    (seed..seed + 50)
        .find_map(|seed| {
            let generated = KvHistory {
                seed,
                processes: 4,
                keys: 2,
                ops: 200,
                ..KvHistory::default()
            }
            .generate(Some(anomaly));
            let at = generated.injected?;
            Some((operations(&generated.events).unwrap(), at))
        })
        .expect("the anomaly was injected")
}

#[test]
fn each_injected_anomaly_is_caught_with_a_counterexample_naming_its_ops() {
    for anomaly in [
        Anomaly::StaleRead,
        Anomaly::NeverWritten,
        Anomaly::LostWrite,
        Anomaly::DuplicatedWrite,
    ] {
        for seed in [0, 100, 200] {
            let (ops, injected) = with_anomaly(anomaly, seed);
            let report = check_linearizable(&KeyValue, &ops, &CheckOptions::default()).unwrap();
            let Linearizability::NotLinearizable(counterexample) = &report.result else {
                panic!("{anomaly:?} (seed {seed}) was not caught: {report}");
            };
            let named: Vec<u64> = std::iter::once(counterexample.blocked_op)
                .chain(counterexample.prefix_ops.iter().copied())
                .map(|i| ops[i].invoke_index)
                .collect();
            assert!(
                named.contains(&injected),
                "{anomaly:?} (seed {seed}): the counterexample does not name the op invoked at event {injected}:\n{report}"
            );
        }
    }
}

#[test]
fn lost_and_duplicated_writes_fail_the_acknowledged_writes_check() {
    for anomaly in [Anomaly::LostWrite, Anomaly::DuplicatedWrite] {
        let (ops, injected) = with_anomaly(anomaly, 7);
        let acked = acknowledged_writes(&ops).unwrap();
        assert!(!acked.holds(), "{anomaly:?}: {acked}");
        assert_eq!(acked.lost.len(), 1, "{anomaly:?}: {acked}");
        let text = acked.to_string();
        if anomaly == Anomaly::LostWrite {
            assert!(text.contains(&format!("events {injected}..")), "{text}");
        }
        assert!(text.contains("the final read of `k0`"), "{text}");
    }
}

#[test]
fn acknowledged_writes_without_a_final_read_are_not_called_safe() {
    let mut s = Script::default();
    s.invoke(0, "write", json!(["a", 1]))
        .ok(0, "write", json!(["a", 1]));
    let acked = acknowledged_writes(&s.ops()).unwrap();
    assert!(!acked.holds());
    assert_eq!(acked.unchecked, vec!["a".to_owned()]);
    assert!(
        !acknowledged_writes(&[]).unwrap().holds(),
        "nothing checked proves nothing"
    );
}

/// Many writes of unknown outcome on one key: a large search.
fn many_unknowns() -> Vec<Operation> {
    let generated = KvHistory {
        seed: 3,
        processes: 30,
        keys: 1,
        ops: 3_000,
        unknown_percent: 60,
        fail_percent: 0,
        cas: true,
        final_reads: false,
    }
    .generate(None);
    operations(&generated.events).unwrap()
}

#[test]
fn the_deadline_gives_an_unknown_answer_not_a_wrong_one() {
    let options = CheckOptions::default().with_deadline(Duration::from_millis(1));
    let report = check_linearizable(&KeyValue, &many_unknowns(), &options).unwrap();
    let Linearizability::Unknown(why) = &report.result else {
        panic!("a search of 0.5 s (release) cannot finish in 1 ms: {report}");
    };
    assert!(why.contains("the deadline of 1ms came first"), "{why}");
    assert!(why.contains("0 of 1 part(s) checked"), "{why}");
}

#[test]
fn the_memory_bound_gives_an_unknown_answer_too() {
    let options = CheckOptions {
        max_configurations: 2_000,
        ..CheckOptions::default()
    };
    let report = check_linearizable(&KeyValue, &many_unknowns(), &options).unwrap();
    let Linearizability::Unknown(why) = &report.result else {
        panic!("the search needs more than 2,000 configurations: {report}");
    };
    assert!(why.contains("more than 2000 configurations"), "{why}");
}

#[test]
fn unknown_writes_nobody_observed_are_left_out_and_the_rest_still_judged() {
    let ops = many_unknowns();
    let report = check_linearizable(&KeyValue, &ops, &CheckOptions::default()).unwrap();
    assert!(report.is_linearizable(), "{report}");
    assert!(report.unknown_ops > 1_000, "{report}");
}

proptest! {
    // Failures are kept beside this file (proptest would otherwise look
    // for them under tests/proptest-regressions/, this being a module of
    // the suite's main.rs).
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_simulated_history_is_linearizable(
        seed in any::<u64>(),
        processes in 1usize..8,
        keys in 1usize..4,
        ops in 1usize..200,
        unknown_percent in 0u64..30,
    ) {
        let generated = KvHistory { seed, processes, keys, ops, unknown_percent, ..KvHistory::default() }
            .generate(None);
        let ops = operations(&generated.events).unwrap();
        let report = check_linearizable(&KeyValue, &ops, &CheckOptions::default()).unwrap();
        prop_assert!(report.is_linearizable(), "{}", report);
    }

    #[test]
    fn a_tail_anomaly_is_always_caught(
        seed in any::<u64>(),
        processes in 1usize..6,
        ops in 0usize..150,
        duplicated in any::<bool>(),
    ) {
        let anomaly = if duplicated { Anomaly::DuplicatedWrite } else { Anomaly::LostWrite };
        let generated = KvHistory { seed, processes, keys: 2, ops, ..KvHistory::default() }
            .generate(Some(anomaly));
        let ops = operations(&generated.events).unwrap();
        let report = check_linearizable(&KeyValue, &ops, &CheckOptions::default()).unwrap();
        prop_assert!(!report.is_linearizable(), "{}", report);
        prop_assert!(!acknowledged_writes(&ops).unwrap().holds());
    }
}
