//! `prop_test(conv_a, n_a, conv_b, n_b)`: compares the conversion rates of
//! two groups, b (treatment) against a (control).

use std::f64::consts::FRAC_1_SQRT_2;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::normal::{Z_975, erfc};
use crate::common::{Param, check_arity, float_type, param_names};

const NAME: &str = "prop_test";
const CONV_A: Param = Param::new(NAME, 0, "conv_a");
const N_A: Param = Param::new(NAME, 1, "n_a");
const CONV_B: Param = Param::new(NAME, 2, "conv_b");
const N_B: Param = Param::new(NAME, 3, "n_b");

/// The fields of the result, in order.
const FIELDS: [&str; 5] = ["lift", "z", "p_value", "ci_low", "ci_high"];

/// The outcome of a two-proportion test; see [`prop_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PropTestResult {
    /// (p_b − p_a) / p_a; `None` when p_a = 0.
    pub lift: Option<f64>,
    /// (p_b − p_a) / pooled SE; `None` when the pooled rate is 0 or 1.
    pub z: Option<f64>,
    /// Two-sided p-value of `z`; `None` with it.
    pub p_value: Option<f64>,
    /// Lower end of the 95% Wald interval for p_b − p_a.
    pub ci_low: f64,
    /// Upper end of that interval.
    pub ci_high: f64,
}

/// Two-proportion z-test of b against a, for checked counts
/// (0 ≤ conv ≤ n, n > 0). With p_a = conv_a / n_a, p_b = conv_b / n_b and the
/// pooled p = (conv_a + conv_b) / (n_a + n_b):
///
/// - lift = (p_b − p_a) / p_a
/// - z = (p_b − p_a) / √(p (1 − p) (1/n_a + 1/n_b)): pooled, since under the
///   null hypothesis both groups share one rate
/// - p_value = 2 (1 − Φ(|z|)) = erfc(|z| / √2)
/// - ci = (p_b − p_a) ± z_0.975 · √(p_a (1 − p_a)/n_a + p_b (1 − p_b)/n_b):
///   the Wald interval for the absolute difference, unpooled, since it
///   describes the difference actually observed
pub fn prop_test(conv_a: f64, n_a: f64, conv_b: f64, n_b: f64) -> PropTestResult {
    let (p_a, p_b) = (conv_a / n_a, conv_b / n_b);
    let diff = p_b - p_a;
    let pooled = (conv_a + conv_b) / (n_a + n_b);
    let pooled_se = (pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)).sqrt();
    let z = (pooled_se > 0.0).then(|| diff / pooled_se);
    let se = (p_a * (1.0 - p_a) / n_a + p_b * (1.0 - p_b) / n_b).sqrt();
    PropTestResult {
        lift: (p_a > 0.0).then(|| diff / p_a),
        z,
        p_value: z.map(|z| erfc(z.abs() * FRAC_1_SQRT_2)),
        ci_low: diff - Z_975 * se,
        ci_high: diff + Z_975 * se,
    }
}

#[user_doc(
    doc_section(label = "Experiment Functions"),
    description = "Two-proportion z-test of group b (treatment) against group a (control), from \
conversions and group sizes. Returns a struct: lift = (p_b - p_a) / p_a, the relative lift of b \
over a (NULL when p_a = 0); z = (p_b - p_a) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with the pooled \
rate p = (conv_a + conv_b) / (n_a + n_b); p_value = 2 (1 - Phi(|z|)), two-sided (z and p_value \
NULL when p is 0 or 1); ci_low, ci_high = the 95% Wald interval for the absolute difference \
p_b - p_a with the unpooled standard error sqrt(p_a (1 - p_a) / n_a + p_b (1 - p_b) / n_b), \
i.e. (p_b - p_a) +/- 1.959964 SE. NULL if any argument is NULL. A size of 0 or less, a negative \
count, conversions above the size, or a non-finite number is an error naming the argument.",
    syntax_example = "prop_test(conv_a, n_a, conv_b, n_b)",
    sql_example = r#"```sql
> SELECT round(t['lift'], 4) AS lift, round(t['z'], 4) AS z, round(t['p_value'], 4) AS p,
         round(t['ci_low'], 4) AS ci_low, round(t['ci_high'], 4) AS ci_high
  FROM (SELECT prop_test(120, 1000, 150, 1000) AS t);
