//! `CREATE / SHOW / DESCRIBE / DROP SEGMENT SET`.
//!
//! ```sql
//! CREATE [OR REPLACE] SEGMENT SET [IF NOT EXISTS] lifecycle (
//!   'champions' WHEN r >= 4 AND f >= 4,
//!   'at_risk'   WHEN r <= 2 AND f >= 3,
//!   ELSE 'other'
//! );
//! ```

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::{CatalogVerb, MicrosegStatement, catalog_verb, expect_end, is_word};
use crate::catalog::segment_sets::check_name;
use crate::catalog::{SegmentRule, SegmentSet};

/// Parses a segment-set statement if the tokens start one; otherwise
/// consumes nothing and returns `None`.
pub(super) fn parse(
    p: &mut Parser<'_>,
    dialect: &dyn Dialect,
) -> Result<Option<MicrosegStatement>> {
    let word = |p: &Parser<'_>, n: usize, w: &str| is_word(&p.peek_nth_token(n).token, w);

    if p.peek_keyword(Keyword::CREATE) {
        let (or_replace, at) = if word(p, 1, "OR") && word(p, 2, "REPLACE") {
            (true, 3)
        } else {
            (false, 1)
        };
        if !(word(p, at, "SEGMENT") && word(p, at + 1, "SET")) {
            return Ok(None);
        }
        for _ in 0..at + 2 {
            p.next_token();
        }
        return create(p, dialect, or_replace).map(Some);
    }
    Ok(
        catalog_verb(p, ["SEGMENT", "SET"], "SETS", set_name)?.map(|verb| match verb {
            CatalogVerb::Show => MicrosegStatement::ShowSegmentSets,
            CatalogVerb::Describe(name) => MicrosegStatement::DescribeSegmentSet(name),
            CatalogVerb::Drop { name, if_exists } => {
                MicrosegStatement::DropSegmentSet { name, if_exists }
            }
        }),
    )
}

/// An identifier, lower-cased unless quoted (as DataFusion treats table
/// names), checked to be usable as a file name.
fn set_name(p: &mut Parser<'_>, what: &str) -> Result<String> {
    let ident = match p.parse_identifier() {
        Ok(ident) => ident,
        Err(e) => return plan_err!("{what}: expected the segment set's name: {e}"),
    };
    let name = if ident.quote_style.is_some() {
        ident.value
    } else {
        ident.value.to_lowercase()
    };
    check_name(&name)?;
    Ok(name)
}

fn create(
    p: &mut Parser<'_>,
    dialect: &dyn Dialect,
    or_replace: bool,
) -> Result<MicrosegStatement> {
    const WHAT: &str = "CREATE SEGMENT SET";
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    if or_replace && if_not_exists {
        return plan_err!("{WHAT}: OR REPLACE and IF NOT EXISTS cannot be used together");
    }
    let name = set_name(p, WHAT)?;
    if let Err(e) = p.expect_token(&Token::LParen) {
        return plan_err!("{WHAT} {name}: expected '(' before the rules: {e}");
    }
    let mut rules = Vec::new();
    let mut else_label = None;
    loop {
        if p.parse_keyword(Keyword::ELSE) {
            let label = p.parse_literal_string().or_else(|e| {
                plan_err!("{WHAT} {name}: ELSE must be followed by a quoted label: {e}")
            })?;
            else_label = Some(label);
            if let Err(e) = p.expect_token(&Token::RParen) {
                return plan_err!("{WHAT} {name}: ELSE must be the last entry, then ')': {e}");
            }
            break;
        }
        let label = p.parse_literal_string().or_else(|e| {
            plan_err!(
                "{WHAT} {name}: rule {} must start with a quoted label, as in 'champions' WHEN r >= 4: {e}",
                rules.len() + 1
            )
        })?;
        if !p.parse_keyword(Keyword::WHEN) {
            return plan_err!(
                "{WHAT} {name}: rule '{label}': expected WHEN after the label, found '{}'",
                p.peek_token().token
            );
        }
        let predicate = p.parse_expr().or_else(|e| {
            plan_err!("{WHAT} {name}: rule '{label}': the predicate does not parse: {e}")
        })?;
        rules.push(SegmentRule {
            label,
            predicate: predicate.to_string(),
        });
        if p.consume_token(&Token::Comma) {
            continue;
        }
        if p.consume_token(&Token::RParen) {
            break;
        }
        return plan_err!(
            "{WHAT} {name}: expected ',' or ')' after rule '{}', found '{}'",
            rules.last().map(|r| r.label.as_str()).unwrap_or_default(),
            p.peek_token().token
        );
    }
    expect_end(p, WHAT)?;
    let set = SegmentSet {
        name,
        rules,
        else_label,
        created_at: String::new(),
    };
    set.validate(dialect).or_else(|e| plan_err!("{e}"))?;
    Ok(MicrosegStatement::CreateSegmentSet {
        set,
        or_replace,
        if_not_exists,
    })
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
    fn create_keeps_rules_in_order() {
        let s = ours(
            "create or replace segment set Lifecycle ('champions' WHEN r >= 4 and f >= 4, 'new' when tenure_days < 30, else 'other');",
        );
        let MicrosegStatement::CreateSegmentSet {
            set,
            or_replace,
            if_not_exists,
        } = s
        else {
            panic!("{s:?}")
        };
        assert!(or_replace && !if_not_exists);
        assert_eq!(set.name, "lifecycle");
        assert_eq!(set.rules.len(), 2);
        assert_eq!(set.rules[0].label, "champions");
        assert_eq!(set.rules[0].predicate, "r >= 4 AND f >= 4");
        assert_eq!(set.rules[1].predicate, "tenure_days < 30");
        assert_eq!(set.else_label.as_deref(), Some("other"));
    }

    #[test]
    fn other_forms() {
        assert_eq!(
            ours("SHOW SEGMENT SETS"),
            MicrosegStatement::ShowSegmentSets
        );
        assert_eq!(
            ours("describe segment set x"),
            MicrosegStatement::DescribeSegmentSet("x".into())
        );
        assert_eq!(
            ours("DROP SEGMENT SET IF EXISTS x;"),
            MicrosegStatement::DropSegmentSet {
                name: "x".into(),
                if_exists: true
            }
        );
        // Not ours: DataFusion's own statements stay DataFusion's.
        assert!(matches!(
            parse_statement("CREATE OR REPLACE VIEW v AS SELECT 1", &GenericDialect {}),
            Ok(Parsed::DataFusion(_))
        ));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(error("CREATE SEGMENT SET s ()").contains("rule 1 must start with a quoted label"));
        assert!(error("CREATE SEGMENT SET s ('a' r > 1)").contains("rule 'a': expected WHEN"));
        assert!(
            error("CREATE SEGMENT SET s ('a' WHEN r >)")
                .contains("rule 'a': the predicate does not parse")
        );
        assert!(
            error("CREATE SEGMENT SET s ('a' WHEN r > 1, 'a' WHEN f > 1)")
                .contains("label 'a' is used by more than one rule")
        );
        assert!(
            error("CREATE SEGMENT SET s (ELSE 'x', 'a' WHEN r > 1)")
                .contains("ELSE must be the last entry")
        );
        assert!(error("CREATE SEGMENT SET s (ELSE 'x')").contains("needs at least one"));
        assert!(
            error("CREATE SEGMENT SET \"Bad-Name\" ('a' WHEN true)")
                .contains("invalid segment set name")
        );
        assert!(error("CREATE SEGMENT SET s ('a' WHEN true) extra").contains("unexpected 'extra'"));
        assert!(error("DROP SEGMENT SET").contains("expected the segment set's name"));
    }
}
