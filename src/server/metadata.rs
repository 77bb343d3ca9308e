//! Catalog metadata for BI tools: catalogs, schemas, tables, table types,
//! SqlInfo and the XDBC type list, read from the session's catalogs.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_flight::sql::metadata::{
    GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder,
    XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTables, Nullable, Searchable, SqlInfo,
    SqlNullOrdering, SqlSupportedCaseSensitivity, SqlSupportedTransaction, XdbcDataType,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::information_schema::{INFORMATION_SCHEMA, INFORMATION_SCHEMA_TABLES};
use datafusion::common::TableReference;
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use tonic::Status;

use super::users::Role;
use super::wire::wire_schema;
use crate::catalog::audit::TABLE as AUDIT_TABLE;
use crate::lake::PrivacyConfig;

/// The table types we report: base tables and views (temporary tables
/// are reported as tables, as clients know no third kind).
pub const TABLE_TYPES: &[&str] = &["TABLE", "VIEW"];

fn arrow_status(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("building metadata: {e}"))
}

/// GetCatalogs: every catalog of the session.
pub fn catalogs(ctx: &SessionContext, query: CommandGetCatalogs) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    let mut names = ctx.catalog_names();
    names.sort();
    for name in names {
        builder.append(name);
    }
    builder.build().map_err(arrow_status)
}

/// The schema of a GetCatalogs result.
pub fn catalogs_schema() -> datafusion::arrow::datatypes::SchemaRef {
    GetCatalogsBuilder::new().schema()
}

/// GetDbSchemas across every catalog, or the one asked for.
pub fn schemas(ctx: &SessionContext, query: CommandGetDbSchemas) -> Result<RecordBatch, Status> {
    let mut builder = query.into_builder();
    for catalog_name in sorted(ctx.catalog_names()) {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in schema_names(ctx, catalog.schema_names()) {
            // The builder applies the client's catalog and pattern filters.
            builder.append(&catalog_name, schema_name);
        }
    }
    builder.build().map_err(arrow_status)
}

/// The schema of a GetDbSchemas result.
pub fn schemas_schema() -> datafusion::arrow::datatypes::SchemaRef {
    GetDbSchemasBuilder::new(None::<String>, None::<String>).schema()
}

/// What GetTables shows a restricted role: only the tables it may read
/// (those with the entity key, `[privacy] public_tables` and
/// `information_schema`; never the audit log), and for a reader not the
/// declared personal columns, which it may not select, group by or filter
/// on. A BI tool then offers nothing the role would be refused.
#[derive(Debug, Clone)]
pub struct Visibility {
    key: String,
    public: HashSet<String>,
    /// (table, column) pairs hidden from the role.
    hidden: HashSet<(String, String)>,
}

impl Visibility {
    /// What `role` may see under `privacy`; `None`: everything (analysts).
    pub fn of(role: Role, privacy: &PrivacyConfig) -> Option<Visibility> {
        let hidden = match role {
            Role::Analyst => return None,
            // An invalid list was refused at open; hide nothing more then.
            Role::Reader => privacy
                .personal_pairs()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            Role::Marketer => HashSet::new(),
        };
        Some(Visibility {
            key: privacy.entity_key.to_lowercase(),
            public: privacy
                .public_tables
                .iter()
                .map(|t| t.to_lowercase())
                .collect(),
            hidden,
        })
    }

    /// The columns of `table` the role sees, or `None` to leave it out.
    fn table(&self, schema_name: &str, table: &str, columns: &SchemaRef) -> Option<SchemaRef> {
        let name = table.to_lowercase();
        if schema_name == INFORMATION_SCHEMA {
            return Some(Arc::clone(columns));
        }
        if name == AUDIT_TABLE {
            return None;
        }
        let keyed = columns
            .fields()
            .iter()
            .any(|f| f.name().eq_ignore_ascii_case(&self.key));
        if !keyed && !self.public.contains(&name) {
            return None;
        }
        let fields: Vec<_> = columns
            .fields()
            .iter()
            .filter(|f| {
                !self
                    .hidden
                    .contains(&(name.clone(), f.name().to_lowercase()))
            })
            .cloned()
            .collect();
        Some(Arc::new(Schema::new_with_metadata(
            fields,
            columns.metadata().clone(),
        )))
    }
}

/// GetTables across every catalog (or the one asked for), with column
/// schemas when asked: the types a client will see in results; for a
/// restricted role what `visibility` lets it see.
pub async fn tables(
    ctx: &SessionContext,
    query: CommandGetTables,
    visibility: Option<&Visibility>,
) -> Result<RecordBatch, Status> {
    let wanted_types: Vec<String> = query.table_types.clone();
    let mut builder = query.into_builder();
    for catalog_name in sorted(ctx.catalog_names()) {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in schema_names(ctx, catalog.schema_names()) {
            let table_names = if schema_name == INFORMATION_SCHEMA {
                INFORMATION_SCHEMA_TABLES
                    .iter()
                    .map(|t| t.to_string())
                    .collect()
            } else {
                match catalog.schema(&schema_name) {
                    Some(schema) => sorted(schema.table_names()),
                    None => continue,
                }
            };
            for table_name in table_names {
                // Through the session, which also resolves information_schema
                // (it lives in the planner, not in the catalog).
                let reference = TableReference::full(
                    catalog_name.as_str(),
                    schema_name.as_str(),
                    table_name.as_str(),
                );
                let table = match ctx.table_provider(reference).await {
                    Ok(table) => table,
                    Err(e) => {
                        return Err(Status::internal(format!(
                            "reading table {catalog_name}.{schema_name}.{table_name}: {e}"
                        )));
                    }
                };
                let columns = match visibility {
                    None => table.schema(),
                    Some(v) => match v.table(&schema_name, &table_name, &table.schema()) {
                        Some(columns) => columns,
                        None => continue,
                    },
                };
                let table_type = match table.table_type() {
                    TableType::View => "VIEW",
                    TableType::Base | TableType::Temporary => "TABLE",
                };
                if !wanted_types.is_empty() && !wanted_types.iter().any(|t| t == table_type) {
                    continue;
                }
                builder
                    .append(
                        &catalog_name,
                        &schema_name,
                        &table_name,
                        table_type,
                        &wire_schema(&columns),
                    )
                    .map_err(arrow_status)?;
            }
        }
    }
    builder.build().map_err(arrow_status)
}

