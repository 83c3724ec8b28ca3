//! Fuzzing entry points (being written).
