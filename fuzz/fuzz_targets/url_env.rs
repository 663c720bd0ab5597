//! URL, ENV value and Neo4j URI parsing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    batch_core::fuzzing::url_env(data);
    batch_neo4j::fuzzing::neo4j_uri(data);
});
