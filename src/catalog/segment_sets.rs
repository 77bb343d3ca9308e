//! Segment sets: named, ordered lists of `'label' WHEN predicate` rules,
//! stored as JSON under `_microseg/segment_sets/<name>.json`.
//!
//! `segment_of('set')` and `segments_of('set')` are expanded in the SQL
//! syntax tree, before DataFusion plans the statement, into the equivalent
//! `CASE` expression. Rule predicates are SQL text that must be resolved
//! against the columns of whatever relation the call sits in, with the
//! session's functions; the SQL planner is the one place that can do that.
//! What reaches the optimizer, the physical plan and (later) a distributed
//! worker is therefore plain `CASE`, as fast as hand-written SQL.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use datafusion::common::{DataFusionError, SchemaError, plan_datafusion_err, plan_err};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, FunctionArguments, visit_expressions};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde::{Deserialize, Serialize};

use super::Catalog;
use super::rewrite::{self, Call};
use crate::error::{Error, Result};

/// The folder of segment sets inside `_microseg/`.
const DIR: &str = "segment_sets";

/// The function that gives the first matching label.
pub const SEGMENT_OF: &str = "segment_of";
/// The function that gives every matching label.
pub const SEGMENTS_OF: &str = "segments_of";

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
    fn first_match_sql(&self) -> String {
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
    fn all_matches_sql(&self) -> String {
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

    /// Every column name the rule `label`'s predicate mentions.
    fn columns_of(&self, rule: &SegmentRule, dialect: &dyn Dialect) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        if let Ok(expr) = parse_predicate(&rule.predicate, dialect) {
            let _ = visit_expressions(&expr, |e| {
                match e {
                    SqlExpr::Identifier(id) => {
                        names.insert(id.value.to_lowercase());
                    }
                    SqlExpr::CompoundIdentifier(parts) => {
                        if let Some(last) = parts.last() {
                            names.insert(last.value.to_lowercase());
                        }
                    }
                    _ => {}
                }
                ControlFlow::<()>::Continue(())
            });
        }
        names
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

/// The segment sets one statement uses, loaded for its expansion.
#[derive(Debug, Default)]
pub struct UsedSets {
    sets: BTreeMap<String, SegmentSet>,
}

impl UsedSets {
    /// Whether the statement uses no segment set.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// If `expr` is a call of `segment_of`/`segments_of`, which one and the set name.
fn segment_call(
    call: &Call<'_>,
) -> Option<std::result::Result<(&'static str, String), DataFusionError>> {
    let function = call.function()?;
    let name = function.name.to_string().to_lowercase();
    let which = match name.as_str() {
        SEGMENT_OF => SEGMENT_OF,
        SEGMENTS_OF => SEGMENTS_OF,
        _ => return None,
    };
    let args = match &function.args {
        FunctionArguments::List(list) => list.args.as_slice(),
        _ => &[],
    };
    if function.over.is_some() {
        return Some(Err(plan_datafusion_err!(
            "{which} is not a window function: drop the OVER clause"
        )));
    }
    if args.len() != 1 {
        return Some(Err(plan_datafusion_err!(
            "{which}: expected 1 argument (the segment set's name), got {}",
            args.len()
        )));
    }
    Some(match rewrite::string_literal(&args[0]) {
        Some(set) => Ok((which, set.to_lowercase())),
        None => Err(plan_datafusion_err!(
            "{which}: argument 1 (set_name) must be a string literal naming a segment set, got {}",
            args[0]
        )),
    })
}

/// Loads every segment set `statement` refers to. Unknown names are an
/// error listing the sets that exist.
pub async fn load_used(catalog: &Catalog, statement: &mut DFStatement) -> Result<UsedSets> {
    let mut names = BTreeSet::new();
    if !rewrite::calls_any(statement, &[SEGMENT_OF, SEGMENTS_OF]) {
        return Ok(UsedSets::default());
    }
    rewrite::for_each_call(statement, &mut |call| match segment_call(&call) {
        Some(Ok((_, set))) => {
            names.insert(set);
            Ok(())
        }
        Some(Err(err)) => Err(err),
        None => Ok(()),
    })?;
    let mut used = UsedSets::default();
    for name in names {
        match catalog.segment_set(&name).await? {
            Some(set) => {
                used.sets.insert(name, set);
            }
            None => {
                let known: Vec<String> = catalog
                    .segment_sets()
                    .await?
                    .into_iter()
                    .map(|s| s.name)
                    .collect();
                let known = if known.is_empty() {
                    "none exist yet: CREATE SEGMENT SET defines one".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                };
                return Err(usage(format!("unknown segment set '{name}' ({known})")));
            }
        }
    }
    Ok(used)
}

/// Replaces every `segment_of('set')` / `segments_of('set')` in `statement`
/// with the expression it stands for.
pub fn expand(statement: &mut DFStatement, used: &UsedSets, dialect: &dyn Dialect) -> Result<()> {
    if used.is_empty() {
        return Ok(());
    }
    rewrite::for_each_call(statement, &mut |call| {
        let (which, name) = match segment_call(&call) {
            Some(Ok(found)) => found,
            Some(Err(err)) => return Err(err),
            None => return Ok(()),
        };
        let Some(set) = used.sets.get(&name) else {
            return Err(plan_datafusion_err!("segment set '{name}' was not loaded"));
        };
        let sql = if which == SEGMENT_OF {
            set.first_match_sql()
        } else {
            set.all_matches_sql()
        };
        let expanded = parse_predicate(&sql, dialect).map_err(|msg| {
            plan_datafusion_err!("segment set '{name}' does not expand to valid SQL: {msg}")
        })?;
        if let Call::Scalar(expr) = call {
            *expr = SqlExpr::Nested(Box::new(expanded));
        }
        Ok(())
    })
}

/// Turns "no field named X" from planning an expanded statement into an
/// error naming the set and the rule that mention X.
pub fn explain_planning_error(
    err: DataFusionError,
    used: &UsedSets,
    dialect: &dyn Dialect,
) -> Error {
    let Some((missing, valid)) = missing_field(&err) else {
        return err.into();
    };
    for set in used.sets.values() {
        for rule in &set.rules {
            if set
                .columns_of(rule, dialect)
                .contains(&missing.to_lowercase())
            {
                return usage(format!(
                    "segment set '{}', rule '{}' ({}): column {missing} is not in the relation it is applied to (available: {valid})",
                    set.name, rule.label, rule.predicate
                ));
            }
        }
    }
    err.into()
}

fn missing_field(err: &DataFusionError) -> Option<(String, String)> {
    match err {
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => Some((
                field.name.clone(),
                valid_fields
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
            _ => None,
        },
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            missing_field(inner)
        }
        DataFusionError::Shared(inner) => missing_field(inner),
        _ => None,
    }
}

/// Rejects names at parse time with the same wording as [`validate_name`].
pub fn check_name(name: &str) -> datafusion::common::Result<()> {
    validate_name(name).or_else(|e| plan_err!("{e}"))
}
