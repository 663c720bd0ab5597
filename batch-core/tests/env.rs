//! ENV helpers with valid and invalid values. Uses a lookup closure, so the
//! process environment (shared between test threads) is never mutated.

use std::ffi::OsString;

use batch_core::env::{self, BackendEnv};
use batch_core::{BatcherSettings, ConfigError};

fn with(var: &'static str, value: &'static str) -> impl Fn(&str) -> Option<OsString> {
    move |name| (name == var).then(|| OsString::from(value))
}

fn unset(_: &str) -> Option<OsString> {
    None
}

#[test]
fn defaults_match_uds3() {
    let cases: [(&BackendEnv, usize); 4] = [
        (&env::CHROMA, 100),
        (&env::NEO4J, 1000),
        (&env::POSTGRES, 100),
        (&env::COUCHDB, 100),
    ];
    for (backend, size) in cases {
        assert!(!backend.enabled_from(unset).expect("unset is fine"));
        assert_eq!(backend.batch_size_from(unset).expect("default").get(), size);
    }
}

#[test]
fn valid_values() {
    for v in ["true", "TRUE", "1", "yes", "on", " True "] {
        assert!(
            env::CHROMA
                .enabled_from(with("ENABLE_CHROMA_BATCH_INSERT", v))
                .expect(v)
        );
    }
    for v in ["false", "0", "no", "OFF"] {
        assert!(
            !env::NEO4J
                .enabled_from(with("ENABLE_NEO4J_BATCHING", v))
                .expect(v)
        );
    }
    let size = env::NEO4J.batch_size_from(with("NEO4J_BATCH_SIZE", "10000"));
    assert_eq!(size.expect("in range").get(), 10_000);
    let size = env::POSTGRES.batch_size_from(with("POSTGRES_BATCH_INSERT_SIZE", "1"));
    assert_eq!(size.expect("in range").get(), 1);
}

#[test]
fn invalid_values_name_variable_value_and_range() {
    let cases = [
        (&env::CHROMA, "CHROMA_BATCH_INSERT_SIZE", "abc", "1-1000"),
        (&env::CHROMA, "CHROMA_BATCH_INSERT_SIZE", "0", "1-1000"),
        (&env::COUCHDB, "COUCHDB_BATCH_INSERT_SIZE", "1001", "1-1000"),
        (&env::POSTGRES, "POSTGRES_BATCH_INSERT_SIZE", "-5", "1-1000"),
        (&env::NEO4J, "NEO4J_BATCH_SIZE", "10001", "1-10000"),
        (
            &env::NEO4J,
            "NEO4J_BATCH_SIZE",
            "99999999999999999999999",
            "1-10000",
        ),
    ];
    for (backend, var, value, range) in cases {
        let err = backend.batch_size_from(with(var, value)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(var) && msg.contains(value) && msg.contains(range),
            "{msg}"
        );
    }
    for value in ["maybe", "", "2"] {
        let err = env::COUCHDB
            .enabled_from(with("ENABLE_COUCHDB_BATCH_INSERT", value))
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::InvalidBool {
                var: "ENABLE_COUCHDB_BATCH_INSERT",
                ..
            }
        ));
        assert!(err.to_string().contains("ENABLE_COUCHDB_BATCH_INSERT"));
    }
}

/// The process-wide helpers read the real environment when called. The
/// variables are set for a child run of this same test (setting them in
/// this multi-threaded process would race with other tests).
#[test]
fn process_helpers_read_the_environment_when_called() {
    let exe = std::env::current_exe().expect("test binary path");
    if std::env::var_os("UDS3_ENV_CHILD").is_some() {
        assert!(env::should_use_chroma_batch_insert().expect("valid"));
        assert!(!env::should_use_neo4j_batching().expect("unset"));
        assert!(env::should_use_postgres_batch_insert().expect("valid"));
        assert!(env::should_use_couchdb_batch_insert().is_err());
        assert_eq!(env::get_chroma_batch_size().expect("valid"), 250);
        assert_eq!(env::get_neo4j_batch_size().expect("default"), 1000);
        assert_eq!(env::get_postgres_batch_size().expect("default"), 100);
        let err = env::get_couchdb_batch_size().unwrap_err();
        assert!(err.to_string().contains("COUCHDB_BATCH_INSERT_SIZE"));
        return;
    }
    let status = std::process::Command::new(exe)
        .args([
            "--exact",
            "process_helpers_read_the_environment_when_called",
            "--nocapture",
        ])
        .env("UDS3_ENV_CHILD", "1")
        .env("ENABLE_CHROMA_BATCH_INSERT", "true")
        .env_remove("ENABLE_NEO4J_BATCHING")
        .env_remove("NEO4J_BATCH_SIZE")
        .env_remove("POSTGRES_BATCH_INSERT_SIZE")
        .env("ENABLE_POSTGRES_BATCH_INSERT", "1")
        .env("ENABLE_COUCHDB_BATCH_INSERT", "maybe")
        .env("CHROMA_BATCH_INSERT_SIZE", "250")
        .env("COUCHDB_BATCH_INSERT_SIZE", "0")
        .status()
        .expect("run child");
    assert!(status.success(), "the child process checks failed");
}

#[test]
fn backend_settings_are_named_after_the_backend() {
    let cases = [
        (&env::CHROMA, "chroma"),
        (&env::NEO4J, "neo4j"),
        (&env::POSTGRES, "postgres"),
        (&env::COUCHDB, "couch"),
    ];
    for (backend, name) in cases {
        let settings = BatcherSettings::for_backend(backend, 7).expect("valid");
        assert_eq!(settings.name, name);
        assert_eq!(settings.batch_size.get(), 7);
        let zero = BatcherSettings::for_backend(backend, 0).expect_err("0 is refused");
        assert!(zero.to_string().contains("batch_size"), "{zero}");
    }
}
