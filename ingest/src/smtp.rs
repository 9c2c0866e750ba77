//! SMTP protocol code with no I/O: the session state machine and the DATA receiver.

pub mod data;
pub mod session;
