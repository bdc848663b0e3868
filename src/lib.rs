//! esoutliers: ee-outliers' models (terms, simplequery, sudden_appearance), computed inside
//! Elasticsearch.
//!
//! The pipeline is the architecture; each stage is a module:
//!
//! ```text
//!  config ──► plan ──► execute(count) ──► evaluate ──► execute(fetch candidates, whitelist) ──┐
//!  (INI →     (pure:   (composite pages,  (pure:        (only events of outlier pairs)        │
//!  UseCase)   bodies)  after_key)         trigger math)                                       ▼
//!                                         report ◄── execute(_update_by_query tasks) ◄── tag (pure)
//! ```
//!
//! `app` runs the CLI commands; `pipeline` runs the stages of one use case in order, with
//! one file per model (see ARCHITECTURE.md). Only `execute` does network I/O;
//! `plan`, `evaluate`, `tag` and `report` take values and return values.

pub mod app;
pub mod cli;
pub mod config;
pub mod es;
pub mod evaluate;
pub mod execute;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod tag;
