//! Quantile scoring and RFM (recency, frequency, monetary) segmentation.
//!
//! - [`quantile_score`](QuantileScore): window function, a value's bin (1..bins) in its partition
//! - [`rfm_score`](RfmScore): window function, the three quantile scores of RFM as a struct
//! - [`rfm_code`](RfmCode): scalar, the scores as text such as `'545'`
//! - [`rfm_segment`](RfmSegment): scalar, the standard named segment of an (r, f) pair
//! - [`micro_segment`](MicroSegment): window function, the most specific cell such that every label but the root names at least `min_size` rows
//!
//! The window functions rank by value over the whole partition, so equal
//! inputs always share a score, which `NTILE` does not guarantee.

use std::fmt::Display;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ScalarUDF, WindowUDF};
use datafusion::physical_expr::PhysicalExpr;

use crate::common::Param;

mod micro_segment;
mod quantile_score;
mod rfm_code;
mod rfm_score;
mod rfm_segment;

pub use micro_segment::{MicroSegment, micro_segments};
pub use quantile_score::{QuantileScore, quantile_scores};
pub use rfm_code::RfmCode;
pub use rfm_score::RfmScore;
pub use rfm_segment::{RfmSegment, segment_of};

/// Bins when the call doesn't say.
pub const DEFAULT_BINS: u32 = 5;

/// The most bins a call may ask for: beyond this a score stops being a
/// segment and becomes a percentile rank, for which `percent_rank` exists.
pub const MAX_BINS: u32 = 1000;

/// Scalar functions of this family.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(RfmCode::new())),
        Arc::new(ScalarUDF::new_from_impl(RfmSegment::new())),
    ]
}

/// Window functions of this family.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![
        Arc::new(WindowUDF::new_from_impl(QuantileScore::new())),
        Arc::new(WindowUDF::new_from_impl(RfmScore::new())),
        Arc::new(WindowUDF::new_from_impl(MicroSegment::new())),
    ]
}

/// Which end of the order gets the high scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Larger values get higher scores.
    #[default]
    Asc,
    /// Smaller values get higher scores.
    Desc,
}

/// The type a ranked argument is evaluated as. Ranking needs a total order on
/// the value itself, so numbers, decimals and time points/durations qualify;
/// intervals (a month is not a fixed number of days) and text do not.
fn rankable_type(param: Param, data_type: &DataType) -> Result<DataType> {
    use DataType::*;
    match data_type {
        // An untyped NULL ranks as nothing: every score is NULL.
        Null => Ok(Int64),
        Dictionary(_, value) => rankable_type(param, value),
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Ok(data_type.clone()),
        Float16 | Float32 | Float64 => Ok(data_type.clone()),
        Decimal32(_, _) | Decimal64(_, _) | Decimal128(_, _) | Decimal256(_, _) => {
            Ok(data_type.clone())
        }
        Date32 | Date64 | Time32(_) | Time64(_) | Timestamp(_, _) | Duration(_) => {
            Ok(data_type.clone())
        }
        other => Err(param.error(format_args!(
            "must be a number, date, time, timestamp or duration, got {other}"
        ))),
    }
}

/// Type check for a bin count; its value is checked once it is a literal.
fn bins_type(param: Param, data_type: &DataType) -> Result<DataType> {
    if data_type.is_integer() || data_type.is_null() {
        Ok(data_type.clone())
    } else {
        Err(param.error(format_args!(
            "must be an integer between 1 and {MAX_BINS}, got type {data_type}"
        )))
    }
}

/// Type check for a direction; its value is checked once it is a literal.
fn direction_type(param: Param, data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            Ok(data_type.clone())
        }
        other => Err(param.error(format_args!("must be 'asc' or 'desc', got type {other}"))),
    }
}

/// The bin count of a physical call: [`DEFAULT_BINS`] when omitted.
fn bins_arg(param: Param, args: &[Arc<dyn PhysicalExpr>]) -> Result<u32> {
    let Some(value) = param.literal(args)? else {
        return Ok(DEFAULT_BINS);
    };
    let out_of_range = || {
        param.error(format_args!(
            "must be between 1 and {MAX_BINS}, got {value}"
        ))
    };
    if value.is_null() {
        return Err(out_of_range());
    }
    // Through Int64 so every integer width is handled alike; a UInt64 too big
    // for it is out of range anyway.
    let bins = match value.cast_to(&DataType::Int64) {
        Ok(ScalarValue::Int64(Some(bins))) => bins,
        _ => return Err(out_of_range()),
    };
    match u32::try_from(bins) {
        Ok(bins) if (1..=MAX_BINS).contains(&bins) => Ok(bins),
        _ => Err(out_of_range()),
    }
}

/// The direction of a physical call: [`Direction::Asc`] when omitted.
fn direction_arg(param: Param, args: &[Arc<dyn PhysicalExpr>]) -> Result<Direction> {
    let Some(value) = param.literal(args)? else {
        return Ok(Direction::default());
    };
    match value.try_as_str().flatten() {
        Some(s) if s.eq_ignore_ascii_case("asc") => Ok(Direction::Asc),
        Some(s) if s.eq_ignore_ascii_case("desc") => Ok(Direction::Desc),
        Some(s) => Err(param.error(format_args!("must be 'asc' or 'desc', got '{s}'"))),
        None => Err(param.error(format_args!("must be 'asc' or 'desc', got {value}"))),
    }
}

/// Type check for a score argument: any integer. All but UInt64 are widened
/// to Int64 by the planner; UInt64 is left to [`checked_scores`], which can
/// name an out-of-range value where a planner cast would just fail.
fn score_type(param: Param, data_type: &DataType, max: i64) -> Result<DataType> {
    match data_type {
        DataType::Null => Ok(DataType::Int64),
        DataType::Dictionary(_, value) => score_type(param, value, max),
        DataType::UInt64 => Ok(DataType::UInt64),
        t if t.is_integer() => Ok(DataType::Int64),
        other => Err(param.error(format_args!(
            "must be an integer score between 1 and {max}, got type {other}"
        ))),
    }
}

/// The scores of `array` (Int64 or UInt64, see [`score_type`]) as Int64,
/// failing on the first non-NULL score outside `1..=max` and naming it.
fn checked_scores(param: Param, array: &ArrayRef, max: i64) -> Result<Int64Array> {
    let out_of_range = |bad: &dyn Display| {
        param.exec_error(format_args!(
            "must be a score between 1 and {max}, got {bad}"
        ))
    };
    if let Some(scores) = array.as_primitive_opt::<UInt64Type>() {
        let valid = 1..=max.unsigned_abs();
        return match scores.iter().flatten().find(|s| !valid.contains(s)) {
            Some(bad) => Err(out_of_range(&bad)),
            // Every value is at most `max` now, so none can overflow.
            None => Ok(scores.unary(|s| s as i64)),
        };
    }
    let scores = array.as_primitive::<Int64Type>();
    match scores.iter().flatten().find(|s| !(1..=max).contains(s)) {
        Some(bad) => Err(out_of_range(&bad)),
        None => Ok(scores.clone()),
    }
}
