//! A recommender's stored form, beside its `model.json`:
//! `interactions.parquet` (customer index, item index, weight, recency: the
//! customer × item matrix in row order) and `keys.parquet` (kind, key,
//! segment: the customer, item and segment keys in index order), and for
//! method `als` `factors.parquet` (one `factor` list per customer, then
//! per item, in index order) so opening a lake never refits them. The
//! neighbours and popularity tables are derived on first use, so they
//! cannot disagree with the interactions.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float64Array, RecordBatch, StringArray,
    UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt32Type};
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use microseg_udfs::model::recommend::{Factors, Interactions, NO_SEGMENT};

pub(super) const INTERACTIONS: &str = "interactions.parquet";
pub(super) const KEYS: &str = "keys.parquet";
pub(super) const FACTORS: &str = "factors.parquet";

fn parquet(batch: RecordBatch) -> Result<Vec<u8>, DataFusionError> {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None)?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}

/// The two files' bytes.
pub(super) fn encode(data: &Interactions) -> Result<(Vec<u8>, Vec<u8>), DataFusionError> {
    let customers =
        (0..data.customers.len()).flat_map(|c| std::iter::repeat_n(c as u32, data.range(c).len()));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(customers)),
        Arc::new(UInt32Array::from(data.item.clone())),
        Arc::new(Float64Array::from(data.weight.clone())),
        Arc::new(Float64Array::from(data.recency.clone())),
    ];
    let schema = Schema::new(vec![
        Field::new("customer", DataType::UInt32, false),
        Field::new("item", DataType::UInt32, false),
        Field::new("weight", DataType::Float64, false),
        Field::new("recency", DataType::Float64, false),
    ]);
    let interactions = parquet(RecordBatch::try_new(Arc::new(schema), columns)?)?;
    let kinds = std::iter::repeat_n("customer", data.customers.len())
        .chain(std::iter::repeat_n("item", data.items.len()))
        .chain(std::iter::repeat_n("segment", data.segments.len()));
    let keys = data
        .customers
        .iter()
        .chain(&data.items)
        .chain(&data.segments);
    let segments = data
        .segment_of
        .iter()
        .map(|&s| (s != NO_SEGMENT).then_some(s))
        .chain(std::iter::repeat_n(
            None,
            data.items.len() + data.segments.len(),
        ));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(kinds)),
        Arc::new(StringArray::from_iter_values(keys)),
        Arc::new(segments.collect::<UInt32Array>()),
    ];
    let schema = Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("segment", DataType::UInt32, true),
    ]);
    let keys = parquet(RecordBatch::try_new(Arc::new(schema), columns)?)?;
    Ok((interactions, keys))
}

/// `factors.parquet`'s bytes: `f` values a row, customers then items.
pub(super) fn encode_factors(factors: &Factors, f: usize) -> Result<Vec<u8>, DataFusionError> {
    let values: Vec<f64> = factors.0.iter().chain(&factors.1).copied().collect();
    let item = Arc::new(Field::new("item", DataType::Float64, false));
    let list = FixedSizeListArray::try_new(
        Arc::clone(&item),
        f as i32,
        Arc::new(Float64Array::from(values)),
        None,
    )?;
    let schema = Schema::new(vec![Field::new(
        "factor",
        DataType::FixedSizeList(item, f as i32),
        false,
    )]);
    parquet(RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(list)],
    )?)
}

/// Reads `factors.parquet` back for `customers` and `items` rows of `f`.
pub(super) fn decode_factors(
    bytes: Vec<u8>,
    customers: usize,
    items: usize,
    f: usize,
) -> Result<Factors, String> {
    let mut values = Vec::with_capacity((customers + items) * f);
    for batch in batches(bytes, 1)? {
        let list = batch
            .column(0)
            .as_fixed_size_list_opt()
            .filter(|l| l.value_length() as usize == f)
            .ok_or(format!("factor is not a list of {f} numbers"))?;
        let inner = list
            .values()
            .as_primitive_opt::<Float64Type>()
            .ok_or("factor values are not Float64")?;
        let start = list.offset() * f;
        values.extend_from_slice(&inner.values()[start..start + list.len() * f]);
    }
    if values.len() != (customers + items) * f {
        return Err(format!(
            "{} factor rows for {customers} customers and {items} items",
            values.len() / f.max(1)
        ));
    }
    let items_part = values.split_off(customers * f);
    Ok((values, items_part))
}

fn batches(bytes: Vec<u8>, columns: usize) -> Result<Vec<RecordBatch>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if batches.iter().any(|b| b.num_columns() != columns) {
        return Err(format!("expected {columns} columns"));
    }
    Ok(batches)
}

