//! BULK evidence: list and bulk-mail headers (RFC 2369 List-*, RFC 8058 one-click
//! unsubscribe, Precedence), and the signatures of email service providers (SendGrid,
//! SparkPost, Marketo, Mailgun, Amazon SES, Mandrill...) or a List-Id on mail whose body
//! offers a way to unsubscribe (ESPs also send receipts and password resets, which are
//! not bulk: the unsubscribe offer is what marks marketing).

use super::ScoreContext;

pub const LIST_UNSUBSCRIBE: &str = "list_unsubscribe";
pub const PRECEDENCE_BULK: &str = "precedence_bulk";
pub const ESP_BULK: &str = "esp_bulk";

/// Headers that email service providers and list servers add.
const ESP_HEADERS: [&str; 19] = [
    "List-Id",
    "X-SG-EID",
    "X-SG-ID",
    "X-MSFBL",
    "X-MSYS-API",
    "Feedback-ID",
    "X-Feedback-ID",
    "X-CSA-Complaints",
    "X-Mailgun-Sid",
    "X-Mailgun-Tag",
    "X-SES-Outgoing",
    "X-MC-User",
    "X-Mandrill-User",
    "X-Campaign",
    "X-CampaignID",
    "X-MarketoID",
    "X-Mktmaildkim",
    "X-Binding",
    "X-Job",
];

pub fn check(ctx: &mut ScoreContext<'_>) {
    if let Some(value) = ctx.header_text("List-Unsubscribe") {
        let evidence = format!("List-Unsubscribe: {}", clip(value));
        ctx.add(LIST_UNSUBSCRIBE, 3000, evidence);
    }
    esp_bulk(ctx);
    if let Some(value) = ctx.header_text("Precedence") {
        let v = value.to_ascii_lowercase();
        if ["bulk", "list", "junk"].contains(&v.as_str()) {
            ctx.add(PRECEDENCE_BULK, 3000, format!("Precedence: {v}"));
        }
    }
}

fn esp_bulk(ctx: &mut ScoreContext<'_>) {
    if ctx.fired(LIST_UNSUBSCRIBE) {
        return;
    }
    let Some(header) = ESP_HEADERS.iter().find(|h| ctx.header_text(h).is_some()) else { return };
    let offers_unsubscribe = ctx.body_texts().iter().flatten().any(|t| {
        let lower = t.to_lowercase();
        ["unsubscribe", "opt out", "opt-out", "abmelden", "désabonner", "darse de baja"]
            .iter()
            .any(|w| lower.contains(w))
    });
    if offers_unsubscribe {
        ctx.add(ESP_BULK, 3000, format!("{header} header and an unsubscribe offer in the body"));
    }
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}
