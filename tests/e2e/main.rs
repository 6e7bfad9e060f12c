//! End-to-end tests through the gateway binary.
