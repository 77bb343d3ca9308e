//! The one integration-test binary.

mod cli;
mod cluster;
mod cluster_resources;
mod delta;
mod dense;
mod engine;
mod fixtures;
mod generate;
mod identity_graph;
mod jobs;
mod lake;
mod layers;
mod linkage;
mod models;
mod planning;
mod privacy;
mod report;
mod segmentation;
mod server;
mod slt;
mod sources;
mod support;
mod text;
mod triggers;
