//! Filters (being written).
