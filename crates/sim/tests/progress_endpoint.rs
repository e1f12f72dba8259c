//! The simulated site's agent progress endpoint, with raw HTTP: a scripted run keeps going,
//! and being recorded, while the realtime side answers 502; the endpoint lists its updates
//! with the `seq` of their realtime copies, and refuses like a whitelisted Frappe method.

use std::time::Duration;

use serde_json::Value;
use sockeye_sim::progress::PROGRESS_METHOD;
use sockeye_sim::{ScenarioParams, Sim, SimOptions};

async fn get(sim: &Sim, query: &str, cookie: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}/api/method/{PROGRESS_METHOD}{query}", sim.url()))
        .header("Cookie", cookie)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn scripted_runs_are_recorded_while_realtime_is_down_and_listed_over_rest() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    sim.set_faults(&["bad_gateway=true"]).unwrap();
    let params = ScenarioParams { n: 2, pace: 0.01, ..Default::default() };
    sim.run_scenario("ai_run", params).unwrap();
    // Ask the endpoint until the run is over (bounded): it is the only run the site has.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (run, updates) = loop {
        let id = sim.state().runs.lock().unwrap().run_ids().into_iter().next();
        if let Some(id) = id {
            let (status, body) = get(&sim, &format!("?conversation_id={id}"), "sid=good-sid").await;
            assert_eq!(status, 200, "{body}");
            let updates = body["message"]["updates"].as_array().cloned().unwrap_or_default();
            if updates.last().is_some_and(|u| u["type"] == "complete") {
                break (id, updates);
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the run did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let types: Vec<&str> = updates.iter().map(|u| u["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["thinking", "plan", "working", "step_complete", "working", "step_complete", "complete"]
    );
    let seqs: Vec<u64> = updates.iter().map(|u| u["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    assert!(updates.iter().all(|u| u["task_id"] == run.as_str()));

    let (status, body) = get(&sim, "?conversation_id=nobody-knows", "sid=good-sid").await;
    assert_eq!((status, body["message"]["updates"].as_array().map(Vec::len)), (200, Some(0)));
    let (status, body) = get(&sim, &format!("?conversation_id={run}"), "sid=expired").await;
    assert_eq!((status, body["exc_type"].as_str()), (403, Some("PermissionError")), "Guest");
    let (status, body) = get(&sim, "", "sid=good-sid").await;
    assert_eq!((status, body["exc_type"].as_str()), (417, Some("ValidationError")));
    sim.set_faults(&["progress_missing"]).unwrap();
    let (status, _) = get(&sim, &format!("?conversation_id={run}"), "sid=good-sid").await;
    assert_eq!(status, 404);
    let stats: Value =
        reqwest::get(format!("{}/__sim/stats", sim.url())).await.unwrap().json().await.unwrap();
    assert_eq!(stats["progress_polls"].as_u64(), Some(sim.progress_polls()));
    sim.shutdown().await;
}
