//! A UTC time as RFC 3339 text, written digit by digit: the bytes chrono writes, without its
//! formatter machinery (a review formats three times: the artifact's two in its answer and the
//! decision's in the log row; through `fmt` those were a share of the review's CPU).

use chrono::{DateTime, Datelike, Timelike, Utc};

/// How the zone is written: `Z` (chrono's `Serialize`, i.e. its `Debug`) or `+00:00`
/// (`to_rfc3339_opts(AutoSi, false)`, which sqlx writes to SQLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `…Z`.
    Z,
    /// `…+00:00`.
    Offset,
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+00:00` at most.
const MOST: usize = 35;

/// The text of `time` with chrono's `AutoSi` fraction (none, 3, 6 or 9 digits, the fewest that
/// hold it exactly); `None` for what only chrono writes (years outside 0–9999, a leap second).
fn text(time: &DateTime<Utc>, zone: Zone) -> Option<String> {
    // The parts read once from the naive UTC value: each accessor of a `DateTime` adds the
    // offset again.
    let naive = time.naive_utc();
    let (date, clock) = (naive.date(), naive.time());
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = clock.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let seconds = clock.num_seconds_from_midnight();
    let (digits, fraction) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    let mut out = String::with_capacity(MOST);
    push_digits(&mut out, year, 1000);
    for (separator, value) in [
        ('-', date.month()),
        ('-', date.day()),
        ('T', seconds / 3600),
        (':', seconds / 60 % 60),
        (':', seconds % 60),
    ] {
        out.push(separator);
        push_digits(&mut out, value, 10);
    }
    if digits > 0 {
        out.push('.');
        push_digits(&mut out, fraction, 10u32.pow(digits - 1));
    }
    out.push_str(match zone {
        Zone::Z => "Z",
        Zone::Offset => "+00:00",
    });
    Some(out)
}

/// `value`'s digits from the `place` one down (`place` a power of ten), zero-padded.
fn push_digits(out: &mut String, value: u32, mut place: u32) {
    while place > 0 {
        let digit = value / place % 10;
        out.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
        place /= 10;
    }
}

/// `time` as `to_rfc3339_opts(SecondsFormat::AutoSi, false)` writes it (sqlx's SQLite text).
pub fn rfc3339_offset(time: &DateTime<Utc>) -> String {
    text(time, Zone::Offset).unwrap_or_else(|| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
}

/// Serializes `time` as chrono's `Serialize` does (`…Z`), for `#[serde(serialize_with)]`.
pub fn serialize<S: serde::Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    match text(time, Zone::Z) {
        Some(text) => serializer.serialize_str(&text),
        None => serde::Serialize::serialize(time, serializer),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Times of every fraction length, the ends of the four-digit years, a leap second and
    /// years chrono writes with a sign.
    fn times() -> Vec<DateTime<Utc>> {
        let base = DateTime::parse_from_rfc3339("2026-12-05T09:08:07Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut times = vec![Utc::now(), base];
        for nanos in [
            1,
            9,
            10,
            1_000,
            120_000,
            123_456,
            1_000_000,
            5_000_000,
            999_999_999,
            123_456_789,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        for text in [
            "0000-01-01T00:00:00Z",
            "0009-02-28T01:02:03Z",
            "9999-12-31T23:59:59.5Z",
            "1970-01-01T00:00:00.000001Z",
        ] {
            times.push(DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc));
        }
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap();
        times.push(leap.and_utc());
        times.push(base.with_year(12_026).unwrap());
        times.push(base.with_year(-1).unwrap());
        times
    }

    #[test]
    fn the_offset_text_is_what_chrono_writes_for_sqlx() {
        for time in times() {
            let expected = time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
            assert_eq!(rfc3339_offset(&time), expected, "{time:?}");
        }
    }

    #[test]
    fn the_serialized_text_is_what_chrono_serializes() {
        #[derive(serde::Serialize)]
        struct Ours(#[serde(serialize_with = "serialize")] DateTime<Utc>);
        for time in times() {
            let expected = serde_json::to_string(&time).unwrap();
            assert_eq!(serde_json::to_string(&Ours(time)).unwrap(), expected, "{time:?}");
        }
    }
}
