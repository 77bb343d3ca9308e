//! `DenseAggregateExec`: a whole aggregation by one integer key, without a
//! shuffle and, while the ids stay dense, without hashing.
//!
//! The keys are split in stripes by their remainder modulo a power of two
//! (the number of input partitions, rounded up); each stripe has one set of [`KeySlots`] and
//! accumulators behind a lock, indexed by `key / stripes`. A task per input
//! partition splits each batch by stripe and updates each stripe in turn,
//! taking whichever is free first. So every group lives in one place (no
//! merge of partial states at the end, and the memory of the shuffle's
//! plan), and a batch moves to its groups without a channel.

use std::fmt;
use std::sync::{Arc, Mutex, TryLockError};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, UInt32Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::common::runtime::JoinSet;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, apply_expression_roots,
};
use futures::{StreamExt, TryStreamExt};

use super::slots::KeySlots;

/// What every partition evaluates: the key and each aggregate's arguments
/// and filter, over the input's rows.
#[derive(Debug)]
struct Spec {
    key: Arc<dyn PhysicalExpr>,
    key_name: String,
    aggregates: Vec<Arc<AggregateFunctionExpr>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
}

/// One aggregation by an integer key, read from every input partition,
/// giving one output partition.
#[derive(Debug)]
pub struct DenseAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    /// The input's rows, estimated by its statistics.
    rows: usize,
    /// The memory it may need, estimated by the planner.
    need: usize,
    /// The plan this one replaced, run when the memory limit is too small.
    fallback: Arc<dyn ExecutionPlan>,
    spec: Arc<Spec>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl DenseAggregateExec {
    /// `schema` is the output: the key column, then one column per aggregate.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        key: (Arc<dyn PhysicalExpr>, String),
        aggregates: Vec<Arc<AggregateFunctionExpr>>,
        filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
        schema: SchemaRef,
        (rows, need): (usize, usize),
        fallback: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        let spec = Arc::new(Spec {
            key: key.0,
            key_name: key.1,
            aggregates,
            filters,
        });
        DenseAggregateExec {
            input,
            rows,
            need,
            fallback,
            spec,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for DenseAggregateExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let aggr: Vec<String> = self
            .spec
            .aggregates
            .iter()
            .map(|a| match (a.human_display(), a.human_display_alias()) {
                (Some(shown), Some(alias)) => format!("{shown} as {alias}"),
                (Some(shown), None) => shown.to_string(),
                _ => a.name().to_string(),
            })
            .collect();
        write!(
            f,
            "DenseAggregateExec: gby=[{} as {}], aggr=[{}], input_rows={}, memory_estimate={}",
            self.spec.key,
            self.spec.key_name,
            aggr.join(", "),
            self.rows,
            self.need
        )
    }
}

