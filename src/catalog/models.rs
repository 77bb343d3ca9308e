//! Models: `_microseg/models/<name>/v<N>/` holds `centroids.parquet` (the
//! parameters) and `model.json` (everything else). `model.json` is written
//! last, so a version exists exactly when its JSON does: a training that
//! fails or is killed leaves the versions before it as they were.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, RecordBatch, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Schema, UInt64Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use microseg_udfs::model::clv::{BgNbd, GammaGamma};
use microseg_udfs::model::clv_apply::ClvModel;
use microseg_udfs::model::gbdt::Ensemble;
use microseg_udfs::model::linkage::LinkageModel;
use microseg_udfs::model::recommend::{AlsSettings, Interactions, Method, Recommender, Settings};
use microseg_udfs::model::{
    BoostedModel, Feature, Fitted, KMeansModel, LogisticModel, RecommenderModel,
};
use serde::{Deserialize, Serialize};

use super::Catalog;
use crate::error::{Error, Result};

pub(super) const DIR: &str = "models";

/// `model_type` of the boosted-tree classifier.
pub const BOOSTED: &str = "boosted_tree_classifier";
/// `model_type` of the uplift models.
pub const UPLIFT: &str = "uplift";

/// `model_type` of the record-linkage model.
pub const LINKAGE: &str = "linkage";

/// A linkage model's parameters beside its `model.json`.
const LINKAGE_FILE: &str = "linkage.json";

/// Everything about one trained model version but its centroids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The model's name.
    pub name: String,
    /// 1, 2, …: `CREATE OR REPLACE` adds one.
    pub version: u32,
    /// `kmeans`.
    pub model_type: String,
    /// Every option in force (given or default), as text.
    pub options: BTreeMap<String, String>,
    /// The training query.
    pub query: String,
    /// The input columns and how they are encoded.
    pub features: Vec<Feature>,
    /// Rows trained on.
    pub rows: u64,
    /// Clusters.
    pub k: usize,
    /// Lloyd iterations of the kept run.
    pub iterations: u32,
    /// Whether it met the tolerance.
    pub converged: bool,
    /// Wall-clock training time, seconds (encoding included).
    pub training_seconds: f64,
    /// When it was trained (RFC 3339, UTC).
    pub created_at: String,
    /// Evaluation metrics on the training data.
    pub metrics: BTreeMap<String, f64>,
    /// Fitted parameters of the lifetime-value models (r, alpha, a, b or p, q, v).
    #[serde(default)]
    pub parameters: BTreeMap<String, f64>,
    /// A classifier's label: its column and classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelMeta>,
}

/// What a classifier learned about its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMeta {
    /// The label column.
    pub column: String,
    /// The two values (as text): [negative, positive].
    pub classes: [String; 2],
}

/// A model version: metadata plus centroids (k × dims, encoded space) and
/// cluster sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredModel {
    /// Metadata.
    pub meta: ModelMeta,
    /// Row-major centroids.
    pub centroids: Vec<f64>,
    /// Training rows per cluster.
    pub sizes: Vec<u64>,
    /// A boosted-tree model's trees (in `trees.parquet`).
    pub trees: Option<Ensemble>,
    /// A recommender's model (`model_type 'recommender'`).
    pub recommender: Option<Arc<Recommender>>,
    /// A record-linkage model (`model_type 'linkage'`, in `linkage.json`).
    pub linkage: Option<Arc<LinkageModel>>,
}

