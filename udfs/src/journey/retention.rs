//! `retention(cond1, …, condN)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray, UInt32Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt32Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{MAX_CONDITIONS, cond_param, condition_masks, condition_type};
use crate::common::check_arity;

const NAME: &str = "retention";

#[user_doc(
    doc_section(label = "Journey Functions"),
    description = "Retention flags of a group, as ClickHouse's retention: a list of N booleans \
where element 1 is whether cond1 held on any row of the group, and element i (i > 1) is whether \
cond1 held on some row and cond_i held on some row (not necessarily the same one). NULL \
conditions are false; an empty group gives all false. ClickHouse returns Array(UInt8) of 0/1; \
this returns List<Boolean>.",
    syntax_example = "retention(cond1 [, cond2, …, cond32])",
    sql_example = r#"```sql
> SELECT retention(d = DATE '2026-01-01', d = DATE '2026-01-02', d = DATE '2026-01-03') AS r
  FROM (VALUES (DATE '2026-01-01'), (DATE '2026-01-03')) AS t(d);
+----------------------+
| r                    |
+----------------------+
| [true, false, true]  |
+----------------------+
```"#,
    argument(
        name = "cond1, …, condN",
        description = "1 to 32 boolean conditions; cond1 is the cohort condition. NULL counts as false."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    signature: Signature,
}

impl Retention {
    /// The `retention` aggregate function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self::new()
    }
}

fn list_of_booleans() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Boolean, true)))
}

impl AggregateUDFImpl for Retention {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 1..=MAX_CONDITIONS)?;
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| condition_type(cond_param(NAME, i, i), t))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of_booleans())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RetentionAccumulator {
            conditions: args.exprs.len(),
            seen: 0,
        }))
    }

    /// The state is which conditions held on some row, one bit each, so
    /// partial states merge by OR.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Field::new(format!("{}[seen]", args.name), DataType::UInt32, true).into(),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(RetentionGroups {
            conditions: args.exprs.len(),
            seen: Vec::new(),
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The retention flags of `conditions` conditions given the bits of those
/// that held on some row.
pub fn retention_of(seen: u32, conditions: usize) -> Vec<bool> {
    let first = seen & 1 != 0;
    (0..conditions)
        .map(|i| first && seen & (1 << i) != 0)
        .collect()
}

#[derive(Debug)]
struct RetentionAccumulator {
    conditions: usize,
    seen: u32,
}

impl Accumulator for RetentionAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.seen |= condition_masks(values, rows)?
            .into_iter()
            .fold(0, |acc, m| acc | m);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let flags = BooleanArray::from(retention_of(self.seen, self.conditions));
        Ok(SingleRowListArrayBuilder::new(Arc::new(flags)).build_list_scalar())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::UInt32(Some(self.seen))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(seen) = states
            .first()
            .and_then(|s| s.as_primitive_opt::<UInt32Type>())
        else {
            return internal_err!("{NAME}: state must be UInt32");
        };
        self.seen |= seen.iter().flatten().fold(0, |acc, s| acc | s);
        Ok(())
    }
}

/// One bit set per group, for GROUP BY over many customers.
#[derive(Debug)]
struct RetentionGroups {
    conditions: usize,
    seen: Vec<u32>,
}

impl RetentionGroups {
    fn flags(&self, seen: &[u32]) -> ListArray {
        let flags = BooleanArray::from_iter(
            seen.iter()
                .flat_map(|&s| retention_of(s, self.conditions))
                .map(Some),
        );
        let field = Arc::new(Field::new_list_field(DataType::Boolean, true));
        let offsets = OffsetBuffer::from_lengths(seen.iter().map(|_| self.conditions));
        ListArray::new(field, offsets, Arc::new(flags), None)
    }
}

impl GroupsAccumulator for RetentionGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.seen.resize(total_num_groups, 0);
        let masks = condition_masks(values, group_indices.len())?;
        for (row, (&group, mask)) in group_indices.iter().zip(masks).enumerate() {
            if opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)) {
                self.seen[group] |= mask;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let seen = emit_to.take_needed(&mut self.seen);
        Ok(Arc::new(self.flags(&seen)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let seen = emit_to.take_needed(&mut self.seen);
        Ok(vec![Arc::new(UInt32Array::from(seen))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.seen.resize(total_num_groups, 0);
        let Some(seen) = values
            .first()
            .and_then(|s| s.as_primitive_opt::<UInt32Type>())
        else {
            return internal_err!("{NAME}: state must be UInt32");
        };
        for (row, &group) in group_indices.iter().enumerate() {
            if seen.is_valid(row) {
                self.seen[group] |= seen.value(row);
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |v| v.len());
        let masks = condition_masks(values, rows)?;
        let seen = masks.into_iter().enumerate().map(|(row, mask)| {
            if opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)) {
                mask
            } else {
                0
            }
        });
        Ok(vec![Arc::new(UInt32Array::from_iter_values(seen))])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.seen.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(rows: &[[Option<bool>; 3]]) -> Vec<ArrayRef> {
        (0..3)
            .map(|c| Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r[c]))) as ArrayRef)
            .collect()
    }

    fn flags(acc: &mut RetentionAccumulator) -> Vec<Option<bool>> {
        let ScalarValue::List(list) = acc.evaluate().unwrap() else {
            panic!("not a list")
        };
        list.value(0).as_boolean().iter().collect()
    }

    #[test]
    fn flags_follow_the_first_condition() {
        assert_eq!(retention_of(0b101, 3), [true, false, true]);
        assert_eq!(retention_of(0b110, 3), [false, false, false]);
        assert_eq!(retention_of(0, 2), [false, false]);
        assert_eq!(retention_of(1, 1), [true]);
    }

    #[test]
    fn nulls_are_false_and_rows_combine() {
        let mut acc = RetentionAccumulator {
            conditions: 3,
            seen: 0,
        };
        acc.update_batch(&conds(&[
            [Some(true), None, Some(false)],
            [None, Some(false), Some(true)],
        ]))
        .unwrap();
        assert_eq!(flags(&mut acc), [Some(true), Some(false), Some(true)]);
        let mut empty = RetentionAccumulator {
            conditions: 3,
            seen: 0,
        };
        assert_eq!(flags(&mut empty), [Some(false); 3]);
    }

    #[test]
    fn merged_partial_states_equal_one_pass() {
        let rows = [
            [Some(false), Some(true), None],
            [Some(true), Some(false), Some(false)],
            [None, None, Some(true)],
            [Some(false), Some(false), Some(false)],
        ];
        let mut whole = RetentionAccumulator {
            conditions: 3,
            seen: 0,
        };
        whole.update_batch(&conds(&rows)).unwrap();
        let mut merged = RetentionAccumulator {
            conditions: 3,
            seen: 0,
        };
        for part in rows.chunks(1) {
            let mut partial = RetentionAccumulator {
                conditions: 3,
                seen: 0,
            };
            partial.update_batch(&conds(part)).unwrap();
            let state: Vec<ArrayRef> = partial
                .state()
                .unwrap()
                .iter()
                .map(|s| s.to_array().unwrap())
                .collect();
            merged.merge_batch(&state).unwrap();
        }
        assert_eq!(flags(&mut merged), flags(&mut whole));
        assert_eq!(flags(&mut whole), [Some(true), Some(true), Some(true)]);
    }
    #[test]
    fn groups_accumulator_merges_and_filters() {
        let rows = [
            [Some(true), None, None],
            [None, Some(true), None],
            [None, None, Some(true)],
            [Some(true), Some(false), Some(true)],
        ];
        let mut partial = RetentionGroups {
            conditions: 3,
            seen: Vec::new(),
        };
        // The third row is filtered out.
        let filter = BooleanArray::from(vec![true, true, false, true]);
        partial
            .update_batch(&conds(&rows), &[0, 0, 0, 1], Some(&filter), 3)
            .unwrap();
        let state = partial.state(EmitTo::All).unwrap();
        let mut last = RetentionGroups {
            conditions: 3,
            seen: Vec::new(),
        };
        last.merge_batch(&state, &[1, 0, 2], 3).unwrap();
        let converted = last.convert_to_state(&conds(&rows[2..3]), None).unwrap();
        last.merge_batch(&converted, &[2], 3).unwrap();
        let lists = last.evaluate(EmitTo::All).unwrap();
        let lists = lists.as_list::<i32>();
        let got: Vec<Vec<Option<bool>>> = (0..3)
            .map(|g| lists.value(g).as_boolean().iter().collect())
            .collect();
        assert_eq!(
            got,
            [
                vec![Some(true), Some(false), Some(true)],
                vec![Some(true), Some(true), Some(false)],
                vec![Some(false); 3],
            ]
        );
    }
}
