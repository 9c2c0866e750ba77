//! BULK evidence: list and bulk-mail headers (RFC 2369 List-*, RFC 8058 one-click
//! unsubscribe, Precedence).

use super::ScoreContext;

pub const LIST_UNSUBSCRIBE: &str = "list_unsubscribe";
pub const PRECEDENCE_BULK: &str = "precedence_bulk";

pub fn check(ctx: &mut ScoreContext<'_>) {
    if let Some(value) = ctx.header_text("List-Unsubscribe") {
        let evidence = format!("List-Unsubscribe: {}", clip(value));
        ctx.add(LIST_UNSUBSCRIBE, 3000, evidence);
    }
    if let Some(value) = ctx.header_text("Precedence") {
        let v = value.to_ascii_lowercase();
        if ["bulk", "list", "junk"].contains(&v.as_str()) {
            ctx.add(PRECEDENCE_BULK, 3000, format!("Precedence: {v}"));
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}
