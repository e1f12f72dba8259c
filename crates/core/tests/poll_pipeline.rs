//! Long polling asks for the next body before the connection task reads the last one.
//!
//! One thread runs the whole session (`sockeye-cli watch`'s current-thread runtime): if the
//! next GET were written only after a body's packets were decoded, the server's turn (its
//! wake-up, its encoding, the round trip) would add to every body instead of overlapping the
//! decode. Over the simulator, which answers a poll with at most ~128 packets, that doubled
//! the time per event (a trace of the poller: 0.7–0.9 ms per 128-event body, half of it
//! waiting). A real HTTP/1.1 server on 127.0.0.1 notes when each GET arrives and on which
//! connection; the reader of the bodies is a task that holds the thread while it "decodes".

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sockeye_core::wire::EioVersion;
use sockeye_core::wire::io::{Incoming, PollTarget, spawn_poller};
use url::Url;

/// One GET the server read: which connection (in accept order) and when.
#[derive(Debug, Clone, Copy)]
struct Get {
    conn: usize,
    at: Instant,
}

/// A polling endpoint that answers the first `quick` GETs at once with a message packet and
/// holds later ones for a second (a long poll with nothing to say).
fn server(quick: usize) -> (Url, Arc<Mutex<Vec<Get>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/socket.io/", listener.local_addr().unwrap())).unwrap();
    let gets = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&gets);
    std::thread::spawn(move || {
        for conn in 0..8 {
            let Ok((stream, _)) = listener.accept() else { return };
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line != "\r\n" {
                        continue;
                    }
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(Get { conn, at: Instant::now() });
                        log.len()
                    };
                    let body = if n <= quick {
                        big_body()
                    } else {
                        std::thread::sleep(Duration::from_secs(1));
                        "6".to_string()
                    };
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, gets)
}

/// A body as large as a burst's: it reaches the client in several reads.
fn big_body() -> String {
    format!("4{}", "x".repeat(300_000))
}

#[test]
fn the_next_get_is_on_the_wire_while_a_body_is_decoded() {
    let (socket_url, gets) = server(2);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let decoded = rt.block_on(async move {
        let target = PollTarget {
            http: reqwest::Client::new(),
            socket_url,
            version: EioVersion::V4,
            sid: "s1".into(),
            headers: vec![],
            hold: Duration::from_secs(5),
        };
        let mut reader = spawn_poller(target, 4);
        // A spawned task, as the connection task is: woken by the poller's hand-over, it
        // runs in the scheduler's order; the block_on future would be polled apart from it.
        tokio::spawn(async move {
            let mut decoded = Vec::new();
            for _ in 0..2 {
                let Incoming::Body(body) = reader.next().await else { panic!("a body") };
                assert_eq!(body.text(), big_body());
                // Decoding a large body: the thread is busy, nothing else runs meanwhile.
                std::thread::sleep(Duration::from_millis(300));
                decoded.push(Instant::now());
            }
            decoded
        })
        .await
        .unwrap()
    });
    let gets = gets.lock().unwrap().clone();
    assert!(gets.len() >= 3, "three GETs by the time two bodies were decoded: {gets:?}");
    // The GET after each body arrived before that body's decode was over.
    for (body, done) in decoded.iter().enumerate() {
        let next = gets[body + 1].at;
        assert!(
            next < *done - Duration::from_millis(200),
            "GET {} arrived {:?} before body {} was decoded, not during its decode",
            body + 2,
            done.saturating_duration_since(next),
            body + 1
        );
    }
    // And on the one kept-alive connection: asking early never opens a second one.
    assert!(gets.iter().all(|g| g.conn == 0), "one connection for every poll: {gets:?}");
}
