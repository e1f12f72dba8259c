//! One Sockeye per desktop session: the first to start owns a name on the session bus; a
//! second start asks it to show its window and exits (how the menu entry's "Sockeye" brings
//! back a window closed to the tray).

use tokio::sync::mpsc;

const NAME: &str = "dev.sockeye.app";
const PATH: &str = "/dev/sockeye/app";
const INTERFACE: &str = "dev.sockeye.app.Instance";

struct Instance(mpsc::UnboundedSender<()>);

#[zbus::interface(name = "dev.sockeye.app.Instance")]
impl Instance {
    /// Show the window (a second start asks).
    async fn show(&self) {
        let _ = self.0.send(());
    }
}

pub enum Claim {
    /// This process is the one: keep the connection for as long as it runs; every Show
    /// asked by a later start arrives on the receiver.
    First(zbus::Connection, mpsc::UnboundedReceiver<()>),
    /// Another Sockeye runs; it was asked to show its window (unless `hidden`).
    Handed,
    /// No session bus: this process runs alone, unguarded (why, for the log).
    NoBus(String),
}

pub async fn claim(hidden: bool) -> Claim {
    let conn = match zbus::Connection::session().await {
        Ok(c) => c,
        Err(e) => return Claim::NoBus(e.to_string()),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    if let Err(e) = conn.object_server().at(PATH, Instance(tx)).await {
        return Claim::NoBus(e.to_string());
    }
    // Not queued: a second Sockeye must learn now that it is one (zbus's connection builder
    // queues the request, and its `build` succeeds either way).
    let flags = zbus::fdo::RequestNameFlags::DoNotQueue.into();
    match conn.request_name_with_flags(NAME, flags).await {
        Ok(_) => Claim::First(conn, rx),
        Err(zbus::Error::NameTaken) => {
            if !hidden && let Err(e) = hand_over(&conn).await {
                tracing::warn!("the running Sockeye did not answer Show: {e}");
            }
            Claim::Handed
        }
        Err(e) => Claim::NoBus(e.to_string()),
    }
}

async fn hand_over(conn: &zbus::Connection) -> zbus::Result<()> {
    conn.call_method(Some(NAME), PATH, Some(INTERFACE), "Show", &()).await?;
    Ok(())
}
