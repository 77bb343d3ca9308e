//! `ab_bucket(key, salt, n_buckets)` and `holdout(key, salt, fraction)`:
//! deterministic assignment of keys to experiment groups.
//!
//! Both rest on one number per (salt, key):
//!
//! ```text
//! x = first 8 bytes, read big-endian as an unsigned 64-bit integer,
//!     of SHA-256(salt || ':' || key)        (UTF-8 bytes; integer keys in decimal)
//! u = x / 2^64                               (in [0, 1))
//! bucket  = floor(u * n_buckets)             computed exactly as (x * n_buckets) >> 64
//! holdout = u < fraction                     computed exactly as x < fraction * 2^64
//! ```
//!
//! Both are evaluated in exact arithmetic, not after rounding u to a double,
//! so any implementation with big integers agrees on every key. In Python:
//!
//! ```text
//! x = int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "big")
//! bucket = x * n_buckets >> 64
//! holdout = x < fraction * 2**64   # int-float comparison is exact in Python
//! ```

use std::fmt::Write;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;
use sha2::{Digest, Sha256};

use crate::common::{Param, check_arity, float_type, map_texts, param_names, text_type};

/// `x` of the definition in the module documentation: the leading 64 bits
/// of SHA-256(salt || ':' || key).
pub fn unit_interval(salt: &[u8], key: &[u8]) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(b":");
    leading_u64(hasher, key)
}

/// Finishes a hasher that has already taken `salt:`; cloning it per key
/// saves hashing a constant salt again on every row.
fn leading_u64(mut salted: Sha256, key: &[u8]) -> u64 {
    salted.update(key);
    let digest = salted.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// `floor(x / 2^64 * n_buckets)`, exactly.
pub fn bucket_of(x: u64, n_buckets: u64) -> u64 {
    ((u128::from(x) * u128::from(n_buckets)) >> 64) as u64
}

/// `x / 2^64 < fraction`, exactly, for `fraction` in [0, 1].
///
/// `fraction * 2^64` is exact in binary floating point (a power-of-two
/// scaling), and `x < t` for an integer x is `x < ceil(t)`.
pub fn in_holdout(x: u64, fraction: f64) -> bool {
    let threshold = (fraction * 2f64.powi(64)).ceil();
    u128::from(x) < threshold as u128
}

/// Type check for a key: text as it is, integers as Int64 (UInt64 kept, so
/// its large values are written in decimal unchanged).
fn key_type(param: Param, data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::UInt64 => Ok(DataType::UInt64),
        DataType::Dictionary(_, value) => key_type(param, value),
        t if t.is_integer() => Ok(DataType::Int64),
        t => text_type(param, t, "text or an integer"),
    }
}

fn salt_type(param: Param, data_type: &DataType) -> Result<DataType> {
    text_type(param, data_type, "text")
}

/// Where each row's salted hasher comes from.
enum Salts {
    /// One salt for every row, already hashed with its ':'; `None` if NULL.
    Same(Option<Sha256>),
    /// A salt per row.
    PerRow(StringArray),
}

impl Salts {
    fn new(salt: &ColumnarValue, rows: usize) -> Result<Self> {
        match salt {
            ColumnarValue::Scalar(value) => {
                Ok(Salts::Same(value.try_as_str().flatten().map(|s| {
                    let mut hasher = Sha256::new();
                    hasher.update(s.as_bytes());
                    hasher.update(b":");
                    hasher
                })))
            }
            ColumnarValue::Array(_) => {
                // Per-row salts are rare; one layout keeps the lookup simple.
                let array = cast(&salt.to_array(rows)?, &DataType::Utf8)?;
                Ok(Salts::PerRow(array.as_string::<i32>().clone()))
            }
        }
    }

    fn x(&self, row: usize, key: &[u8]) -> Option<u64> {
        match self {
            Salts::Same(hasher) => Some(leading_u64(hasher.clone()?, key)),
            Salts::PerRow(salts) => salts
                .is_valid(row)
                .then(|| unit_interval(salts.value(row).as_bytes(), key)),
        }
    }
}

