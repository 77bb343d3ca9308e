//! Scheduled materialization: `microseg materialize JOB.toml` writes
//! segment tables back into the lake as Delta Lake tables.
//!
//! - [`spec`]: job files (`sql/jobs/*.toml`).
//! - [`run()`]: one run: lock, clean, plan with `$as_of` bound, validate,
//!   stream into one Delta commit.
//! - [`lock`]: one writer per target, through the object store.
//! - [`orphans`]: files of interrupted runs; `microseg vacuum`.
//!
//! Guarantees: a Delta commit is the only step that makes rows visible,
//! and it is atomic, so a run that fails or is killed leaves the previous
//! version as it was; validation (key, schema) fails the run before its
//! commit; a snapshot run replaces only its own `as_of` partition, so
//! re-running a date is idempotent.

pub mod lock;
pub mod orphans;
mod run;
pub mod spec;
mod validate;

pub use orphans::{VacuumReport, clean_orphans, vacuum};
pub use run::{LogFormat, RunOptions, TargetReport, run};
pub use spec::{Compression, Job, Mode, Target};
