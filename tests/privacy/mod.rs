//! Issue 15's privacy rules through the engine API (what the CLI and the
//! server call): the `[privacy]` config, the reader rule on the plan,
//! erasure and suppression (`forget`), the audit log. The attack table over
//! Flight SQL is `tests/python/test_privacy.py`.

mod config;
mod forget;
mod reader;
mod rule6;
