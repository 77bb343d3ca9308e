//! A recommender as the engine binds it: the kernel's model with its name
//! and the SQL types of its keys, so results give customers and items back
//! as the training query gave them.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};

use super::recommend::Recommender;

/// A fitted recommender (`model_type 'recommender'`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommenderModel {
    /// `name@version`.
    pub label: String,
    /// Whether customer keys were integers (else text).
    pub integer_customers: bool,
    /// Whether item keys were integers (else text).
    pub integer_items: bool,
    /// The model (shared by every plan bound to it; serialized by value).
    #[serde(with = "shared")]
    pub model: Arc<Recommender>,
}

/// Serde for the shared model without serde's `rc` feature, which would
/// change serde's build for the whole dependency tree.
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Recommender;

    pub fn serialize<S: Serializer>(model: &Arc<Recommender>, s: S) -> Result<S::Ok, S::Error> {
        model.as_ref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Recommender>, D::Error> {
        Recommender::deserialize(d).map(Arc::new)
    }
}

impl RecommenderModel {
    /// The SQL type of customer keys.
    pub fn customer_type(&self) -> DataType {
        key_type(self.integer_customers)
    }

    /// The SQL type of item keys.
    pub fn item_type(&self) -> DataType {
        key_type(self.integer_items)
    }
}

fn key_type(integer: bool) -> DataType {
    if integer {
        DataType::Int64
    } else {
        DataType::Utf8
    }
}
