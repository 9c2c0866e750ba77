//! Operator commands of a Postern deployment (the `postern` binary). Today: the NATS
//! credentials of each component ([`nats_keys`]).

pub mod nats_keys;
