//! The web app's own probes: REST goes to the site, never to a realtime port.

use std::time::Instant;

use super::hints::{self, Finding};
use super::report::{Probe, Status};
use super::{Runner, eio, ms};

impl Runner<'_> {
    pub(super) async fn web(&mut self) {
        let t = Instant::now();
        let mut u = self.target.base_url.clone();
        u.set_path("/api/method/ping");
        match eio::get(&self.http, u, &[]).await {
            Ok(a) if a.status == 200 && a.body.contains("pong") => {
                self.push(
                    Probe::new("web", Status::Pass, ms(t))
                        .evidence("GET /api/method/ping → 200 pong"),
                );
            }
            Ok(a) => {
                let p = Probe::new("web", Status::Warn, ms(t)).evidence(format!(
                    "GET /api/method/ping → {}: {}",
                    a.status,
                    eio::excerpt(&a.body, 80)
                ));
                self.push(p.finding(Finding { symptom: hints::Symptom::Other, hint: "The web app does not answer /api/method/ping at this URL (fine if the URL is a realtime port; otherwise check the site URL).".into() }));
            }
            Err(e) => {
                let p = Probe::new("web", Status::Warn, ms(t)).evidence(e);
                self.push(p.finding(Finding { symptom: hints::Symptom::Other, hint: "The web app is not reachable at this URL (fine if the URL is a realtime port).".into() }));
            }
        }
    }
}
