//! Durable log recovery on mutated segment files: open, refuse or cut a
//! torn tail; never panic, loop or replay a record twice.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| batch_core::fuzzing::segment_recovery(data));
