//! `trees.parquet`: a boosted-tree model's nodes, one row each, so the
//! trees are stored bit for bit (no decimal round trip) and can be read
//! with any Parquet reader. The first row (tree NULL) holds the base
//! margin in `value`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt32Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use microseg_udfs::model::gbdt::{Ensemble, Node, Split, Tree};

use crate::error::Result;

fn schema() -> Schema {
    let u32 = |name| Field::new(name, DataType::UInt32, true);
    let f64 = |name, nullable| Field::new(name, DataType::Float64, nullable);
    Schema::new(vec![
        u32("tree"),
        u32("node"),
        f64("value", false),
        f64("rows", false),
        f64("cover", false),
        u32("feature"),
        f64("threshold", true),
        Field::new("default_left", DataType::Boolean, true),
        u32("left"),
        u32("right"),
        f64("gain", true),
    ])
}

/// The Parquet bytes of `ensemble`.
pub(super) fn write(ensemble: &Ensemble) -> Result<Vec<u8>> {
    let mut tree = vec![None];
    let mut node = vec![None];
    let mut value = vec![ensemble.base];
    let (mut rows, mut cover) = (vec![0.0], vec![0.0]);
    let mut split: Vec<Option<&Split>> = vec![None];
    for (t, nodes) in ensemble.trees.iter().enumerate() {
        for (i, n) in nodes.nodes.iter().enumerate() {
            tree.push(Some(t as u32));
            node.push(Some(i as u32));
            value.push(n.value);
            rows.push(n.rows);
            cover.push(n.cover);
            split.push(n.split.as_ref());
        }
    }
    let of = |f: &dyn Fn(&Split) -> usize| -> ArrayRef {
        Arc::new(UInt32Array::from_iter(
            split.iter().map(|s| s.map(|s| f(s) as u32)),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(tree)),
        Arc::new(UInt32Array::from(node)),
        Arc::new(Float64Array::from(value)),
        Arc::new(Float64Array::from(rows)),
        Arc::new(Float64Array::from(cover)),
        of(&|s| s.feature),
        Arc::new(Float64Array::from_iter(
            split.iter().map(|s| s.map(|s| s.threshold)),
        )),
        Arc::new(BooleanArray::from_iter(
            split.iter().map(|s| s.map(|s| s.default_left)),
        )),
        of(&|s| s.left),
        of(&|s| s.right),
        Arc::new(Float64Array::from_iter(
            split.iter().map(|s| s.map(|s| s.gain)),
        )),
    ];
    let df = datafusion::error::DataFusionError::from;
    let batch = RecordBatch::try_new(Arc::new(schema()), columns).map_err(df)?;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None)
        .map_err(datafusion::error::DataFusionError::from)?;
    writer
        .write(&batch)
        .map_err(datafusion::error::DataFusionError::from)?;
    writer
        .close()
        .map_err(datafusion::error::DataFusionError::from)?;
    Ok(out)
}

/// The ensemble in Parquet `bytes`, or what is wrong with them.
pub(super) fn read(bytes: Vec<u8>) -> std::result::Result<Ensemble, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(|b| b.build())
        .map_err(|e| format!("unreadable trees: {e}"))?;
    let mut ensemble = Ensemble {
        base: f64::NAN,
        trees: Vec::new(),
    };
    for batch in reader {
        let batch = batch.map_err(|e| format!("unreadable trees: {e}"))?;
        if batch.schema().fields() != schema().fields() {
            return Err("trees.parquet has an unexpected layout".into());
        }
        let u = |i: usize| batch.column(i).as_primitive::<UInt32Type>();
        let f = |i: usize| batch.column(i).as_primitive::<Float64Type>();
        let (tree, node, feature, left, right) = (u(0), u(1), u(5), u(8), u(9));
        let (value, rows, cover, threshold, gain) = (f(2), f(3), f(4), f(6), f(10));
        let default_left = batch.column(7).as_boolean();
        for r in 0..batch.num_rows() {
            if tree.is_null(r) {
                ensemble.base = value.value(r);
                continue;
            }
            let t = tree.value(r) as usize;
            if t > ensemble.trees.len()
                || node.value(r) as usize != ensemble.trees.get(t).map_or(0, |x| x.nodes.len())
            {
                return Err("trees.parquet rows are out of order".into());
            }
            if t == ensemble.trees.len() {
                ensemble.trees.push(Tree { nodes: Vec::new() });
            }
            let split = (!feature.is_null(r)).then(|| Split {
                feature: feature.value(r) as usize,
                threshold: threshold.value(r),
                default_left: default_left.value(r),
                left: left.value(r) as usize,
                right: right.value(r) as usize,
                gain: gain.value(r),
            });
            ensemble.trees[t].nodes.push(Node {
                value: value.value(r),
                rows: rows.value(r),
                cover: cover.value(r),
                split,
            });
        }
    }
    let valid = ensemble.base.is_finite()
        && ensemble.trees.iter().all(|t| {
            t.nodes.iter().all(|n| {
                n.split
                    .as_ref()
                    .is_none_or(|s| s.left < t.nodes.len() && s.right < t.nodes.len())
            })
        });
    if !valid {
        return Err("trees.parquet is incomplete (no base margin, or a child out of range)".into());
    }
    Ok(ensemble)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bit_for_bit() {
        let leaf = |value: f64| Node {
            value,
            rows: 3.0,
            cover: 0.7,
            split: None,
        };
        let ensemble = Ensemble {
            base: -0.1f64.ln_1p(),
            trees: vec![
                Tree {
                    nodes: vec![
                        Node {
                            value: 0.0,
                            rows: 6.0,
                            cover: 1.4,
                            split: Some(Split {
                                feature: 2,
                                threshold: 1.0 / 3.0,
                                default_left: false,
                                left: 1,
                                right: 2,
                                gain: 0.25,
                            }),
                        },
                        leaf(0.1),
                        leaf(-0.2),
                    ],
                },
                Tree {
                    nodes: vec![leaf(1e-300)],
                },
            ],
        };
        assert_eq!(read(write(&ensemble).unwrap()).unwrap(), ensemble);
    }
}
