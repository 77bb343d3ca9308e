//! The reader rule's walk: provenance of every node, bottom-up, the checks
//! on its expressions, and the count added to aggregates (see `mod.rs`).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::count_distinct;
use datafusion::logical_expr::expr::InSubquery;
use datafusion::logical_expr::{
    Aggregate, Distinct, Expr, Filter, JoinType, LogicalPlan, Operator, Projection, ScalarUDF,
    Subquery, col, lit,
};

use super::filters;
use super::scope::{Scope, compared, counts_only, has_subquery, passes_column};
use super::small_groups::RequireGroup;
use super::{ReaderSettings, refused};
use crate::lake::SmallGroups;

/// Who the rows of a node are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// No one.
    Public,
    /// One person each, whose key is this output column.
    Entity(usize),
    /// People whose key is no longer in the rows.
    Lost,
    /// At least the minimum of people each.
    Grouped,
}

use Provenance::{Entity, Grouped, Lost, Public};

impl Provenance {
    fn about_people(self) -> bool {
        matches!(self, Entity(_) | Lost)
    }
}

/// A node's provenance and, per output column, whether it is sensitive.
#[derive(Debug, Clone)]
struct Facts {
    provenance: Provenance,
    sensitive: Vec<bool>,
}

impl Facts {
    fn safe(provenance: Provenance, width: usize) -> Facts {
        Facts {
            provenance,
            sensitive: vec![false; width],
        }
    }
}

/// DataFusion's table functions that read no data.
const GENERATORS: &[&str] = &["generate_series()", "range()"];
/// `also_bought(…)`'s scan and the count of customers behind each row.
const ALSO_BOUGHT: &str = "also_bought()";
const ALSO_BOUGHT_COUNT: &str = "customers_both";

/// The hidden count of distinct entities behind a group.
const ENTITIES: &str = "__microseg_entities";

/// One walk over a plan.
pub(super) struct Tracker<'a> {
    settings: &'a ReaderSettings,
}

impl<'a> Tracker<'a> {
    pub(super) fn new(settings: &'a ReaderSettings) -> Self {
        Tracker { settings }
    }

    /// `plan` with counts added, and its provenance; or the refusal.
    pub(super) fn rewrite(&self, plan: LogicalPlan) -> Result<(LogicalPlan, Provenance)> {
        let (plan, facts) = self.node(plan)?;
        if matches!(facts.provenance, Public | Grouped) && facts.sensitive.iter().any(|s| *s) {
            // Flags are cleared on Public and Grouped rows; fail closed anyway.
            return Err(output_refused());
        }
        Ok((plan, facts.provenance))
    }

    fn node(&self, plan: LogicalPlan) -> Result<(LogicalPlan, Facts)> {
        match &plan {
            // Shows the plan, runs nothing.
            LogicalPlan::Explain(_)
            | LogicalPlan::DescribeTable(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_) => {
                let width = plan.schema().fields().len();
                return Ok((plan, Facts::safe(Public, width)));
            }
            LogicalPlan::Analyze(_) => {
                return Err(refused(
                    "aggregates only",
                    "run EXPLAIN ANALYZE (its row counts are not groups)",
                ));
            }
            _ => {}
        }
        let mut inputs = Vec::new();
        let plan = plan
            .map_children(|child| {
                let (child, facts) = self.node(child)?;
                inputs.push(facts);
                Ok(Transformed::yes(child))
            })?
            .data;
        let plan = self.subqueries(plan, &inputs)?;
        self.judge(plan, inputs)
    }

