//! Tracing field names, shared so that logs of all services can be joined.

pub const SESSION_ID: &str = "session_id";
pub const PEER: &str = "peer";
pub const MESSAGE_ID: &str = "message_id";
pub const POSTERN_ID: &str = "postern_id";
pub const EVENT_ID: &str = "event_id";
pub const EVENT_TYPE: &str = "event_type";
pub const STREAM_SEQ: &str = "stream_seq";
pub const DELIVERED: &str = "delivered";
pub const TENANT: &str = "tenant";
