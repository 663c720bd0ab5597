//! `Row`: what the table inserter writes. Any type that can lend its column
//! values as `ToSql` in the spec's column order.

use postgres::types::ToSql;

/// One row for a [`TableSpec`](crate::TableSpec): its values in the spec's
/// column order.
///
/// Implement it for your own structs (no allocation needed beyond the
/// returned `Vec` of references), or use [`DynRow`] for ad-hoc rows.
pub trait Row: Send + 'static {
    /// The row's values, one per column of the spec, in order.
    fn values(&self) -> Vec<&(dyn ToSql + Sync)>;

    /// Appends [`values`](Self::values) to `out`. The sink collects a
    /// batch's values into one buffer with it; override it to push the
    /// values directly and spare the `Vec` per row that `values` allocates.
    fn extend_values<'a>(&'a self, out: &mut Vec<&'a (dyn ToSql + Sync)>) {
        out.extend(self.values());
    }

    /// Checks the row before it is buffered; an `Err(reason)` hands the row
    /// back to the caller at once, without a round trip. The default
    /// accepts everything (the server still checks types and constraints).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// A short name of the row for logs and messages (its id, never its
    /// whole content), e.g. when it is handed back or lost. The default
    /// gives none; the sink then names rows by their conflict key in its
    /// own errors.
    fn key(&self) -> Option<String> {
        None
    }

    /// How the row is stored in a durable buffer
    /// ([`BatcherSettings::durable`](batch_core::BatcherSettings::durable)):
    /// `Some(Codec::json())` for a `Serialize + DeserializeOwned` row
    /// (batch-core's `durable` feature). `None` (the default): an inserter
    /// with a durable buffer refuses to start.
    fn codec() -> Option<batch_core::Codec<Self>>
    where
        Self: Sized,
    {
        None
    }
}

/// An ad-hoc row of boxed values, e.g.
/// `vec![Box::new("id-1".to_owned()), Box::new(42_i64)]`.
pub type DynRow = Vec<Box<dyn ToSql + Send + Sync>>;

impl Row for DynRow {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut values = Vec::with_capacity(self.len());
        self.extend_values(&mut values);
        values
    }

    fn extend_values<'a>(&'a self, out: &mut Vec<&'a (dyn ToSql + Sync)>) {
        out.extend(self.iter().map(|value| &**value as &(dyn ToSql + Sync)));
    }
}
