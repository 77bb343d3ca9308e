//! Our own SQL statements, parsed in front of DataFusion's parser.
//!
//! [`parse`] looks at the first keywords of a statement: if they start one
//! of ours it parses it into a small struct; otherwise the text goes to
//! DataFusion's `DFParser` unchanged. Statements are data first: the struct
//! is validated here and executed by the engine.

mod forget;
mod identity_graph;
mod model;
mod segment_set;
mod split;

pub use model::{OptionValue, whole_option};
pub use split::{StatementText, split_statements};

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::catalog::{GraphSpec, SegmentSet};

/// A parsed statement: one of ours, or DataFusion's.
#[derive(Debug)]
pub enum Parsed {
    /// A statement microseg executes itself.
    Microseg(MicrosegStatement),
    /// Anything else, planned by DataFusion.
    DataFusion(Box<DFStatement>),
}

/// The statements microseg adds to SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicrosegStatement {
    /// `SHOW LAKE`: the lake's location and every table discovered in it.
    ShowLake,
    /// `CREATE [OR REPLACE] SEGMENT SET [IF NOT EXISTS] name ('label' WHEN predicate, …, ELSE 'label')`.
    CreateSegmentSet {
        /// The set, validated (its `created_at` is filled in when stored).
        set: SegmentSet,
        /// `OR REPLACE`: overwrite an existing set of that name.
        or_replace: bool,
        /// `IF NOT EXISTS`: keep an existing set and succeed.
        if_not_exists: bool,
    },
    /// `SHOW SEGMENT SETS`: every stored set.
    ShowSegmentSets,
    /// `DESCRIBE SEGMENT SET name`: a set's rules in order.
    DescribeSegmentSet(String),
    /// `DROP SEGMENT SET [IF EXISTS] name`.
    DropSegmentSet {
        /// The set's name.
        name: String,
        /// Succeed when there is no such set.
        if_exists: bool,
    },
    /// `CREATE [OR REPLACE] MODEL name OPTIONS (…) AS query`.
    CreateModel {
        /// The model's name.
        name: String,
        /// Add a version to an existing model instead of failing.
        or_replace: bool,
        /// Options as written (validated when the model is trained).
        options: std::collections::BTreeMap<String, OptionValue>,
        /// The training query.
        query: String,
    },
    /// `SHOW MODELS`.
    ShowModels,
    /// `DESCRIBE MODEL name[@version]`.
    DescribeModel((String, Option<u32>)),
    /// `DROP MODEL [IF EXISTS] name`: every version.
    DropModel {
        /// The model's name.
        name: String,
        /// Succeed when there is no such model.
        if_exists: bool,
    },
    /// `CREATE [OR REPLACE] IDENTITY GRAPH name (SOURCE … KEY …, MATCH ON …, …)`.
    CreateIdentityGraph {
        /// The definition (expressions as SQL text, planned when it runs).
        spec: GraphSpec,
        /// Add a version to an existing graph instead of failing.
        or_replace: bool,
    },
    /// `SHOW IDENTITY GRAPHS`.
    ShowIdentityGraphs,
    /// `DESCRIBE IDENTITY GRAPH name`.
    DescribeIdentityGraph(String),
    /// `DROP IDENTITY GRAPH [IF EXISTS] name`: every version.
    DropIdentityGraph {
        /// The graph's name.
        name: String,
        /// Succeed when there is no such graph.
        if_exists: bool,
    },
    /// `FORGET CUSTOMER id [REASON 'text']`: erasure of one person.
    ForgetCustomer {
        /// The entity key's value, as written.
        customer: String,
        /// Why, kept with the suppression entry.
        reason: Option<String>,
    },
}

