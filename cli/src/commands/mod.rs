//! One module per command, each an `Args` struct with a `run` method.

pub mod account;
pub mod bundle;
pub mod completions;
pub mod components;
pub mod compose;
pub mod init;
pub mod keys;
pub mod log;
pub mod packages;
pub mod run;
pub mod serve;
pub mod up;
pub mod verify;