impl StoredModel {
    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.meta.name, self.meta.version)
    }

    /// What the applying functions need: the model bound into plans.
    pub fn fitted(&self) -> Fitted {
        let p = |k: &str| self.meta.parameters.get(k).copied().unwrap_or(f64::NAN);
        let clv = |bgnbd, gamma_gamma, periods_per_month| {
            Fitted::Clv(ClvModel {
                label: self.label(),
                bgnbd,
                gamma_gamma,
                periods_per_month,
            })
        };
        match self.meta.model_type.as_str() {
            "bgnbd" => clv(
                Some(BgNbd {
                    r: p("r"),
                    alpha: p("alpha"),
                    a: p("a"),
                    b: p("b"),
                }),
                None,
                if self.meta.options.get("period").map(String::as_str) == Some("week") {
                    4.345
                } else {
                    30.0
                },
            ),
            "gamma_gamma" => clv(
                None,
                Some(GammaGamma {
                    p: p("p"),
                    q: p("q"),
                    v: p("v"),
                }),
                30.0,
            ),
            "logistic_reg" => {
                let label = self.meta.label.clone().unwrap_or(LabelMeta {
                    column: String::new(),
                    classes: [String::new(), String::new()],
                });
                Fitted::Logistic(LogisticModel {
                    label: self.label(),
                    features: self.meta.features.clone(),
                    label_column: label.column,
                    classes: label.classes,
                    intercept: p("intercept"),
                    coefficients: self.centroids.clone(),
                    offset: self.meta.parameters.get("offset").copied().unwrap_or(0.0),
                })
            }
            BOOSTED => {
                let label = self.meta.label.clone().unwrap_or(LabelMeta {
                    column: String::new(),
                    classes: [String::new(), String::new()],
                });
                Fitted::Boosted(BoostedModel {
                    label: self.label(),
                    features: self.meta.features.clone(),
                    label_column: label.column,
                    classes: label.classes,
                    ensemble: self.trees.clone().unwrap_or(Ensemble {
                        base: 0.0,
                        trees: Vec::new(),
                    }),
                    offset: self.meta.parameters.get("offset").copied().unwrap_or(0.0),
                })
            }
            // `Catalog::model` checked the parts add up; a model made in
            // memory that does not scores 0 everywhere.
            UPLIFT => Fitted::Uplift(super::uplifts::unpack(self).unwrap_or_else(|| {
                microseg_udfs::model::UpliftModel {
                    label: self.label(),
                    features: self.meta.features.clone(),
                    label_column: String::new(),
                    classes: [String::new(), String::new()],
                    treatment_column: String::new(),
                    arms: [String::new(), String::new()],
                    control: zero(),
                    treated: zero(),
                    offset: 0.0,
                    effects: None,
                }
            })),
            "recommender" => match &self.recommender {
                Some(model) => Fitted::Recommender(RecommenderModel {
                    label: self.label(),
                    integer_customers: self.meta.options.get("customer_type").map(String::as_str)
                        == Some("integer"),
                    integer_items: self.meta.options.get("item_type").map(String::as_str)
                        == Some("integer"),
                    model: Arc::clone(model),
                }),
                // Only a model made in memory without its data.
                None => Fitted::Recommender(RecommenderModel {
                    label: self.label(),
                    integer_customers: false,
                    integer_items: false,
                    model: Arc::new(Recommender::new(
                        Interactions::default(),
                        Settings::default(),
                    )),
                }),
            },
            LINKAGE => Fitted::Linkage {
                label: self.label(),
            },
            _ => Fitted::kmeans(KMeansModel {
                label: self.label(),
                features: self.meta.features.clone(),
                k: self.meta.k,
                centroids: self.centroids.clone(),
                sizes: self.sizes.clone(),
            }),
        }
    }
}

/// A part that adds nothing.
fn zero() -> microseg_udfs::model::uplift::Part {
    microseg_udfs::model::uplift::Part::Linear {
        intercept: 0.0,
        coefficients: Vec::new(),
    }
}

/// A recommender's scoring settings from its resolved options.
pub fn recommender_settings(
    options: &BTreeMap<String, String>,
) -> std::result::Result<Settings, String> {
    let get = |k: &str| options.get(k).map(String::as_str).unwrap_or_default();
    let method = match get("method") {
        "buy_again" => Method::BuyAgain,
        "cooccurrence" => Method::Cooccurrence,
        "segment_popular" => Method::SegmentPopular,
        "blend" => Method::Blend,
        "als" => Method::Als,
        other => return Err(format!("unknown method {other:?}")),
    };
    // ALS options: absent from models made before the method existed.
    let defaults = AlsSettings::default();
    let number = |k: &str, default: f64| -> std::result::Result<f64, String> {
        match options.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{k} {v:?} is not a number")),
        }
    };
    Ok(Settings {
        method,
        exclude_bought: get("exclude_bought") == "true",
        min_support: get("min_support")
            .parse()
            .map_err(|_| format!("min_support {:?} is not a whole number", get("min_support")))?,
        als: AlsSettings {
            factors: number("factors", defaults.factors as f64)? as usize,
            regularization: number("regularization", defaults.regularization)?,
            alpha: number("alpha", defaults.alpha)?,
            iterations: number("iterations", defaults.iterations as f64)? as usize,
            seed: match options.get("seed") {
                None => defaults.seed,
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("seed {v:?} is not a whole number"))?,
            },
        },
    })
}

/// `name` or `name@version`.
pub fn parse_reference(text: &str) -> Result<(String, Option<u32>)> {
    let (name, version) = match text.split_once('@') {
        Some((name, v)) => match v.parse::<u32>() {
            Ok(v) if v >= 1 => (name, Some(v)),
            _ => {
                return Err(Error::Usage(format!(
                    "model reference {text:?}: the version after @ must be a whole number ≥ 1"
                )));
            }
        },
        None => (text, None),
    };
    let name = name.to_lowercase();
    validate_name(&name)?;
    Ok((name, version))
}

