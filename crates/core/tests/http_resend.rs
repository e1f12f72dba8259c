//! A request that fails before any byte of an answer is sent once more on a new connection
//! (a kept-alive connection a proxy closed just as it was reused: tinyproxy does this), and
//! only then: not twice, and not when an answer had begun. A real HTTP/1.1 server on
//! 127.0.0.1 that closes the connections it is told to close after reading the request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use sockeye_core::wire::http;
use url::Url;

/// What the server does with each connection, in order.
#[derive(Clone, Copy)]
enum Conn {
    /// Read the request, close without a byte of answer.
    Close,
    /// Read the request, answer 200 `ok`.
    Answer,
    /// Read the request, begin an answer (headers, part of the body), then close.
    CutAnswer,
}

/// The server's address and the request bodies it read, one per connection.
fn server(plan: Vec<Conn>) -> (Url, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/socket.io/", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for step in plan {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            let mut stream = stream;
            match step {
                Conn::Close => {}
                Conn::Answer => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok",
                    );
                }
                Conn::CutAnswer => {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok");
                }
            }
            let _ = stream.flush();
            // Dropping the stream closes the connection.
        }
    });
    (url, seen)
}

async fn post(url: Url) -> Result<http::HttpAnswer, http::HttpFailure> {
    let client = reqwest::Client::new();
    http::post(&client, url, &[], "40/raven.test,".into(), 1 << 20).await
}

#[tokio::test]
async fn a_post_closed_before_any_answer_is_sent_once_more() {
    let (url, seen) = server(vec![Conn::Close, Conn::Answer]);
    let answer = post(url).await.expect("answered on the second connection");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.text(), "ok");
    assert_eq!(*seen.lock().unwrap(), vec!["40/raven.test,", "40/raven.test,"]);
}

#[tokio::test]
async fn only_once_more() {
    let (url, seen) = server(vec![Conn::Close, Conn::Close, Conn::Answer]);
    let e = post(url).await.expect_err("two closes in a row are an error");
    assert!(matches!(e, http::HttpFailure::Network(_)), "{e:?}");
    assert_eq!(seen.lock().unwrap().len(), 2, "sent twice, not three times");
}

#[tokio::test]
async fn a_begun_answer_is_not_asked_again() {
    let (url, seen) = server(vec![Conn::CutAnswer, Conn::Answer]);
    let e = post(url).await.expect_err("a cut answer is an error");
    assert!(matches!(e, http::HttpFailure::Network(_)), "{e:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the server answered: not sent again");
}