+------+-------+--------+--------+---------+
| lift | z     | p      | ci_low | ci_high |
+------+-------+--------+--------+---------+
| 0.25 | 1.963 | 0.0496 | 0.0001 | 0.0599  |
+------+-------+--------+--------+---------+
```"#,
    argument(
        name = "conv_a",
        description = "Conversions in the control group: a number from 0 to n_a."
    ),
    argument(
        name = "n_a",
        description = "Size of the control group: a number greater than 0."
    ),
    argument(
        name = "conv_b",
        description = "Conversions in the treatment group: a number from 0 to n_b."
    ),
    argument(
        name = "n_b",
        description = "Size of the treatment group: a number greater than 0."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PropTest {
    signature: Signature,
}

impl PropTest {
    /// The `prop_test` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[CONV_A, N_A, CONV_B, N_B]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for PropTest {
    fn default() -> Self {
        Self::new()
    }
}

fn result_fields() -> Fields {
    FIELDS
        .iter()
        .map(|name| Field::new(*name, DataType::Float64, true))
        .collect()
}

impl ScalarUDFImpl for PropTest {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 4..=4)?;
        [CONV_A, N_A, CONV_B, N_B]
            .iter()
            .zip(arg_types)
            .map(|(param, t)| float_type(*param, t))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [conv_a, n_a, conv_b, n_b] =
            take_function_args(NAME, ColumnarValue::values_to_arrays(&args.args)?)?;
        let [conv_a, n_a, conv_b, n_b] =
            [&conv_a, &n_a, &conv_b, &n_b].map(|a| a.as_primitive::<Float64Type>());
        check_group(CONV_A, N_A, conv_a, n_a)?;
        check_group(CONV_B, N_B, conv_b, n_b)?;
        Ok(ColumnarValue::Array(Arc::new(tests(
            conv_a, n_a, conv_b, n_b,
        )?)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// Fails on the first row of a group whose size or count is impossible,
/// naming the argument at fault and the value.
fn check_group(
    conv_param: Param,
    n_param: Param,
    conv: &Float64Array,
    n: &Float64Array,
) -> Result<()> {
    for (c, n) in conv.iter().zip(n.iter()) {
        let (Some(c), Some(n)) = (c, n) else {
            continue;
        };
        if !n.is_finite() || n <= 0.0 {
            return Err(
                n_param.exec_error(format_args!("must be a group size greater than 0, got {n}"))
            );
        }
        if !c.is_finite() || c < 0.0 {
            return Err(
                conv_param.exec_error(format_args!("must be a count of 0 or more, got {c}"))
            );
        }
        if c > n {
            return Err(conv_param.exec_error(format_args!(
                "must be at most {} ({n}), got {c}",
                n_param.name
            )));
        }
    }
    Ok(())
}

/// The results of checked rows as a struct array, NULL where any input is.
fn tests(
    conv_a: &Float64Array,
    n_a: &Float64Array,
    conv_b: &Float64Array,
    n_b: &Float64Array,
) -> Result<StructArray> {
    let rows = conv_a.len();
    let mut columns: [Float64Builder; 5] =
        std::array::from_fn(|_| Float64Builder::with_capacity(rows));
    let mut valid = Vec::with_capacity(rows);
    for i in 0..rows {
        let inputs = [conv_a, n_a, conv_b, n_b];
        if inputs.iter().any(|a| a.is_null(i)) {
            columns.iter_mut().for_each(|c| c.append_null());
            valid.push(false);
            continue;
        }
        let r = prop_test(conv_a.value(i), n_a.value(i), conv_b.value(i), n_b.value(i));
        let values = [r.lift, r.z, r.p_value, Some(r.ci_low), Some(r.ci_high)];
        for (column, value) in columns.iter_mut().zip(values) {
            column.append_option(value);
        }
        valid.push(true);
    }
    let columns: Vec<ArrayRef> = columns
        .iter_mut()
        .map(|c| Arc::new(c.finish()) as ArrayRef)
        .collect();
    Ok(StructArray::try_new(
        result_fields(),
        columns,
        Some(NullBuffer::from(valid)),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        // Relative, so tail p-values such as 1e-42 are checked to all digits too.
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1e-300),
            "{got} vs {want}"
        );
    }

    fn check(r: PropTestResult, want: [f64; 5]) {
        close(r.lift.unwrap(), want[0]);
        close(r.z.unwrap(), want[1]);
        close(r.p_value.unwrap(), want[2]);
        close(r.ci_low, want[3]);
        close(r.ci_high, want[4]);
    }

    // Reference: the definition written out in Python with the stdlib's
    // math.erfc, which shares no code with ours. For (ca, na, cb, nb):
    // python3 -c 'import math; ca,na,cb,nb=120,1000,150,1000; pa,pb=ca/na,cb/nb; p=(ca+cb)/(na+nb); z=(pb-pa)/math.sqrt(p*(1-p)*(1/na+1/nb)); se=math.sqrt(pa*(1-pa)/na+pb*(1-pb)/nb); print([repr(v) for v in ((pb-pa)/pa, z, math.erfc(abs(z)/math.sqrt(2)), pb-pa-1.959963984540054*se, pb-pa+1.959963984540054*se)])'
    #[test]
    fn matches_reference() {
        check(
            prop_test(120.0, 1000.0, 150.0, 1000.0),
            [
                0.25,
                1.963049807622355,
                0.04964038686536881,
                7.602882129778554e-05,
                0.05992397117870221,
            ],
        );
        // Unequal groups, b worse than a (ca,na,cb,nb = 45,500,30,800).
        check(
            prop_test(45.0, 500.0, 30.0, 800.0),
            [
                -0.5833333333333334,
                -3.9496835316262993,
                7.825458878557523e-05,
                -0.0808292564801211,
                -0.024170743519878895,
            ],
        );
        // A large effect: the p-value is far in the tail (ca,na,cb,nb = 100,10000,400,10000).
        check(
            prop_test(100.0, 10000.0, 400.0, 10000.0),
            [
                3.0,
                13.587324409735148,
                4.761714118228066e-42,
                0.0256925360008524,
                0.034307463999147594,
            ],
        );
    }

    #[test]
    fn p_value_is_two_sided_normal_tail() {
        // Swapping the groups flips z and keeps the p-value.
        let ab = prop_test(30.0, 200.0, 45.0, 210.0);
        let ba = prop_test(45.0, 210.0, 30.0, 200.0);
        close(ab.z.unwrap(), -ba.z.unwrap());
        close(ab.p_value.unwrap(), ba.p_value.unwrap());
        // Equal rates: z = 0, p = 1, and the interval is symmetric around 0.
        let same = prop_test(10.0, 100.0, 20.0, 200.0);
        assert_eq!(same.z, Some(0.0));
        assert_eq!(same.p_value, Some(1.0));
        close(same.ci_low, -same.ci_high);
    }

    #[test]
    fn degenerate_rates() {
        // No conversions anywhere: no lift, no test, a zero-width interval.
        let none = prop_test(0.0, 100.0, 0.0, 100.0);
        assert_eq!((none.lift, none.z, none.p_value), (None, None, None));
        assert_eq!((none.ci_low, none.ci_high), (0.0, 0.0));
        // Control never converts: lift undefined, test still defined.
        let from_zero = prop_test(0.0, 100.0, 5.0, 100.0);
        assert_eq!(from_zero.lift, None);
        assert!(from_zero.z.unwrap() > 0.0);
        // Everyone converts in both groups.
        let all = prop_test(50.0, 50.0, 80.0, 80.0);
        assert_eq!((all.lift, all.z), (Some(0.0), None));
    }

    #[test]
    fn invalid_counts_name_the_argument() {
        let col = |v: Vec<Option<f64>>| Float64Array::from(v);
        let err = |conv: Vec<Option<f64>>, n: Vec<Option<f64>>| {
            check_group(CONV_B, N_B, &col(conv), &col(n))
                .unwrap_err()
                .to_string()
        };
        let e = err(vec![Some(1.0), Some(5.0)], vec![Some(10.0), Some(0.0)]);
        assert!(
            e.contains("prop_test: argument 4 (n_b) must be a group size greater than 0, got 0"),
            "{e}"
        );
        let e = err(vec![Some(-1.0)], vec![Some(10.0)]);
        assert!(
            e.contains("prop_test: argument 3 (conv_b) must be a count of 0 or more, got -1"),
            "{e}"
        );
        let e = err(vec![Some(11.0)], vec![Some(10.0)]);
        assert!(
            e.contains("prop_test: argument 3 (conv_b) must be at most n_b (10), got 11"),
            "{e}"
        );
        assert!(
            check_group(
                CONV_A,
                N_A,
                &col(vec![Some(f64::NAN)]),
                &col(vec![Some(1.0)])
            )
            .is_err()
        );
        // NULL rows are not checked: they give NULL.
        assert!(
            check_group(
                CONV_A,
                N_A,
                &col(vec![None, Some(1.0)]),
                &col(vec![Some(-5.0), None])
            )
            .is_ok()
        );
    }

    #[test]
    fn struct_nulls_per_row() {
        let col = |v: Vec<Option<f64>>| Float64Array::from(v);
        let out = tests(
            &col(vec![Some(120.0), None]),
            &col(vec![Some(1000.0), Some(10.0)]),
            &col(vec![Some(150.0), Some(1.0)]),
            &col(vec![Some(1000.0), Some(10.0)]),
        )
        .unwrap();
        assert!(out.is_valid(0) && out.is_null(1));
        let lift = out.column(0).as_primitive::<Float64Type>();
        close(lift.value(0), 0.25);
        assert_eq!(out.fields().len(), 5);
    }
}