    /// Rewrites the subqueries in `plan`'s expressions (their aggregates
    /// get counts too) and judges each by what it returns: a scalar
    /// subquery over people is one person's value; `x IN (subquery)` with a
    /// sensitive `x` is a semi-join when the subquery is about people
    /// (counted by the filter rule) and a list of constants otherwise.
    fn subqueries(&self, plan: LogicalPlan, inputs: &[Facts]) -> Result<LogicalPlan> {
        if inputs.is_empty() {
            return Ok(plan);
        }
        let (schema, sensitive, constant) = scope_parts(&plan, inputs)?;
        let scope = Scope {
            schema: &schema,
            sensitive: &sensitive,
            constant: &constant,
        };
        let judged = plan.map_expressions(|e| {
            e.transform_up(|x| match x {
                Expr::ScalarSubquery(sub) => {
                    let (sub, provenance) = self.subquery(sub)?;
                    if provenance.about_people() {
                        return Err(refused(
                            "aggregates only",
                            "use a scalar subquery over customer-level rows",
                        ));
                    }
                    Ok(Transformed::yes(Expr::ScalarSubquery(sub)))
                }
                Expr::InSubquery(InSubquery {
                    expr,
                    subquery,
                    negated,
                }) => {
                    let (subquery, provenance) = self.subquery(subquery)?;
                    if !provenance.about_people() && scope.reads_sensitive(&expr) {
                        return Err(compared());
                    }
                    Ok(Transformed::yes(Expr::InSubquery(InSubquery {
                        expr,
                        subquery,
                        negated,
                    })))
                }
                Expr::Exists(exists) => {
                    let (subquery, _) = self.subquery(exists.subquery)?;
                    Ok(Transformed::yes(Expr::Exists(
                        datafusion::logical_expr::expr::Exists {
                            subquery,
                            negated: exists.negated,
                        },
                    )))
                }
                other => Ok(Transformed::no(other)),
            })
        })?;
        Ok(judged.data)
    }

    fn subquery(&self, sub: Subquery) -> Result<(Subquery, Provenance)> {
        let (inner, provenance) = self.rewrite(Arc::unwrap_or_clone(sub.subquery))?;
        Ok((
            Subquery {
                subquery: Arc::new(inner),
                outer_ref_columns: sub.outer_ref_columns,
                spans: sub.spans,
            },
            provenance,
        ))
    }

