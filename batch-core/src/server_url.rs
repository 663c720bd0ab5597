//! [`ServerUrl`]: a server's URL parsed once, by the `url` crate (WHATWG
//! parsing, IPv6 hosts), for every backend (feature `server-url`): scheme,
//! host, port, the percent-decoded user and password, and a form with the
//! password masked for messages. The rules of one protocol (which schemes,
//! which default port) stay with its backend.

use std::fmt;

use percent_encoding::percent_decode_str;
use url::{Host, Position, Url};

/// What is wrong with a server URL. Never holds the URL's password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    /// No `scheme://` in front (`127.0.0.1:5984`, `db:5984`).
    #[error("has no scheme")]
    NoScheme,
    /// `scheme://` with no host after it.
    #[error("has no host")]
    NoHost,
    /// Not a URL: a bad port, an unclosed `[`, a character no host may
    /// hold, ...
    #[error("is not a valid URL: {0}")]
    Malformed(url::ParseError),
    /// The user name is not UTF-8 once percent-decoded.
    #[error("is refused: the user name is not valid UTF-8 once percent-decoded")]
    UserNotUtf8,
    /// The password is not UTF-8 once percent-decoded.
    #[error("is refused: the password is not valid UTF-8 once percent-decoded")]
    PasswordNotUtf8,
}

/// A server URL that cannot be used: the URL as [`masked`] shows it, and
/// what is wrong. Its message is `URL "<masked>" <problem>`; backends
/// word their own around [`masked`](Self::masked) and
/// [`problem`](Self::problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("URL {masked:?} {problem}")]
pub struct UrlError {
    masked: String,
    problem: UrlProblem,
}

