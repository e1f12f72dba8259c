//! The run tracker on canonical runs, odd payloads, gaps and late updates.

use super::*;
use serde_json::json;

fn ev(name: &str, v: Value) -> RealtimeEvent {
    RealtimeEvent::from_args(name, vec![v], Some("u@x"))
}

#[test]
fn a_canonical_run_becomes_one_card() {
    let mut t = RunTracker::new("demo", 50);
    let seq = [
        json!({"type":"thinking","message":"Analyzing request..."}),
        json!({"type":"plan","message":"1. Read file\n2. Edit file"}),
        json!({"type":"working","step":1,"total":2,"message":"Reading file"}),
        json!({"type":"step_complete","step":1,"total":2,"message":"Read file","details":["app.py (120 lines)"]}),
        json!({"type":"working","step":2,"total":2,"message":"Editing"}),
        json!({"type":"step_complete","step":2,"total":2,"message":"Edit file","error":"disk full"}),
        json!({"type":"complete","message":"Done"}),
    ];
    let changes: Vec<_> =
        seq.iter().map(|v| t.apply(&ev("ai_progress", v.clone())).unwrap()).collect();
    assert_eq!(t.runs().count(), 1);
    let last = changes.last().unwrap();
    assert!(matches!(last, RunChange::Finished(_)));
    let r = last.run();
    assert_eq!(r.status, RunStatus::Complete);
    assert_eq!(r.steps.len(), 2);
    assert_eq!(r.steps[0].label, "Read file", "plan numbering stripped");
    assert_eq!(r.steps[0].done, Some(true));
    assert_eq!(r.steps[1].done, Some(false), "✗ on error");
    assert_eq!(r.progress, Some((2, 2)));
    assert_eq!(r.events, 7);
}

#[test]
fn absurd_step_numbers_and_endless_tool_loops_stay_bounded() {
    let mut t = RunTracker::new("e", 50);
    let c = t.apply(&ev("ai_progress", json!({"type":"step_complete","step":4_000_000_000u64,"total":4_000_000_000u64,"message":"far away","task_id":"T"}))).unwrap();
    assert!(c.run().steps.is_empty(), "no row for step 4e9, and no 4e9 empty rows");
    assert_eq!(c.run().headline, "✓ far away");
    assert_eq!(c.run().progress, Some((4_000_000_000, 4_000_000_000)));
    let c = t
        .apply(&ev(
            "ai_progress",
            json!({"type":"step_complete","step":3,"message":"near","task_id":"T"}),
        ))
        .unwrap();
    assert_eq!(c.run().steps.len(), 3);
    let plan = (0..1000).map(|i| format!("{i}. step")).collect::<Vec<_>>().join("\n");
    let c =
        t.apply(&ev("ai_progress", json!({"type":"plan","message":plan,"task_id":"P"}))).unwrap();
    assert_eq!(c.run().steps.len(), MAX_STEPS);
    for _ in 0..(MAX_STEPS + 50) {
        t.apply(&ev("agent:tool_call", json!({"workflowId":"W","data":{"tool":"grep"}})));
    }
    assert_eq!(t.runs().find(|r| r.id == "W").unwrap().steps.len(), MAX_STEPS);
}

#[test]
fn keyed_runs_interleave_and_unkeyed_ones_follow_sequence() {
    let mut t = RunTracker::new("e", 50);
    t.apply(&ev("ai_progress", json!({"type":"thinking","message":"a","task_id":"A"})));
    t.apply(&ev("ai_progress", json!({"type":"thinking","message":"b","task_id":"B"})));
    t.apply(&ev("ai_progress", json!({"type":"complete","task_id":"A"})));
    let ids: Vec<_> = t.runs().map(|r| (r.id.clone(), r.status)).collect();
    assert_eq!(ids, vec![("A".into(), RunStatus::Complete), ("B".into(), RunStatus::Running)]);
    let mut t = RunTracker::new("e", 50);
    for v in [
        json!({"type":"thinking","message":"1"}),
        json!({"type":"complete"}),
        json!({"type":"thinking","message":"2"}),
        json!({"type":"working","step":1,"total":3,"message":"w"}),
    ] {
        t.apply(&ev("ai_progress", v));
    }
    let runs: Vec<_> = t.runs().collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].progress, Some((1, 3)));
}

#[test]
fn agent_events_and_gaps_and_bounds() {
    let mut t = RunTracker::new("e", 3);
    t.apply(&ev(
        "agent:thought",
        json!({"workflowId":"wf","type":"thought","data":{"text":"hmm"}}),
    ));
    let c = t
        .apply(&ev(
            "agent:error",
            json!({"workflowId":"wf","type":"error","data":{"message":"boom"}}),
        ))
        .unwrap();
    assert!(
        matches!(c, RunChange::Finished(ref r) if r.status == RunStatus::Failed && r.headline == "boom")
    );
    t.apply(&ev(
        "ai_progress",
        json!({"type":"working","step":1,"total":9,"message":"x","task_id":"T","seq":1}),
    ));
    let c = t
        .apply(&ev(
            "ai_progress",
            json!({"type":"working","step":2,"total":9,"message":"x","task_id":"T","seq":5}),
        ))
        .unwrap();
    assert_eq!(c.run().gaps, 3);
    // Seq 3 fetched late (polled): it fills one hole and moves nothing back.
    let mut late = ev(
        "ai_progress",
        json!({"type":"step_complete","step":1,"total":9,"message":"r","task_id":"T","seq":3}),
    );
    late.polled = true;
    let c = t.apply(&late).unwrap();
    assert_eq!((c.run().gaps, c.run().progress), (2, Some((2, 9))));
    assert_eq!((c.run().headline.as_str(), c.run().steps[0].done), ("x", Some(true)));
    let c = t
        .apply(&ev(
            "ai_progress",
            json!({"type":"working","step":3,"total":9,"message":"y","task_id":"T","seq":6}),
        ))
        .unwrap();
    assert_eq!((c.run().gaps, c.run().headline.as_str()), (2, "y"), "no new gap after it");
    for i in 0..10 {
        t.apply(&ev("ai_progress", json!({"type":"complete","task_id":format!("k{i}")})));
    }
    assert_eq!(t.runs().count(), 3, "bounded");
    assert!(t.apply(&ev("message_created", json!({}))).is_none());
}
