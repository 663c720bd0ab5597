//! `sslmode` and `sslrootcert` of a connection string, taken out before
//! the rest goes to the driver (tokio-postgres knows only
//! disable/prefer/require and refuses `sslrootcert`).

/// PostgreSQL's `sslmode`, as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plaintext.
    Disable,
    /// TLS when the server offers it, else plaintext (the default).
    Prefer,
    /// TLS or no connection.
    Require,
    /// TLS, the certificate's chain verified, not its host name.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode={other:?} is not supported: use disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }
}

/// A connection string without its TLS options, and those options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SslOptions {
    /// The connection string for the driver.
    pub(crate) rest: String,
    /// `sslmode`, if given.
    pub(crate) mode: Option<SslMode>,
    /// `sslrootcert`, if given.
    pub(crate) root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL (query
/// parameters) or a `key=value` string. The last of a repeated key wins.
pub(crate) fn split(conn: &str) -> Result<SslOptions, String> {
    let mut options = SslOptions {
        rest: String::new(),
        mode: None,
        root_cert: None,
    };
    let mut take = |key: &str, value: String| -> Result<bool, String> {
        match key {
            "sslmode" => options.mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => options.root_cert = Some(value),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if conn.contains("://") {
        match conn.split_once('?') {
            None => conn.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(&percent_decode(key)?, percent_decode(value)?)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (key, value, text) in key_values(conn)? {
            if !take(key, value)? {
                kept.push(text);
            }
        }
        kept.join(" ")
    };
    options.rest = rest;
    Ok(options)
}

/// `%XX` escapes of a URL component.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in connection URL parameter {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("connection URL parameter {text:?} is not UTF-8"))
}

/// The pairs of a `key=value` string: key, unquoted value, and the pair's
/// original text. Values may be single-quoted with `\'` and `\\` escapes;
/// spaces may surround `=`.
fn key_values(conn: &str) -> Result<Vec<(&str, String, &str)>, String> {
    let mut pairs = Vec::new();
    let mut rest = conn.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let eq = rest
            .find('=')
            .ok_or_else(|| "connection string: a key without \"=value\"".to_owned())?;
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("connection string: bad key {key:?}"));
        }
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = if rest.starts_with('\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "connection string: unterminated quote after {key}="
                        ));
                    }
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("connection string: dangling \\ after {key}=")),
                    },
                    Some((i, '\'')) => break i + 1,
                    Some((_, c)) => value.push(c),
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => break rest.len(),
                    Some((i, c)) if c.is_whitespace() => break i,
                    Some((_, '\\')) => {
                        if let Some((_, c)) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some((_, c)) => value.push(c),
                }
            }
        };
        let consumed = start.len() - rest.len() + end;
        pairs.push((key, value, &start[..consumed]));
        rest = rest[end..].trim_start();
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options_are_taken_out_and_the_rest_kept() {
        let o = split("postgres://u:p@h:1/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x")
            .expect("split");
        assert_eq!(o.mode, Some(SslMode::VerifyFull));
        assert_eq!(o.root_cert.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(o.rest, "postgres://u:p@h:1/db?application_name=x");
        let o = split("postgresql://h/db?sslmode=disable").expect("split");
        assert_eq!(
            (o.mode, o.rest.as_str()),
            (Some(SslMode::Disable), "postgresql://h/db")
        );
        let o = split("postgres://h/db").expect("split");
        assert_eq!(
            (o.mode, o.root_cert, o.rest.as_str()),
            (None, None, "postgres://h/db")
        );
        for (text, mode) in [
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
        ] {
            let o = split(&format!("postgres://h?sslmode={text}")).expect("split");
            assert_eq!((o.mode, o.rest.as_str()), (Some(mode), "postgres://h"));
        }
    }

    #[test]
    fn unknown_modes_and_bad_escapes_are_refused() {
        let err = split("postgres://h?sslmode=allow").unwrap_err();
        assert!(
            err.contains("\"allow\"") && err.contains("verify-full"),
            "{err}"
        );
        let err = split("postgres://h?sslrootcert=%zz").unwrap_err();
        assert!(err.contains("%-escape"), "{err}");
        assert!(split("host=h sslmode=verify").is_err());
    }

    #[test]
    fn key_value_options_are_taken_out_and_the_rest_kept() {
        let o = split("host=h port=1 sslmode = verify-ca sslrootcert='/a b/c\\'a.pem' user=u")
            .expect("split");
        assert_eq!(o.mode, Some(SslMode::VerifyCa));
        assert_eq!(o.root_cert.as_deref(), Some("/a b/c'a.pem"));
        assert_eq!(o.rest, "host=h port=1 user=u");
        let o = split("password='x y' host=h").expect("split");
        assert_eq!((o.mode, o.rest.as_str()), (None, "password='x y' host=h"));
        assert!(split("host='h").is_err());
    }
}
