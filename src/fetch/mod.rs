//! The fetcher: one fetch loop per leader broker, and a manager that keeps leaders and start
//! positions known.
//!
//! Data path: [`broker_loop`] sends one Fetch per leader covering all its ready partitions,
//! [`response`] decodes and filters the data, and the partition table (`state`) applies the
//! results and puts them into the bounded buffer, from which the consumer pops. The next fetch is sent as soon as the previous one is decoded,
//! so fetching overlaps the application's processing, and stops while the buffer is full.
//! Control path: [`manager`] refreshes metadata for partitions without a leader, resolves
//! Beginning/End positions with ListOffsets ([`offsets`]), validates positions after a leader
//! change with OffsetForLeaderEpoch ([`validate`], KIP-320), and starts broker loops. Both work on
//! the consumer's shared context (`state::Shared`).

pub(crate) mod broker_loop;
pub(crate) mod manager;
pub(crate) mod offsets;
pub(crate) mod response;
pub(crate) mod session;
pub(crate) mod txn_filter;
pub(crate) mod validate;
