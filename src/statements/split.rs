//! Splitting a SQL script into statements, remembering where each starts so
//! a failing statement can be reported by its line number.

use datafusion::error::Result;
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// The statement's text, without the terminating `;`.
    pub sql: String,
    /// 1-based line of the statement's first token in the script.
    pub line: u64,
    /// Comment lines directly above the statement (`-- ` stripped), which the
    /// demo prints as captions.
    pub comment: Vec<String>,
}

/// Splits `script` on top-level `;` (not inside strings, quoted identifiers
/// or comments). Empty statements are dropped.
pub fn split_statements(script: &str, dialect: &dyn Dialect) -> Result<Vec<StatementText>> {
    let tokens = Tokenizer::new(dialect, script)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| datafusion::error::DataFusionError::SQL(Box::new(e.into()), None))?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(script.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    // sqlparser locations are 1-based line and character (not byte) columns.
    let offset = |line: u64, column: u64| -> usize {
        let start = line_starts[(line as usize).saturating_sub(1).min(line_starts.len() - 1)];
        script[start..]
            .char_indices()
            .nth((column as usize).saturating_sub(1))
            .map(|(i, _)| start + i)
            .unwrap_or(script.len())
    };

    let mut out = Vec::new();
    let mut start: Option<(u64, u64)> = None;
    let mut comment: Vec<String> = Vec::new();
    let mut pending_comment: Vec<String> = Vec::new();
    // A blank line detaches the comments above it from the next statement
    // (a file header is not a caption).
    let mut newlines = 0;
    for t in &tokens {
        if !matches!(t.token, Token::Whitespace(Whitespace::Newline)) {
            newlines = 0;
        }
        match &t.token {
            Token::Whitespace(Whitespace::SingleLineComment { comment: c, .. })
                if start.is_none() =>
            {
                pending_comment.push(c.trim().to_string());
                // The comment token includes its line's newline.
                newlines = 1;
            }
            Token::Whitespace(Whitespace::Newline) if start.is_none() => {
                newlines += 1;
                if newlines >= 2 {
                    pending_comment.clear();
                }
            }
            Token::Whitespace(_) => {}
            Token::SemiColon => {
                if let Some((line, col)) = start.take() {
                    let end = offset(t.span.start.line, t.span.start.column);
                    let sql = script[offset(line, col)..end].trim_end().to_string();
                    out.push(StatementText {
                        sql,
                        line,
                        comment: std::mem::take(&mut comment),
                    });
                }
                pending_comment.clear();
            }
            Token::EOF => {}
            _ => {
                if start.is_none() {
                    start = Some((t.span.start.line, t.span.start.column));
                    comment = std::mem::take(&mut pending_comment);
                }
            }
        }
    }
    if let Some((line, col)) = start {
        let sql = script[offset(line, col)..].trim_end().to_string();
        if !sql.is_empty() {
            out.push(StatementText { sql, line, comment });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    #[test]
    fn splits_with_lines_and_comments() {
        let script = "-- header\n\n-- first\nSELECT 1;\n\n-- a ; in a comment\nSELECT ';' AS s,\n  2;\nSELECT 3";
        let s = split_statements(script, &GenericDialect {}).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].sql, "SELECT 1");
        assert_eq!(s[0].line, 4);
        assert_eq!(s[0].comment, vec!["first"]);
        assert_eq!(s[1].sql, "SELECT ';' AS s,\n  2");
        assert_eq!(s[1].line, 7);
        assert_eq!(s[1].comment, vec!["a ; in a comment"]);
        assert_eq!(s[2].sql, "SELECT 3");
        assert_eq!(s[2].line, 9);
    }

    #[test]
    fn non_ascii_columns_are_characters() {
        let s = split_statements("SELECT 'é'; SELECT 'ü'", &GenericDialect {}).unwrap();
        assert_eq!(s[1].sql, "SELECT 'ü'");
    }

    #[test]
    fn empty_statements_dropped_and_unterminated_string_errors() {
        assert!(
            split_statements(" ;; -- x\n", &GenericDialect {})
                .unwrap()
                .is_empty()
        );
        assert!(split_statements("SELECT 'oops", &GenericDialect {}).is_err());
    }
}
