//! scorer: Postern's stateless scoring worker.
//!
//! Any number of scorer processes share one durable pull consumer on MAIL_RAW. Each raw
//! event is parsed, checked and given a disposition, published as DispositionAssigned to
//! MAIL_EVENTS; the raw event is acked only after that publish is acknowledged.

pub mod analysis;
pub mod auth;
pub mod autolearn;
pub mod campaign;
pub mod campaign_feed;
pub mod classifier;
pub mod cli;
pub mod combine;
pub mod config;
pub mod error;
pub mod eval;
pub mod html_text;
pub mod learner;
pub mod list_copy;
pub mod metrics;
pub mod ordered;
pub mod parse;
pub mod policy;
pub mod raw_header;
pub mod score;
pub mod spamassassin;
pub mod train;
pub mod verdict;
pub mod worker;

pub use worker::run;
