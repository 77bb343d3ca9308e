//! Plans cross process boundaries as protobuf: client → scheduler as a
//! logical plan, scheduler → executors as physical stages. DataFusion's
//! serde writes functions by name and the receiver looks the name up in its
//! own registry, which every cluster process fills with microseg's
//! functions. A model function bound by the client's analyzer holds its
//! fitted model, which a name cannot carry: these codecs wrap Ballista's
//! own and add the models to such calls, so the receiver binds the
//! registered function to the same models again.

use std::collections::HashMap;
use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference, not_impl_err, plan_err};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::{
    AggregateUDF, Extension, HigherOrderUDF, LogicalPlan, ScalarUDF, WindowUDF,
};
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use microseg_udfs::model::clv_apply::ClvFunction;

use super::MAX_MESSAGE_BYTES;
use crate::delta::{DeltaFiles, DeltaFilesTable};
use microseg_udfs::model::{
    Bound, ClassifierScores, ClusterAssign, ExplainPredict, Fitted, ModelFunction, ModelMean,
    ModelQuality, Predict, PredictUplift, UpliftReport,
};
use serde::{Deserialize, Serialize};

use crate::catalog::Suppressed;
use crate::planning::{FORGOTTEN, Forgotten};

/// What a bound model call carries besides its name. `format` changes when
/// the layout of [`Fitted`] does, so a mismatched process says so instead
/// of misreading parameters.
#[derive(Serialize)]
struct Shipped<'a> {
    format: u32,
    models: Vec<&'a Fitted>,
}

#[derive(Deserialize)]
struct Received {
    format: u32,
    models: Vec<Fitted>,
}

/// 2: uplift models and record-linkage labels joined [`Fitted`].
const FORMAT: u32 = 2;

/// Marks a table provider payload as the rows of an in-memory table.
const BATCHES: &[u8] = b"microseg.batches\0";

/// The most rows an in-memory table may carry into a plan, in bytes: far
/// below the message limit, which also carries the rest of the plan.
const MAX_BATCH_BYTES: usize = MAX_MESSAGE_BYTES / 4;

/// The rows of `table`, as one Arrow IPC stream.
fn encode_batches(table_ref: &TableReference, table: &MemTable, buf: &mut Vec<u8>) -> Result<()> {
    let start = buf.len();
    let mut writer = StreamWriter::try_new(&mut *buf, &table.schema())?;
    for partition in &table.batches {
        let Ok(batches) = partition.try_read() else {
            return plan_err!("table {table_ref} is being written to; try again");
        };
        for batch in batches.iter() {
            writer.write(batch)?;
        }
    }
    writer.finish()?;
    drop(writer);
    let size = buf.len() - start;
    if size > MAX_BATCH_BYTES {
        return plan_err!(
            "table {table_ref} holds {size} bytes in this session's memory, more than the {MAX_BATCH_BYTES} a plan may carry to a cluster: write it to the lake instead"
        );
    }
    Ok(())
}

fn decode_batches(ipc: &[u8], schema: SchemaRef) -> Result<MemTable> {
    let reader = StreamReader::try_new(std::io::Cursor::new(ipc), None)?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    MemTable::try_new(schema, vec![batches])
}

/// Marks a table provider payload as a pinned Delta file list.
const DELTA_FILES: &[u8] = b"microseg.delta_files\0";

/// The functions a process knows by name, for decoding calls whose
/// registered form must be bound again.
#[derive(Debug, Default)]
pub struct Functions {
    scalar: HashMap<String, Arc<ScalarUDF>>,
    aggregate: HashMap<String, Arc<AggregateUDF>>,
}

impl Functions {
    /// The functions registered in `state` (see [`super::functions_state`]).
    pub fn of(state: &SessionState) -> Self {
        Self {
            scalar: state.scalar_functions().clone(),
            aggregate: state.aggregate_functions().clone(),
        }
    }
}

fn encode_models(models: Vec<Bound>, buf: &mut Vec<u8>) -> Result<()> {
    if models.is_empty() {
        return Ok(());
    }
    let shipped = Shipped {
        format: FORMAT,
        models: models.iter().map(|b| b.0.as_ref()).collect(),
    };
    let value = serde_json::to_value(&shipped)
        .map_err(|e| DataFusionError::Internal(format!("cannot serialize a model: {e}")))?;
    exact::write(&value, buf);
    Ok(())
}

