//! The metric formats: the metric model, reading pushes into it (text format 0.0.4, delimited
//! protobuf, compressed bodies), writing it and what the store keeps (text, OpenMetrics,
//! protobuf), metric and label names, and reading back the text the store keeps. Uses no other
//! layer.

pub mod compress;
pub mod expose;
pub(crate) mod lines;
pub mod model;
pub mod names;
pub(crate) mod openmetrics;
pub mod proto;
pub mod text;