impl UrlError {
    /// The URL as given, password masked.
    pub fn masked(&self) -> &str {
        &self.masked
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &UrlProblem {
        &self.problem
    }
}

/// A parsed server URL with a host. `Debug` and `Display` show it with
/// the password masked; only [`password`](Self::password) gives it out.
#[derive(Clone)]
pub struct ServerUrl {
    url: Url,
    user: Option<String>,
    password: Option<String>,
    masked: String,
}

impl ServerUrl {
    /// Parses `input`, which must be `scheme://[user[:password]@]host[:port][...]`.
    /// The user and password are percent-decoded (`p%40ss` is `p@ss`).
    /// The `url` crate normalizes as browsers do: a scheme and a
    /// `http(s)` host in lower case, a default port dropped
    /// (`http://h:80/` is `http://h/`), characters that need it
    /// percent-encoded.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        let refused = |problem| UrlError {
            masked: masked(input),
            problem,
        };
        let url = match Url::parse(input) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return Err(refused(UrlProblem::NoScheme));
            }
            Err(url::ParseError::EmptyHost) => return Err(refused(UrlProblem::NoHost)),
            Err(e) => return Err(refused(UrlProblem::Malformed(e))),
        };
        // `localhost:5432` is a valid URL of scheme `localhost`, without
        // `//` and so without a host: to a person, a host with no scheme.
        if url.cannot_be_a_base() {
            return Err(refused(UrlProblem::NoScheme));
        }
        if url.host().is_none() {
            return Err(refused(UrlProblem::NoHost));
        }
        let decode = |part: &str, problem| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| refused(problem))
        };
        let user = match url.username() {
            "" => None,
            user => Some(decode(user, UrlProblem::UserNotUtf8)?),
        };
        let password = url
            .password()
            .map(|p| decode(p, UrlProblem::PasswordNotUtf8))
            .transpose()?;
        Ok(Self {
            user,
            password,
            masked: masked(input),
            url,
        })
    }

    /// The scheme, in lower case (`http`, `bolt+s`, ...).
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The host: a name, or an IP address (IPv6 without brackets).
    pub fn host(&self) -> String {
        match self.url.host() {
            Some(Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => String::new(),
        }
    }

    /// The port the URL names, else its scheme's known default (`http`
    /// 80, `https` 443); `None` for a scheme the `url` crate knows no
    /// port of (`bolt`, `postgres`: their backends know it).
    pub fn port(&self) -> Option<u16> {
        self.url.port_or_known_default()
    }

    /// `host:port` to connect to (`[::1]:5984` for IPv6), the port
    /// [`port`](Self::port) or else `default_port`.
    pub fn address(&self, default_port: u16) -> String {
        let port = self.port().unwrap_or(default_port);
        match self.url.host() {
            Some(Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{}:{port}", self.host()),
        }
    }

    /// The user name, percent-decoded; `None` if the URL names none.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, percent-decoded; `None` if the URL has none (an
    /// empty one, `user:@host`, is none).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Whether the URL carries a user or a password.
    pub fn has_credentials(&self) -> bool {
        self.user.is_some() || self.password.is_some()
    }

    /// The path and the query string (`/db?x=1`; `/` at least for
    /// `http(s)`, empty for a scheme without path such as `bolt://h`).
    pub fn path_and_query(&self) -> &str {
        &self.url[Position::BeforePath..Position::AfterQuery]
    }

    /// The query string (without `?`), if there is one.
    pub fn query(&self) -> Option<&str> {
        self.url.query()
    }

    /// The URL without user and password, as the `url` crate writes it
    /// (`http://h:1` becomes `http://h:1/`).
    pub fn without_credentials(&self) -> String {
        let mut url = self.url.clone();
        // Only fails for URLs without a host, which `parse` refused.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.into()
    }

    /// The URL as given, the password masked: for messages.
    pub fn masked(&self) -> &str {
        &self.masked
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerUrl").field(&self.masked).finish()
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

/// `input` with the password, if any, replaced by `***`: for messages
/// about a URL, parsed or not (a URL that fails to parse still has to be
/// shown, and shown safely). Everything from the first `:` of the
/// userinfo to the last `@` is masked, even past a `/`, `?` or `#`: a
/// password written unencoded may hold those, and masking too much is the
/// safe side. `http://user:secret@h/db` gives `http://user:***@h/db`.
pub fn masked(input: &str) -> String {
    let (scheme, rest) = match input.split_once("://") {
        Some((scheme, rest))
            if scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            (&input[..scheme.len() + 3], rest)
        }
        _ => ("", input),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}{user}:***@{host}"),
            None => input.to_owned(),
        },
        None => input.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(input: &str) -> UrlProblem {
        ServerUrl::parse(input).expect_err(input).problem
    }

    #[test]
    fn host_port_and_the_schemes_default_port() {
        let url = ServerUrl::parse("http://127.0.0.1:5984/db").expect("url");
        assert_eq!((url.scheme(), url.host()), ("http", "127.0.0.1".into()));
        assert_eq!(url.address(0), "127.0.0.1:5984");
        let url = ServerUrl::parse("https://DB.example/prefix").expect("url");
        assert_eq!((url.host(), url.port()), ("db.example".into(), Some(443)));
        assert_eq!(
            ServerUrl::parse("http://h").expect("url").address(0),
            "h:80"
        );
        let url = ServerUrl::parse("bolt://[::1]").expect("url");
        assert_eq!((url.host(), url.port()), ("::1".into(), None));
        assert_eq!(url.address(7687), "[::1]:7687");
        let url = ServerUrl::parse("neo4j://db:1?policy=eu#x").expect("url");
        assert_eq!(url.path_and_query(), "?policy=eu");
        assert_eq!(
            (url.query(), url.address(7687)),
            (Some("policy=eu"), "db:1".into())
        );
    }

    #[test]
    fn user_and_password_are_percent_decoded() {
        let url =
            ServerUrl::parse("http://us%40er%2F%25%23:p%40s%3As%2Fw%25d%23@h:1/db").expect("url");
        assert_eq!(url.user(), Some("us@er/%#"));
        assert_eq!(url.password(), Some("p@s:s/w%d#"));
        assert_eq!(url.without_credentials(), "http://h:1/db");
        // A raw '@' in the password: the last '@' ends the userinfo.
        let url = ServerUrl::parse("http://u:p@ss@h:1").expect("url");
        assert_eq!((url.user(), url.password()), (Some("u"), Some("p@ss")));
        let url = ServerUrl::parse("http://admin@h:1").expect("url");
        assert_eq!((url.user(), url.password()), (Some("admin"), None));
        assert!(
            !ServerUrl::parse("http://h:1")
                .expect("url")
                .has_credentials()
        );
        assert_eq!(
            problem("http://u:s%FFcret@h:1"),
            UrlProblem::PasswordNotUtf8
        );
        assert_eq!(problem("http://u%FF:secret@h:1"), UrlProblem::UserNotUtf8);
    }

    #[test]
    fn what_is_missing_is_named() {
        for input in [
            "127.0.0.1:5984",
            "localhost:5432",
            "db:5984",
            "u:secret@h:1",
        ] {
            assert_eq!(problem(input), UrlProblem::NoScheme, "{input}");
        }
        for input in ["http://user:secret@:5984", "bolt://", "bolt://:7687"] {
            assert_eq!(problem(input), UrlProblem::NoHost, "{input}");
        }
        assert!(matches!(
            problem("http://h:99999"),
            UrlProblem::Malformed(_)
        ));
    }

    #[test]
    fn the_password_is_masked_everywhere() {
        assert_eq!(
            masked("http://user:secret@h:1/db"),
            "http://user:***@h:1/db"
        );
        assert_eq!(masked("user:secret@h:1"), "user:***@h:1");
        assert_eq!(
            masked("bolt://root:pa/ss@db:7687"),
            "bolt://root:***@db:7687"
        );
        assert_eq!(masked("http://admin@h:1"), "http://admin@h:1");
        assert_eq!(masked("http://h:1/db"), "http://h:1/db");
        // "://" in the password is no scheme.
        assert_eq!(masked("u:x://secret@h"), "u:***@h");
        let url = ServerUrl::parse("http://user:s3cret@h:1").expect("url");
        for shown in [
            format!("{url}"),
            format!("{url:?}"),
            url.without_credentials(),
        ] {
            assert!(!shown.contains("s3cret"), "{shown}");
        }
        let err = ServerUrl::parse("http://user:s3cret@h:99999").expect_err("bad port");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(err.to_string().contains("user:***@h:99999"), "{err}");
    }
}
