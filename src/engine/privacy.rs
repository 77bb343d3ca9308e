//! What the engine knows of the lake's privacy settings, from one place.
//!
//! The `[privacy]` section of `microseg.toml` (entity key, personal
//! columns) is read by the lake's config; until it is wired here, these
//! are the defaults every lake without the section gets.

use crate::lake::Lake;

/// The entity key when a lake does not name one.
pub const DEFAULT_ENTITY_KEY: &str = "customer_id";

/// The column that identifies a person, in every table that has it.
pub fn entity_key(_lake: &Lake) -> String {
    DEFAULT_ENTITY_KEY.to_string()
}

/// The declared personal columns, as `table.column` (none by default).
pub fn personal_columns(_lake: &Lake) -> Vec<String> {
    Vec::new()
}
