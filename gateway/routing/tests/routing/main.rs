//! The route table through its public API: parsing, the table-driven
//! problem cases, resolution, path normalisation and the model-based
//! properties. Shared routes.toml texts come from `fixtures.rs`.

mod cases;
mod fixtures;
mod flip;
mod path;
mod properties;
mod purity;
mod resolve;
mod table;
