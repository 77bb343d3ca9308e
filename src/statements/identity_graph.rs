//! `CREATE / SHOW / DESCRIBE / DROP IDENTITY GRAPH`.
//!
//! ```sql
//! CREATE [OR REPLACE] IDENTITY GRAPH people (
//!   SOURCE src_crm_contacts KEY record_id,
//!   SOURCE src_web_accounts KEY account_id,
//!   MATCH ON lower(trim(email)) LIMIT 5 PRIORITY 2,
//!   MATCH ON (lower(last_name), birth_date, postal_code),
//!   BLOCK VALUES ('', 'null', 'test@example.com'),
//!   MAX_COMPONENT_SIZE 200
//! );
//! ```
//!
//! Expressions are kept as SQL text and planned against each source when
//! the statement runs; nothing is planned or run here.

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::{CatalogVerb, MicrosegStatement, catalog_verb, expect_end, is_word};
use crate::catalog::{Catalog, GraphSource, GraphSpec, MatchKey};

const WHAT: &str = "CREATE IDENTITY GRAPH";

/// Parses an identity-graph statement if the tokens start one; otherwise
/// consumes nothing and returns `None`.
pub(super) fn parse(p: &mut Parser<'_>) -> Result<Option<MicrosegStatement>> {
    let word = |p: &Parser<'_>, n: usize, w: &str| is_word(&p.peek_nth_token(n).token, w);
    if p.peek_keyword(Keyword::CREATE) {
        let (or_replace, at) = if word(p, 1, "OR") && word(p, 2, "REPLACE") {
            (true, 3)
        } else {
            (false, 1)
        };
        if !(word(p, at, "IDENTITY") && word(p, at + 1, "GRAPH")) {
            return Ok(None);
        }
        for _ in 0..at + 2 {
            p.next_token();
        }
        let spec = create(p)?;
        return Ok(Some(MicrosegStatement::CreateIdentityGraph {
            spec,
            or_replace,
        }));
    }
    Ok(
        catalog_verb(p, ["IDENTITY", "GRAPH"], "GRAPHS", graph_name)?.map(|verb| match verb {
            CatalogVerb::Show => MicrosegStatement::ShowIdentityGraphs,
            CatalogVerb::Describe(name) => MicrosegStatement::DescribeIdentityGraph(name),
            CatalogVerb::Drop { name, if_exists } => {
                MicrosegStatement::DropIdentityGraph { name, if_exists }
            }
        }),
    )
}

/// An identifier, lower-cased unless quoted, usable as a folder name.
fn graph_name(p: &mut Parser<'_>, what: &str) -> Result<String> {
    let ident = match p.parse_identifier() {
        Ok(ident) => ident,
        Err(e) => return plan_err!("{what}: expected the identity graph's name: {e}"),
    };
    let name = if ident.quote_style.is_some() {
        ident.value
    } else {
        ident.value.to_lowercase()
    };
    Catalog::check_name("identity graph", &name).or_else(|e| plan_err!("{e}"))?;
    Ok(name)
}

fn number(p: &mut Parser<'_>, name: &str, what: &str) -> Result<u64> {
    p.parse_literal_uint()
        .or_else(|e| plan_err!("{WHAT} {name}: {what} must be followed by a whole number: {e}"))
}

