//! Section 7 of the report, the UI path: read from the JSON lines `tests/ui/bench_ui.mjs`
//! (the window driven over WebDriver) and `tests/ui/tray_cycle.mjs` (closed to the tray and
//! shown again, without WebDriver) print, rendered as Markdown with the targets.

use serde_json::Value;

/// A bare Tauri v2 window with a tray icon on this machine, PSS in MB (issue 11).
const BARE_WINDOW_MB: f64 = 265.0;

/// The figures of both scripts, from their output: `{ ..bench_ui, "tray_cycle": {..} }`.
pub fn parse(stdout: &str) -> Value {
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
    };
    let mut ui = line("{\"render_latency_1k\"").unwrap_or(Value::Null);
    if let (Some(obj), Some(tray)) = (ui.as_object_mut(), line("{\"tray_cycle\"")) {
        obj.insert("tray_cycle".into(), tray["tray_cycle"].clone());
    }
    ui
}

fn f(v: &Value) -> String {
    v.as_f64()
        .map(|x| if x >= 100.0 { format!("{x:.0}") } else { format!("{x:.2}") })
        .unwrap_or_else(|| "–".into())
}

fn row(label: &str, v: &Value) -> String {
    format!(
        "| {label} | {} | {} | {} | {} | {} |\n",
        f(&v["total"]),
        f(&v["by"]["sockeye"]),
        f(&v["by"]["sockeye-window"]),
        f(&v["by"]["WebKitWebProcess"]),
        f(&v["by"]["WebKitNetworkProcess"])
    )
}

pub fn markdown(ui: &Value) -> String {
    if ui.is_null() {
        return "\n## 7. UI path\n\nNot measured in this run (`--skip-ui`, or the Xvfb/WebDriver stack was missing).\n".into();
    }
    let l = &ui["render_latency_1k"];
    let a = &ui["render_latency_1k_agents"];
    let fl = &ui["flood_10k"];
    let mut md = format!(
        "\n## 7. UI path (release app under Xvfb, WebKitGTK, software rendering)\n\n- Emit → rendered at 1,000 events/s ({} events; the machine's load average {} when taken), the event log on screen: p50 {} ms, p99 {} ms, max {} ms (marks taken in the webview after the paint that shows each event). Of that, emit → batch ready in the app: p50 {} ms, p99 {} ms; emit → batch handed to the page: p50 {} ms, p99 {} ms; the page's own paint work: p50 {} ms, p99 {} ms per frame over {} frames.\n- The same with the Agents view on screen ({} events): p50 {} ms, p99 {} ms, max {} ms (handed to the page: p99 {} ms).\n- At 10,000 events/s for 3 s: WebDriver round trip p50 {} ms, max {} ms; animation-frame gap p50 {} ms, max {} ms; {} log rows drawn (the page draws the newest; the app keeps the log).\n",
        l["events"],
        f(&l["load_avg"]),
        f(&l["p50_ms"]),
        f(&l["p99_ms"]),
        f(&l["max_ms"]),
        f(&l["sent_p50_ms"]),
        f(&l["sent_p99_ms"]),
        f(&l["arrival_p50_ms"]),
        f(&l["arrival_p99_ms"]),
        f(&l["paint_p50_ms"]),
        f(&l["paint_p99_ms"]),
        l["paints"],
        a["events"],
        f(&a["p50_ms"]),
        f(&a["p99_ms"]),
        f(&a["max_ms"]),
        f(&a["arrival_p99_ms"]),
        f(&fl["webdriver_rtt_p50_ms"]),
        f(&fl["webdriver_rtt_max_ms"]),
        f(&fl["frame_gap_p50_ms"]),
        f(&fl["frame_gap_max_ms"]),
        fl["log_rows_rendered"]
    );
    let m = &ui["memory_pss_mb"];
    let t = &ui["tray_cycle"];
    md.push_str(&format!("\nMemory, PSS from `/proc/*/smaps_rollup` (shared pages split among their users), the tray process (`sockeye`), the window process it starts (`sockeye-window`) and that one's WebKit processes, MB. For scale, a bare Tauri v2 window with a tray icon measures ~{BARE_WINDOW_MB:.0} MB on this machine (app 80, WebKitWebProcess 156, WebKitNetworkProcess 29; issue 11). The demo's simulator runs inside the tray process and counts in its figure. The app started directly (`tests/ui/tray_cycle.mjs`, the event log on screen):\n\n| when | total | sockeye | sockeye-window | WebKitWebProcess | WebKitNetworkProcess |\n|---|---|---|---|---|---|\n"));
    if !t.is_null() {
        md.push_str(&row("window open, before any event", &t["pss_open"]));
        md.push_str(&row("window open, after 10,000 events", &t["pss_10k"]));
        if let Some(more) = t["more_events"].as_u64() {
            for (i, p) in t["pss_more"].as_array().into_iter().flatten().enumerate() {
                let events = thousands(more * (i as u64 + 1) + 10_000);
                md.push_str(&row(&format!("window open, after {events} events"), p));
            }
        }
        md.push_str(&row("closed to the tray, 4 s after closing", &t["pss_closed"]));
        md.push_str(&row("shown again", &t["pss_reopened"]));
    }
    md.push_str(&format!(
        "\nUnder WebDriver (`bench_ui.mjs`; its automation session makes the web process heavier): {} MB with the window open, {} MB after 10,000 events, {} MB after 140,000.\n",
        f(&m["window_open"]["total"]),
        f(&m["window_after_10k_events"]["total"]),
        f(&m["window_after_140k_events"]["total"])
    ));
    if !t.is_null() {
        let shows = t["shows"].as_array().map(Vec::as_slice).unwrap_or_default();
        let each: Vec<String> =
            shows.iter().map(|x| format!("{} ms", f(&x["from_launch_ms"]))).collect();
        let b = &t["restored"]["boot"];
        md.push_str(&format!(
            "\nClosed to the tray and shown again, without WebDriver: the window closed with WM_DELETE_WINDOW as a window manager sends it, Show by a second launch of the single-instance binary or (every second time) by the tray menu's Show clicked over D-Bus, {} times. Window or WebKit processes left after closing: {}. Show → the page has drawn what the app kept ({} log rows), median: {} ms from the second launch or the click (each: {}), {} ms from the app's Show; the new page's navigation starts {} ms after Show (first Show, in the page, ms from its start: HTML {}, modules run {}, replay handled {}, drawn {}).\n",
            shows.len(),
            if t["webkit_left"].as_array().is_some_and(|a| a.is_empty()) {
                "none".to_string()
            } else {
                t["webkit_left"].to_string()
            },
            t["restored"]["log_rows"],
            f(&t["second_launch_to_restored_ms"]),
            each.join(", "),
            f(&t["show_to_restored_ms"]),
            f(&t["show_to_page_load_ms"]),
            f(&b["html_ms"]),
            f(&b["dom_ready_ms"]),
            f(&b["replayed_ms"]),
            f(&b["restored_ms"])
        ));
    }
    md
}

