//! What a role may run, decided on the planned statement.
//!
//! Text matching would be fooled by comments, CTEs or a view; the plan
//! says exactly what a statement does. Every node is visited, subqueries
//! and views included, because a write or a foreign path can hide in any.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{ViewTable, source_as_provider};
use datafusion::logical_expr::{LogicalPlan, Statement};

use datafusion::datasource::listing::ListingTableUrl;

use datafusion::optimizer::AnalyzerRule;

use crate::catalog::CATALOG_DIR;
use crate::catalog::audit::TABLE as AUDIT_TABLE;
use crate::engine::{Planned, Policy};
use crate::lake::LakeLocation;
use crate::lake::PrivacyConfig;
use crate::planning::privacy::ReaderRule;
use crate::statements::MicrosegStatement;

use super::users::Role;

/// Settings a reader may change: they shape how results look, not how much
/// the engine may use.
const READER_SETTABLE: &[&str] = &["datafusion.execution.time_zone", "timezone", "time_zone"];

/// `Ok` when `role` may run `planned`; otherwise what was refused, for the
/// PermissionDenied message.
pub fn authorize(role: Role, planned: &Planned, lake: &LakeLocation) -> Result<(), String> {
    if role == Role::Analyst {
        return Ok(());
    }
    let refused = |what: &str| refused(role, what);
    match planned {
        Planned::Microseg(statement) => match statement {
            MicrosegStatement::ShowLake
            | MicrosegStatement::ShowSegmentSets
            | MicrosegStatement::DescribeSegmentSet(_)
            | MicrosegStatement::ShowModels
            | MicrosegStatement::DescribeModel(_)
            | MicrosegStatement::ShowIdentityGraphs
            | MicrosegStatement::DescribeIdentityGraph(_) => Ok(()),
            MicrosegStatement::CreateSegmentSet { .. } => Err(refused("CREATE SEGMENT SET")),
            MicrosegStatement::DropSegmentSet { .. } => Err(refused("DROP SEGMENT SET")),
            MicrosegStatement::CreateModel { .. } => Err(refused("CREATE MODEL")),
            MicrosegStatement::DropModel { .. } => Err(refused("DROP MODEL")),
            MicrosegStatement::CreateIdentityGraph { .. } => Err(refused("CREATE IDENTITY GRAPH")),
            MicrosegStatement::DropIdentityGraph { .. } => Err(refused("DROP IDENTITY GRAPH")),
            MicrosegStatement::ForgetCustomer { .. } => Err(refused(
                "FORGET CUSTOMER (erasure is for analysts: ask one, or run `microseg forget` on the lake)",
            )),
        },
        Planned::DataFusion(plan) => check_plan(plan, lake, role),
    }
}

/// The engine-side rules of a reader's session: the same plan checks,
/// applied to every statement the engine plans (`CREATE MODEL`'s training
/// query included), and paths named as tables
/// refused before they are opened when they lie outside the lake.
///
/// Its analyzer rule is issue 15's reader rule
/// ([`crate::planning::privacy::ReaderRule`]): aggregates over at least
/// `min_group_size` customers only.
#[derive(Debug)]
pub struct ReaderPolicy {
    lake: LakeLocation,
    privacy: PrivacyConfig,
}

impl ReaderPolicy {
    /// The reader rules over `lake`, with the lake's `[privacy]` settings.
    pub fn new(lake: LakeLocation, privacy: PrivacyConfig) -> Self {
        ReaderPolicy { lake, privacy }
    }
}

impl Policy for ReaderPolicy {
    fn authorize(&self, planned: &Planned) -> Result<(), String> {
        authorize(Role::Reader, planned, &self.lake)
    }

    fn read_path(&self, url: &ListingTableUrl) -> Result<(), String> {
        no_paths(Role::Reader, url, &self.lake)
    }

    fn analyzer_rules(&self) -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
        vec![Arc::new(ReaderRule::new(&self.privacy))]
    }
}

/// No path at all, inside the lake or not: a file read by path has no
/// privacy settings, and the lake's tables are there by name.
fn no_paths(role: Role, url: &ListingTableUrl, lake: &LakeLocation) -> Result<(), String> {
    let what = if in_catalog(url, lake) {
        format!(
            "a query reading {url}: microseg's own records (audit log, suppression list) are for analysts"
        )
    } else if lake.contains(url) {
        format!("a query reading {url} by path (query the lake's tables by name)")
    } else {
        format!("a query reading {url}, outside the lake")
    };
    Err(refused(role, &what))
}

