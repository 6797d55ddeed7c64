//! Reports and exports: tables for people, JSON/CSV/Markdown for programs and charts, each written through
//! [`crate::output`] (atomically, or through a device or stream, never replacing what is not a regular file).

pub mod csv;
pub mod json;
pub mod markdown;
pub mod plot;
pub mod table;

pub use crate::output::{check_outputs, write_all_atomically, write_atomically, OutputError};