    fn judge(&self, plan: LogicalPlan, inputs: Vec<Facts>) -> Result<(LogicalPlan, Facts)> {
        let width = plan.schema().fields().len();
        match plan {
            LogicalPlan::TableScan(ref scan) => {
                let table = scan.table_name.table().to_lowercase();
                let schema = plan.schema();
                // Catalog metadata, and numbers made from nothing.
                if scan.table_name.schema() == Some("information_schema")
                    || GENERATORS.contains(&table.as_str())
                {
                    return Ok((plan, Facts::safe(Public, width)));
                }
                if table == ALSO_BOUGHT {
                    return self.counted_scan(plan, width);
                }
                let sensitive: Vec<bool> = schema
                    .fields()
                    .iter()
                    .map(|f| self.is_personal(&table, &f.name().to_lowercase()))
                    .collect();
                let key = schema
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(&self.settings.key));
                let facts = match key {
                    Some(i) => Facts {
                        provenance: Entity(i),
                        sensitive,
                    },
                    None if self.settings.public.contains(&table) => Facts::safe(Public, width),
                    None => {
                        return Err(refused(
                            "entity-keyed tables",
                            &format!(
                                "read {table}: it has no {} column and is not listed in [privacy] public_tables",
                                self.settings.key
                            ),
                        ));
                    }
                };
                let scope = Scope {
                    schema,
                    sensitive: &facts.sensitive,
                    constant: &vec![false; width],
                };
                for filter in &scan.filters {
                    scope.check(filter)?;
                }
                Ok((plan, facts))
            }
            LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => {
                Ok((plan, Facts::safe(Public, width)))
            }
            LogicalPlan::Projection(ref projection) => {
                let input = &inputs[0];
                let scope = single_scope(projection.input.schema(), input);
                for e in &projection.expr {
                    scope.check(e)?;
                }
                let sensitive = projection
                    .expr
                    .iter()
                    .map(|e| input.provenance.about_people() && scope.reads_sensitive(e))
                    .collect();
                let provenance = match input.provenance {
                    Entity(key) => projection
                        .expr
                        .iter()
                        .position(|e| passes_column(e, &scope, key))
                        .map_or(Lost, Entity),
                    other => other,
                };
                Ok((
                    plan,
                    Facts {
                        provenance,
                        sensitive,
                    },
                ))
            }
            LogicalPlan::Filter(filter) => {
                let input = inputs.into_iter().next().expect("a filter has an input");
                // Forgotten people are not in the data at all: removing
                // them is no group a reader could learn from.
                if crate::planning::suppress::is_guard(&filter.predicate) {
                    return Ok((LogicalPlan::Filter(filter), input));
                }
                single_scope(filter.input.schema(), &input).check(&filter.predicate)?;
                let plan = match input.provenance {
                    Entity(key) if !filter.predicate.contains_outer() => {
                        let subqueries = has_subquery(&filter.predicate);
                        filters::filter(self.settings.min, filter, key, subqueries)?
                    }
                    _ => LogicalPlan::Filter(filter),
                };
                Ok((plan, input))
            }
            LogicalPlan::Sort(ref sort) => {
                let input = inputs.into_iter().next().expect("a sort has an input");
                let scope = single_scope(sort.input.schema(), &input);
                for s in &sort.expr {
                    scope.check(&s.expr)?;
                }
                if sort.fetch.is_some() && input.provenance.about_people() {
                    return Err(limit_refused());
                }
                Ok((plan, input))
            }
            LogicalPlan::Limit(_) => {
                let input = inputs.into_iter().next().expect("a limit has an input");
                if input.provenance.about_people() {
                    return Err(limit_refused());
                }
                Ok((plan, input))
            }
            LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Subquery(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::Distinct(Distinct::All(_)) => {
                let input = inputs.into_iter().next().expect("one input");
                Ok((plan, input))
            }
            LogicalPlan::Window(ref window) => {
                let input = inputs.into_iter().next().expect("a window has an input");
                let scope = single_scope(window.input.schema(), &input);
                let mut sensitive = input.sensitive.clone();
                for e in &window.window_expr {
                    scope.check(e)?;
                    sensitive.push(input.provenance.about_people() && scope.reads_sensitive(e));
                }
                Ok((
                    plan,
                    Facts {
                        provenance: input.provenance,
                        sensitive,
                    },
                ))
            }
            LogicalPlan::Aggregate(aggregate) => {
                let input = inputs
                    .into_iter()
                    .next()
                    .expect("an aggregate has an input");
                self.aggregate(aggregate, input)
            }
            LogicalPlan::Distinct(Distinct::On(_))
            | LogicalPlan::Unnest(_)
            | LogicalPlan::RecursiveQuery(_)
            | LogicalPlan::Extension(_)
                if inputs.iter().any(|f| f.provenance.about_people()) =>
            {
                Err(refused(
                    "aggregates only",
                    "run DISTINCT ON, UNNEST, a recursive query or an extension node over customer-level rows",
                ))
            }
            LogicalPlan::Extension(ref extension) if inputs.is_empty() => {
                // A leaf of ours (table_at): a table like any other.
                let key = extension
                    .node
                    .schema()
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(&self.settings.key));
                match key {
                    Some(i) => {
                        let sensitive = extension
                            .node
                            .schema()
                            .fields()
                            .iter()
                            .map(|f| self.is_personal("", &f.name().to_lowercase()))
                            .collect();
                        Ok((
                            plan,
                            Facts {
                                provenance: Entity(i),
                                sensitive,
                            },
                        ))
                    }
                    None => Err(refused(
                        "entity-keyed tables",
                        &format!(
                            "read a relation without a {} column that is not listed in [privacy] public_tables",
                            self.settings.key
                        ),
                    )),
                }
            }
            LogicalPlan::Join(ref join) => {
                let (left, right) = (&inputs[0], &inputs[1]);
                let both = join.left.schema().join(join.right.schema())?;
                let constant: Vec<bool> = side_constant(left, width_of(&join.left))
                    .chain(side_constant(right, width_of(&join.right)))
                    .collect();
                let sensitive: Vec<bool> = left
                    .sensitive
                    .iter()
                    .chain(&right.sensitive)
                    .copied()
                    .collect();
                let scope = Scope {
                    schema: &both,
                    sensitive: &sensitive,
                    constant: &constant,
                };
                let mut conditions: Vec<Expr> = join
                    .on
                    .iter()
                    .map(|(l, r)| l.clone().eq(r.clone()))
                    .collect();
                conditions.extend(join.filter.iter().cloned());
                for c in &conditions {
                    scope.check(c)?;
                }
                let left_width = width_of(&join.left);
                let provenance = join_provenance(
                    join.join_type,
                    left.provenance,
                    right.provenance,
                    left_width,
                    &conditions,
                    &scope,
                )?;
                let counted = !conditions.iter().any(|c| c.contains_outer());
                let keys = |side: &Facts| match side.provenance {
                    Entity(key) if counted => Some(key),
                    _ => None,
                };
                let (left_key, right_key) = (keys(left), keys(right));
                let sensitive = match join.join_type {
                    JoinType::LeftSemi | JoinType::LeftAnti => left.sensitive.clone(),
                    JoinType::RightSemi | JoinType::RightAnti => right.sensitive.clone(),
                    JoinType::LeftMark => {
                        let mut s = left.sensitive.clone();
                        s.push(false);
                        s
                    }
                    JoinType::RightMark => {
                        let mut s = right.sensitive.clone();
                        s.push(false);
                        s
                    }
                    _ => sensitive,
                };
                // Rule 6: the rows a join drops are a filter's.
                let plan = match plan {
                    LogicalPlan::Join(join) if left_key.is_some() || right_key.is_some() => {
                        filters::join(self.settings.min, join, left_key, right_key)?
                    }
                    other => other,
                };
                Ok((
                    plan,
                    Facts {
                        provenance,
                        sensitive,
                    },
                ))
            }
            LogicalPlan::Union(_) => {
                let sensitive = (0..width)
                    .map(|i| {
                        inputs
                            .iter()
                            .any(|f| f.sensitive.get(i).copied().unwrap_or(true))
                    })
                    .collect();
                let provenance = union_provenance(&inputs)?;
                Ok((
                    plan,
                    Facts {
                        provenance,
                        sensitive,
                    },
                ))
            }
            _ => {
                if inputs.iter().all(|f| f.provenance == Public) {
                    return Ok((plan, Facts::safe(Public, width)));
                }
                if inputs
                    .iter()
                    .all(|f| matches!(f.provenance, Public | Grouped))
                {
                    return Ok((plan, Facts::safe(Grouped, width)));
                }
                Err(refused(
                    "aggregates only",
                    "run this kind of plan node over customer-level rows",
                ))
            }
        }
    }

    /// Whether `column` of `table` is sensitive: the key; a configured
    /// personal column; in a relation not named in `personal_columns` (a
    /// table function, a Delta version), any column named like one.
    fn is_personal(&self, table: &str, column: &str) -> bool {
        let s = self.settings;
        column == s.key
            || s.personal
                .contains(&(table.to_string(), column.to_string()))
            || (!s.personal_tables.contains(table) && s.personal_names.contains(column))
    }

    /// An aggregate over `input`: grouped by the key it stays customer
    /// level; over people otherwise it gets its count and threshold.
    fn aggregate(&self, aggregate: Aggregate, input: Facts) -> Result<(LogicalPlan, Facts)> {
        let scope = single_scope(aggregate.input.schema(), &input);
        for e in aggregate.group_expr.iter().chain(&aggregate.aggr_expr) {
            scope.check(e)?;
        }
        let width = aggregate.schema.fields().len();
        match input.provenance {
            Public | Grouped => {
                let provenance = input.provenance;
                Ok((
                    LogicalPlan::Aggregate(aggregate),
                    Facts::safe(provenance, width),
                ))
            }
            Lost => Err(refused(
                "aggregates only",
                &format!(
                    "aggregate rows whose {} was projected away: keep it in every subquery over customer rows so groups can be counted",
                    self.settings.key
                ),
            )),
            Entity(key) => {
                if let Some(position) = aggregate
                    .group_expr
                    .iter()
                    .position(|e| passes_column(e, &scope, key))
                {
                    // One row per person.
                    let groups = width - aggregate.aggr_expr.len();
                    let sensitive = (0..width)
                        .map(|i| {
                            if i < groups {
                                aggregate
                                    .group_expr
                                    .get(i)
                                    .is_none_or(|e| scope.reads_sensitive(e))
                            } else {
                                let e = &aggregate.aggr_expr[i - groups];
                                !counts_only(e) && scope.reads_sensitive(e)
                            }
                        })
                        .collect();
                    return Ok((
                        LogicalPlan::Aggregate(aggregate),
                        Facts {
                            provenance: Entity(position),
                            sensitive,
                        },
                    ));
                }
                if aggregate
                    .group_expr
                    .iter()
                    .any(|e| scope.reads_sensitive(e))
                {
                    return Err(refused(
                        "aggregates only",
                        "group by the entity key or a personal column",
                    ));
                }
                let plan = self.counted(aggregate, key)?;
                Ok((plan, Facts::safe(Grouped, width)))
            }
        }
    }

    /// The predicate a group of `entities` people passes: at least the
    /// minimum, else dropped (or, `small_groups = "error"`, the query fails).
    fn keep(&self, entities: Expr) -> Expr {
        let min = i64::try_from(self.settings.min).unwrap_or(i64::MAX);
        match self.settings.small_groups {
            SmallGroups::Drop => entities.gt_eq(lit(min)),
            SmallGroups::Error => {
                ScalarUDF::new_from_impl(RequireGroup::new(self.settings.min)).call(vec![entities])
            }
        }
    }

    /// A scan of `also_bought(…)`: each row counts the customers who bought
    /// both items (`customers_both`), and every other count it reveals
    /// (buyers of either item, customers considered) is at least that, so
    /// the rows below the minimum go the way small groups go.
    fn counted_scan(&self, plan: LogicalPlan, width: usize) -> Result<(LogicalPlan, Facts)> {
        let Some((qualifier, field)) = plan
            .schema()
            .iter()
            .find(|(_, f)| f.name() == ALSO_BOUGHT_COUNT)
        else {
            return Err(refused(
                "aggregates only",
                &format!("read also_bought without its {ALSO_BOUGHT_COUNT} column"),
            ));
        };
        let count = Expr::Column(Column::new(qualifier.cloned(), field.name()));
        let filter = Filter::try_new(self.keep(count), Arc::new(plan))?;
        Ok((LogicalPlan::Filter(filter), Facts::safe(Grouped, width)))
    }

    /// `aggregate` with a hidden `count(DISTINCT key)`, the groups below the
    /// minimum dropped (or the query failed), and its own schema restored.
    fn counted(&self, aggregate: Aggregate, key: usize) -> Result<LogicalPlan> {
        let Aggregate {
            input,
            group_expr,
            mut aggr_expr,
            schema,
            ..
        } = aggregate;
        let key_column = Column::from(input.schema().qualified_field(key));
        aggr_expr.push(count_distinct(Expr::Column(key_column)).alias(ENTITIES));
        let counted = Aggregate::try_new(input, group_expr, aggr_expr)?;
        let keep = self.keep(col(ENTITIES));
        let filter = Filter::try_new(keep, Arc::new(LogicalPlan::Aggregate(counted)))?;
        let columns = schema.columns().into_iter().map(Expr::Column).collect();
        Ok(LogicalPlan::Projection(Projection::try_new(
            columns,
            Arc::new(LogicalPlan::Filter(filter)),
        )?))
    }
}

