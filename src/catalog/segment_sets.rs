//! Segment sets: named, ordered lists of `'label' WHEN predicate` rules,
//! stored as JSON under `_microseg/segment_sets/<name>.json`.
//!
//! `segment_of('set')` and `segments_of('set')` stay calls in the logical
//! plan (so a view or prepared statement keeps naming the set); the
//! engine's analyzer rule (`planning::bind`) replaces each by the
//! equivalent `CASE`, resolved against the relation the call sits in, with
//! the set's rules as they are when the plan runs. What reaches the
//! optimizer, the physical plan and a distributed worker is plain `CASE`,
//! as fast as hand-written SQL.

use std::collections::BTreeSet;

use datafusion::common::plan_err;
use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde::{Deserialize, Serialize};

use super::Catalog;
use crate::error::{Error, Result};

/// The folder of segment sets inside `_microseg/`.
pub(super) const DIR: &str = "segment_sets";

/// One rule: rows where `predicate` is true get `label`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRule {
    /// The segment's name, as it appears in results.
    pub label: String,
    /// A SQL boolean expression over the columns of the relation the set is
    /// applied to, as the user wrote it (normalized by the SQL printer).
    pub predicate: String,
}

/// A named segment set, as stored and as `DESCRIBE SEGMENT SET` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentSet {
    /// The set's name: lower case letters, digits and `_`.
    pub name: String,
    /// Rules in priority order: `segment_of` takes the first that matches.
    pub rules: Vec<SegmentRule>,
    /// The label of rows no rule matches; `None` leaves them NULL.
    pub else_label: Option<String>,
    /// When the set was created (RFC 3339, UTC).
    pub created_at: String,
}

impl SegmentSet {
    /// Checks the name, the labels and that every predicate parses, so a
    /// broken set is refused at `CREATE`, not at first use.
    pub fn validate(&self, dialect: &dyn Dialect) -> Result<()> {
        validate_name(&self.name)?;
        if self.rules.is_empty() {
            return Err(usage(format!(
                "segment set {}: needs at least one 'label' WHEN predicate rule",
                self.name
            )));
        }
        let mut seen = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.label.is_empty() {
                return Err(usage(format!(
                    "segment set {}: rule {} has an empty label",
                    self.name,
                    i + 1
                )));
            }
            if !seen.insert(rule.label.as_str()) {
                return Err(usage(format!(
                    "segment set {}: label '{}' is used by more than one rule (combine the predicates with OR)",
                    self.name, rule.label
                )));
            }
            parse_predicate(&rule.predicate, dialect).map_err(|e| {
                usage(format!(
                    "segment set {}: rule '{}': predicate {} does not parse: {e}",
                    self.name, rule.label, rule.predicate
                ))
            })?;
        }
        if let Some(label) = &self.else_label
            && seen.contains(label.as_str())
        {
            return Err(usage(format!(
                "segment set {}: ELSE label '{label}' is also a rule's label",
                self.name
            )));
        }
        Ok(())
    }

    /// The `CASE` expression `segment_of` stands for.
    pub fn first_match_sql(&self) -> String {
        let mut sql = String::from("CASE");
        for rule in &self.rules {
            sql.push_str(&format!(
                " WHEN ({}) THEN {}",
                rule.predicate,
                quote(&rule.label)
            ));
        }
        if let Some(label) = &self.else_label {
            sql.push_str(&format!(" ELSE {}", quote(label)));
        }
        sql.push_str(" END");
        sql
    }

    /// The list expression `segments_of` stands for: one `CASE` per rule,
    /// NULLs (rules that did not match) compacted away. The ELSE label is
    /// the list's only element when no rule matched.
    pub fn all_matches_sql(&self) -> String {
        let mut items: Vec<String> = self
            .rules
            .iter()
            .map(|r| format!("CASE WHEN ({}) THEN {} END", r.predicate, quote(&r.label)))
            .collect();
        if let Some(label) = &self.else_label {
            let mut none = String::from("CASE");
            for rule in &self.rules {
                none.push_str(&format!(" WHEN ({}) THEN NULL", rule.predicate));
            }
            none.push_str(&format!(" ELSE {} END", quote(label)));
            items.push(none);
        }
        // The cast keeps the element type Utf8 even when every item is NULL.
        format!(
            "array_compact(CAST(make_array({}) AS VARCHAR[]))",
            items.join(", ")
        )
    }
}

fn usage(message: String) -> Error {
    Error::Usage(message)
}

/// Names become file names in the lake, so they are kept to a portable set.
pub fn validate_name(name: &str) -> Result<()> {
    Catalog::check_name("segment set", name)
}

fn parse_predicate(text: &str, dialect: &dyn Dialect) -> std::result::Result<SqlExpr, String> {
    let mut parser = Parser::new(dialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())?;
    let expr = parser.parse_expr().map_err(|e| e.to_string())?;
    match parser.peek_token().token {
        datafusion::sql::sqlparser::tokenizer::Token::EOF => Ok(expr),
        other => Err(format!("unexpected '{other}' after the expression")),
    }
}

/// A SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Catalog {
    fn segment_set_file(name: &str) -> String {
        format!("{DIR}/{name}.json")
    }

    /// The set called `name`, if it exists.
    pub async fn segment_set(&self, name: &str) -> Result<Option<SegmentSet>> {
        let file = Self::segment_set_file(name);
        let Some(bytes) = self.get(&file).await? else {
            return Ok(None);
        };
        let set: SegmentSet = serde_json::from_slice(&bytes)
            .map_err(|e| self.error(&file, format!("unreadable segment set: {e}")))?;
        Ok(Some(set))
    }

    /// Every stored set, sorted by name.
    pub async fn segment_sets(&self) -> Result<Vec<SegmentSet>> {
        let mut sets = Vec::new();
        for file in self.list(DIR).await? {
            let Some(name) = file.strip_suffix(".json") else {
                continue;
            };
            if let Some(set) = self.segment_set(name).await? {
                sets.push(set);
            }
        }
        Ok(sets)
    }

    /// Stores `set`; fails if it exists unless `replace`.
    pub async fn put_segment_set(&self, set: &SegmentSet, replace: bool) -> Result<()> {
        if !replace && self.segment_set(&set.name).await?.is_some() {
            return Err(usage(format!(
                "segment set {} already exists (use CREATE OR REPLACE SEGMENT SET to change it)",
                set.name
            )));
        }
        let json = serde_json::to_vec_pretty(set).map_err(|e| usage(e.to_string()))?;
        self.put(&Self::segment_set_file(&set.name), json).await
    }

    /// Deletes the set `name`; `false` if there was none.
    pub async fn drop_segment_set(&self, name: &str) -> Result<bool> {
        self.delete(&Self::segment_set_file(name)).await
    }
}

/// Rejects names at parse time with the same wording as [`validate_name`].
pub fn check_name(name: &str) -> datafusion::common::Result<()> {
    validate_name(name).or_else(|e| plan_err!("{e}"))
}
