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

/// A time that [`Timestamp::parse`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or milliseconds since 1970")]
pub struct BadTimestamp(pub String);

impl Timestamp {
    /// Parses `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM[:SS[.fff]]Z` (UTC only) or a
    /// number of milliseconds since the epoch.
    pub fn parse(text: &str) -> Result<Self, BadTimestamp> {
        let t = text.trim();
        let bad = || BadTimestamp(t.to_owned());
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse().map(Timestamp).map_err(|_| bad());
        }
        let (date, time) = match t.split_once(['T', ' ']) {
            Some((d, rest)) => {
                (d, Some(rest.strip_suffix('Z').or_else(|| rest.strip_suffix("+00:00")).ok_or_else(bad)?))
            }
            None => (t, None),
        };
        let mut parts = date.split('-');
        let (y, m, d): (i64, u32, u32) = (
            parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?,
            parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?,
            parts.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?,
        );
        if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
            return Err(bad());
        }
        let mut millis = 0u64;
        if let Some(time) = time {
            let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
            let fields: Vec<u64> = hms.split(':').map(|v| v.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
            let (h, mi, s) = match fields.as_slice() {
                [h, mi] => (*h, *mi, 0),
                [h, mi, s] => (*h, *mi, *s),
                _ => return Err(bad()),
            };
            if h > 23 || mi > 59 || s > 60 {
                return Err(bad());
            }
            let ms: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<3}")[..3].parse().map_err(|_| bad())? };
            millis = ((h * 60 + mi) * 60 + s) * 1000 + ms;
        }
        let days = days_from_civil(y, m, d);
        if days < 0 {
            return Err(bad());
        }
        Ok(Timestamp(days as u64 * 86_400_000 + millis))
    }

    /// `YYYY-MM-DD` of the UTC day.
    pub fn date(self) -> String {
        let (y, mo, d, ..) = civil(self.0 / 1000);
        format!("{y:04}-{mo:02}-{d:02}")
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn parses_what_it_formats() {
        for t in [0, 951_782_400_000, 1_787_931_155_120, 1_735_689_599_999] {
            assert_eq!(Timestamp::parse(&Timestamp(t).to_rfc3339()), Ok(Timestamp(t)));
        }
        assert_eq!(Timestamp::parse("2026-08-28"), Ok(Timestamp(1_787_875_200_000)));
        assert_eq!(Timestamp::parse("2026-08-28T15:32Z"), Ok(Timestamp(1_787_931_120_000)));
        assert_eq!(Timestamp::parse("1787931155120"), Ok(Timestamp(1_787_931_155_120)));
        assert_eq!(Timestamp(1_787_931_155_120).date(), "2026-08-28");
        for bad in ["", "yesterday", "2026-13-01", "2026-08-28T25:00Z", "2026-08-28T10:00+02:00", "2026-08"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }
}
