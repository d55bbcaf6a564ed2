//! Tests of `MemRegistry` beyond the shared behaviour suite: Go `ocimem` ports, storage
//! (dedup, zero-copy, SHA-512), upload sessions, manifests, listings and concurrency.

// Helpers outside `#[test]` functions panic on failure too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod blobs;
mod common;
mod concurrency;
mod go_check;
mod listing;
mod manifests;
mod uploads;
