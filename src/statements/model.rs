//! `CREATE / SHOW / DESCRIBE / DROP MODEL`.
//!
//! ```sql
//! CREATE [OR REPLACE] MODEL cust_kmeans
//!   OPTIONS (model_type 'kmeans', num_clusters 64, standardize true, seed 42)
//! AS SELECT recency_days, frequency, monetary, channel FROM customer_features;
//! ```

use std::collections::BTreeMap;

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::sql::sqlparser::ast::Value;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::{MicrosegStatement, expect_end, is_word};
use crate::catalog::models::{parse_reference, validate_name};

/// An option's value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// `'kmeans'`
    Text(String),
    /// `64`, `1e-4` (kept as written, parsed by whoever reads it).
    Number(String),
    /// `true` / `false`
    Bool(bool),
    /// `['churned']`, `[1, 3]` (as in BigQuery ML): string or number
    /// literals, possibly empty.
    List(Vec<OptionValue>),
}

/// A whole-number option of `options`: `default` when absent; otherwise a
/// number in `range`, or a message naming the key (and the range).
pub fn whole_option(
    options: &BTreeMap<String, OptionValue>,
    key: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> std::result::Result<u64, String> {
    match options.get(key) {
        None => Ok(default),
        Some(OptionValue::Number(n)) => match n.parse::<u64>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(format!(
                "option {key} must be a whole number from {} to {}, got {n}",
                range.start(),
                range.end()
            )),
        },
        Some(other) => Err(format!("option {key} must be a number, got {other}")),
    }
}

impl std::fmt::Display for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Text(s) => write!(f, "'{s}'"),
            OptionValue::Number(n) => f.write_str(n),
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Parses a model statement if the tokens start one; otherwise consumes
/// nothing and returns `None`.
pub(super) fn parse(p: &mut Parser<'_>) -> Result<Option<MicrosegStatement>> {
    let word = |p: &Parser<'_>, n: usize, w: &str| is_word(&p.peek_nth_token(n).token, w);
    if p.peek_keyword(Keyword::CREATE) {
        let (or_replace, at) = if word(p, 1, "OR") && word(p, 2, "REPLACE") {
            (true, 3)
        } else {
            (false, 1)
        };
        if !word(p, at, "MODEL") {
            return Ok(None);
        }
        for _ in 0..=at {
            p.next_token();
        }
        return create(p, or_replace).map(Some);
    }
    if p.peek_keyword(Keyword::SHOW) && word(p, 1, "MODELS") {
        p.next_token();
        p.next_token();
        expect_end(p, "SHOW MODELS")?;
        return Ok(Some(MicrosegStatement::ShowModels));
    }
    if (p.peek_keyword(Keyword::DESCRIBE) || p.peek_keyword(Keyword::DESC)) && word(p, 1, "MODEL") {
        p.next_token();
        p.next_token();
        let reference = model_reference(p, "DESCRIBE MODEL")?;
        expect_end(p, "DESCRIBE MODEL")?;
        return Ok(Some(MicrosegStatement::DescribeModel(reference)));
    }
    if p.peek_keyword(Keyword::DROP) && word(p, 1, "MODEL") {
        p.next_token();
        p.next_token();
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        let (name, version) = model_reference(p, "DROP MODEL")?;
        if version.is_some() {
            return plan_err!("DROP MODEL drops every version of a model: give its name without @");
        }
        expect_end(p, "DROP MODEL")?;
        return Ok(Some(MicrosegStatement::DropModel { name, if_exists }));
    }
    Ok(None)
}

/// `name`, `name@2` (quoted, since @ is not part of an identifier) or
/// `"Name"`.
fn model_reference(p: &mut Parser<'_>, what: &str) -> Result<(String, Option<u32>)> {
    let token = p.peek_token().token;
    let text = match token {
        Token::SingleQuotedString(s) => {
            p.next_token();
            s
        }
        _ => match p.parse_identifier() {
            Ok(ident) if ident.quote_style.is_some() => ident.value,
            Ok(ident) => ident.value.to_lowercase(),
            Err(e) => return plan_err!("{what}: expected the model's name: {e}"),
        },
    };
    parse_reference(&text).or_else(|e| plan_err!("{what}: {e}"))
}