/// Names become folder names in the lake.
pub fn validate_name(name: &str) -> Result<()> {
    Catalog::check_name("model", name)
}

fn centroids_parquet(centroids: &[f64], sizes: &[u64], dims: usize) -> Result<Vec<u8>> {
    let k = sizes.len();
    let mut fields = vec![
        Field::new("centroid_id", DataType::Int32, false),
        Field::new("size", DataType::UInt64, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(1..=k as i32)),
        Arc::new(UInt64Array::from(sizes.to_vec())),
    ];
    for dim in 0..dims {
        fields.push(Field::new(format!("dim_{dim}"), DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from_iter_values(
            (0..k).map(|j| centroids[j * dims + dim]),
        )));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(datafusion::error::DataFusionError::from)?;
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

impl Catalog {
    fn version_dir(name: &str, version: u32) -> String {
        format!("{DIR}/{name}/v{version}")
    }

    /// The committed versions of model `name`, ascending.
    pub async fn model_versions(&self, name: &str) -> Result<Vec<u32>> {
        let mut versions: Vec<u32> = self
            .list_all(&format!("{DIR}/{name}"))
            .await?
            .iter()
            .filter_map(|rel| {
                let (dir, file) = rel.split_once('/')?;
                (file == "model.json").then_some(())?;
                dir.strip_prefix('v')?.parse().ok()
            })
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Every model name with its latest version.
    pub async fn models(&self) -> Result<Vec<ModelMeta>> {
        let mut names: Vec<String> = self
            .list_all(DIR)
            .await?
            .iter()
            .filter_map(|rel| rel.split('/').next().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            if let Some(model) = self.model(&name, None).await? {
                out.push(model.meta);
            }
        }
        Ok(out)
    }

    /// Model `name` at `version` (latest when `None`); `None` if absent.
    pub async fn model(&self, name: &str, version: Option<u32>) -> Result<Option<StoredModel>> {
        let version = match version {
            Some(v) => v,
            None => match self.model_versions(name).await?.last() {
                Some(&v) => v,
                None => return Ok(None),
            },
        };
        let dir = Self::version_dir(name, version);
        let Some(json) = self.get(&format!("{dir}/model.json")).await? else {
            return Ok(None);
        };
        let meta: ModelMeta = serde_json::from_slice(&json).map_err(|e| {
            self.error(
                &format!("{dir}/model.json"),
                format!("unreadable model: {e}"),
            )
        })?;
        let file = format!("{dir}/centroids.parquet");
        let Some(bytes) = self.get(&file).await? else {
            return Err(self.error(&file, "missing: the model's parameters are gone"));
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .and_then(|b| b.build())
            .map_err(|e| self.error(&file, format!("unreadable parameters: {e}")))?;
        let dims = microseg_udfs::model::dims(&meta.features);
        let mut centroids = vec![0.0; meta.k * dims];
        let mut sizes = vec![0u64; meta.k];
        for batch in reader {
            let batch =
                batch.map_err(|e| self.error(&file, format!("unreadable parameters: {e}")))?;
            let ids = batch.column(0).as_primitive::<Int32Type>();
            let size = batch.column(1).as_primitive::<UInt64Type>();
            for row in 0..batch.num_rows() {
                let j = (ids.value(row) - 1) as usize;
                if j >= meta.k || batch.num_columns() != dims + 2 {
                    return Err(self.error(&file, "parameters do not match model.json"));
                }
                sizes[j] = size.value(row);
                for dim in 0..dims {
                    let col = batch.column(dim + 2).as_primitive::<Float64Type>();
                    centroids[j * dims + dim] = if col.is_null(row) {
                        0.0
                    } else {
                        col.value(row)
                    };
                }
            }
        }
        let has_trees = meta.model_type == BOOSTED
            || (meta.model_type == UPLIFT
                && meta.options.get("base_model").map(String::as_str) == Some(BOOSTED));
        let trees = if has_trees {
            let file = format!("{dir}/trees.parquet");
            let Some(bytes) = self.get(&file).await? else {
                return Err(self.error(&file, "missing: the model's trees are gone"));
            };
            Some(super::trees::read(bytes).map_err(|e| self.error(&file, e))?)
        } else {
            None
        };
        let recommender = if meta.model_type == "recommender" {
            Some(Arc::new(self.recommender(&dir, &meta).await?))
        } else {
            None
        };
        let linkage = if meta.model_type == LINKAGE {
            let file = format!("{dir}/{LINKAGE_FILE}");
            let Some(bytes) = self.get(&file).await? else {
                return Err(self.error(&file, "missing: the model's parameters are gone"));
            };
            let model: LinkageModel = serde_json::from_slice(&bytes)
                .map_err(|e| self.error(&file, format!("unreadable linkage model: {e}")))?;
            Some(Arc::new(model))
        } else {
            None
        };
        let stored = StoredModel {
            meta,
            centroids,
            sizes,
            trees,
            recommender,
            linkage,
        };
        if stored.meta.model_type == UPLIFT && super::uplifts::unpack(&stored).is_none() {
            return Err(self.error(
                &format!("{dir}/model.json"),
                "the uplift model's parts do not match its parameters",
            ));
        }
        Ok(Some(stored))
    }

    /// Stores a new version (parameters first, then the JSON that commits it).
    pub async fn put_model(&self, model: &StoredModel) -> Result<()> {
        let dir = Self::version_dir(&model.meta.name, model.meta.version);
        let dims = microseg_udfs::model::dims(&model.meta.features);
        self.put(
            &format!("{dir}/centroids.parquet"),
            centroids_parquet(&model.centroids, &model.sizes, dims)?,
        )
        .await?;
        if let Some(trees) = &model.trees {
            self.put(&format!("{dir}/trees.parquet"), super::trees::write(trees)?)
                .await?;
        }
        if let Some(recommender) = &model.recommender {
            let (interactions, keys) = super::recommenders::encode(&recommender.data)?;
            self.put(
                &format!("{dir}/{}", super::recommenders::INTERACTIONS),
                interactions,
            )
            .await?;
            self.put(&format!("{dir}/{}", super::recommenders::KEYS), keys)
                .await?;
            if let Some(factors) = recommender.factors() {
                let bytes =
                    super::recommenders::encode_factors(factors, recommender.settings.als.factors)?;
                self.put(&format!("{dir}/{}", super::recommenders::FACTORS), bytes)
                    .await?;
            }
        }
        if let Some(linkage) = &model.linkage {
            let json = serde_json::to_vec_pretty(linkage.as_ref())
                .map_err(|e| Error::Usage(e.to_string()))?;
            self.put(&format!("{dir}/{LINKAGE_FILE}"), json).await?;
        }
        let json =
            serde_json::to_vec_pretty(&model.meta).map_err(|e| Error::Usage(e.to_string()))?;
        self.put(&format!("{dir}/model.json"), json).await
    }

    /// A recommender's interactions, keys and ALS factors, with its
    /// settings from `model.json`; its derived tables are computed on
    /// first use (models stored without factors fit them then).
    async fn recommender(&self, dir: &str, meta: &ModelMeta) -> Result<Recommender> {
        use super::recommenders::{FACTORS, INTERACTIONS, KEYS, decode, decode_factors};
        let mut files = Vec::new();
        for file in [INTERACTIONS, KEYS] {
            let path = format!("{dir}/{file}");
            match self.get(&path).await? {
                Some(bytes) => files.push(bytes),
                None => return Err(self.error(&path, "missing: the model's interactions are gone")),
            }
        }
        let keys = files.pop().unwrap_or_default();
        let interactions = files.pop().unwrap_or_default();
        let segmented = meta.options.get("segment").map(String::as_str) == Some("true");
        let data = decode(interactions, keys, segmented).map_err(|e| {
            self.error(&format!("{dir}/{INTERACTIONS}"), format!("unreadable: {e}"))
        })?;
        let settings = recommender_settings(&meta.options)
            .map_err(|e| self.error(&format!("{dir}/model.json"), e))?;
        let path = format!("{dir}/{FACTORS}");
        let factors = match self.get(&path).await? {
            Some(bytes) => Some(
                decode_factors(
                    bytes,
                    data.customers.len(),
                    data.items.len(),
                    settings.als.factors,
                )
                .map_err(|e| self.error(&path, format!("unreadable: {e}")))?,
            ),
            None => None,
        };
        Ok(Recommender::with_factors(data, settings, factors))
    }

    /// Deletes every version of `name`; `false` if there was none.
    pub async fn drop_model(&self, name: &str) -> Result<bool> {
        let files = self.list_all(&format!("{DIR}/{name}")).await?;
        if files.is_empty() {
            return Ok(false);
        }
        // The JSON files first, so a half-finished drop leaves no version
        // that looks complete but lacks its parameters.
        let (json, rest): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| f.ends_with(".json"));
        for file in json.into_iter().chain(rest) {
            self.delete(&format!("{DIR}/{name}/{file}")).await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(parse_reference("Cust@2").unwrap(), ("cust".into(), Some(2)));
        assert_eq!(parse_reference("cust").unwrap(), ("cust".into(), None));
        assert!(parse_reference("cust@0").is_err());
        assert!(parse_reference("cust@x").is_err());
        assert!(parse_reference("bad-name").is_err());
    }
}