fn decode_models(name: &str, buf: &[u8]) -> Result<Vec<Bound>> {
    let value = exact::read(buf).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "{name}: the model sent with the plan is truncated or corrupt: are client and cluster the same microseg version?"
        ))
    })?;
    let received: Received = serde_json::from_value(value).map_err(|e| {
        DataFusionError::Plan(format!(
            "{name}: the model sent with the plan cannot be read ({e}): are client and cluster the same microseg version?"
        ))
    })?;
    if received.format != FORMAT {
        return plan_err!(
            "{name}: the model was sent in format {} but this process reads format {FORMAT}: run the same microseg version on client and cluster",
            received.format
        );
    }
    Ok(received
        .models
        .into_iter()
        .map(|m| Bound(Arc::new(m)))
        .collect())
}

/// A JSON tree in binary, numbers as their bits: JSON text would round
/// floats through decimal (serde_json's parser may land one ulp off), and
/// a model must arrive bit for bit to give the local answers. The tree
/// keeps serde's self-describing form, which the models' tagged enums need.
mod exact {
    use serde_json::{Map, Number, Value};

    pub fn write(value: &Value, out: &mut Vec<u8>) {
        let len = |n: usize, out: &mut Vec<u8>| out.extend((n as u64).to_le_bytes());
        match value {
            Value::Null => out.push(0),
            Value::Bool(b) => out.push(1 + *b as u8),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => {
                    out.push(3);
                    out.extend(u.to_le_bytes());
                }
                (_, Some(i), _) => {
                    out.push(4);
                    out.extend(i.to_le_bytes());
                }
                (_, _, f) => {
                    out.push(5);
                    out.extend(f.unwrap_or(f64::NAN).to_bits().to_le_bytes());
                }
            },
            Value::String(text) => {
                out.push(6);
                len(text.len(), out);
                out.extend(text.as_bytes());
            }
            Value::Array(items) => {
                out.push(7);
                len(items.len(), out);
                items.iter().for_each(|v| write(v, out));
            }
            Value::Object(map) => {
                out.push(8);
                len(map.len(), out);
                for (key, v) in map {
                    write(&Value::String(key.clone()), out);
                    write(v, out);
                }
            }
        }
    }

    /// The tree, or `None` when the bytes are not one whole tree.
    pub fn read(mut buf: &[u8]) -> Option<Value> {
        let value = next(&mut buf)?;
        buf.is_empty().then_some(value)
    }

    fn word(buf: &mut &[u8]) -> Option<[u8; 8]> {
        let (head, rest) = buf.split_first_chunk::<8>()?;
        *buf = rest;
        Some(*head)
    }

    fn next(buf: &mut &[u8]) -> Option<Value> {
        let (&tag, rest) = buf.split_first()?;
        *buf = rest;
        Some(match tag {
            0 => Value::Null,
            1 | 2 => Value::Bool(tag == 2),
            3 => Value::Number(u64::from_le_bytes(word(buf)?).into()),
            4 => Value::Number(i64::from_le_bytes(word(buf)?).into()),
            5 => Value::Number(Number::from_f64(f64::from_bits(u64::from_le_bytes(word(
                buf,
            )?)))?),
            6 => {
                let n = usize::try_from(u64::from_le_bytes(word(buf)?)).ok()?;
                let (text, rest) = buf.split_at_checked(n)?;
                *buf = rest;
                Value::String(String::from_utf8(text.to_vec()).ok()?)
            }
            7 => {
                let n = u64::from_le_bytes(word(buf)?);
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(next(buf)?);
                }
                Value::Array(items)
            }
            8 => {
                let n = u64::from_le_bytes(word(buf)?);
                let mut map = Map::new();
                for _ in 0..n {
                    let Value::String(key) = next(buf)? else {
                        return None;
                    };
                    map.insert(key, next(buf)?);
                }
                Value::Object(map)
            }
            _ => return None,
        })
    }
}

