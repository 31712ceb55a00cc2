//! Consumer groups: the classic consumer protocol payloads and the partition assignors a group
//! leader runs.

pub mod admin;
pub mod assignor;
pub(crate) mod commit;
pub(crate) mod coordinator;
mod heartbeat;
mod join;
pub mod member;
mod ownership;
pub(crate) mod phase;
pub mod protocol;
mod session;
pub(crate) mod subscription;
