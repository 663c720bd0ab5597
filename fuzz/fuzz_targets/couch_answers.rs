//! CouchDB answers through batch-couch's writes and reads.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| batch_couch::fuzzing::couch_answers(data));
