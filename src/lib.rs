//! microseg: customer micro-segmentation expressed and executed as SQL.
//!
//! [`Engine`] opens a customer lake and runs SQL against it; every front
//! door (the CLI, the Flight SQL server, materialization jobs, embedding
//! Rust programs) goes through [`Engine::sql`].

pub mod args;
pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod delta;
pub mod engine;
pub mod error;
pub mod generate;
pub mod jobs;
pub mod lake;
pub mod models;
pub mod planning;
pub mod report;
pub mod server;
pub mod statements;
pub mod tables;
pub mod web;

pub use engine::{Engine, EngineOptions};
pub use error::{Error, JobFailure, Result};
