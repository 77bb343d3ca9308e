//! `p_alive`, `expected_purchases`, `expected_avg_spend` and `clv`: apply
//! fitted BG/NBD and Gamma-Gamma models (inlined by the engine as
//! `'microseg-clv:{json}'`) row by row.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion_macros::user_doc;
use serde::{Deserialize, Serialize};

use super::clv::{BgNbd, GammaGamma};

/// What the engine puts in front of a CLV model's JSON when it inlines it.
pub const CLV_LITERAL_PREFIX: &str = "microseg-clv:";

/// A fitted lifetime-value model, as inlined into a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvModel {
    /// `name@version`.
    pub label: String,
    /// BG/NBD parameters, for a purchase model.
    pub bgnbd: Option<BgNbd>,
    /// Gamma-Gamma parameters, for a spend model.
    pub gamma_gamma: Option<GammaGamma>,
    /// Periods (the unit of recency and T) per month: 30 for days, 4.345 for weeks.
    pub periods_per_month: f64,
}

static MODELS: LazyLock<Mutex<HashMap<u64, Arc<ClvModel>>>> = LazyLock::new(Default::default);

fn model_of(func: &str, index: usize, literal: &str) -> Result<Arc<ClvModel>> {
    let Some(json) = literal.strip_prefix(CLV_LITERAL_PREFIX) else {
        return plan_err!(
            "{func}: argument {} (model) must name a BG/NBD or Gamma-Gamma model (run the query through the microseg engine, which inlines it)",
            index + 1
        );
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut hasher);
    let key = hasher.finish();
    let mut cache = MODELS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = cache.get(&key) {
        return Ok(Arc::clone(m));
    }
    let model: ClvModel = match serde_json::from_str(json) {
        Ok(m) => m,
        Err(e) => {
            return plan_err!(
                "{func}: argument {} (model) is not a valid model: {e}",
                index + 1
            );
        }
    };
    if cache.len() >= 16 {
        cache.clear();
    }
    let model = Arc::new(model);
    cache.insert(key, Arc::clone(&model));
    Ok(model)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PAlive,
    ExpectedPurchases,
    ExpectedAvgSpend,
    Clv,
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Probability that a customer is still active under a fitted BG/NBD model, given \
frequency (repeat purchase periods), recency and T (see clv_summary). 1 for customers without \
repeat purchases, as in lifetimes.",
    syntax_example = "p_alive('bgnbd_model', frequency, recency, T)",
    argument(
        name = "bgnbd_model",
        description = "A BG/NBD model's name (@version optional)."
    ),
    argument(
        name = "frequency, recency, T",
        description = "As clv_summary gives them."
    )
)]
#[derive(Debug)]
struct PAliveDoc;

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Expected number of purchases in the next t periods under a fitted BG/NBD model \
(lifetimes' conditional_expected_number_of_purchases_up_to_time).",
    syntax_example = "expected_purchases('bgnbd_model', t, frequency, recency, T)",
    argument(
        name = "bgnbd_model",
        description = "A BG/NBD model's name (@version optional)."
    ),
    argument(name = "t", description = "Horizon, in the summary's periods."),
    argument(
        name = "frequency, recency, T",
        description = "As clv_summary gives them."
    )
)]
#[derive(Debug)]
struct ExpectedPurchasesDoc;

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Expected mean transaction value under a fitted Gamma-Gamma model (lifetimes' \
conditional_expected_average_profit): a weighted mix of the population mean and the customer's \
own mean, trusting the latter more the more repeat purchases there are.",
    syntax_example = "expected_avg_spend('gamma_gamma_model', frequency, monetary_value)",
    argument(
        name = "gamma_gamma_model",
        description = "A Gamma-Gamma model's name."
    ),
    argument(
        name = "frequency, monetary_value",
        description = "As clv_summary gives them."
    )
)]
#[derive(Debug)]
struct ExpectedAvgSpendDoc;

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Customer lifetime value over the next `months` months, discounted monthly: \
Σ over months i of expected_avg_spend × (expected purchases by month i − by month i−1) / \
(1 + monthly_discount_rate)^i, as lifetimes' customer_lifetime_value (a month is 30 day \
periods or 4.345 week periods).",
    syntax_example = "clv('bgnbd_model', 'gamma_gamma_model', frequency, recency, T, monetary_value, months [, monthly_discount_rate])",
    argument(name = "bgnbd_model", description = "A BG/NBD model's name."),
    argument(
        name = "gamma_gamma_model",
        description = "A Gamma-Gamma model's name."
    ),
    argument(
        name = "frequency, recency, T, monetary_value",
        description = "As clv_summary gives them."
    ),
    argument(
        name = "months",
        description = "Horizon in months (a constant integer ≥ 1)."
    ),
    argument(name = "monthly_discount_rate", description = "Default 0.01.")
)]
#[derive(Debug)]
struct ClvDoc;

/// One of the four lifetime-value functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClvFunction {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl ClvFunction {
    fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// `p_alive`.
    pub fn p_alive() -> Self {
        Self::new("p_alive", Kind::PAlive)
    }

    /// `expected_purchases`.
    pub fn expected_purchases() -> Self {
        Self::new("expected_purchases", Kind::ExpectedPurchases)
    }

    /// `expected_avg_spend`.
    pub fn expected_avg_spend() -> Self {
        Self::new("expected_avg_spend", Kind::ExpectedAvgSpend)
    }

    /// `clv`.
    pub fn clv() -> Self {
        Self::new("clv", Kind::Clv)
    }

    /// (model arguments, numeric arguments min, max).
    fn shape(&self) -> (usize, usize, usize) {
        match self.kind {
            Kind::PAlive => (1, 3, 3),
            Kind::ExpectedPurchases => (1, 4, 4),
            Kind::ExpectedAvgSpend => (1, 2, 2),
            Kind::Clv => (2, 5, 6),
        }
    }
}

