//! `ColumnArray`: one column of a batch as a single PostgreSQL array
//! parameter, so that a batch of any size is one statement with one
//! parameter per column (the `UNNEST` write).

use std::error::Error;

use postgres::types::{IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::ident::Ident;

/// Encodes borrowed values of one column as a one-dimensional array in the
/// binary wire format. Each element is type-checked against the column's
/// element type, so a wrong Rust type names the column instead of
/// corrupting data.
pub(crate) struct ColumnArray<'a> {
    pub(crate) column: &'a Ident,
    pub(crate) values: Vec<&'a (dyn ToSql + Sync)>,
    /// Refuse NULL elements: the column belongs to the conflict key, where
    /// NULL never conflicts and would break the batch's last-wins matching.
    pub(crate) not_null: bool,
    /// Names the caller's row `n` (its conflict key) in an error.
    pub(crate) name: &'a (dyn Fn(usize) -> String + Sync),
}

impl std::fmt::Debug for ColumnArray<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnArray")
            .field("column", &self.column)
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}

impl ToSql for ColumnArray<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let Kind::Array(member) = ty.kind() else {
            return Err(
                format!("column {} is not bound to an array parameter", self.column).into(),
            );
        };
        let len = i32::try_from(self.values.len())?;
        let header_at = out.len();
        // ndim, has-null flag (patched below), element oid, length, lower bound.
        put_i32(out, 1);
        put_i32(out, 0);
        out.extend_from_slice(&member.oid().to_be_bytes());
        put_i32(out, len);
        put_i32(out, 1);
        let mut has_null = false;
        for (row, value) in self.values.iter().enumerate() {
            let len_at = out.len();
            put_i32(out, 0);
            let start = out.len();
            let encoded = value
                .to_sql_checked(member, out)
                .map_err(|e| format!("row {}, column {}: {e}", (self.name)(row), self.column))?;
            match encoded {
                IsNull::Yes => {
                    if self.not_null {
                        return Err(format!(
                            "row {}: conflict key column {} must not be NULL",
                            (self.name)(row),
                            self.column
                        )
                        .into());
                    }
                    has_null = true;
                    out[len_at..start].copy_from_slice(&(-1_i32).to_be_bytes());
                }
                IsNull::No => {
                    let written = i32::try_from(out.len() - start)?;
                    out[len_at..start].copy_from_slice(&written.to_be_bytes());
                }
            }
        }
        if has_null {
            out[header_at + 4..header_at + 8].copy_from_slice(&1_i32.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Array(_))
    }

    to_sql_checked!();
}

fn put_i32(out: &mut bytes::BytesMut, value: i32) {
    out.extend_from_slice(&value.to_be_bytes());
}
