//! The web app's own probe, and where REST goes: to the site, never to a realtime port.
//!
//! A local bench is often addressed by its realtime port (`--url http://127.0.0.1:9000
//! --origin http://127.0.0.1:8000`). The real realtime server answers nothing but
//! `/socket.io/` there (an empty 404), so the web, login, identity and round-trip calls go to
//! the first of the site URL and the Origin that answers `/api/method/ping`.

use std::time::Instant;

use url::Url;

use super::hints::{self, Finding};
use super::report::{Probe, Status};
use super::{Runner, eio, ms};

/// The URLs REST may go to, in the order they are tried: the site URL, then the Origin when
/// it is another web origin (the realtime server calls the web app back there too).
pub(super) fn rest_candidates(base: &Url, origin: &str) -> Vec<Url> {
    let mut out = vec![base.clone()];
    if let Ok(o) = Url::parse(origin)
        && o.origin() != base.origin()
        && matches!(o.scheme(), "http" | "https")
    {
        out.push(o);
    }
    out
}

fn shown(u: &Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

impl Runner<'_> {
    /// Finds the web app; sets `rest_url` to it. Returns whether one answered.
    pub(super) async fn web(&mut self) -> bool {
        let t = Instant::now();
        let mut tried = Vec::new();
        for base in rest_candidates(&self.target.base_url, &self.target.origin) {
            let mut u = base.clone();
            u.set_path("/api/method/ping");
            let answer = eio::get(&self.http, u, &[]).await;
            match answer {
                Ok(a) if a.status == 200 && a.body.contains("pong") => {
                    let mut p = Probe::new("web", Status::Pass, ms(t))
                        .evidence(format!("GET {}/api/method/ping → 200 pong", shown(&base)));
                    if !tried.is_empty() {
                        p = p.evidence(format!(
                            "REST goes to the Origin: {} is not the web app",
                            shown(&self.target.base_url)
                        ));
                    }
                    self.rest_url = base;
                    self.push(p);
                    return true;
                }
                Ok(a) => tried.push(format!(
                    "{}/api/method/ping → {} {}",
                    shown(&base),
                    a.status,
                    eio::excerpt(&a.body, 60)
                )),
                Err(e) => tried.push(format!("{}/api/method/ping → {e}", shown(&base))),
            }
        }
        let urls: Vec<String> =
            rest_candidates(&self.target.base_url, &self.target.origin).iter().map(shown).collect();
        let hint = if urls.len() > 1 {
            format!(
                "The web app answers neither at {} nor at the Origin {}: REST checks (login, identity, round trip) cannot run. Give the site URL where /api/method/ping answers (--origin, or --url with --socket-port for the realtime port).",
                urls[0], urls[1]
            )
        } else {
            format!(
                "The web app does not answer /api/method/ping at {}: if this is a realtime port (9000/9001), give the site URL as --origin (or --url SITE --socket-port PORT) so REST checks reach the web app.",
                urls[0]
            )
        };
        let mut p = Probe::new("web", Status::Warn, ms(t));
        for e in tried {
            p = p.evidence(e);
        }
        self.push(p.finding(Finding::new(hints::Symptom::WebUnreachable, hint)));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_is_tried_after_a_realtime_port() {
        let rt = Url::parse("http://127.0.0.1:9000").unwrap();
        let c = rest_candidates(&rt, "http://127.0.0.1:8000");
        assert_eq!(
            c.iter().map(shown).collect::<Vec<_>>(),
            ["http://127.0.0.1:9000", "http://127.0.0.1:8000"]
        );
        assert_eq!(rest_candidates(&rt, "http://127.0.0.1:9000").len(), 1);
        assert_eq!(rest_candidates(&rt, "not a url").len(), 1);
    }
}
