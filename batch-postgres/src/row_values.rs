//! `RowValues`: a batch's row values in one buffer.

use postgres::types::ToSql;

use crate::row::Row;

/// The values of a batch's rows, row after row, `width` each: one buffer
/// per batch instead of a `Vec` per row (see [`Row::extend_values`]).
pub(crate) struct RowValues<'a> {
    pub(crate) flat: Vec<&'a (dyn ToSql + Sync)>,
    pub(crate) width: usize,
}

impl<'a> RowValues<'a> {
    /// Room for `rows` rows of `width` values.
    pub(crate) fn with_capacity(rows: usize, width: usize) -> Self {
        RowValues {
            flat: Vec::with_capacity(rows * width),
            width,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.flat.len().checked_div(self.width).unwrap_or(0)
    }

    /// Row `n`'s values.
    pub(crate) fn get(&self, n: usize) -> Option<&[&'a (dyn ToSql + Sync)]> {
        self.flat.get(n * self.width..(n + 1) * self.width)
    }

    /// Every row's values, in order.
    pub(crate) fn rows(&self) -> std::slice::ChunksExact<'_, &'a (dyn ToSql + Sync)> {
        self.flat.chunks_exact(self.width.max(1))
    }

    /// Appends `row`'s values if it has `width` of them; otherwise leaves
    /// the buffer as it was and returns how many it has.
    pub(crate) fn push<R: Row>(&mut self, row: &'a R) -> Result<(), usize> {
        let start = self.flat.len();
        row.extend_values(&mut self.flat);
        let count = self.flat.len() - start;
        if count == self.width {
            Ok(())
        } else {
            self.flat.truncate(start);
            Err(count)
        }
    }

    /// Drops the last row's values.
    pub(crate) fn pop(&mut self) {
        let len = self.flat.len().saturating_sub(self.width);
        self.flat.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DynRow;

    fn row(values: &[i64]) -> DynRow {
        values
            .iter()
            .map(|&v| Box::new(v) as Box<dyn ToSql + Send + Sync>)
            .collect()
    }

    #[test]
    fn rows_keep_their_own_values_and_a_row_of_the_wrong_width_is_refused() {
        let (a, short, b) = (row(&[1, 2]), row(&[3]), row(&[4, 5]));
        let mut values = RowValues::with_capacity(3, 2);
        assert_eq!(values.push(&a), Ok(()));
        assert_eq!(values.push(&short), Err(1), "one value for two columns");
        assert_eq!(values.push(&b), Ok(()));
        assert_eq!(values.len(), 2);
        let shown: Vec<String> = values.rows().map(|r| format!("{r:?}")).collect();
        assert_eq!(shown, ["[1, 2]", "[4, 5]"]);
        values.pop();
        assert_eq!(values.len(), 1);
        assert_eq!(format!("{:?}", values.get(0)), "Some([1, 2])");
        assert!(values.get(1).is_none());
    }
}
