//! The one integration-test binary.

mod cli;
mod engine;
mod fixtures;
mod generate;
mod slt;
mod lake;
mod support;
