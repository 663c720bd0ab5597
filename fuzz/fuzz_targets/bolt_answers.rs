//! A Bolt server's answers through batch-neo4j's connection and sink.
//!
//! bolt-proto 0.12 decodes PackStream under `catch_unwind` and lets the
//! `bytes` crate panic on a value cut short ("advance out of bounds") and
//! chrono on a date out of range ("TimeDelta::days out of bounds"), which
//! it then turns into a decoding error. libfuzzer-sys's panic hook would
//! abort on those caught panics; the hook here lets panics raised in
//! `bytes`, chrono and bolt-proto unwind to bolt-proto's `catch_unwind`,
//! and hands every other panic to libfuzzer-sys's hook (which aborts). A
//! panic that nobody catches still fails the run: libfuzzer-sys aborts
//! when the target unwinds.
#![no_main]

use std::sync::Once;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map_or("", |l| l.file());
            let caught_by_bolt_proto = ["/bytes-", "/chrono-", "/bolt-proto-"]
                .iter()
                .any(|dependency| file.contains(dependency));
            if !caught_by_bolt_proto {
                abort(info);
            }
        }));
    });
    batch_neo4j::fuzzing::bolt_answers(data);
});