/// `x` of every row, NULL where the key or the salt is NULL.
fn hashes(key: &ColumnarValue, salt: &ColumnarValue, rows: usize) -> Result<UInt64Array> {
    let salts = Salts::new(salt, rows)?;
    let key = key.to_array(rows)?;
    let mut decimal = String::new();
    let mut integer_key = |row: usize, k: &dyn std::fmt::Display| {
        decimal.clear();
        // Writing into a String cannot fail.
        let _ = write!(decimal, "{k}");
        salts.x(row, decimal.as_bytes())
    };
    match key.data_type() {
        DataType::Int64 => Ok(key
            .as_primitive::<Int64Type>()
            .iter()
            .enumerate()
            .map(|(row, k)| integer_key(row, &k?))
            .collect()),
        DataType::UInt64 => Ok(key
            .as_primitive::<UInt64Type>()
            .iter()
            .enumerate()
            .map(|(row, k)| integer_key(row, &k?))
            .collect()),
        t if t.is_string() => {
            let mut row = 0;
            map_texts(&key, |k| {
                row += 1;
                Ok(k.and_then(|k| salts.x(row - 1, k.as_bytes())))
            })
        }
        other => internal_err!("ab_bucket/holdout: unexpected key type {other}"),
    }
}

const BUCKET: &str = "ab_bucket";
const BUCKET_KEY: Param = Param::new(BUCKET, 0, "key");
const BUCKET_SALT: Param = Param::new(BUCKET, 1, "salt");
const N_BUCKETS: Param = Param::new(BUCKET, 2, "n_buckets");

#[user_doc(
    doc_section(label = "Experiment Functions"),
    description = "The bucket (0 to n_buckets - 1) of key in the experiment named by salt, \
stable across runs and systems. Definition: x = the first 8 bytes, big-endian unsigned, of \
SHA-256 of the UTF-8 text salt || ':' || key (an integer key written in decimal); \
bucket = floor(x * n_buckets / 2^64), computed exactly. Python: \
int.from_bytes(hashlib.sha256(f'{salt}:{key}'.encode()).digest()[:8], 'big') * n_buckets >> 64. \
Buckets are uniform, and independent between salts. NULL if any argument is NULL; n_buckets \
below 1 is an error naming the argument.",
    syntax_example = "ab_bucket(key, salt, n_buckets)",
    sql_example = r#"```sql
> SELECT ab_bucket('customer-42', 'exp1', 10) AS text_key, ab_bucket(42, 'exp1', 2) AS int_key;
+----------+---------+
| text_key | int_key |
+----------+---------+
| 9        | 0       |
+----------+---------+
```"#,
    argument(
        name = "key",
        description = "What is assigned: text, or an integer (hashed as its decimal text)."
    ),
    argument(
        name = "salt",
        description = "The experiment's name; different salts give independent assignments."
    ),
    argument(
        name = "n_buckets",
        description = "Number of buckets, an integer of 1 or more."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AbBucket {
    signature: Signature,
}

impl AbBucket {
    /// The `ab_bucket` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[BUCKET_KEY, BUCKET_SALT, N_BUCKETS]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for AbBucket {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for AbBucket {
    fn name(&self) -> &str {
        BUCKET
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(BUCKET, arg_types.len(), 3..=3)?;
        Ok(vec![
            key_type(BUCKET_KEY, &arg_types[0])?,
            salt_type(BUCKET_SALT, &arg_types[1])?,
            n_buckets_type(&arg_types[2])?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let n = checked_n_buckets(&args.args[2].to_array(rows)?)?;
        let x = hashes(&args.args[0], &args.args[1], rows)?;
        Ok(ColumnarValue::Array(Arc::new(buckets(&x, &n))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

fn n_buckets_type(data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::Null => Ok(DataType::Int64),
        DataType::Dictionary(_, value) => n_buckets_type(value),
        t if t.is_integer() => Ok(DataType::Int64),
        other => Err(N_BUCKETS.error(format_args!(
            "must be an integer of 1 or more, got type {other}"
        ))),
    }
}

fn checked_n_buckets(array: &ArrayRef) -> Result<Int64Array> {
    let n = array.as_primitive::<Int64Type>();
    match n.iter().flatten().find(|n| *n < 1) {
        Some(bad) => Err(N_BUCKETS.exec_error(format_args!("must be 1 or more, got {bad}"))),
        None => Ok(n.clone()),
    }
}

/// Buckets of hashed keys; `n` is checked to be at least 1.
fn buckets(x: &UInt64Array, n: &Int64Array) -> Int64Array {
    x.iter()
        .zip(n.iter())
        .map(|(x, n)| Some(bucket_of(x?, n? as u64) as i64))
        .collect()
}

const HOLDOUT: &str = "holdout";
const HOLDOUT_KEY: Param = Param::new(HOLDOUT, 0, "key");
const HOLDOUT_SALT: Param = Param::new(HOLDOUT, 1, "salt");
const FRACTION: Param = Param::new(HOLDOUT, 2, "fraction");

#[user_doc(
    doc_section(label = "Experiment Functions"),
    description = "True if key falls in the holdout of the experiment named by salt: the \
fraction of keys with u < fraction, where u = x / 2^64 and x is the first 8 bytes, big-endian \
unsigned, of SHA-256 of the UTF-8 text salt || ':' || key (an integer key written in decimal), \
the same x as ab_bucket. The comparison is exact: x < fraction * 2^64. Python: \
int.from_bytes(hashlib.sha256(f'{salt}:{key}'.encode()).digest()[:8], 'big') < fraction * 2**64. \
Raising the fraction only adds keys to the holdout. NULL if any argument is NULL; a fraction \
outside 0..1 is an error naming the argument.",
    syntax_example = "holdout(key, salt, fraction)",
    sql_example = r#"```sql
