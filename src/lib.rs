//! sandboxctl: a deny-by-default sandbox supervisor.
//!
//! The policy ([`policy`]) and the command become a [`plan`] of plain data;
//! the executor in [`sandbox`] applies it layer by layer.

pub mod audit;
pub mod cgroup;
pub mod doctor;
pub mod failure;
pub mod host;
pub mod integrity;
pub mod paths;
pub mod plan;
pub mod policy;
pub mod precheck;
pub mod proxy;
pub mod sandbox;
pub mod simulate;
pub mod util;