/// Parses exactly one statement (a trailing `;` is allowed).
pub fn parse(sql: &str, dialect: &dyn Dialect) -> Result<Parsed> {
    let mut parser = DFParserBuilder::new(sql).with_dialect(dialect).build()?;
    let p = &mut parser.parser;

    if p.peek_keyword(Keyword::SHOW) && is_word(&p.peek_nth_token(1).token, "LAKE") {
        p.next_token();
        p.next_token();
        expect_end(p, "SHOW LAKE")?;
        return Ok(Parsed::Microseg(MicrosegStatement::ShowLake));
    }

    if let Some(statement) = forget::parse(p)? {
        return Ok(Parsed::Microseg(statement));
    }
    if let Some(statement) = segment_set::parse(p, dialect)? {
        return Ok(Parsed::Microseg(statement));
    }
    if let Some(statement) = identity_graph::parse(p)? {
        return Ok(Parsed::Microseg(statement));
    }
    if let Some(statement) = model::parse(p)? {
        return Ok(Parsed::Microseg(statement));
    }

    let statement = parser.parse_statement()?;
    expect_end(&mut parser.parser, "statement")?;
    Ok(Parsed::DataFusion(Box::new(statement)))
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// What `SHOW`, `DESCRIBE` and `DROP` ask of one kind of catalog object.
enum CatalogVerb {
    Show,
    Describe(String),
    Drop { name: String, if_exists: bool },
}

/// Parses `SHOW <kind> <plural>`, `DESCRIBE|DESC <kind> name` and
/// `DROP <kind> [IF EXISTS] name` for a two-word kind such as
/// `["SEGMENT", "SET"]`; `name` reads and checks the object's name. Consumes
/// nothing and returns `None` when the tokens start none of them.
fn catalog_verb(
    p: &mut datafusion::sql::sqlparser::parser::Parser<'_>,
    kind: [&str; 2],
    plural: &str,
    name: impl Fn(&mut datafusion::sql::sqlparser::parser::Parser<'_>, &str) -> Result<String>,
) -> Result<Option<CatalogVerb>> {
    let at = |p: &datafusion::sql::sqlparser::parser::Parser<'_>, n: usize, w: &str| {
        is_word(&p.peek_nth_token(n).token, w)
    };
    let [first, second] = kind;
    let verb = if p.peek_keyword(Keyword::SHOW) && at(p, 1, first) && at(p, 2, plural) {
        "SHOW"
    } else if (p.peek_keyword(Keyword::DESCRIBE) || p.peek_keyword(Keyword::DESC))
        && at(p, 1, first)
        && at(p, 2, second)
    {
        "DESCRIBE"
    } else if p.peek_keyword(Keyword::DROP) && at(p, 1, first) && at(p, 2, second) {
        "DROP"
    } else {
        return Ok(None);
    };
    for _ in 0..3 {
        p.next_token();
    }
    let verb = match verb {
        "SHOW" => {
            expect_end(p, &format!("SHOW {first} {plural}"))?;
            CatalogVerb::Show
        }
        "DESCRIBE" => {
            let what = format!("DESCRIBE {first} {second}");
            let object = name(p, &what)?;
            expect_end(p, &what)?;
            CatalogVerb::Describe(object)
        }
        _ => {
            let what = format!("DROP {first} {second}");
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let object = name(p, &what)?;
            expect_end(p, &what)?;
            CatalogVerb::Drop {
                name: object,
                if_exists,
            }
        }
    };
    Ok(Some(verb))
}

/// Only one statement per call: a second one would silently be ignored otherwise.
fn expect_end(p: &mut datafusion::sql::sqlparser::parser::Parser<'_>, what: &str) -> Result<()> {
    while p.consume_token(&Token::SemiColon) {}
    let next = p.peek_token();
    if next.token != Token::EOF {
        return plan_err!(
            "unexpected '{}' after {what} at line {}, column {} (run one statement at a time, or a script with `microseg sql -f`)",
            next.token,
            next.span.start.line,
            next.span.start.column
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    #[test]
    fn show_lake_is_ours_any_case() {
        for sql in ["SHOW LAKE", "show lake;", "  Show   Lake ;; "] {
            let parsed = parse(sql, &GenericDialect {}).unwrap();
            assert!(
                matches!(parsed, Parsed::Microseg(MicrosegStatement::ShowLake)),
                "{sql}"
            );
        }
    }

    #[test]
    fn other_statements_go_to_datafusion() {
        let parsed = parse("SHOW TABLES", &GenericDialect {}).unwrap();
        assert!(matches!(parsed, Parsed::DataFusion(_)));
        let parsed = parse("select 1", &GenericDialect {}).unwrap();
        assert!(matches!(parsed, Parsed::DataFusion(_)));
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let err = parse("SHOW LAKE extra", &GenericDialect {}).unwrap_err();
        assert!(
            err.to_string()
                .contains("unexpected 'extra' after SHOW LAKE"),
            "{err}"
        );
        let err = parse("select 1; select 2", &GenericDialect {}).unwrap_err();
        assert!(err.to_string().contains("line 1, column 11"), "{err}");
    }
}