impl ExecutionPlan for DenseAggregateExec {
    fn name(&self) -> &str {
        "DenseAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let spec = &self.spec;
        apply_expression_roots(
            std::iter::once(Arc::clone(&spec.key))
                .chain(spec.aggregates.iter().flat_map(|a| a.expressions()))
                .chain(spec.filters.iter().flatten().cloned()),
            f,
        )
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("DenseAggregateExec takes one child, got {}", children.len());
        }
        Ok(Arc::new(DenseAggregateExec {
            input: children.remove(0),
            rows: self.rows,
            need: self.need,
            fallback: Arc::clone(&self.fallback),
            spec: Arc::clone(&self.spec),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("DenseAggregateExec has one partition, asked for {partition}");
        }
        if let MemoryLimit::Finite(limit) = context.memory_pool().memory_limit()
            && self.need > limit / 2
        {
            let plan = if self.fallback.output_partitioning().partition_count() > 1 {
                Arc::new(CoalescePartitionsExec::new(Arc::clone(&self.fallback)))
            } else {
                Arc::clone(&self.fallback)
            };
            return plan.execute(0, context);
        }
        let parts = self.input.output_partitioning().partition_count();
        let streams = (0..parts)
            .map(|p| self.input.execute(p, Arc::clone(&context)))
            .collect::<Result<Vec<_>>>()?;
        let spec = Arc::clone(&self.spec);
        let schema = Arc::clone(&self.schema);
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let time = MetricBuilder::new(&self.metrics).subset_time("aggregation_time", partition);
        let batch_size = context.session_config().batch_size();
        let pool = Arc::clone(context.memory_pool());
        let rows = self.rows;
        let batches = async move {
            let stripes = aggregate_all(streams, &spec, &pool, &time, rows).await?;
            let batches = emit_all(stripes, &schema, batch_size, &baseline).await?;
            baseline.record_output(batches.iter().map(RecordBatch::num_rows).sum());
            baseline.done();
            Ok::<_, DataFusionError>(batches)
        };
        let stream = futures::stream::once(batches)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

/// Runs one task per input partition over shared stripes; returns the
/// stripes when every task has ended.
async fn aggregate_all(
    streams: Vec<SendableRecordBatchStream>,
    spec: &Arc<Spec>,
    pool: &Arc<dyn MemoryPool>,
    time: &Time,
    rows: usize,
) -> Result<Vec<Stripe>> {
    let count = streams.len().max(1).next_power_of_two();
    // A table of 4 slots per expected row of a stripe costs 16 bytes a row,
    // inside the estimate.
    let max_span = (4 * rows / count) as u64;
    let stripes = (0..count)
        .map(|j| {
            let consumer = MemoryConsumer::new(format!("DenseAggregateExec[{j}]"));
            Stripe::new(spec, consumer.register(pool), max_span).map(Mutex::new)
        })
        .collect::<Result<Vec<_>>>()?;
    let stripes = Arc::new(stripes);
    let mut tasks = JoinSet::new();
    for (p, mut stream) in streams.into_iter().enumerate() {
        let (spec, time, stripes) = (Arc::clone(spec), time.clone(), Arc::clone(&stripes));
        tasks.spawn(async move {
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let _timer = time.timer();
                let pieces = split(&spec, &batch, stripes.len())?;
                update_stripes(&stripes, pieces, p)?;
            }
            Ok::<_, DataFusionError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => done?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(DataFusionError::External(Box::new(e))),
        }
    }
    let Ok(stripes) = Arc::try_unwrap(stripes) else {
        return internal_err!("DenseAggregateExec: a task still holds the stripes");
    };
    stripes
        .into_iter()
        .map(|m| {
            m.into_inner().map_err(|_| {
                DataFusionError::Internal("DenseAggregateExec: a stripe's lock was poisoned".into())
            })
        })
        .collect()
}

/// Applies each piece to its stripe, taking free stripes first (starting
/// from the task's own, so tasks rarely meet) and waiting only when none is.
fn update_stripes(
    stripes: &[Mutex<Stripe>],
    pieces: Vec<Option<Piece>>,
    task: usize,
) -> Result<()> {
    let mut pending: Vec<(usize, Piece)> = pieces
        .into_iter()
        .enumerate()
        .filter_map(|(j, p)| p.map(|p| (j, p)))
        .collect();
    if !pending.is_empty() {
        let first = task % pending.len();
        pending.rotate_left(first);
    }
    while !pending.is_empty() {
        let mut i = 0;
        let mut progressed = false;
        while i < pending.len() {
            let stripe = match stripes[pending[i].0].try_lock() {
                Ok(stripe) => stripe,
                Err(TryLockError::WouldBlock) => {
                    i += 1;
                    continue;
                }
                Err(TryLockError::Poisoned(_)) => {
                    return internal_err!("DenseAggregateExec: a stripe's lock was poisoned");
                }
            };
            let (_, piece) = pending.swap_remove(i);
            let mut stripe = stripe;
            stripe.update(&piece)?;
            progressed = true;
        }
        if !progressed {
            let (j, piece) = pending.swap_remove(0);
            let Ok(mut stripe) = stripes[j].lock() else {
                return internal_err!("DenseAggregateExec: a stripe's lock was poisoned");
            };
            stripe.update(&piece)?;
        }
    }
    Ok(())
}

/// A batch's rows of one stripe: their keys divided by the stripe count,
/// and each aggregate's arguments and filter.
struct Piece {
    keys: Int64Array,
    values: Vec<Vec<ArrayRef>>,
    filters: Vec<Option<ArrayRef>>,
}

/// Evaluates the key, arguments and filters on `batch` and splits its rows
/// into `stripes` pieces by the key's remainder (NULL keys to stripe 0).
fn split(spec: &Spec, batch: &RecordBatch, stripes: usize) -> Result<Vec<Option<Piece>>> {
    let rows = batch.num_rows();
    let key = cast(
        &spec.key.evaluate(batch)?.into_array(rows)?,
        &DataType::Int64,
    )?;
    let key = key.as_primitive::<Int64Type>();
    let values = spec
        .aggregates
        .iter()
        .map(|a| {
            a.expressions()
                .iter()
                .map(|e| e.evaluate(batch)?.into_array(rows))
                .collect::<Result<Vec<ArrayRef>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let filters = spec
        .filters
        .iter()
        .map(|f| {
            f.as_ref()
                .map(|f| f.evaluate(batch)?.into_array(rows))
                .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    if stripes == 1 {
        return Ok(vec![Some(Piece {
            keys: key.clone(),
            values,
            filters,
        })]);
    }
    // A power of two: the remainder is a mask and the quotient a shift
    // (both floor for negative keys), where a division would cost more
    // than the rest of the row's work.
    let shift = stripes.trailing_zeros();
    let mask = stripes as i64 - 1;
    let mut rows_of: Vec<Vec<u32>> = vec![Vec::with_capacity(rows / stripes + 16); stripes];
    let mut keys_of: Vec<Vec<i64>> = vec![Vec::with_capacity(rows / stripes + 16); stripes];
    let mut valid_of: Option<Vec<Vec<bool>>> = key.nulls().map(|_| vec![Vec::new(); stripes]);
    for (row, &k) in key.values().iter().enumerate() {
        let valid = key.is_valid(row);
        let j = if valid { (k & mask) as usize } else { 0 };
        rows_of[j].push(row as u32);
        keys_of[j].push(k >> shift);
        if let Some(v) = &mut valid_of {
            v[j].push(valid);
        }
    }
    let mut valid_of = valid_of.map(Vec::into_iter);
    rows_of
        .into_iter()
        .zip(keys_of)
        .map(|(rows, keys)| {
            let valid = valid_of.as_mut().and_then(Iterator::next);
            if rows.is_empty() {
                return Ok(None);
            }
            let rows = UInt32Array::from(rows);
            let keys = Int64Array::new(keys.into(), valid.map(NullBuffer::from));
            let values = values
                .iter()
                .map(|args| {
                    args.iter()
                        .map(|a| take(a.as_ref(), &rows, None).map_err(Into::into))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?;
            let filters = filters
                .iter()
                .map(|f| {
                    f.as_ref()
                        .map(|f| take(f.as_ref(), &rows, None))
                        .transpose()
                        .map_err(Into::into)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(Piece {
                keys,
                values,
                filters,
            }))
        })
        .collect()
}

/// The groups and accumulators of one stripe of keys.
struct Stripe {
    slots: KeySlots,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    ids: Vec<usize>,
    reservation: MemoryReservation,
}

impl Stripe {
    fn new(spec: &Spec, reservation: MemoryReservation, max_span: u64) -> Result<Stripe> {
        let accumulators = spec
            .aggregates
            .iter()
            .map(|a| a.create_groups_accumulator())
            .collect::<Result<Vec<_>>>()?;
        Ok(Stripe {
            slots: KeySlots::with_max_span(max_span),
            accumulators,
            ids: Vec::new(),
            reservation,
        })
    }

    fn size(&self) -> usize {
        self.slots.size()
            + self.ids.capacity() * 8
            + self.accumulators.iter().map(|a| a.size()).sum::<usize>()
    }

    fn update(&mut self, piece: &Piece) -> Result<()> {
        self.ids.clear();
        self.slots
            .ids(piece.keys.values(), piece.keys.nulls(), &mut self.ids);
        let groups = self.slots.groups();
        for ((accumulator, values), filter) in self
            .accumulators
            .iter_mut()
            .zip(&piece.values)
            .zip(&piece.filters)
        {
            let filter: Option<&BooleanArray> = filter.as_ref().map(|f| f.as_boolean());
            accumulator.update_batch(values, &self.ids, filter, groups)?;
        }
        self.reservation.try_resize(self.size())
    }

    /// The groups as batches of at most `batch_size` rows; `stripe` of
    /// `1 << shift` stripes turns the slots' keys back into the input's.
    fn emit(
        mut self,
        schema: &SchemaRef,
        batch_size: usize,
        stripe: i64,
        shift: u32,
    ) -> Result<Vec<RecordBatch>> {
        let keys: Int64Array = (0..self.slots.groups() as u32)
            .map(|g| self.slots.key(g).map(|q| (q << shift) | stripe))
            .collect();
        let mut columns = vec![cast(&keys, schema.field(0).data_type())?];
        for accumulator in &mut self.accumulators {
            columns.push(accumulator.evaluate(EmitTo::All)?);
        }
        let all = RecordBatch::try_new(Arc::clone(schema), columns)?;
        let rows = all.num_rows();
        Ok((0..rows)
            .step_by(batch_size.max(1))
            .map(|start| all.slice(start, batch_size.min(rows - start)))
            .collect())
    }
}

/// Emits every stripe, each in its own task.
async fn emit_all(
    stripes: Vec<Stripe>,
    schema: &SchemaRef,
    batch_size: usize,
    baseline: &BaselineMetrics,
) -> Result<Vec<RecordBatch>> {
    let shift = stripes.len().trailing_zeros();
    let mut tasks = JoinSet::new();
    for (j, stripe) in stripes.into_iter().enumerate() {
        let (schema, time) = (Arc::clone(schema), baseline.elapsed_compute().clone());
        tasks.spawn(async move {
            let _timer = time.timer();
            (j, stripe.emit(&schema, batch_size, j as i64, shift))
        });
    }
    let mut out: Vec<(usize, Vec<RecordBatch>)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((j, batches)) => out.push((j, batches?)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(DataFusionError::External(Box::new(e))),
        }
    }
    out.sort_by_key(|(j, _)| *j);
    Ok(out.into_iter().flat_map(|(_, b)| b).collect())
}
