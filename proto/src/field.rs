//! Tracing field names, shared so that logs of all services can be joined. Spans use them
//! as constant field names: `info_span!("score", { field::MESSAGE_ID } = %id)`.

pub const SESSION_ID: &str = "session_id";
pub const PEER: &str = "peer";
pub const MESSAGE_ID: &str = "message_id";
pub const EVENT_ID: &str = "event_id";
pub const STREAM_SEQ: &str = "stream_seq";
pub const DELIVERED: &str = "delivered";