/// Reads the two files back; `segmented` is whether training had a
/// segment column (in `model.json`). Errors say what is inconsistent.
pub(super) fn decode(
    interactions: Vec<u8>,
    keys: Vec<u8>,
    segmented: bool,
) -> Result<Interactions, String> {
    let mut data = Interactions {
        customers: Vec::new(),
        items: Vec::new(),
        segmented,
        segments: Vec::new(),
        segment_of: Vec::new(),
        offsets: vec![0],
        item: Vec::new(),
        weight: Vec::new(),
        recency: Vec::new(),
    };
    for batch in batches(keys, 3)? {
        let kind = batch.column(0).as_string::<i32>();
        let key = batch.column(1).as_string::<i32>();
        let segment = batch
            .column(2)
            .as_primitive_opt::<UInt32Type>()
            .ok_or("segment is not UInt32")?;
        for row in 0..batch.num_rows() {
            let k = key.value(row).to_string();
            match kind.value(row) {
                "customer" => {
                    data.customers.push(k);
                    data.segment_of.push(if segment.is_null(row) {
                        NO_SEGMENT
                    } else {
                        segment.value(row)
                    });
                }
                "item" => data.items.push(k),
                "segment" => data.segments.push(k),
                other => return Err(format!("unknown key kind {other}")),
            }
        }
    }
    let mut customer_of_entry = Vec::new();
    for batch in batches(interactions, 4)? {
        let (Some(c), Some(i), Some(w), Some(r)) = (
            batch.column(0).as_primitive_opt::<UInt32Type>(),
            batch.column(1).as_primitive_opt::<UInt32Type>(),
            batch.column(2).as_primitive_opt::<Float64Type>(),
            batch.column(3).as_primitive_opt::<Float64Type>(),
        ) else {
            return Err("interactions have the wrong column types".into());
        };
        customer_of_entry.extend(c.values().iter().copied());
        data.item.extend(i.values().iter().copied());
        data.weight.extend(w.values().iter().copied());
        data.recency.extend(r.values().iter().copied());
    }
    let n = data.customers.len();
    if data
        .segment_of
        .iter()
        .any(|&s| s != NO_SEGMENT && s as usize >= data.segments.len())
    {
        return Err("a customer's segment is not among the keys".into());
    }
    let mut previous = 0u32;
    for (e, &c) in customer_of_entry.iter().enumerate() {
        if c as usize >= n || c < previous || data.item[e] as usize >= data.items.len() {
            return Err("interactions do not match the keys".into());
        }
        previous = c;
    }
    let mut counts = vec![0u64; n + 1];
    for &c in &customer_of_entry {
        counts[c as usize + 1] += 1;
    }
    for c in 0..n {
        counts[c + 1] += counts[c];
    }
    data.offsets = counts;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use microseg_udfs::model::recommend::{Row, build};

    #[test]
    fn round_trip() {
        let rows = [
            (0, 1, 2.0, 1.0, 0),
            (1, 0, 1.0, 5.0, NO_SEGMENT),
            (0, 0, 1.0, 3.0, 1),
        ]
        .map(|(customer, item, weight, day, segment)| Row {
            customer,
            item,
            weight,
            day,
            segment,
        });
        let data = build(
            vec!["b".into(), "a".into()],
            false,
            vec!["20".into(), "3".into()],
            true,
            Some(vec!["s".into(), "r".into()]),
            rows.to_vec(),
            Some(2.0),
        );
        let (interactions, keys) = encode(&data).unwrap();
        assert_eq!(decode(interactions, keys, true).unwrap(), data);
    }

    #[test]
    fn factors_round_trip_and_must_fit_the_keys() {
        let factors = (vec![1.0, 2.0, 3.0, 4.0], vec![5.0, 6.0]);
        let bytes = encode_factors(&factors, 2).unwrap();
        assert_eq!(decode_factors(bytes.clone(), 2, 1, 2).unwrap(), factors);
        let err = decode_factors(bytes.clone(), 2, 2, 2).unwrap_err();
        assert!(
            err.contains("3 factor rows for 2 customers and 2 items"),
            "{err}"
        );
        let err = decode_factors(bytes, 2, 1, 3).unwrap_err();
        assert!(err.contains("not a list of 3"), "{err}");
    }

    #[test]
    fn inconsistent_files_are_refused() {
        let row = |customer, item, segment| Row {
            customer,
            item,
            weight: 1.0,
            day: 1.0,
            segment,
        };
        let data = build(
            vec!["a".into(), "b".into()],
            false,
            vec!["x".into()],
            false,
            Some(vec!["s".into()]),
            vec![row(0, 0, 0), row(1, 0, 0)],
            None,
        );
        let mut bad = data.clone();
        bad.segment_of[1] = 7;
        let (interactions, keys) = encode(&bad).unwrap();
        let err = decode(interactions, keys, true).unwrap_err();
        assert!(err.contains("segment"), "{err}");
        let mut bad = data.clone();
        bad.item[1] = 3;
        let (interactions, keys) = encode(&bad).unwrap();
        let err = decode(interactions, keys, true).unwrap_err();
        assert!(err.contains("do not match the keys"), "{err}");
    }
}