/// A marketer's session: what a reader may run (no writes, no paths, no
/// audit log), but customer-level rows, of the customers whose latest
/// consent for the user's purpose is granted
/// ([`crate::planning::ConsentRule`]), from customer tables and
/// `public_tables` only.
#[derive(Debug)]
pub struct MarketerPolicy {
    lake: LakeLocation,
    consent: Arc<crate::planning::ConsentRule>,
}

impl MarketerPolicy {
    /// The marketer rules over `lake` with `consent`, the purpose's filter.
    pub fn new(lake: LakeLocation, consent: crate::planning::ConsentRule) -> Self {
        MarketerPolicy {
            lake,
            consent: Arc::new(consent),
        }
    }
}

impl Policy for MarketerPolicy {
    fn authorize(&self, planned: &Planned) -> Result<(), String> {
        authorize(Role::Marketer, planned, &self.lake)
    }

    fn read_path(&self, url: &ListingTableUrl) -> Result<(), String> {
        no_paths(Role::Marketer, url, &self.lake)
    }

    fn analyzer_rules(&self) -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
        vec![self.consent.clone()]
    }
}

/// Whether `url` lies in the lake's `_microseg/` folder.
fn in_catalog(url: &ListingTableUrl, lake: &LakeLocation) -> bool {
    let catalog = lake.url_of(CATALOG_DIR);
    let catalog = catalog.trim_end_matches('/');
    let url = url.as_str();
    url.strip_prefix(catalog)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn refused(role: Role, what: &str) -> String {
    format!("role {role} may not run {what}")
}

fn check_plan(plan: &LogicalPlan, lake: &LakeLocation, role: Role) -> Result<(), String> {
    let mut verdict = Ok(());
    let visit = plan.apply_with_subqueries(|node| {
        let result = check_node(node, lake, role);
        if result.is_err() {
            verdict = result;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    if let Err(e) = visit {
        return Err(format!("cannot inspect the plan: {e}"));
    }
    verdict
}

fn check_node(node: &LogicalPlan, lake: &LakeLocation, role: Role) -> Result<(), String> {
    let refused = |what: &str| refused(role, what);
    match node {
        LogicalPlan::Ddl(ddl) => Err(refused(&format!("DDL ({})", ddl.name()))),
        LogicalPlan::Dml(dml) => Err(refused(&format!("DML ({})", dml.op))),
        LogicalPlan::Copy(_) => Err(refused("COPY")),
        LogicalPlan::Statement(statement) => match statement {
            Statement::SetVariable(set) => {
                let name = set.variable.to_ascii_lowercase();
                if READER_SETTABLE.contains(&name.as_str()) {
                    Ok(())
                } else {
                    Err(refused(&format!("SET {}", set.variable)))
                }
            }
            Statement::ResetVariable(reset) => Err(refused(&format!("RESET {}", reset.variable))),
            // Transactions are no-ops in DataFusion; PREPARE's own plan is
            // visited as a child, EXECUTE runs a plan already checked.
            _ => Ok(()),
        },
        LogicalPlan::TableScan(scan) if scan.table_name.table() == AUDIT_TABLE => Err(refused(
            &format!("a query reading {AUDIT_TABLE} (the audit log is for analysts)"),
        )),
        LogicalPlan::TableScan(scan) => match source_as_provider(&scan.source) {
            Ok(provider) => check_provider(&provider, &scan.table_name.to_string(), lake, role),
            // Not a provider-backed source: nothing that reads files.
            Err(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Files read by a table must lie inside the lake; views are checked
/// through their defining plans, which DataFusion inlines later.
fn check_provider(
    provider: &Arc<dyn TableProvider>,
    name: &str,
    lake: &LakeLocation,
    role: Role,
) -> Result<(), String> {
    let refused = |what: &str| refused(role, what);
    if let Some(listing) = provider.downcast_ref::<ListingTable>() {
        for url in listing.table_paths() {
            if in_catalog(url, lake) {
                return Err(refused(&format!(
                    "a query reading {url} (table {name}): microseg's own records are for analysts"
                )));
            }
            if !lake.contains(url) {
                return Err(refused(&format!(
                    "a query reading {url} (table {name}), outside the lake"
                )));
            }
        }
    } else if let Some(view) = provider.downcast_ref::<ViewTable>() {
        check_plan(view.logical_plan(), lake, role)?;
    }
    Ok(())
}