/// One option's value: a literal, or a `[…]` list of string or number
/// literals; errors name the model and the option.
fn option_value(p: &mut Parser<'_>, model: &str, key: &str) -> Result<OptionValue> {
    const WHAT: &str = "CREATE MODEL";
    if !p.consume_token(&Token::LBracket) {
        return scalar_value(p, model, key);
    }
    let mut items = Vec::new();
    if p.consume_token(&Token::RBracket) {
        return Ok(OptionValue::List(items));
    }
    loop {
        match scalar_value(p, model, key)? {
            OptionValue::Bool(b) => {
                return plan_err!(
                    "{WHAT} {model}: option {key}: a list holds strings or numbers, found {b}"
                );
            }
            item => items.push(item),
        }
        if p.consume_token(&Token::Comma) {
            continue;
        }
        if p.consume_token(&Token::RBracket) {
            return Ok(OptionValue::List(items));
        }
        return plan_err!(
            "{WHAT} {model}: option {key}: expected ',' or ']' in the list, found '{}'",
            p.peek_token().token
        );
    }
}

fn scalar_value(p: &mut Parser<'_>, model: &str, key: &str) -> Result<OptionValue> {
    const WHAT: &str = "CREATE MODEL";
    // A leading minus (`-1`) is a sign, not an operator, in an option.
    let negative = p.consume_token(&Token::Minus);
    match p.parse_value() {
        Ok(v) => match v.value {
            Value::Number(n, _) if negative => Ok(OptionValue::Number(format!("-{n}"))),
            Value::Number(n, _) => Ok(OptionValue::Number(n.to_string())),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) if !negative => {
                Ok(OptionValue::Text(s))
            }
            Value::Boolean(b) if !negative => Ok(OptionValue::Bool(b)),
            other => plan_err!(
                "{WHAT} {model}: option {key}: expected a number, 'text', true/false or a [list], found {}{other}",
                if negative { "-" } else { "" }
            ),
        },
        Err(e) => plan_err!("{WHAT} {model}: option {key}: expected a value: {e}"),
    }
}