/// The suppression filter travels with its list: the salt's length and
/// bytes, the number of hash prefixes and the prefixes, then whether fast
/// hashes follow and the fast hashes (all little-endian).
fn encode_forgotten(list: &Suppressed, buf: &mut Vec<u8>) {
    let (salt, prefixes, fast) = list.parts();
    buf.extend_from_slice(&(salt.len() as u32).to_le_bytes());
    buf.extend_from_slice(salt);
    buf.extend_from_slice(&(prefixes.len() as u32).to_le_bytes());
    for prefix in prefixes {
        buf.extend_from_slice(&prefix.to_le_bytes());
    }
    buf.push(u8::from(fast.is_some()));
    for hash in fast.into_iter().flatten() {
        buf.extend_from_slice(&hash.to_le_bytes());
    }
}

fn decode_forgotten(buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    let corrupt = || {
        DataFusionError::Plan(format!(
            "{FORGOTTEN}: the suppression list sent with the plan is truncated or corrupt: are client and cluster the same microseg version?"
        ))
    };
    let (len, rest) = buf.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let len = u32::from_le_bytes(*len) as usize;
    let (salt, rest) = rest.split_at_checked(len).ok_or_else(corrupt)?;
    let (count, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let count = u32::from_le_bytes(*count) as usize;
    let (hashes, rest) = rest.split_at_checked(count * 16).ok_or_else(corrupt)?;
    let (has_fast, fast) = rest.split_first().ok_or_else(corrupt)?;
    if *has_fast > 1 || (*has_fast == 0 && !fast.is_empty()) || !fast.len().is_multiple_of(8) {
        return Err(corrupt());
    }
    let prefixes = hashes
        .chunks_exact(16)
        .map(|c| u128::from_le_bytes(c.try_into().unwrap_or_default()));
    let fast = (*has_fast == 1).then(|| {
        fast.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
    });
    let list = Suppressed::from_parts(salt.to_vec(), prefixes, fast);
    Ok(Arc::new(ScalarUDF::new_from_impl(Forgotten::new(
        Arc::new(list),
    ))))
}

fn unknown(kind: &str, name: &str) -> DataFusionError {
    DataFusionError::Plan(format!(
        "{kind} function {name} is not known to this cluster process: run the same microseg version on client and cluster"
    ))
}

impl Functions {
    fn encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        let inner = node.inner();
        if let Some(f) = inner.downcast_ref::<Forgotten>() {
            encode_forgotten(f.list(), buf);
            return Ok(());
        }
        let models = if let Some(f) = inner.downcast_ref::<ClusterAssign>() {
            f.models()
        } else if let Some(f) = inner.downcast_ref::<ClvFunction>() {
            f.models()
        } else if let Some(f) = inner.downcast_ref::<Predict>() {
            f.models()
        } else if let Some(f) = inner.downcast_ref::<ExplainPredict>() {
            f.models()
        } else if let Some(f) = inner.downcast_ref::<PredictUplift>() {
            f.models()
        } else {
            return Ok(());
        };
        encode_models(models, buf)
    }

    fn decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        if name == FORGOTTEN {
            return decode_forgotten(buf);
        }
        let registered = self
            .scalar
            .get(name)
            .ok_or_else(|| unknown("scalar", name))?;
        if buf.is_empty() {
            return Ok(Arc::clone(registered));
        }
        let models = decode_models(name, buf)?;
        let inner = registered.inner();
        if let Some(f) = inner.downcast_ref::<ClusterAssign>() {
            Ok(Arc::new(ScalarUDF::new_from_impl(f.bind(models)?)))
        } else if let Some(f) = inner.downcast_ref::<ClvFunction>() {
            Ok(Arc::new(ScalarUDF::new_from_impl(f.bind(models)?)))
        } else if let Some(f) = inner.downcast_ref::<Predict>() {
            Ok(Arc::new(ScalarUDF::new_from_impl(f.bind(models)?)))
        } else if let Some(f) = inner.downcast_ref::<ExplainPredict>() {
            Ok(Arc::new(ScalarUDF::new_from_impl(f.bind(models)?)))
        } else if let Some(f) = inner.downcast_ref::<PredictUplift>() {
            Ok(Arc::new(ScalarUDF::new_from_impl(f.bind(models)?)))
        } else {
            plan_err!("{name}: a model was sent with a function that takes none")
        }
    }

    fn encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        let inner = node.inner();
        let models = if let Some(f) = inner.downcast_ref::<ModelMean>() {
            f.models()
        } else if let Some(f) = inner.downcast_ref::<ModelQuality>() {
            f.models()
        } else if let Some(f) = inner.downcast_ref::<ClassifierScores>() {
            f.models()
        } else if let Some(f) = inner.downcast_ref::<UpliftReport>() {
            f.models()
        } else {
            return Ok(());
        };
        encode_models(models, buf)
    }

    fn decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        let registered = self
            .aggregate
            .get(name)
            .ok_or_else(|| unknown("aggregate", name))?;
        if buf.is_empty() {
            return Ok(Arc::clone(registered));
        }
        let models = decode_models(name, buf)?;
        let inner = registered.inner();
        if let Some(f) = inner.downcast_ref::<ModelMean>() {
            Ok(Arc::new(AggregateUDF::new_from_impl(f.bind(models)?)))
        } else if let Some(f) = inner.downcast_ref::<ModelQuality>() {
            Ok(Arc::new(AggregateUDF::new_from_impl(f.bind(models)?)))
        } else if let Some(f) = inner.downcast_ref::<ClassifierScores>() {
            Ok(Arc::new(AggregateUDF::new_from_impl(f.bind(models)?)))
        } else if let Some(f) = inner.downcast_ref::<UpliftReport>() {
            Ok(Arc::new(AggregateUDF::new_from_impl(f.bind(models)?)))
        } else {
            plan_err!("{name}: a model was sent with a function that takes none")
        }
    }
}

