//! A tracing subscriber for tests that reads the log: the items a batcher
//! could only log as lost (after its `Drop`), by batcher name.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Items logged as lost, per batcher name.
static LOST: Mutex<Option<HashMap<String, Vec<u64>>>> = Mutex::new(None);

/// Log messages that hand an item over to the log.
const LOST_MESSAGES: [&str; 2] = [
    "item lost after the batcher was dropped",
    "batcher dropped with an uncollected failed item",
];

/// Installs the capturing subscriber for the whole test binary (once).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(Capture).expect("no other global subscriber");
    });
}

/// The ids (fake item keys) logged as lost by the batcher `name`.
pub fn lost_items(name: &str) -> Vec<u64> {
    LOST.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_mut()
        .and_then(|m| m.remove(name))
        .unwrap_or_default()
}

struct Capture;

#[derive(Default)]
struct Fields {
    message: String,
    batcher: String,
    item: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            "batcher" => self.batcher = text,
            "item" => self.item = text,
            _ => {}
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() == Level::ERROR
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if !LOST_MESSAGES.contains(&fields.message.as_str()) {
            return;
        }
        if let Ok(id) = fields.item.parse::<u64>() {
            LOST.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert_with(HashMap::new)
                .entry(fields.batcher)
                .or_default()
                .push(id);
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
