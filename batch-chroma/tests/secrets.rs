//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a client built from a URL with a password and with tokens
//! shows none of them in `Debug`, nor does a refused URL's message; and a
//! percent-encoded password is sent decoded.

use batch_chroma::ChromaClient;
use batch_core::testing::authorization_probe::AuthorizationProbe;
use test_support::secrets::{PASSWORD, assert_refusals_hide, refused_http_urls};

const TOKEN: &str = "tok-S3cret";
const X_TOKEN: &str = "xtok-S3cret";

fn assert_hidden(shown: &str) {
    test_support::secrets::assert_hidden(shown, &[PASSWORD, TOKEN, X_TOKEN]);
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
    assert_refusals_hide(&refused_http_urls(), Some("admin:***@"), ChromaClient::new);
}

#[test]
fn a_percent_encoded_password_is_sent_decoded() {
    let probe = AuthorizationProbe::start();
    let client = ChromaClient::new(&probe.url("admin:p%40ss")).expect("client");
    client.heartbeat().expect("the probe answers");
    // base64 of `admin:p@ss`.
    assert_eq!(probe.received().as_deref(), Some("Basic YWRtaW46cEBzcw=="));
}
