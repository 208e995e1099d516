//! The integration suite: runs the real `sandboxctl` binary in a fresh
//! temporary directory per test. Tests that need a kernel feature or a
//! privilege check first and print `skipped: <reason>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
