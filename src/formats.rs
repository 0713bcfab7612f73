//! The metric formats: reading pushes (text format 0.0.4, delimited protobuf, compressed
//! bodies), writing scrapes (text, OpenMetrics, protobuf), metric and label names, and reading
//! back the text the store keeps.

pub mod compress;
pub mod expose;
pub(crate) mod lines;
pub mod model;
pub mod names;
pub mod openmetrics;
pub mod proto;
pub mod text;