/// Rows of the targets table.
pub fn targets(ui: &Value, ok: impl Fn(bool) -> &'static str) -> String {
    let mut t = String::new();
    if let Some(p99) = ui["render_latency_1k"]["p99_ms"].as_f64() {
        let agents = ui["render_latency_1k_agents"]["p99_ms"].as_f64().unwrap_or(f64::NAN);
        t.push_str(&format!(
            "| emit→rendered p99 ≤ 50 ms | event log on screen {p99:.1} ms; Agents view {agents:.1} ms | {} |\n",
            ok(p99 <= 50.0)
        ));
    }
    let tc = &ui["tray_cycle"];
    if let Some(after10k) = tc["pss_10k"]["total"].as_f64() {
        t.push_str(&format!(
            "| window open within 50 MB of a bare window ({BARE_WINDOW_MB:.0} MB) | {after10k:.0} MB after 10,000 events | {} |\n",
            ok(after10k <= BARE_WINDOW_MB + 50.0)
        ));
    }
    let more = tc["more_events"].as_u64().unwrap_or(0);
    if let (Some(first), Some(second)) =
        (tc["pss_more"][0]["total"].as_f64(), tc["pss_more"][1]["total"].as_f64())
    {
        t.push_str(&format!(
            "| flat after 100,000 events (within 5 % over the next {}) | {first:.0} MB after {}, {second:.0} MB after {} ({:+.0} MB) | {} |\n",
            thousands(more),
            thousands(more + 10_000),
            thousands(2 * more + 10_000),
            second - first,
            ok(second <= first * 1.05)
        ));
    }
    if let Some(closed) = tc["pss_closed"]["total"].as_f64() {
        t.push_str(&format!(
            "| closed to the tray ≤ 40 MB, all processes | {closed:.0} MB (WebKit processes left: {}) | {} |\n",
            tc["webkit_left"].as_array().map_or(0, Vec::len),
            ok(closed <= 40.0)
        ));
    }
    if let Some(show) = tc["second_launch_to_restored_ms"].as_f64() {
        t.push_str(&format!(
            "| Show re-creates the window as it was in < 1 s | median {show:.0} ms from the second launch ({} ms from the app's Show) | {} |\n",
            f(&tc["show_to_restored_ms"]),
            ok(show < 1000.0)
        ));
    }
    t
}

/// 110000 → "110,000".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
