//! Logs as a test sees them: every event and span field logged on the test's thread.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Every event and span field logged on this thread while it is held (tests that use it
/// run on a current-thread runtime, so the spawned introspection calls log here too).
pub struct Logs {
    lines: Arc<Mutex<Vec<(tracing::Level, String)>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    pub fn capture() -> Logs {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let guard = tracing::subscriber::set_default(Recorder {
            lines: Arc::clone(&lines),
        });
        // A callsite first reached by another test's thread (no subscriber there) may have
        // cached "never": ask every callsite again, now that this thread has a subscriber.
        tracing::callsite::rebuild_interest_cache();
        Logs {
            lines,
            _guard: guard,
        }
    }

    /// The lines at `level` or more severe, one per line.
    pub fn at(&self, level: tracing::Level) -> String {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|(at, _)| *at <= level)
            .map(|(_, line)| line.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// How many events were logged at exactly `level`.
    pub fn count(&self, level: tracing::Level) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at == level)
            .count()
    }

    /// Forgets what was logged so far.
    pub fn clear(&self) {
        self.lines.lock().unwrap().clear();
    }

    #[track_caller]
    pub fn assert_never_shows(&self, secrets: &[&str]) {
        let all = self.at(tracing::Level::TRACE);
        for secret in secrets {
            assert!(!all.contains(secret), "a log shows {secret:?}:\n{all}");
        }
    }
}

struct Recorder {
    lines: Arc<Mutex<Vec<(tracing::Level, String)>>>,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(span.metadata().name().to_owned());
        span.record(&mut fields);
        self.lines
            .lock()
            .unwrap()
            .push((*span.metadata().level(), fields.0));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        self.lines
            .lock()
            .unwrap()
            .push((tracing::Level::TRACE, fields.0));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.lines
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
