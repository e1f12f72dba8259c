//! The app's recordings, one per environment at most: the Record button starts one, the
//! environment's forwarder feeds it (states, events received and sent) and flushes it on its
//! tick. Everything about the file is the core's `Recorder`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use sockeye_core::recording::{
    Header, RecordError, Recorder, RecorderOptions, RecordingStatus, Redactor,
};
use sockeye_core::target::Target;
use sockeye_core::{RealtimeEvent, StateSnapshot};

#[derive(Default)]
pub struct Recordings {
    /// Running ones, and the last status of stopped ones (the page shows both).
    running: Mutex<BTreeMap<String, Recorder>>,
    finished: Mutex<BTreeMap<String, RecordingStatus>>,
}

impl Recordings {
    /// Start recording `target` to `path` (replacing a running one of the environment).
    pub fn start(
        &self,
        target: &Target,
        path: &Path,
        max_bytes: u64,
        current: &StateSnapshot,
    ) -> Result<RecordingStatus, RecordError> {
        let header =
            Header::new("app", Some(&target.name), Some(&target.base_url), Some(&target.namespace));
        let options = RecorderOptions { max_bytes, ..Default::default() };
        let mut r = Recorder::create(path, header, Redactor::for_target(target), options)?;
        r.state(current);
        let status = r.status().clone();
        let old = self.running.lock().expect("recordings").insert(target.name.clone(), r);
        if let Some(old) = old {
            old.finish("replaced by a new recording");
        }
        self.finished.lock().expect("recordings").remove(&target.name);
        Ok(status)
    }

    pub fn stop(&self, env: &str) -> Option<RecordingStatus> {
        let r = self.running.lock().expect("recordings").remove(env)?;
        let status = r.finish("stopped by the user");
        self.finished.lock().expect("recordings").insert(env.into(), status.clone());
        Some(status)
    }

    /// Every environment's recording, running or last finished.
    pub fn statuses(&self) -> BTreeMap<String, RecordingStatus> {
        let mut all = self.finished.lock().expect("recordings").clone();
        for (env, r) in self.running.lock().expect("recordings").iter() {
            all.insert(env.clone(), r.status().clone());
        }
        all
    }

    fn with(&self, env: &str, f: impl FnOnce(&mut Recorder)) {
        if let Some(r) = self.running.lock().expect("recordings").get_mut(env) {
            f(r);
        }
    }

    pub fn state(&self, env: &str, snap: &StateSnapshot) {
        self.with(env, |r| r.state(snap));
    }

    pub fn event(&self, env: &str, e: &RealtimeEvent) {
        self.with(env, |r| r.event(e));
    }

    /// Flush when due; a recording whose write failed ends here (its status says why).
    pub fn tick(&self, env: &str) {
        let mut failed = None;
        self.with(env, |r| {
            r.flush_if_due();
            failed = r.take_failure();
        });
        if let Some(e) = failed {
            tracing::warn!("{e}");
            self.stop(env);
        }
    }
}