/// Whether `e` holds a subquery (such filters are not counted yet; see `mod.rs`).
fn single_scope<'a>(schema: &'a DFSchema, input: &'a Facts) -> Scope<'a> {
    Scope {
        schema,
        sensitive: &input.sensitive,
        constant: NO_CONSTANTS.get_or_init(|| vec![false; 4096]),
    }
}

static NO_CONSTANTS: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();

fn width_of(plan: &LogicalPlan) -> usize {
    plan.schema().fields().len()
}

/// A join side's columns are constants to the other side when it is about no one.
fn side_constant(side: &Facts, width: usize) -> impl Iterator<Item = bool> {
    std::iter::repeat_n(matches!(side.provenance, Public | Grouped), width)
}

/// The schema and flags a node's expressions see.
fn scope_parts(plan: &LogicalPlan, inputs: &[Facts]) -> Result<(DFSchema, Vec<bool>, Vec<bool>)> {
    if let LogicalPlan::Join(join) = plan {
        let schema = join.left.schema().join(join.right.schema())?;
        let sensitive = inputs[0]
            .sensitive
            .iter()
            .chain(&inputs[1].sensitive)
            .copied()
            .collect();
        let constant = side_constant(&inputs[0], width_of(&join.left))
            .chain(side_constant(&inputs[1], width_of(&join.right)))
            .collect();
        return Ok((schema, sensitive, constant));
    }
    let input = plan.inputs()[0];
    let width = width_of(input);
    Ok((
        input.schema().as_ref().clone(),
        inputs[0].sensitive.clone(),
        vec![false; width],
    ))
}

