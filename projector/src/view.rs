//! Pure folds: events in, view records out. No I/O, no clock, no randomness.

pub mod message;
