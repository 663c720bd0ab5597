//! SQL identifiers that are validated once and always quoted, so that no
//! table or column name is ever interpolated into SQL raw.

use crate::error::PostgresError;

/// PostgreSQL silently truncates longer identifiers (NAMEDATALEN - 1);
/// refusing them avoids writing to a table with a different name.
const MAX_IDENT_BYTES: usize = 63;

/// A validated SQL identifier (table, schema or column name).
///
/// Any text is allowed except the empty string, NUL bytes and more than 63
/// bytes; it is always emitted double-quoted with inner quotes doubled, so
/// `we"ird; DROP` names exactly that column and nothing else. Quoted names
/// are case-sensitive: `Documents` and `documents` are different tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident(String);

impl Ident {
    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, PostgresError> {
        let name = name.into();
        if name.is_empty() {
            return Err(PostgresError::Invalid(
                "an SQL identifier must not be empty".into(),
            ));
        }
        if name.contains('\0') {
            return Err(PostgresError::Invalid(format!(
                "SQL identifier {name:?} contains a NUL byte"
            )));
        }
        if name.len() > MAX_IDENT_BYTES {
            return Err(PostgresError::Invalid(format!(
                "SQL identifier {name:?} is {} bytes long; PostgreSQL allows at most {MAX_IDENT_BYTES}",
                name.len()
            )));
        }
        Ok(Self(name))
    }

    /// The name as given (unquoted).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name double-quoted for SQL, inner double quotes doubled.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.quoted())
    }
}

/// A table name, optionally qualified by a schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    schema: Option<Ident>,
    name: Ident,
}

impl TableName {
    /// An unqualified table, found through the connection's `search_path`.
    pub fn new(name: impl Into<String>) -> Result<Self, PostgresError> {
        Ok(Self {
            schema: None,
            name: Ident::new(name)?,
        })
    }

    /// A table in `schema`.
    pub fn qualified(
        schema: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<Self, PostgresError> {
        Ok(Self {
            schema: Some(Ident::new(schema)?),
            name: Ident::new(name)?,
        })
    }

    /// The table's own name, without schema.
    pub fn name(&self) -> &Ident {
        &self.name
    }

    /// The schema, if qualified.
    pub fn schema(&self) -> Option<&Ident> {
        self.schema.as_ref()
    }

    /// `"schema"."name"` or `"name"`, quoted for SQL.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", schema.quoted(), self.name.quoted()),
            None => self.name.quoted(),
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.quoted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_and_names_wrapped() {
        let ident = Ident::new(r#"we"ird; DROP TABLE x; --"#).expect("valid");
        assert_eq!(ident.quoted(), r#""we""ird; DROP TABLE x; --""#);
        let table = TableName::qualified("my schema", "Documents").expect("valid");
        assert_eq!(table.quoted(), r#""my schema"."Documents""#);
    }

    #[test]
    fn empty_nul_and_long_names_are_refused() {
        assert!(Ident::new("").is_err());
        assert!(Ident::new("a\0b").is_err());
        assert!(Ident::new("x".repeat(64)).is_err());
        assert!(Ident::new("x".repeat(63)).is_ok());
    }
}
