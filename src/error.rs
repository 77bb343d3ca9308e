//! The one error type of the engine and its front doors.

use datafusion::error::DataFusionError;

/// Everything that can go wrong opening a lake, running SQL or generating data.
///
/// Each variant's message names what was wrong (the file, the column, the
/// option) so the CLI can print it as it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lake location or its contents are unusable.
    #[error("lake {location}: {message}")]
    Lake { location: String, message: String },
    /// A configuration file or option is invalid.
    #[error("config {source_name}: {message}")]
    Config {
        source_name: String,
        message: String,
    },
    /// A command-line usage problem.
    #[error("{0}")]
    Usage(String),
    /// The session's policy does not allow the statement or the path
    /// (see [`crate::engine::Policy`]); the text says what was refused.
    #[error("{0}")]
    Refused(String),
    /// Planning or execution failed in DataFusion.
    #[error("{}", strip_df(.0))]
    DataFusion(#[from] DataFusionError),
    /// The object store failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Local file I/O failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A materialization job failed in a way a scheduler should tell apart.
    #[error("{message}")]
    Job { kind: JobFailure, message: String },
}

/// Why a `microseg materialize` run failed; each kind has its own exit code
/// so a scheduler can retry a held lock but page someone for bad SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure {
    /// The job file or its options are wrong (exit code 2).
    Definition,
    /// The job's SQL failed to plan or run (exit code 3).
    Sql,
    /// The rows failed validation: key NULL or duplicated, incompatible schema (exit code 4).
    Validation,
    /// Another run holds the target's lock (exit code 5).
    LockHeld,
}

impl JobFailure {
    /// The process exit code for this failure.
    pub fn exit_code(self) -> u8 {
        match self {
            JobFailure::Definition => 2,
            JobFailure::Sql => 3,
            JobFailure::Validation => 4,
            JobFailure::LockHeld => 5,
        }
    }
}

impl Error {
    /// What a policy refused, when that is why this failed, even when the
    /// refusal came back wrapped in DataFusion's errors.
    pub fn refusal(&self) -> Option<&str> {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = current {
            if let Some(Error::Refused(text)) = e.downcast_ref::<Error>() {
                return Some(text);
            }
            current = e.source();
        }
        None
    }
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A lake error at `location`.
    pub fn lake(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Lake {
            location: location.into(),
            message: message.into(),
        }
    }

    /// A materialization job failure of `kind`.
    pub fn job(kind: JobFailure, message: impl Into<String>) -> Self {
        Error::Job {
            kind,
            message: message.into(),
        }
    }

    /// The process exit code: a job failure's own, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Job { kind, .. } => kind.exit_code(),
            _ => 1,
        }
    }
}

/// DataFusion's messages are good; its nesting of `External`/`Context`
/// wrappers is noise for a user, so print the innermost useful text.
fn strip_df(e: &DataFusionError) -> String {
    match e {
        DataFusionError::Context(ctx, inner) => format!("{ctx}: {}", strip_df(inner)),
        DataFusionError::Shared(inner) => strip_df(inner),
        other => other.to_string(),
    }
}