impl ScalarUDFImpl for ClvFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let (models, min, max) = self.shape();
        let numbers = arg_types.len().saturating_sub(models);
        if arg_types.len() < models || numbers < min || numbers > max {
            return plan_err!(
                "{}: expected {} arguments, got {}",
                self.name,
                if min == max {
                    (models + min).to_string()
                } else {
                    format!("{} to {}", models + min, models + max)
                },
                arg_types.len()
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i < models {
                    Ok(DataType::Utf8)
                } else if t.is_numeric() || t.is_null() {
                    Ok(DataType::Float64)
                } else {
                    plan_err!("{}: argument {} must be numeric, got {t}", self.name, i + 1)
                }
            })
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let (models, _, _) = self.shape();
        for i in 0..models {
            let Some(Some(Some(text))) = args
                .scalar_arguments
                .get(i)
                .map(|a| a.map(|v| v.try_as_str().flatten()))
            else {
                return plan_err!(
                    "{}: argument {} (model) must be a string literal",
                    self.name,
                    i + 1
                );
            };
            let model = model_of(self.name, i, text)?;
            let wants_bgnbd =
                !(self.kind == Kind::ExpectedAvgSpend || (self.kind == Kind::Clv && i == 1));
            if wants_bgnbd && model.bgnbd.is_none() {
                return plan_err!(
                    "{}: argument {} ({}) is not a BG/NBD model",
                    self.name,
                    i + 1,
                    model.label
                );
            }
            if !wants_bgnbd && model.gamma_gamma.is_none() {
                return plan_err!(
                    "{}: argument {} ({}) is not a Gamma-Gamma model",
                    self.name,
                    i + 1,
                    model.label
                );
            }
        }
        Ok(Arc::new(Field::new(self.name, DataType::Float64, true)))
    }

    /// Column names show the models' names, not the inlined parameters.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let parts: Vec<String> = args
            .iter()
            .enumerate()
            .map(|(i, a)| match a {
                Expr::Literal(ScalarValue::Utf8(Some(text)), _)
                    if text.starts_with(CLV_LITERAL_PREFIX) =>
                {
                    model_of(self.name, i, text).map_or_else(
                        |_| a.schema_name().to_string(),
                        |m| format!("'{}'", m.label),
                    )
                }
                other => other.schema_name().to_string(),
            })
            .collect();
        Ok(format!("{}({})", self.name, parts.join(", ")))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (models, _, _) = self.shape();
        let mut fitted = Vec::new();
        for i in 0..models {
            let ColumnarValue::Scalar(ScalarValue::Utf8(Some(text))) = &args.args[i] else {
                return exec_err!(
                    "{}: argument {} (model) must be a string literal",
                    self.name,
                    i + 1
                );
            };
            fitted.push(model_of(self.name, i, text)?);
        }
        let rows = args.number_rows;
        let numbers: Vec<ArrayRef> = args.args[models..]
            .iter()
            .map(|c| {
                c.to_array(rows)
                    .and_then(|a| Ok(cast(&a, &DataType::Float64)?))
            })
            .collect::<Result<_>>()?;
        let column = |i: usize| numbers[i].as_primitive::<Float64Type>();
        let mut out = Float64Builder::with_capacity(rows);
        for row in 0..rows {
            if numbers.iter().any(|a| a.is_null(row)) {
                out.append_null();
                continue;
            }
            let v = |i: usize| column(i).value(row);
            let value = match self.kind {
                Kind::PAlive => fitted[0].bgnbd.map(|m| m.p_alive(v(0), v(1), v(2))),
                Kind::ExpectedPurchases => fitted[0]
                    .bgnbd
                    .map(|m| m.expected_purchases(v(0), v(1), v(2), v(3))),
                Kind::ExpectedAvgSpend => fitted[0]
                    .gamma_gamma
                    .map(|m| m.expected_avg_spend(v(0), v(1))),
                Kind::Clv => {
                    let (Some(bg), Some(gg)) = (fitted[0].bgnbd, fitted[1].gamma_gamma) else {
                        return exec_err!("{}: wrong model kinds", self.name);
                    };
                    let (x, t_x, t, m) = (v(0), v(1), v(2), v(3));
                    let months = v(4);
                    if months < 1.0 || months.fract() != 0.0 {
                        return exec_err!(
                            "{}: argument 7 (months) must be a whole number ≥ 1, got {months}",
                            self.name
                        );
                    }
                    let rate = if numbers.len() > 5 { v(5) } else { 0.01 };
                    let spend = gg.expected_avg_spend(x, m);
                    let per_month = fitted[0].periods_per_month;
                    let mut total = 0.0;
                    let mut before = 0.0;
                    for i in 1..=months as u32 {
                        let by = bg.expected_purchases(f64::from(i) * per_month, x, t_x, t);
                        total += spend * (by - before) / (1.0 + rate).powi(i as i32);
                        before = by;
                    }
                    Some(total)
                }
            };
            out.append_option(value);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        match self.kind {
            Kind::PAlive => PAliveDoc.doc(),
            Kind::ExpectedPurchases => ExpectedPurchasesDoc.doc(),
            Kind::ExpectedAvgSpend => ExpectedAvgSpendDoc.doc(),
            Kind::Clv => ClvDoc.doc(),
        }
    }
}
