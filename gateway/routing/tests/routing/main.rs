//! The route table through its public API: parsing, the table-driven
//! problem cases, resolution, path normalisation, the model-based
//! properties, the flip decision, and the crate's purity (it depends on no
//! runtime). Shared routes.toml texts come from `fixtures.rs`.

mod cases;
mod conditions;
mod fixtures;
mod flip;
mod path;
mod properties;
mod purity;
mod resolve;
mod table;
mod upstreams;
