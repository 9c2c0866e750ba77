//! Dates as SpamAssassin reads them: `Util::parse_rfc822_date` and HeaderEval's Date
//! against Received comparison (`_get_date_header_time`, `_get_received_header_times`,
//! `_check_date_diff`), behind the `DATE_IN_PAST_*` / `DATE_IN_FUTURE_*` rules.
//!
//! Ported with SpamAssassin's own leniency, not RFC 5322's grammar: the rules' scores were
//! set on what this reading gives (a time zone of `-1900` counts as 19 hours; an unknown
//! zone name as `-0000`; a second of 60 as 59).

use std::sync::LazyLock;

use regex::Regex;

use super::views::MessageView;

/// Time zone names `parse_rfc822_date` knows (`Util.pm`'s `%TZ`), offset in minutes.
const ZONES: &[(&str, i64)] = &[
    ("UT", 0),
    ("UTC", 0),
    ("NDT", -150),
    ("AST", -240),
    ("ADT", -180),
    ("NST", -210),
    ("EST", -300),
    ("EDT", -240),
    ("CST", -360),
    ("CDT", -300),
    ("MST", -420),
    ("MDT", -360),
    ("PST", -480),
    ("PDT", -420),
    ("HST", -600),
    ("AKST", -540),
    ("AKDT", -480),
    ("HADT", -540),
    ("HAST", -600),
    ("GMT", 0),
    ("BST", 60),
    ("IST", 60),
    ("WET", 0),
    ("WEST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("MSK", 180),
    ("MSD", 240),
    ("MET", 60),
    ("MEZ", 60),
    ("MEST", 120),
    ("MESZ", 120),
    ("BRST", -120),
    ("BRT", -180),
    ("AEST", 600),
    ("AEDT", 660),
    ("ACST", 570),
    ("ACDT", 630),
    ("AWST", 480),
    ("NZST", 720),
    ("NZDT", 780),
    ("JST", 540),
    ("KST", 540),
    ("HKT", 480),
    ("SGT", 480),
    ("PHT", 480),
    ("IDT", 180),
];

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn compiled(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a date pattern of this module")
}

static DAY_MONTH_YEAR: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"(?i) ([0-9]+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "));
static MONTH_DAY_TIME_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"(?i) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +([0-9]+) [0-9]+:[0-9]+:[0-9]+ ([0-9]{4}) ")
});
static DAY_MONTH_SHORT_YEAR: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"(?i) ([0-9]+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{2,3}) "));
static TIME: LazyLock<Regex> = LazyLock::new(|| compiled(r" ([0-9]?[0-9]):([0-9][0-9])(:([0-9][0-9]))? "));
static NUMERIC_ZONE: LazyLock<Regex> = LazyLock::new(|| compiled(r" ([-+])([0-9]{2})([0-9]{2}) "));
static ZONE_NAME: LazyLock<Regex> = LazyLock::new(|| compiled(r"\b([A-Z]{2,4}(?:-DST)?)\b"));
/// The date in a Received line (`_get_received_header_times`).
static RECEIVED_DATE: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"(\s.?[0-9]+ \S\S\S [0-9]+ [0-9]+:[0-9]+:[0-9]+ \S+)"));
static LOCAL_HANDOVER: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"\bfrom (?:localhost\s|(?:\S+ ){1,2}\S*\b127\.0\.0\.1\b)|qmail [0-9]+ invoked by uid [0-9]+")
});
static FETCHMAIL: LazyLock<Regex> = LazyLock::new(|| compiled(r"\bby localhost with \w+ \(fetchmail-[0-9.]+"));