/// Whether the conditions equate input column `left` with input column `right`.
fn equates(conditions: &[Expr], scope: &Scope, left: usize, right: usize) -> bool {
    conditions.iter().any(|c| {
        datafusion::logical_expr::utils::split_conjunction(c)
            .into_iter()
            .any(|part| match part {
                Expr::BinaryExpr(b) if b.op == Operator::Eq => {
                    let (l, r) = (
                        passes_column(&b.left, scope, left) || passes_column(&b.left, scope, right),
                        passes_column(&b.right, scope, left)
                            || passes_column(&b.right, scope, right),
                    );
                    l && r
                        && !(passes_column(&b.left, scope, left)
                            && passes_column(&b.right, scope, left))
                        && !(passes_column(&b.left, scope, right)
                            && passes_column(&b.right, scope, right))
                }
                _ => false,
            })
    })
}

fn join_provenance(
    join_type: JoinType,
    left: Provenance,
    right: Provenance,
    left_width: usize,
    conditions: &[Expr],
    scope: &Scope,
) -> Result<Provenance> {
    // Semi and anti joins are filters of one side (counted by the filter rule).
    match join_type {
        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => return Ok(left),
        JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => return Ok(right),
        _ => {}
    }
    let shifted = |p: Provenance| match p {
        Entity(i) => Entity(i + left_width),
        other => other,
    };
    Ok(match (left, right) {
        (Lost, _) | (_, Lost) => {
            return Err(refused(
                "aggregates only",
                "join customer rows whose entity key was projected away",
            ));
        }
        (Entity(l), Entity(r)) => {
            if !equates(conditions, scope, l, r + left_width) {
                return Err(refused(
                    "aggregates only",
                    "join two customer-level relations other than on their entity keys",
                ));
            }
            match join_type {
                JoinType::Inner | JoinType::Left => Entity(l),
                JoinType::Right => Entity(r + left_width),
                _ => {
                    return Err(refused(
                        "aggregates only",
                        "full-outer-join two customer-level relations",
                    ));
                }
            }
        }
        (Entity(l), _) => {
            if matches!(join_type, JoinType::Right | JoinType::Full) {
                // Rows of the other side would carry no key.
                return Err(unkeyed_join());
            }
            Entity(l)
        }
        (_, Entity(r)) => {
            if matches!(join_type, JoinType::Left | JoinType::Full) {
                return Err(unkeyed_join());
            }
            shifted(Entity(r))
        }
        (Grouped, _) | (_, Grouped) => Grouped,
        (Public, Public) => Public,
    })
}

fn unkeyed_join() -> datafusion::error::DataFusionError {
    refused(
        "aggregates only",
        "outer-join customer rows so that rows without a customer appear",
    )
}

/// A UNION keeps people's key only if every input has it at one position;
/// mixing people's rows with others would let made-up keys pad a group.
fn union_provenance(inputs: &[Facts]) -> Result<Provenance> {
    let provenances: Vec<Provenance> = inputs.iter().map(|f| f.provenance).collect();
    if provenances.iter().all(|p| *p == Public) {
        return Ok(Public);
    }
    if provenances.iter().all(|p| matches!(p, Public | Grouped)) {
        return Ok(Grouped);
    }
    if let Some(Entity(first)) = provenances.first()
        && provenances.iter().all(|p| *p == Entity(*first))
    {
        return Ok(Entity(*first));
    }
    Err(refused(
        "aggregates only",
        "UNION customer rows with other rows, or with their entity key at another position",
    ))
}

fn limit_refused() -> datafusion::error::DataFusionError {
    refused(
        "aggregates only",
        "use LIMIT or ORDER BY … LIMIT over customer-level rows",
    )
}

fn output_refused() -> datafusion::error::DataFusionError {
    refused(
        "aggregates only",
        "output the entity key or a personal column",
    )
}
