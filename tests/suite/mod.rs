pub mod check;
pub mod exec;
pub mod harness;
pub mod isolation;
pub mod kernel;
pub mod policy_errors;
pub mod resources;
pub mod terminal;