/// The schema of a GetTables result.
pub fn tables_schema(include_schema: bool) -> datafusion::arrow::datatypes::SchemaRef {
    GetTablesBuilder::new(
        None::<String>,
        None::<String>,
        None::<String>,
        None::<String>,
        include_schema,
    )
    .schema()
}

/// The catalog's schemas, plus `information_schema` where the session has
/// it, since the CLI sees it too.
fn schema_names(ctx: &SessionContext, names: Vec<String>) -> Vec<String> {
    let mut names = names;
    if ctx.state().config().information_schema() && !names.iter().any(|n| n == INFORMATION_SCHEMA) {
        names.push(INFORMATION_SCHEMA.to_string());
    }
    sorted(names)
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// What GetSqlInfo answers: what the server really supports.
pub fn sql_info() -> Result<SqlInfoData, Status> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "microseg");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(
        SqlInfo::FlightSqlServerArrowVersion,
        "59.3 (Apache DataFusion 55)",
    );
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, true);
    b.append(SqlInfo::SqlDdlTable, true);
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(SqlInfo::SqlSchemaTerm, "schema");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlBatchUpdatesSupported, true);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    // The parser's keywords, which clients use to decide what to quote.
    let keywords: Vec<String> = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    b.append(SqlInfo::SqlKeywords, keywords);
    b.append(SqlInfo::SqlMaxColumnNameLength, 0i64);
    b.append(SqlInfo::SqlMaxStatementLength, 0i64);
    b.append(SqlInfo::SqlMaxStatements, 0i64);
    b.append(SqlInfo::SqlMaxTableNameLength, 0i64);
    b.build().map_err(arrow_status)
}

/// Name, XDBC code, column size, literal prefix and suffix.
type XdbcRow = (
    &'static str,
    XdbcDataType,
    Option<i32>,
    Option<(&'static str, &'static str)>,
);

/// The SQL types clients may use in casts and DDL, with their XDBC codes.
pub fn xdbc_types() -> Result<XdbcTypeInfoData, Status> {
    let mut b = XdbcTypeInfoDataBuilder::new();
    let types: &[XdbcRow] = &[
        ("BOOLEAN", XdbcDataType::XdbcBit, Some(1), None),
        ("TINYINT", XdbcDataType::XdbcTinyint, Some(3), None),
        ("SMALLINT", XdbcDataType::XdbcSmallint, Some(5), None),
        ("INTEGER", XdbcDataType::XdbcInteger, Some(10), None),
        ("BIGINT", XdbcDataType::XdbcBigint, Some(19), None),
        ("REAL", XdbcDataType::XdbcReal, Some(7), None),
        ("DOUBLE", XdbcDataType::XdbcDouble, Some(15), None),
        ("DECIMAL", XdbcDataType::XdbcDecimal, Some(38), None),
        ("VARCHAR", XdbcDataType::XdbcVarchar, None, Some(("'", "'"))),
        ("BYTEA", XdbcDataType::XdbcVarbinary, None, None),
        (
            "DATE",
            XdbcDataType::XdbcDate,
            Some(10),
            Some(("DATE '", "'")),
        ),
        (
            "TIMESTAMP",
            XdbcDataType::XdbcTimestamp,
            Some(29),
            Some(("TIMESTAMP '", "'")),
        ),
    ];
    for (name, data_type, size, literal) in types {
        b.append(XdbcTypeInfo {
            type_name: (*name).to_string(),
            data_type: *data_type,
            column_size: *size,
            literal_prefix: literal.map(|l| l.0.to_string()),
            literal_suffix: literal.map(|l| l.1.to_string()),
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: *name == "VARCHAR",
            searchable: Searchable::Full,
            unsigned_attribute: Some(false),
            fixed_prec_scale: false,
            auto_increment: Some(false),
            local_type_name: Some((*name).to_string()),
            minimum_scale: None,
            maximum_scale: None,
            sql_data_type: *data_type,
            datetime_subcode: None,
            num_prec_radix: None,
            interval_precision: None,
        });
    }
    b.build().map_err(arrow_status)
}

/// GetPrimaryKeys' result schema (the lake has no keys: always empty).
pub fn keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// GetExportedKeys/GetImportedKeys/GetCrossReference's result schema
/// (always empty: the lake declares no keys).
pub fn foreign_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}
