//! Encoding actions (being written).
#![allow(missing_docs)]
pub struct Action;
pub struct ActionId;
pub struct ActionIdGenerator;
#[derive(Debug)]
pub struct EncodeError;
