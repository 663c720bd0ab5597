//! `Name`: a label or relationship type that is safe to put into Cypher.

use std::fmt;

/// A label or relationship type checked against `^[A-Za-z_][A-Za-z0-9_]*$`.
///
/// Cypher cannot take labels or types as parameters, so they are pasted
/// into the query text; this type is the only way in, which makes Cypher
/// injection through a label or type impossible (UDS3 v2.2 pasted the raw
/// string into an f-string). It is additionally backtick-quoted when used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Name(String);

impl Name {
    /// Checks `raw`; `what` names it in the error ("relationship type", "label").
    pub(crate) fn parse(raw: &str, what: &str) -> Result<Self, String> {
        Self::check(raw, what)?;
        Ok(Self(raw.to_owned()))
    }

    /// [`parse`](Self::parse) without keeping the name.
    pub(crate) fn check(raw: &str, what: &str) -> Result<(), String> {
        let mut chars = raw.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(())
        } else {
            Err(format!(
                "{what} {raw:?} is not allowed: it must match ^[A-Za-z_][A-Za-z0-9_]*$"
            ))
        }
    }

    /// The name as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The name backtick-quoted for Cypher (safe: it contains no backtick).
    pub(crate) fn quoted(&self) -> String {
        format!("`{}`", self.0)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn accepts_identifiers_and_refuses_everything_else() {
        for ok in ["HAS_CHUNK", "_x", "a1", "Document"] {
            assert!(Name::parse(ok, "type").is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1A",
            "HAS CHUNK",
            "X]->() DETACH DELETE n //",
            "a`b",
            "Ä",
            "a-b",
        ] {
            let err = Name::parse(bad, "relationship type").unwrap_err();
            assert!(err.contains("relationship type"), "{err}");
        }
    }
}
