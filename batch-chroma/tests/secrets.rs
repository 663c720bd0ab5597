//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a client built from a URL with a password and with tokens
//! shows none of them in `Debug`, nor does a refused URL's message; and a
//! percent-encoded password is sent decoded.

use batch_chroma::ChromaClient;
use batch_core::testing::authorization_probe::AuthorizationProbe;

const PASSWORD: &str = "pw-S3cret";
const TOKEN: &str = "tok-S3cret";
const X_TOKEN: &str = "xtok-S3cret";

fn assert_hidden(shown: &str) {
    for secret in [PASSWORD, TOKEN, X_TOKEN] {
        assert!(!shown.contains(secret), "{secret} shows in {shown}");
    }
}

#[test]
fn passwords_and_tokens_are_masked() {
    let url = format!("http://admin:{PASSWORD}@127.0.0.1:1/prefix");
    let builder = ChromaClient::builder(&url)
        .token(TOKEN)
        .x_chroma_token(X_TOKEN);
    assert_hidden(&format!("{builder:?}"));
    let client = builder.build().expect("client");
    assert_hidden(&format!("{client:?}"));
    assert_hidden(client.base_url());
    let client = ChromaClient::builder("http://127.0.0.1:1")
        .authorization(format!("Bearer {TOKEN}"))
        .build()
        .expect("client");
    assert_hidden(&format!("{client:?}"));
    for refused in [
        format!("admin:{PASSWORD}@127.0.0.1:1"),
        format!("ftp://admin:{PASSWORD}@127.0.0.1:1"),
        format!("http://admin:{PASSWORD}@:1"),
        format!("http://admin:{PASSWORD}%FF@127.0.0.1:1"),
        format!("http://admin:{PASSWORD}@127.0.0.1:99999"),
        format!("http://admin:pa/{PASSWORD}@127.0.0.1:1"),
    ] {
        let err = ChromaClient::new(&refused).expect_err(&refused);
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
        assert!(err.to_string().contains("admin:***@"), "{err}");
    }
}

#[test]
fn a_percent_encoded_password_is_sent_decoded() {
    let probe = AuthorizationProbe::start();
    let client = ChromaClient::new(&probe.url("admin:p%40ss")).expect("client");
    client.heartbeat().expect("the probe answers");
    // base64 of `admin:p@ss`.
    assert_eq!(probe.received().as_deref(), Some("Basic YWRtaW46cEBzcw=="));
}
