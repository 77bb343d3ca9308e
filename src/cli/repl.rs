//! The interactive prompt: multi-line statements ended by `;`, history,
//! and a few backslash commands.

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::run::{RunOptions, run_one};
use crate::engine::Engine;
use crate::error::{Error, Result};

const HELP: &str = "\
  \\d          list tables
  \\d NAME     describe a table
  \\q          quit (or Ctrl-D)
  \\?          this help
End a statement with ';' (it may span lines).";

/// Reads statements until `\q` or end of input.
pub async fn repl(engine: &Engine, opts: &RunOptions) -> Result<()> {
    let mut editor =
        DefaultEditor::new().map_err(|e| Error::Usage(format!("cannot start the prompt: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".microseg_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!(
        "microseg {} on lake {} ({} tables). \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION"),
        engine.lake().location.original,
        engine.lake().tables.len()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "microseg> "
        } else {
            "       -> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Usage(format!("prompt: {e}"))),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match backslash(trimmed) {
                Backslash::Quit => break,
                Backslash::Help => eprintln!("{HELP}"),
                Backslash::Sql(sql) => report(run_one(engine, &sql, None, opts).await),
                Backslash::Unknown => eprintln!("unknown command {trimmed}; \\? for help"),
            }
            continue;
        }
        if !buffer.is_empty() {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        if !trimmed.ends_with(';') {
            continue;
        }
        let _ = editor.add_history_entry(buffer.as_str());
        let script = std::mem::take(&mut buffer);
        match engine.split_script(&script) {
            Ok(statements) => {
                for st in statements {
                    report(run_one(engine, &st.sql, None, opts).await);
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

fn report(result: Result<()>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Backslash {
    Quit,
    Help,
    Sql(String),
    Unknown,
}

fn backslash(cmd: &str) -> Backslash {
    let mut parts = cmd.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("\\q"), None) => Backslash::Quit,
        (Some("\\?"), None) => Backslash::Help,
        (Some("\\d"), None) => Backslash::Sql(
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
                .into(),
        ),
        // Quoted so names that need quoting still work.
        (Some("\\d"), Some(name)) => {
            Backslash::Sql(format!("DESCRIBE \"{}\"", name.replace('"', "\"\"")))
        }
        _ => Backslash::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backslash_commands() {
        assert_eq!(backslash("\\q"), Backslash::Quit);
        assert_eq!(backslash("\\?"), Backslash::Help);
        assert!(
            matches!(backslash("\\d"), Backslash::Sql(s) if s.contains("information_schema.tables"))
        );
        assert_eq!(
            backslash("\\d orders"),
            Backslash::Sql("DESCRIBE \"orders\"".into())
        );
        assert_eq!(backslash("\\x"), Backslash::Unknown);
    }
}
