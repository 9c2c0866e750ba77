//! Timestamps: milliseconds since the Unix epoch, taken by the producer of an event and
//! carried with it. Folds never read the wall clock; they use these.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since 1970-01-01T00:00:00Z (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time. Only producers call this; folds never do.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    /// RFC 3339 in UTC with whole seconds, e.g. `2026-08-28T15:32:35Z`.
    pub fn to_rfc3339_seconds(self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.0 / 1000);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-08-28T15:32:35.120Z`.
    pub fn to_rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.0 / 1000);
        let ms = self.0 % 1000;
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Splits seconds since the epoch into a UTC civil date and time
/// (Howard Hinnant's `civil_from_days`, valid for every u64 second count we can meet).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (rem / 3600) as u32, (rem % 3600 / 60) as u32, (rem % 60) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        // 2026-08-28T15:32:35.120Z
        assert_eq!(Timestamp(1_787_931_155_120).to_rfc3339(), "2026-08-28T15:32:35.120Z");
        assert_eq!(Timestamp(1_787_931_155_120).to_rfc3339_seconds(), "2026-08-28T15:32:35Z");
        // A leap day.
        assert_eq!(Timestamp(951_782_400_000).to_rfc3339_seconds(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_735_689_599_999).to_rfc3339(), "2024-12-31T23:59:59.999Z");
    }
}