/// Replaces the first match of `re` in `text` with one space, as Perl's `s/re/ /` does.
fn take_first(re: &Regex, text: &mut String) -> Option<Vec<Option<String>>> {
    let caps = re.captures(text)?;
    let whole = caps.get(0).expect("group 0").range();
    let groups = (1..caps.len()).map(|i| caps.get(i).map(|m| m.as_str().to_owned())).collect();
    text.replace_range(whole, " ");
    Some(groups)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch, as `Util::parse_rfc822_date` reads a date; None when it finds
/// no day, month and year.
pub fn parse_rfc822_date(date: &str) -> Option<i64> {
    let mut text = format!(" {date} ");
    text = text.replace(',', " ");
    text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text = format!(" {text} ");
    let field = |groups: &[Option<String>], i: usize| groups.get(i).cloned().flatten().unwrap_or_default();
    let (day, month, year, year_digits) = if let Some(g) = take_first(&DAY_MONTH_YEAR, &mut text) {
        (field(&g, 0), field(&g, 1), field(&g, 2), 4)
    } else if let Some(g) = take_first(&MONTH_DAY_TIME_YEAR, &mut text) {
        // SpamAssassin takes the time out with it: such a date reads as midnight.
        (field(&g, 1), field(&g, 0), field(&g, 2), 4)
    } else if let Some(g) = take_first(&DAY_MONTH_SHORT_YEAR, &mut text) {
        let y = field(&g, 2);
        let digits = y.len();
        (field(&g, 0), field(&g, 1), y, digits)
    } else {
        return None;
    };
    let mut year: i64 = year.parse().ok()?;
    if year_digits == 2 && year < 50 {
        year += 2000;
    } else if year_digits != 4 {
        year += 1900;
    }
    let (mut hour, mut minute, mut second) = (0i64, 0i64, 0i64);
    if let Some(g) = take_first(&TIME, &mut text) {
        hour = field(&g, 0).parse().unwrap_or(0);
        minute = field(&g, 1).parse().unwrap_or(0);
        second = field(&g, 3).parse().unwrap_or(0);
    }
    let zone_minutes: i64 = if let Some(g) = take_first(&NUMERIC_ZONE, &mut text) {
        let sign = if field(&g, 0) == "-" { -1 } else { 1 };
        sign * (field(&g, 1).parse::<i64>().unwrap_or(0) * 60 + field(&g, 2).parse::<i64>().unwrap_or(0))
    } else {
        ZONE_NAME
            .captures(&text)
            .and_then(|c| ZONES.iter().find(|(name, _)| *name == &c[1]))
            .map(|(_, minutes)| *minutes)
            .unwrap_or(0)
    };
    let mut month = 1 + MONTHS.iter().position(|m| m.eq_ignore_ascii_case(&month))? as i64;
    let mut day: i64 = day.parse().ok()?;
    second = second.min(59);
    minute = minute.min(59);
    hour = hour.min(23);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let last_day = match month {
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 31,
    };
    if day > last_day {
        day = 1;
        month += 1;
        if month > 12 {
            month = 1;
            year += 1;
        }
    }
    year = year.clamp(1970, 2037);
    if day < 1 {
        // Time::Local's timegm croaks on day 0; SpamAssassin then has no date.
        return None;
    }
    let time = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let offset = zone_minutes * 60;
    Some(if offset < 0 {
        time - offset
    } else if time < offset {
        0
    } else {
        time - offset
    })
}

/// The Date the rules compare: Resent-Date's before Date's, the first that parses.
fn date_header_time(view: &MessageView) -> Option<i64> {
    ["resent-date", "date"]
        .iter()
        .flat_map(|name| view.header_fields(name))
        .filter(|h| !h.decoded.is_empty())
        .find_map(|h| parse_rfc822_date(&h.decoded))
}

/// The times of the Received lines, newest first, leaving out the local handovers at the
/// top (a delivery from localhost, qmail's `invoked by uid`, fetchmail's).
fn received_times(view: &MessageView) -> Vec<i64> {
    let mut received: Vec<&str> =
        view.header_fields("received").map(|h| h.decoded.as_str()).filter(|r| !r.trim().is_empty()).collect();
    if received.first().is_some_and(|r| LOCAL_HANDOVER.is_match(r)) {
        // SpamAssassin drops it only when fetchmail's handover follows.
        if received.get(1).is_some_and(|r| FETCHMAIL.is_match(r)) {
            received.drain(..2);
        }
    } else if received.first().is_some_and(|r| FETCHMAIL.is_match(r)) {
        received.remove(0);
    }
    received.iter().filter_map(|r| RECEIVED_DATE.captures(r)).filter_map(|c| parse_rfc822_date(&c[1])).collect()
}

/// Seconds from the Received time closest to the Date to the Date (positive: dated in the
/// future), as `_check_date_diff`: the oldest Received is left out when it agrees with the
/// Date to the second (the sender's own first hop says nothing). None without a Date or a
/// dated Received.
pub fn date_diff(view: &MessageView) -> Option<i64> {
    let date = date_header_time(view)?;
    let mut diffs: Vec<i64> = received_times(view).into_iter().map(|t| date - t).collect();
    if diffs.len() > 1 && diffs.last() == Some(&0) {
        diffs.pop();
    }
    diffs.into_iter().min_by_key(|d| d.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(raw: &str) -> MessageView {
        let message = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a message");
        MessageView::new(&message, "", &[])
    }

    #[test]
    fn dates_read_as_spamassassin_reads_them() {
        // 2024-01-01T12:00:00Z
        let noon = 1_704_110_400;
        assert_eq!(parse_rfc822_date("Mon, 1 Jan 2024 12:00:00 +0000"), Some(noon));
        assert_eq!(parse_rfc822_date("Mon, 01 Jan 2024 07:00:00 -0500 (EST)"), Some(noon));
        assert_eq!(parse_rfc822_date("Mon, 1 Jan 2024 07:00:00 EST"), Some(noon));
        // Unknown zone names count as UTC; two-digit years below 50 are 20xx.
        assert_eq!(parse_rfc822_date("1 Jan 24 12:00:00 XYZ"), Some(noon));
        // asctime's order loses the time, as in SpamAssassin.
        assert_eq!(parse_rfc822_date("Mon Jan  1 12:00:00 2024"), Some(noon - 12 * 3600));
        // An out-of-range zone is taken at its word: -1900 is 19 hours behind.
        assert_eq!(parse_rfc822_date("Sun, 01 Sep 2002 13:21:15 -1900"), Some(1_030_886_475 + 19 * 3600));
        // Fudged, not refused: second 60, day 31 of a 30-day month.
        assert_eq!(parse_rfc822_date("1 Jan 2024 12:00:60 +0000"), Some(noon + 59));
        assert_eq!(parse_rfc822_date("31 Apr 2024 00:00:00 +0000"), parse_rfc822_date("1 May 2024 00:00:00 +0000"));
        assert_eq!(parse_rfc822_date("yesterday"), None);
    }

    #[test]
    fn date_is_compared_with_the_closest_received() {
        let v = view(
            "Received: from a by b; Mon, 1 Jan 2024 12:00:00 +0000\r\n\
             Date: Mon, 1 Jan 2024 06:00:00 +0000\r\n\r\nx",
        );
        assert_eq!(date_diff(&v), Some(-6 * 3600));
        let none = view("Date: Mon, 1 Jan 2024 06:00:00 +0000\r\n\r\nx");
        assert_eq!(date_diff(&none), None);
    }

    #[test]
    fn the_senders_own_first_hop_and_local_fetchmail_handovers_are_left_out() {
        // The oldest Received agrees with the Date to the second: left out, the next counts.
        let v = view(
            "Received: from mx by relay; Mon, 1 Jan 2024 12:00:00 +0000\r\n\
             Received: from me by my-box; Mon, 1 Jan 2024 20:00:00 +0000\r\n\
             Date: Mon, 1 Jan 2024 20:00:00 +0000\r\n\r\nx",
        );
        assert_eq!(date_diff(&v), Some(8 * 3600));
        // A local delivery and fetchmail's handover at the top say when it was fetched.
        let v = view(
            "Received: from localhost (localhost [127.0.0.1]) by box (Postfix); Thu, 29 Aug 2002 05:56:00 -0400\r\n\
             Received: from mail.example.net [192.0.2.1] by localhost with POP3 (fetchmail-5.9.0) for u@localhost (single-drop); Thu, 29 Aug 2002 10:56:00 +0100 (IST)\r\n\
             Received: from a.example (a.example [192.0.2.9]) by mail.example.net; Wed, 28 Aug 2002 22:08:12 +0100\r\n\
             Date: Thu, 29 Aug 2002 01:05:56 -0800\r\n\r\nx",
        );
        assert_eq!(date_diff(&v), Some(11 * 3600 + 57 * 60 + 44));
    }
}
