//! Tiny HTTP helpers over `ureq` for readiness and smoke checks.

use anyhow::{Context, Result, bail};
use std::time::Duration;

use xtask::test_servers::UrlParts;

/// A base URL split into the part ureq gets and optional basic-auth credentials.
#[derive(Debug, Clone)]
pub struct Base {
    /// `scheme://host:port[/path]` without credentials or trailing slash.
    pub url: String,
    /// `user`, `password` from the URL, if any.
    pub auth: Option<(String, String)>,
}

impl Base {
    /// Splits `url` (which may carry `user:pass@`).
    pub fn parse(url: &str) -> Result<Base> {
        let p = UrlParts::parse(url).map_err(anyhow::Error::msg)?;
        let host = if p.host.contains(':') {
            format!("[{}]", p.host)
        } else {
            p.host.clone()
        };
        let port = p.port.map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Base {
            url: format!(
                "{}://{host}{port}{}",
                p.scheme,
                p.path.trim_end_matches('/')
            ),
            auth: p.user.map(|u| (u, p.password.unwrap_or_default())),
        })
    }

    /// `url` with `path` appended.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// An agent that reports every status as a response (not an error).
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// The `Authorization` header value for basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{user}:{password}")
        )
    )
}

/// A request method.
#[derive(Debug, Clone, Copy)]
pub enum Method {
    /// GET
    Get,
    /// DELETE
    Delete,
    /// POST with a JSON body
    Post,
    /// PUT with a JSON body
    Put,
}

/// Sends one request; returns the status and the body text.
pub fn request(
    agent: &ureq::Agent,
    method: Method,
    url: &str,
    auth: Option<&(String, String)>,
    body: Option<&serde_json::Value>,
) -> Result<(u16, String)> {
    let header = auth.map(|(u, p)| basic_auth(u, p));
    let result = match method {
        Method::Get | Method::Delete => {
            let mut req = match method {
                Method::Get => agent.get(url),
                _ => agent.delete(url),
            };
            if let Some(h) = &header {
                req = req.header("Authorization", h);
            }
            req.call()
        }
        Method::Post | Method::Put => {
            let mut req = match method {
                Method::Post => agent.post(url),
                _ => agent.put(url),
            };
            if let Some(h) = &header {
                req = req.header("Authorization", h);
            }
            match body {
                Some(body) => req.send_json(body),
                None => req.send_empty(),
            }
        }
    };
    let mut resp = result.with_context(|| format!("{method:?} {url}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .with_context(|| format!("{method:?} {url}: reading body"))?;
    Ok((status, text))
}

/// Sends one request and parses a JSON answer with one of the `ok` statuses.
pub fn json(
    agent: &ureq::Agent,
    method: Method,
    url: &str,
    auth: Option<&(String, String)>,
    body: Option<&serde_json::Value>,
    ok: &[u16],
) -> Result<serde_json::Value> {
    let (status, text) = request(agent, method, url, auth, body)?;
    if !ok.contains(&status) {
        bail!("{method:?} {url}: HTTP {status}: {}", snippet(&text));
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{method:?} {url}: not JSON: {}", snippet(&text)))
}

fn snippet(text: &str) -> String {
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_base64_of_user_and_password() {
        assert_eq!(basic_auth("user", "pass"), "Basic dXNlcjpwYXNz");
    }

    #[test]
    fn base_strips_credentials() {
        let b = Base::parse("http://a:b@127.0.0.1:5984/").expect("parses");
        assert_eq!(b.url, "http://127.0.0.1:5984");
        assert_eq!(b.auth, Some(("a".into(), "b".into())));
        assert_eq!(b.at("/_up"), "http://127.0.0.1:5984/_up");
    }
}
