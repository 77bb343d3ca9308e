//! `p_alive`, `expected_purchases`, `expected_avg_spend` and `clv`: apply
//! fitted BG/NBD and Gamma-Gamma models (bound into the plan by the
//! engine, see [`super::bound`]) row by row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;
use serde::{Deserialize, Serialize};

use super::bound::{Bound, Fitted, ModelFunction};
use super::clv::{BgNbd, GammaGamma};

/// A fitted lifetime-value model, as bound into a plan.
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
    /// The models the engine resolved the leading arguments to; empty as
    /// registered.
    models: Vec<Bound>,
}

impl ClvFunction {
    fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
            models: Vec::new(),
        }
    }

    /// The bound models' parameters, in argument order.
    fn fitted(&self) -> Result<Vec<&ClvModel>> {
        if self.models.is_empty() {
            return exec_err!(
                "{}: the model arguments were not resolved to models: run the query through the microseg engine, which binds model names when it plans",
                self.name
            );
        }
        self.models
            .iter()
            .map(|b| match b.0.as_ref() {
                Fitted::Clv(m) => Ok(m),
                _ => exec_err!("{}: wrong model kinds", self.name),
            })
            .collect()
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

impl ModelFunction for ClvFunction {
    fn model_arguments(&self) -> usize {
        self.shape().0
    }

    fn is_bound(&self) -> bool {
        !self.models.is_empty()
    }

    fn models(&self) -> Vec<Bound> {
        self.models.clone()
    }

    fn bind(&self, models: Vec<Bound>) -> Result<Self> {
        if models.len() != self.model_arguments() {
            return plan_err!(
                "{}: expected {} models, got {}",
                self.name,
                self.model_arguments(),
                models.len()
            );
        }
        for (i, bound) in models.iter().enumerate() {
            let wants_bgnbd =
                !(self.kind == Kind::ExpectedAvgSpend || (self.kind == Kind::Clv && i == 1));
            let fits = match bound.0.as_ref() {
                Fitted::Clv(m) if wants_bgnbd => m.bgnbd.is_some(),
                Fitted::Clv(m) => m.gamma_gamma.is_some(),
                _ => false,
            };
            if !fits {
                return plan_err!(
                    "{}: argument {} ({}) is a {} model, not a {} model",
                    self.name,
                    i + 1,
                    bound.0.label(),
                    bound.0.kind(),
                    if wants_bgnbd { "BG/NBD" } else { "Gamma-Gamma" }
                );
            }
        }
        Ok(Self {
            name: self.name,
            kind: self.kind,
            signature: self.signature.clone(),
            models,
        })
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

    /// `clv('life', 'spend', …)`: the same before and after binding, so
    /// binding never changes a plan's schema.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::bound::call_name(self.name, args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let models = self.model_arguments();
        let fitted = self.fitted()?;
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
