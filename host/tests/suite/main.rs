//! The host's integration suite (the real binary, crashes, backups, the
//! browser, parsers), one module per area, built as one test binary: one
//! link instead of one per file. The database crash stays apart: it runs alone.

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod browser;
mod config;
mod kv_crash;
mod layers;
mod logs;
mod migrate;
mod parsers;
mod payments_crash;
mod publishing_cli;
mod restart;
mod serve_binary;
mod several_hosts;
