//! `segment_of('set')` / `segments_of('set')`: documented here, expanded by
//! the microseg engine's analyzer rule (see the module documentation).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, DocumentationBuilder, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::common::{Param, check_arity};

/// `segment_of` (first matching label) or `segments_of` (every label).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SegmentOf {
    name: &'static str,
    all: bool,
    signature: Signature,
}

const DOC_SECTION: datafusion::logical_expr::DocSection = datafusion::logical_expr::DocSection {
    include: true,
    label: "Segmentation Functions",
    description: None,
};

static FIRST_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    DocumentationBuilder::new_with_details(
        DOC_SECTION,
        "The label of the first rule of segment set `set_name` whose predicate is true for the row \
(a NULL predicate does not match); the set's ELSE label when none matches, or NULL without one. \
Segment sets are created with CREATE SEGMENT SET and stored in the lake. The microseg engine \
replaces the call by the equivalent CASE expression, with the set's rules as they are when the \
statement runs (a view or prepared statement follows CREATE OR REPLACE SEGMENT SET), so it runs \
exactly as fast as the hand-written CASE and the optimizer sees through it. Using a set on a relation that lacks \
one of its columns is an error naming the set, the rule and the column.",
        "segment_of('set_name')",
    )
    .with_sql_example(
        r#"```sql
> CREATE SEGMENT SET tiers ('high' WHEN spend >= 100, ELSE 'low');
> SELECT spend, segment_of('tiers') FROM (VALUES (50), (500)) AS t(spend);
+-------+-------+
| spend | tiers |
+-------+-------+
| 50    | low   |
| 500   | high  |
+-------+-------+
```"#,
    )
    .with_argument("set_name", "The segment set's name: a string literal.")
    .build()
});

static ALL_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    DocumentationBuilder::new_with_details(
        DOC_SECTION,
        "Every label of segment set `set_name` whose rule's predicate is true for the row, in rule \
order, as a list; the ELSE label alone when no rule matches (an empty list without ELSE). For \
overlap analysis: a customer can be both 'champions' and 'new'. Expanded by the microseg engine \
into a list of CASE expressions when the statement runs.",
        "segments_of('set_name')",
    )
    .with_sql_example(
        r#"```sql
> CREATE SEGMENT SET flags ('big' WHEN spend >= 100, 'even' WHEN spend % 2 = 0, ELSE 'none');
> SELECT spend, segments_of('flags') FROM (VALUES (7), (500)) AS t(spend);
+-------+-------------+
| spend | flags       |
+-------+-------------+
| 7     | [none]      |
| 500   | [big, even] |
+-------+-------------+
```"#,
    )
    .with_argument("set_name", "The segment set's name: a string literal.")
    .build()
});

impl SegmentOf {
    /// `segment_of`: the first matching label.
    pub fn first() -> Self {
        Self::new("segment_of", false)
    }

    /// `segments_of`: every matching label.
    pub fn all() -> Self {
        Self::new("segments_of", true)
    }

    /// Whether this is `segments_of` (every matching label).
    pub fn all_matches(&self) -> bool {
        self.all
    }

    fn new(name: &'static str, all: bool) -> Self {
        Self {
            name,
            all,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SegmentOf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// One argument, the set's name, as text; the count is checked here so
    /// the message says what the argument is.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return plan_err!(
                "{}: expected 1 argument (the segment set's name), got {}",
                self.name,
                arg_types.len()
            );
        }
        Ok(vec![DataType::Utf8])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_arity(self.name, arg_types.len(), 1..=1)?;
        Ok(if self.all {
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
        } else {
            DataType::Utf8
        })
    }

    /// Reached only where no microseg engine expanded the call first.
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let param = Param::new(self.name, 0, "set_name");
        exec_err!(
            "{}: this session cannot expand segment sets ({}); run the query through the microseg engine, which replaces the call by its CASE expression when it plans",
            self.name,
            param.name
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(if self.all { &ALL_DOC } else { &FIRST_DOC })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::FieldRef;
    use datafusion::common::config::ConfigOptions;

    /// Outside the microseg engine the functions fail, saying why, rather
    /// than guess an answer.
    #[test]
    fn unexpanded_calls_fail_clearly() {
        for f in [SegmentOf::first(), SegmentOf::all()] {
            let args = ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(Arc::new(StringArray::from(vec!["x"])))],
                arg_fields: vec![FieldRef::new(Field::new("a", DataType::Utf8, false))],
                number_rows: 1,
                return_field: FieldRef::new(Field::new("r", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            };
            let err = f.invoke_with_args(args).unwrap_err().to_string();
            assert!(err.contains("cannot expand segment sets"), "{err}");
            assert!(err.contains(f.name()), "{err}");
        }
        assert_eq!(
            SegmentOf::first().return_type(&[DataType::Utf8]).unwrap(),
            DataType::Utf8
        );
        assert!(matches!(
            SegmentOf::all().return_type(&[DataType::Utf8]).unwrap(),
            DataType::List(_)
        ));
    }
}