fn create(p: &mut Parser<'_>) -> Result<GraphSpec> {
    let name = graph_name(p, WHAT)?;
    if let Err(e) = p.expect_token(&Token::LParen) {
        return plan_err!("{WHAT} {name}: expected '(' before the sources and keys: {e}");
    }
    let mut spec = GraphSpec {
        name: name.clone(),
        sources: Vec::new(),
        keys: Vec::new(),
        block_values: Vec::new(),
        max_component_size: None,
    };
    loop {
        let at = p.peek_token();
        if is_word(&at.token, "SOURCE") {
            p.next_token();
            let table = p
                .parse_object_name(false)
                .or_else(|e| plan_err!("{WHAT} {name}: SOURCE must name a table: {e}"))?
                .to_string();
            if !is_word(&p.peek_token().token, "KEY") {
                return plan_err!(
                    "{WHAT} {name}: SOURCE {table}: expected KEY and the record key column, found '{}'",
                    p.peek_token().token
                );
            }
            p.next_token();
            let key = p
                .parse_identifier()
                .or_else(|e| {
                    plan_err!("{WHAT} {name}: SOURCE {table} KEY: expected a column: {e}")
                })?
                .value;
            if spec.sources.iter().any(|s| s.table == table) {
                return plan_err!("{WHAT} {name}: SOURCE {table} is listed twice");
            }
            spec.sources.push(GraphSource { table, key });
        } else if p.parse_keywords(&[Keyword::MATCH, Keyword::ON]) {
            let expr = p.parse_expr().or_else(|e| {
                plan_err!(
                    "{WHAT} {name}: MATCH ON #{}: the expression does not parse: {e}",
                    spec.keys.len() + 1
                )
            })?;
            let parts = match expr {
                SqlExpr::Tuple(items) => items.iter().map(|e| e.to_string()).collect(),
                other => vec![other.to_string()],
            };
            let mut key = MatchKey {
                parts,
                limit: None,
                priority: None,
            };
            loop {
                if p.parse_keyword(Keyword::LIMIT) {
                    let n = number(p, &name, "LIMIT")?;
                    if n == 0 {
                        return plan_err!(
                            "{WHAT} {name}: MATCH ON {}: LIMIT must be at least 1",
                            key.label()
                        );
                    }
                    key.limit = Some(n);
                } else if is_word(&p.peek_token().token, "PRIORITY") {
                    p.next_token();
                    let n = number(p, &name, "PRIORITY")?;
                    key.priority = Some(u32::try_from(n).or_else(|_| {
                        plan_err!(
                            "{WHAT} {name}: MATCH ON {}: PRIORITY {n} is too large",
                            key.label()
                        )
                    })?);
                } else {
                    break;
                }
            }
            spec.keys.push(key);
        } else if is_word(&at.token, "BLOCK") {
            p.next_token();
            if !p.parse_keyword(Keyword::VALUES) || p.expect_token(&Token::LParen).is_err() {
                return plan_err!("{WHAT} {name}: expected BLOCK VALUES ('value', …)");
            }
            loop {
                let v = p.parse_literal_string().or_else(|e| {
                    plan_err!("{WHAT} {name}: BLOCK VALUES takes quoted strings: {e}")
                })?;
                spec.block_values.push(v);
                if p.consume_token(&Token::Comma) {
                    continue;
                }
                if p.consume_token(&Token::RParen) {
                    break;
                }
                return plan_err!(
                    "{WHAT} {name}: BLOCK VALUES: expected ',' or ')', found '{}'",
                    p.peek_token().token
                );
            }
        } else if is_word(&at.token, "MAX_COMPONENT_SIZE") {
            p.next_token();
            let n = number(p, &name, "MAX_COMPONENT_SIZE")?;
            if n < 2 {
                return plan_err!("{WHAT} {name}: MAX_COMPONENT_SIZE must be at least 2");
            }
            spec.max_component_size = Some(n);
        } else {
            return plan_err!(
                "{WHAT} {name}: expected SOURCE, MATCH ON, BLOCK VALUES or MAX_COMPONENT_SIZE at line {}, column {}, found '{}'",
                at.span.start.line,
                at.span.start.column,
                at.token
            );
        }
        if p.consume_token(&Token::Comma) {
            continue;
        }
        if p.consume_token(&Token::RParen) {
            break;
        }
        return plan_err!(
            "{WHAT} {name}: expected ',' or ')', found '{}'",
            p.peek_token().token
        );
    }
    expect_end(p, WHAT)?;
    if spec.sources.is_empty() {
        return plan_err!("{WHAT} {name}: needs at least one SOURCE table KEY column");
    }
    if spec.keys.is_empty() {
        return plan_err!("{WHAT} {name}: needs at least one MATCH ON expression");
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::super::{Parsed, parse as parse_statement};
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn ours(sql: &str) -> MicrosegStatement {
        match parse_statement(sql, &GenericDialect {}) {
            Ok(Parsed::Microseg(s)) => s,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn error(sql: &str) -> String {
        parse_statement(sql, &GenericDialect {})
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_issue_example_parses() {
        let s = ours(
            "CREATE OR REPLACE IDENTITY GRAPH People (
               SOURCE src_crm_contacts KEY record_id,
               SOURCE src_web_accounts KEY account_id,
               MATCH ON lower(trim(email)) LIMIT 5 PRIORITY 2,
               MATCH ON regexp_replace(phone, '[^0-9]', '', 'g') PRIORITY 3 LIMIT 3,
               MATCH ON (lower(last_name), birth_date, postal_code),
               BLOCK VALUES ('', 'null', 'test@example.com'),
               MAX_COMPONENT_SIZE 200
             );",
        );
        let MicrosegStatement::CreateIdentityGraph { spec, or_replace } = s else {
            panic!("{s:?}")
        };
        assert!(or_replace);
        assert_eq!(spec.name, "people");
        assert_eq!(spec.sources[1].table, "src_web_accounts");
        assert_eq!(spec.sources[1].key, "account_id");
        assert_eq!(spec.keys[0].parts, ["lower(TRIM(email))"]);
        assert_eq!(
            (spec.keys[0].limit, spec.keys[0].priority),
            (Some(5), Some(2))
        );
        assert_eq!(
            (spec.keys[1].limit, spec.keys[1].priority),
            (Some(3), Some(3))
        );
        assert_eq!(spec.keys[2].parts.len(), 3);
        assert_eq!(
            spec.keys[2].label(),
            "(lower(last_name), birth_date, postal_code)"
        );
        assert_eq!(spec.block_values, ["", "null", "test@example.com"]);
        assert_eq!(spec.max_component_size, Some(200));
    }

    #[test]
    fn show_describe_drop() {
        assert_eq!(
            ours("show identity graphs"),
            MicrosegStatement::ShowIdentityGraphs
        );
        assert_eq!(
            ours("DESCRIBE IDENTITY GRAPH people"),
            MicrosegStatement::DescribeIdentityGraph("people".into())
        );
        assert_eq!(
            ours("DROP IDENTITY GRAPH IF EXISTS people;"),
            MicrosegStatement::DropIdentityGraph {
                name: "people".into(),
                if_exists: true
            }
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (sql, want) in [
            (
                "CREATE IDENTITY GRAPH g (MATCH ON email)",
                "at least one SOURCE",
            ),
            (
                "CREATE IDENTITY GRAPH g (SOURCE t KEY id)",
                "at least one MATCH ON",
            ),
            (
                "CREATE IDENTITY GRAPH g (SOURCE t id)",
                "SOURCE t: expected KEY",
            ),
            (
                "CREATE IDENTITY GRAPH g (SOURCE t KEY id, SOURCE t KEY id, MATCH ON a)",
                "listed twice",
            ),
            (
                "CREATE IDENTITY GRAPH g (SOURCE t KEY id, MATCH ON a LIMIT 0)",
                "LIMIT must be at least 1",
            ),
            (
                "CREATE IDENTITY GRAPH g (SOURCE t KEY id, MATCH ON a, MAX_COMPONENT_SIZE 1)",
                "at least 2",
            ),
            (
                "CREATE IDENTITY GRAPH g (SOURCE t KEY id, MATCH ON a, BLOCK VALUES (1))",
                "quoted strings",
            ),
            (
                "CREATE IDENTITY GRAPH g (SOURCE t KEY id, LINK a)",
                "expected SOURCE, MATCH ON",
            ),
            (
                "CREATE IDENTITY GRAPH 9g (SOURCE t KEY id, MATCH ON a)",
                "identity graph",
            ),
        ] {
            let e = error(sql);
            assert!(e.contains(want), "{sql}: {e}");
        }
    }
}
