//! UDS3 v2.2's `documents` table: the row type, the table spec preset, and
//! the `CREATE TABLE` of `ensure_schema`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::types::ToSql;

use crate::error::PostgresError;
use crate::ident::TableName;
use crate::row::Row;
use crate::spec::TableSpec;

/// UDS3 v2.2's default `processing_status`.
pub const DEFAULT_PROCESSING_STATUS: &str = "completed";

/// The columns of the documents table, in the order rows provide them.
pub const DOCUMENT_COLUMNS: [&str; 8] = [
    "document_id",
    "file_path",
    "classification",
    "content_length",
    "legal_terms_count",
    "created_at",
    "quality_score",
    "processing_status",
];

/// One row of UDS3's `documents` table.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct DocumentRow {
    /// Unique document identifier (the conflict key).
    pub document_id: String,
    /// Path to the document file.
    pub file_path: String,
    /// Document classification.
    pub classification: String,
    /// Content length in characters or bytes (not negative).
    pub content_length: i64,
    /// Number of legal terms found (not negative).
    pub legal_terms_count: i64,
    /// Creation time; kept when an existing document is updated.
    pub created_at: SystemTime,
    /// Quality score in 0-1, or none.
    pub quality_score: Option<f64>,
    /// Processing status (UDS3 default `completed`).
    pub processing_status: String,
}

impl DocumentRow {
    /// A row with UDS3's defaults: `created_at` now (to the microsecond
    /// PostgreSQL stores), no quality score, status `completed`.
    pub fn new(
        document_id: impl Into<String>,
        file_path: impl Into<String>,
        classification: impl Into<String>,
        content_length: i64,
        legal_terms_count: i64,
    ) -> Self {
        Self {
            document_id: document_id.into(),
            file_path: file_path.into(),
            classification: classification.into(),
            content_length,
            legal_terms_count,
            created_at: now_micros(),
            quality_score: None,
            processing_status: DEFAULT_PROCESSING_STATUS.to_owned(),
        }
    }

    /// Sets `created_at`.
    #[must_use]
    pub fn created_at(mut self, created_at: SystemTime) -> Self {
        self.created_at = created_at;
        self
    }

    /// Sets `quality_score`.
    #[must_use]
    pub fn quality_score(mut self, quality_score: f64) -> Self {
        self.quality_score = Some(quality_score);
        self
    }

    /// Sets `processing_status`.
    #[must_use]
    pub fn processing_status(mut self, status: impl Into<String>) -> Self {
        self.processing_status = status.into();
        self
    }
}

impl DocumentRow {
    /// A row read back by name from a `SELECT` of [`DOCUMENT_COLUMNS`].
    pub(crate) fn from_row(row: &postgres::Row) -> Result<Self, postgres::Error> {
        Ok(Self {
            document_id: row.try_get("document_id")?,
            file_path: row.try_get("file_path")?,
            classification: row.try_get("classification")?,
            content_length: row.try_get("content_length")?,
            legal_terms_count: row.try_get("legal_terms_count")?,
            created_at: row.try_get("created_at")?,
            quality_score: row.try_get("quality_score")?,
            processing_status: row.try_get("processing_status")?,
        })
    }
}

/// Now, truncated to microseconds so that what is read back equals what
/// was added.
fn now_micros() -> SystemTime {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    UNIX_EPOCH + Duration::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

impl Row for DocumentRow {
    /// JSON through serde (feature `durable`).
    #[cfg(feature = "durable")]
    fn codec() -> Option<batch_core::Codec<Self>> {
        Some(batch_core::Codec::json())
    }

    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut values = Vec::with_capacity(8);
        self.extend_values(&mut values);
        values
    }

    fn extend_values<'a>(&'a self, out: &mut Vec<&'a (dyn ToSql + Sync)>) {
        out.extend_from_slice(&[
            &self.document_id,
            &self.file_path,
            &self.classification,
            &self.content_length,
            &self.legal_terms_count,
            &self.created_at,
            &self.quality_score,
            &self.processing_status,
        ]);
    }

    /// The `document_id`.
    fn key(&self) -> Option<String> {
        Some(self.document_id.clone())
    }

    /// Refuses what PostgreSQL would refuse anyway or what UDS3 documents
    /// as out of range: an empty id or status, NUL bytes in text (PostgreSQL
    /// text cannot hold them), negative counts, a quality score outside 0-1.
    fn validate(&self) -> Result<(), String> {
        if self.document_id.is_empty() {
            return Err("document_id must not be empty".into());
        }
        if self.processing_status.is_empty() {
            return Err("processing_status must not be empty".into());
        }
        for (name, text) in [
            ("document_id", &self.document_id),
            ("file_path", &self.file_path),
            ("classification", &self.classification),
            ("processing_status", &self.processing_status),
        ] {
            if text.contains('\0') {
                return Err(format!(
                    "{name} contains a NUL byte, which PostgreSQL text cannot store"
                ));
            }
        }
        if self.content_length < 0 {
            return Err(format!(
                "content_length {} is negative",
                self.content_length
            ));
        }
        if self.legal_terms_count < 0 {
            return Err(format!(
                "legal_terms_count {} is negative",
                self.legal_terms_count
            ));
        }
        if let Some(q) = self.quality_score
            && !(0.0..=1.0).contains(&q)
        {
            return Err(format!("quality_score {q} is outside 0-1"));
        }
        Ok(())
    }
}

/// The documents table's spec: upsert on `document_id`, every column but
/// `created_at` updated, as in UDS3 v2.2.
pub fn documents_spec(table: TableName) -> Result<TableSpec, PostgresError> {
    TableSpec::new(table, DOCUMENT_COLUMNS, ["document_id"])?.keep_on_update(["created_at"])
}

/// `CREATE TABLE IF NOT EXISTS` for the documents table.
pub fn create_documents_table(table: &TableName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         document_id TEXT PRIMARY KEY, \
         file_path TEXT NOT NULL, \
         classification TEXT NOT NULL, \
         content_length BIGINT NOT NULL CHECK (content_length >= 0), \
         legal_terms_count BIGINT NOT NULL CHECK (legal_terms_count >= 0), \
         created_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
         quality_score DOUBLE PRECISION, \
         processing_status TEXT NOT NULL DEFAULT '{DEFAULT_PROCESSING_STATUS}')",
        table = table.quoted()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_refuses_bad_rows() {
        let ok = DocumentRow::new("d1", "/a", "law", 10, 2);
        assert!(ok.validate().is_ok());
        assert!(DocumentRow::new("", "/a", "law", 10, 2).validate().is_err());
        assert!(
            DocumentRow::new("d\0", "/a", "law", 10, 2)
                .validate()
                .is_err()
        );
        assert!(
            DocumentRow::new("d", "/a", "law", -1, 2)
                .validate()
                .is_err()
        );
        assert!(ok.clone().quality_score(f64::NAN).validate().is_err());
        assert!(ok.clone().quality_score(1.5).validate().is_err());
        assert!(ok.processing_status("").validate().is_err());
    }
}