> SELECT holdout(42, 'exp1', 0.1) AS in_10pct, holdout(42, 'exp1', 0.9) AS in_90pct;
+----------+----------+
| in_10pct | in_90pct |
+----------+----------+
| false    | true     |
+----------+----------+
```"#,
    argument(
        name = "key",
        description = "What is assigned: text, or an integer (hashed as its decimal text)."
    ),
    argument(name = "salt", description = "The experiment's name."),
    argument(
        name = "fraction",
        description = "Share of keys held out, a number from 0 (none) to 1 (all)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Holdout {
    signature: Signature,
}

impl Holdout {
    /// The `holdout` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[HOLDOUT_KEY, HOLDOUT_SALT, FRACTION]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for Holdout {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for Holdout {
    fn name(&self) -> &str {
        HOLDOUT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(HOLDOUT, arg_types.len(), 3..=3)?;
        Ok(vec![
            key_type(HOLDOUT_KEY, &arg_types[0])?,
            salt_type(HOLDOUT_SALT, &arg_types[1])?,
            float_type(FRACTION, &arg_types[2])?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let fraction = checked_fraction(&args.args[2].to_array(rows)?)?;
        let x = hashes(&args.args[0], &args.args[1], rows)?;
        Ok(ColumnarValue::Array(Arc::new(holdouts(&x, &fraction))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

fn checked_fraction(array: &ArrayRef) -> Result<Float64Array> {
    let fraction = array.as_primitive::<Float64Type>();
    match fraction.iter().flatten().find(|f| !(0.0..=1.0).contains(f)) {
        Some(bad) => Err(FRACTION.exec_error(format_args!("must be between 0 and 1, got {bad}"))),
        None => Ok(fraction.clone()),
    }
}

fn holdouts(x: &UInt64Array, fraction: &Float64Array) -> BooleanArray {
    x.iter()
        .zip(fraction.iter())
        .map(|(x, f)| Some(in_holdout(x?, f?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringViewArray;
    use datafusion::common::ScalarValue;

    fn text(s: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.to_string())))
    }

    // Each vector computed independently with Python's hashlib:
    // python3 -c 'import hashlib; print(int.from_bytes(hashlib.sha256(b"exp1:customer-42").digest()[:8], "big"))'
    const X_EXP1_CUSTOMER_42: u64 = 17_359_496_537_459_763_102;
    // python3 -c 'import hashlib; print(int.from_bytes(hashlib.sha256(b"exp1:42").digest()[:8], "big"))'
    const X_EXP1_42: u64 = 4_575_546_149_270_477_744;
    // python3 -c 'import hashlib; print(int.from_bytes(hashlib.sha256(b":").digest()[:8], "big"))'
    const X_EMPTY: u64 = 16_693_726_192_583_184_368;
    // python3 -c 'import hashlib; print(int.from_bytes(hashlib.sha256("prix:café".encode()).digest()[:8], "big"))'
    const X_PRIX_CAFE: u64 = 17_123_494_721_084_537_909;

    #[test]
    fn known_hashes() {
        assert_eq!(unit_interval(b"exp1", b"customer-42"), X_EXP1_CUSTOMER_42);
        assert_eq!(unit_interval(b"exp1", b"42"), X_EXP1_42);
        assert_eq!(unit_interval(b"", b""), X_EMPTY);
        assert_eq!(
            unit_interval("prix".as_bytes(), "café".as_bytes()),
            X_PRIX_CAFE
        );
    }

    #[test]
    fn known_buckets_and_holdouts() {
        // python3 -c 'import hashlib; x=int.from_bytes(hashlib.sha256(b"exp1:customer-42").digest()[:8], "big"); print(x*10>>64, x*7>>64, x*1000>>64, x < 0.1*2**64, x < 0.5*2**64)'
        let x = X_EXP1_CUSTOMER_42;
        assert_eq!(
            (bucket_of(x, 10), bucket_of(x, 7), bucket_of(x, 1000)),
            (9, 6, 941)
        );
        assert_eq!((in_holdout(x, 0.1), in_holdout(x, 0.5)), (false, false));
        // python3 -c 'import hashlib; x=int.from_bytes(hashlib.sha256(b"exp1:42").digest()[:8], "big"); print(x*2>>64, x*100>>64, x < 0.1*2**64, x < 0.9*2**64)'
        let x = X_EXP1_42;
        assert_eq!((bucket_of(x, 2), bucket_of(x, 100)), (0, 24));
        assert_eq!((in_holdout(x, 0.1), in_holdout(x, 0.9)), (false, true));
    }

    #[test]
    fn exact_edges() {
        assert_eq!(bucket_of(0, 5), 0);
        assert_eq!(bucket_of(u64::MAX, 5), 4);
        assert_eq!(bucket_of(u64::MAX, 1), 0);
        // x = 2^63 is u = 0.5 exactly: in a holdout of 0.5 it is not (u < f).
        assert!(!in_holdout(1 << 63, 0.5));
        assert!(in_holdout((1 << 63) - 1, 0.5));
        assert_eq!(bucket_of(1 << 63, 2), 1);
        assert!(!in_holdout(0, 0.0));
        assert!(in_holdout(u64::MAX, 1.0));
        // The smallest positive fraction holds out x = 0 only.
        assert!(in_holdout(0, f64::MIN_POSITIVE));
        assert!(!in_holdout(1, f64::MIN_POSITIVE));
    }

    #[test]
    fn integer_and_text_keys_hash_alike() {
        let ints = ColumnarValue::Array(Arc::new(Int64Array::from(vec![Some(42), None, Some(-7)])));
        let texts = ColumnarValue::Array(Arc::new(StringViewArray::from(vec![
            Some("42"),
            None,
            Some("-7"),
        ])));
        let unsigned = ColumnarValue::Array(Arc::new(UInt64Array::from(vec![
            Some(42),
            None,
            Some(u64::MAX),
        ])));
        let a = hashes(&ints, &text("exp1"), 3).unwrap();
        let b = hashes(&texts, &text("exp1"), 3).unwrap();
        let c = hashes(&unsigned, &text("exp1"), 3).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.value(0), X_EXP1_42);
        assert_eq!(a.value(2), unit_interval(b"exp1", b"-7"));
        assert_eq!(c.value(2), unit_interval(b"exp1", b"18446744073709551615"));
        assert!(c.is_null(1));
    }

    #[test]
    fn salt_per_row_and_null_salt() {
        let keys = ColumnarValue::Array(Arc::new(StringArray::from(vec!["a", "a", "a"])));
        let salts = ColumnarValue::Array(Arc::new(StringArray::from(vec![
            Some("s1"),
            None,
            Some("s2"),
        ])));
        let x = hashes(&keys, &salts, 3).unwrap();
        assert_eq!(x.value(0), unit_interval(b"s1", b"a"));
        assert!(x.is_null(1));
        assert_eq!(x.value(2), unit_interval(b"s2", b"a"));
        let null_salt = ColumnarValue::Scalar(ScalarValue::Utf8(None));
        assert_eq!(hashes(&keys, &null_salt, 3).unwrap().null_count(), 3);
    }

    #[test]
    fn buckets_are_roughly_uniform() {
        let n = 4u64;
        let mut counts = [0u32; 4];
        for key in 0..4000 {
            let x = unit_interval(b"uniform", key.to_string().as_bytes());
            counts[bucket_of(x, n) as usize] += 1;
        }
        // Binomial(4000, 1/4): sd about 27, so 850..1150 is over 5 sd.
        assert!(
            counts.iter().all(|c| (850..=1150).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn argument_errors() {
        let bad_n: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), Some(0)]));
        let err = checked_n_buckets(&bad_n).unwrap_err().to_string();
        assert!(
            err.contains("ab_bucket: argument 3 (n_buckets) must be 1 or more, got 0"),
            "{err}"
        );
        let bad_f: ArrayRef = Arc::new(Float64Array::from(vec![Some(0.5), Some(1.5)]));
        let err = checked_fraction(&bad_f).unwrap_err().to_string();
        assert!(
            err.contains("holdout: argument 3 (fraction) must be between 0 and 1, got 1.5"),
            "{err}"
        );
        let nan: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN]));
        assert!(checked_fraction(&nan).is_err());
        let err = key_type(BUCKET_KEY, &DataType::Float64)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "ab_bucket: argument 1 (key) must be text or an integer, got type Float64"
            ),
            "{err}"
        );
    }
}