/// The function methods both codec traits share, answered by [`Functions`].
macro_rules! function_methods {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            self.functions.decode_udf(name, buf)
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.functions.encode_udf(node, buf)
        }

        fn try_decode_higher_order_function(
            &self,
            name: &str,
            buf: &[u8],
        ) -> Result<Arc<HigherOrderUDF>> {
            self.inner.try_decode_higher_order_function(name, buf)
        }

        fn try_encode_higher_order_function(
            &self,
            node: &HigherOrderUDF,
            buf: &mut Vec<u8>,
        ) -> Result<()> {
            self.inner.try_encode_higher_order_function(node, buf)
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            self.functions.decode_udaf(name, buf)
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.functions.encode_udaf(node, buf)
        }

        fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
            self.inner.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.inner.try_encode_udwf(node, buf)
        }
    };
}

/// Ballista's logical codec, plus microseg's bound model functions and a
/// clear refusal of tables that cannot travel yet.
#[derive(Debug)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
    functions: Arc<Functions>,
}

impl LogicalCodec {
    pub fn new(functions: Arc<Functions>) -> Self {
        Self {
            inner: BallistaLogicalExtensionCodec::default(),
            functions,
        }
    }
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf).map_err(|_| {
            DataFusionError::NotImplemented(format!(
                "plan node {} is not yet supported on a cluster",
                node.node.name()
            ))
        })
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        if let Some(ipc) = buf.strip_prefix(BATCHES) {
            return Ok(Arc::new(decode_batches(ipc, schema)?));
        }
        if let Some(files) = buf.strip_prefix(DELTA_FILES) {
            let files = DeltaFiles::decode(files)?;
            return Ok(Arc::new(DeltaFilesTable::try_new(files, schema)?));
        }
        if let Some(args) = buf.strip_prefix(super::series::SERIES) {
            return super::series::decode(args, schema);
        }
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    /// Parquet lake tables (ListingTable) never reach here: DataFusion's
    /// serde writes them itself. Delta tables arrive as the file lists the
    /// client pinned ([`super::pin`]); tables held in the client's memory
    /// (SHOW/DESCRIBE results, `identity_components`, `CREATE TABLE` in
    /// the session) travel as their rows, `generate_series` / `range` as
    /// their arguments; anything else cannot travel yet.
    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(table) = node.downcast_ref::<DeltaFilesTable>() {
            buf.extend_from_slice(DELTA_FILES);
            buf.extend(table.files().encode()?);
            return Ok(());
        }
        if let Some(table) = node.downcast_ref::<MemTable>() {
            buf.extend_from_slice(BATCHES);
            return encode_batches(table_ref, table, buf);
        }
        if super::series::encode(node.as_ref(), buf)? {
            return Ok(());
        }
        not_impl_err!(
            "table {table_ref} is not yet supported on a cluster: only the lake's Parquet and Delta tables (and views and table functions over them) run there for now"
        )
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    function_methods!();
}

/// Ballista's physical codec, plus microseg's bound model functions.
#[derive(Debug)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
    functions: Arc<Functions>,
}