fn create(p: &mut Parser<'_>, or_replace: bool) -> Result<MicrosegStatement> {
    const WHAT: &str = "CREATE MODEL";
    let name = match p.parse_identifier() {
        Ok(ident) if ident.quote_style.is_some() => ident.value,
        Ok(ident) => ident.value.to_lowercase(),
        Err(e) => return plan_err!("{WHAT}: expected the model's name: {e}"),
    };
    validate_name(&name).or_else(|e| plan_err!("{e}"))?;
    if !is_word(&p.peek_token().token, "OPTIONS") {
        return plan_err!(
            "{WHAT} {name}: expected OPTIONS (model_type '…', …) after the name, found '{}'",
            p.peek_token().token
        );
    }
    p.next_token();
    if let Err(e) = p.expect_token(&Token::LParen) {
        return plan_err!("{WHAT} {name}: expected '(' after OPTIONS: {e}");
    }
    let mut options = BTreeMap::new();
    loop {
        let key = match p.parse_identifier() {
            Ok(ident) => ident.value.to_lowercase(),
            Err(e) => return plan_err!("{WHAT} {name}: expected an option name: {e}"),
        };
        let value = option_value(p, &name, &key)?;
        if options.insert(key.clone(), value).is_some() {
            return plan_err!("{WHAT} {name}: option {key} is given twice");
        }
        if p.consume_token(&Token::Comma) {
            continue;
        }
        if p.consume_token(&Token::RParen) {
            break;
        }
        return plan_err!(
            "{WHAT} {name}: expected ',' or ')' after option {key}, found '{}'",
            p.peek_token().token
        );
    }
    if !p.parse_keyword(Keyword::AS) {
        return plan_err!(
            "{WHAT} {name}: expected AS SELECT … (the training rows) after OPTIONS, found '{}'",
            p.peek_token().token
        );
    }
    let query = match p.parse_query() {
        Ok(q) => q,
        Err(e) => return plan_err!("{WHAT} {name}: the training query does not parse: {e}"),
    };
    expect_end(p, WHAT)?;
    Ok(MicrosegStatement::CreateModel {
        name,
        or_replace,
        options,
        query: query.to_string(),
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

    #[test]
    fn create_model_with_options_and_query() {
        let s = ours(
            "CREATE OR REPLACE MODEL Cust OPTIONS (model_type 'kmeans', num_clusters 8, standardize true, tolerance 1e-4) AS SELECT a, b FROM t WHERE c > 1",
        );
        let MicrosegStatement::CreateModel {
            name,
            or_replace,
            options,
            query,
        } = s
        else {
            panic!()
        };
        assert_eq!(name, "cust");
        assert!(or_replace);
        assert_eq!(options["model_type"], OptionValue::Text("kmeans".into()));
        assert_eq!(options["num_clusters"], OptionValue::Number("8".into()));
        assert_eq!(options["standardize"], OptionValue::Bool(true));
        assert_eq!(options["tolerance"], OptionValue::Number("1e-4".into()));
        assert_eq!(query, "SELECT a, b FROM t WHERE c > 1");
    }

    #[test]
    fn other_forms_and_errors() {
        assert_eq!(ours("SHOW MODELS"), MicrosegStatement::ShowModels);
        assert_eq!(
            ours("DESCRIBE MODEL 'cust@2'"),
            MicrosegStatement::DescribeModel(("cust".into(), Some(2)))
        );
        assert_eq!(
            ours("drop model if exists cust"),
            MicrosegStatement::DropModel {
                name: "cust".into(),
                if_exists: true
            }
        );
        let err = |sql: &str| {
            parse_statement(sql, &GenericDialect {})
                .unwrap_err()
                .to_string()
        };
        assert!(err("CREATE MODEL m AS SELECT 1").contains("expected OPTIONS"));
        assert!(
            err("CREATE MODEL m OPTIONS (k 1, k 2) AS SELECT 1")
                .contains("option k is given twice")
        );
        assert!(err("CREATE MODEL m OPTIONS (k 1)").contains("expected AS SELECT"));
        assert!(
            err("CREATE MODEL m OPTIONS (k 1) AS SELEC 1")
                .contains("training query does not parse")
        );
        assert!(err("DROP MODEL 'm@1'").contains("every version"));
    }

    fn options_of(sql: &str) -> BTreeMap<String, OptionValue> {
        match ours(sql) {
            MicrosegStatement::CreateModel { options, .. } => options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_options() {
        let o = options_of(
            "CREATE MODEL m OPTIONS (input_label_cols ['churned'], class_weights [1, 3.5], empty [], x -2) AS SELECT 1",
        );
        assert_eq!(
            o["input_label_cols"],
            OptionValue::List(vec![OptionValue::Text("churned".into())])
        );
        assert_eq!(
            o["class_weights"],
            OptionValue::List(vec![
                OptionValue::Number("1".into()),
                OptionValue::Number("3.5".into())
            ])
        );
        assert_eq!(o["empty"], OptionValue::List(vec![]));
        assert_eq!(o["x"], OptionValue::Number("-2".into()));
        // Shown as written, for DESCRIBE MODEL.
        assert_eq!(o["input_label_cols"].to_string(), "['churned']");
        assert_eq!(o["class_weights"].to_string(), "[1, 3.5]");
        let err = |sql: &str| {
            parse_statement(sql, &GenericDialect {})
                .unwrap_err()
                .to_string()
        };
        for (sql, wanted) in [
            (
                "CREATE MODEL m OPTIONS (class_weights [1, 2) AS SELECT 1",
                "option class_weights: expected ',' or ']'",
            ),
            (
                "CREATE MODEL m OPTIONS (class_weights [1 2]) AS SELECT 1",
                "option class_weights: expected ',' or ']'",
            ),
            (
                "CREATE MODEL m OPTIONS (input_label_cols [true]) AS SELECT 1",
                "option input_label_cols: a list holds strings or numbers",
            ),
            (
                "CREATE MODEL m OPTIONS (input_label_cols [[1]]) AS SELECT 1",
                "option input_label_cols: expected a value",
            ),
            (
                "CREATE MODEL m OPTIONS (input_label_cols ['a',]) AS SELECT 1",
                "option input_label_cols: expected a value",
            ),
            (
                "CREATE MODEL m OPTIONS (w -'a') AS SELECT 1",
                "option w: expected a number",
            ),
        ] {
            let e = err(sql);
            assert!(e.contains(wanted), "{sql}: {e}");
        }
    }
}
