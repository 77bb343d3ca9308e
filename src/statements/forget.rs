//! `FORGET CUSTOMER <id> [REASON '<text>']`: erase one person (the engine
//! runs it; see `engine/forget.rs`).

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::{MicrosegStatement, expect_end, is_word};

/// `Some` when the tokens start `FORGET`; nothing is consumed otherwise.
pub(super) fn parse(p: &mut Parser<'_>) -> Result<Option<MicrosegStatement>> {
    if !is_word(&p.peek_token().token, "FORGET") {
        return Ok(None);
    }
    p.next_token();
    if !is_word(&p.peek_token().token, "CUSTOMER") {
        let next = p.peek_token();
        return plan_err!(
            "FORGET: expected CUSTOMER at line {}, column {}, found '{}' (FORGET CUSTOMER <id> [REASON '<text>'])",
            next.span.start.line,
            next.span.start.column,
            next.token
        );
    }
    p.next_token();
    let customer = literal(
        p,
        "FORGET CUSTOMER",
        "the customer id (a number or a quoted string)",
    )?;
    let reason = if is_word(&p.peek_token().token, "REASON") {
        p.next_token();
        Some(literal(p, "REASON", "a quoted string")?)
    } else {
        None
    };
    expect_end(p, "FORGET CUSTOMER")?;
    Ok(Some(MicrosegStatement::ForgetCustomer { customer, reason }))
}

/// A number or a quoted string: an id is data, never a column or expression.
fn literal(p: &mut Parser<'_>, after: &str, what: &str) -> Result<String> {
    let next = p.next_token();
    match next.token {
        Token::Number(n, _) => Ok(n),
        Token::SingleQuotedString(s) => Ok(s),
        Token::Minus => match p.next_token().token {
            Token::Number(n, _) => Ok(format!("-{n}")),
            other => plan_err!("{after}: expected {what} after '-', found '{other}'"),
        },
        Token::EOF => plan_err!("{after}: expected {what}, found the end of the statement"),
        other => plan_err!(
            "{after}: expected {what} at line {}, column {}, found '{other}' (a literal, not a column or expression)",
            next.span.start.line,
            next.span.start.column
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Parsed, parse};
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn forget(sql: &str) -> Result<MicrosegStatement> {
        match parse(sql, &GenericDialect {})? {
            Parsed::Microseg(s) => Ok(s),
            Parsed::DataFusion(s) => panic!("{sql} went to DataFusion: {s}"),
        }
    }

    #[test]
    fn ids_are_literals() {
        assert_eq!(
            forget("forget customer 42;").unwrap(),
            MicrosegStatement::ForgetCustomer {
                customer: "42".into(),
                reason: None
            }
        );
        assert_eq!(
            forget("FORGET CUSTOMER 'C-7' REASON 'GDPR art. 17 request #12'").unwrap(),
            MicrosegStatement::ForgetCustomer {
                customer: "C-7".into(),
                reason: Some("GDPR art. 17 request #12".into())
            }
        );
    }

    #[test]
    fn malformed_statements_say_what_is_wrong() {
        for (sql, expected) in [
            ("FORGET 42", "expected CUSTOMER"),
            ("FORGET CUSTOMER", "found the end of the statement"),
            ("FORGET CUSTOMER customer_id", "a literal, not a column"),
            (
                "FORGET CUSTOMER 42 REASON",
                "REASON: expected a quoted string",
            ),
            (
                "FORGET CUSTOMER 42 43",
                "unexpected '43' after FORGET CUSTOMER",
            ),
            ("FORGET CUSTOMER 42; SELECT 1", "unexpected 'SELECT'"),
        ] {
            let err = forget(sql).unwrap_err().to_string();
            assert!(err.contains(expected), "{sql}: {err}");
        }
    }
}
