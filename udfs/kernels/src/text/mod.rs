//! Text kernels for identity resolution and ad-platform uploads: no
//! DataFusion, so the record-linkage model can call them row by row too.
//!
//! - [`email`]: Customer Match upload normalization and the matching
//!   normalizer (two rule sets, kept apart on purpose)
//! - [`phone`]: E.164 for a documented set of regions
//! - [`name`]: accent folding and name normalization for matching
//! - [`similarity`]: Jaro–Winkler and (unrestricted) Damerau–Levenshtein
//! - [`metaphone`]: Double Metaphone

pub mod email;
pub mod metaphone;
pub mod name;
pub mod phone;
pub mod similarity;