impl PhysicalCodec {
    pub fn new(functions: Arc<Functions>) -> Self {
        Self {
            inner: BallistaPhysicalExtensionCodec::default(),
            functions,
        }
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let name = node.name().to_string();
        self.inner
            .try_encode(node, buf, proto_converter)
            .map_err(|e| {
                DataFusionError::NotImplemented(format!(
                    "operator {name} is not yet supported on a cluster ({e})"
                ))
            })
    }

    function_methods!();
    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        self.inner.try_decode_expr(buf, inputs, ctx)
    }

    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> Result<()> {
        self.inner.try_encode_expr(node, buf, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider the codec has no form for is refused, naming the table.
    #[test]
    fn an_unknown_table_is_named() {
        use datafusion::arrow::datatypes::Schema;
        use datafusion::datasource::empty::EmptyTable;
        let codec = LogicalCodec::new(super::super::functions().unwrap());
        let table = Arc::new(EmptyTable::new(Arc::new(Schema::empty())));
        let err = codec
            .try_encode_table_provider(&TableReference::bare("scratch"), table, &mut Vec::new())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("table scratch is not yet supported on a cluster"),
            "{err}"
        );
    }

    #[test]
    fn unknown_functions_and_bad_payloads_are_named() {
        let functions = Functions::default();
        let err = functions.decode_udf("cluster_assign", b"").unwrap_err();
        assert!(
            err.to_string().contains("cluster_assign is not known"),
            "{err}"
        );
        let err = decode_models("cluster_assign", b"\x07\x05").unwrap_err();
        assert!(err.to_string().contains("truncated or corrupt"), "{err}");
        let mut buf = Vec::new();
        exact::write(&serde_json::json!({"format": 99, "models": []}), &mut buf);
        let err = decode_models("p_alive", &buf).unwrap_err();
        assert!(err.to_string().contains("format 99"), "{err}");
    }

    #[test]
    fn suppression_lists_travel_whole() {
        use crate::catalog::suppressed::salted_hash;
        let salt = b"salt".to_vec();
        let old = (salted_hash(&salt, b"8"), None);
        // A fast hash that is not the real one: the rebuilt list must hold
        // exactly what was sent, so "7" then misses by the fast check.
        let sent_fast = (salted_hash(&salt, b"7"), Some(12345u64));
        for (entries, seven) in [(vec![old], false), (vec![sent_fast, old], true)] {
            let list = Suppressed::new(salt.clone(), entries);
            let mut buf = Vec::new();
            encode_forgotten(&list, &mut buf);
            let udf = decode_forgotten(&buf).unwrap();
            let back = udf.inner().downcast_ref::<Forgotten>().unwrap().list();
            assert_eq!(back.as_ref(), &list);
            assert_eq!(back.contains(b"7"), seven);
            assert!(back.contains(b"8") && !back.contains(b"9"));
            let err = decode_forgotten(&buf[..buf.len() - 1]).unwrap_err();
            assert!(err.to_string().contains("truncated or corrupt"), "{err}");
        }
        let list = Suppressed::new(salt, [sent_fast]);
        let mut buf = Vec::new();
        encode_forgotten(&list, &mut buf);
        let back = decode_forgotten(&buf).unwrap();
        let back = back.inner().downcast_ref::<Forgotten>().unwrap().list();
        assert_eq!(back.as_ref(), &list);
        // The fast set holds 12345, not 7's fast hash: 7 is not found.
        assert!(!back.contains(b"7"));
    }

    #[test]
    fn numbers_travel_bit_for_bit() {
        // Values whose shortest decimal form parses one ulp off in
        // serde_json's default (fast) float parser are the point here.
        let xs: [f64; 5] = [
            0.1 + 0.2,
            1.0 / 3.0,
            2.2250738585072014e-308,
            1e300 / 7.0,
            -0.0,
        ];
        let tree =
            serde_json::json!({"xs": xs, "n": u64::MAX, "i": -5, "s": "é", "b": [true, null]});
        let mut buf = Vec::new();
        exact::write(&tree, &mut buf);
        let back = exact::read(&buf).unwrap();
        assert_eq!(back, tree);
        let got: Vec<f64> = serde_json::from_value(back["xs"].clone()).unwrap();
        assert!(got.iter().zip(xs).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(exact::read(&buf[..buf.len() - 1]).is_none());
    }
}
