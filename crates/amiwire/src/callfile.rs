//! Call files (being written).
