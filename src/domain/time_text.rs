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
fn text(time: &DateTime<Utc>, zone: Zone) -> Option<([u8; MOST], usize)> {
    let (year, nanos) = (time.year(), time.nanosecond());
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    let (digits, fraction) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    let mut out = Out {
        buf: [0; MOST],
        len: 0,
    };
    out.digits(year, 4);
    for (separator, value) in [
        (b'-', time.month()),
        (b'-', time.day()),
        (b'T', time.hour()),
        (b':', time.minute()),
        (b':', time.second()),
    ] {
        out.push(separator);
        out.digits(value, 2);
    }
    if digits > 0 {
        out.push(b'.');
        out.digits(fraction, digits);
    }
    match zone {
        Zone::Z => out.push(b'Z'),
        Zone::Offset => b"+00:00".iter().for_each(|b| out.push(*b)),
    }
    Some((out.buf, out.len))
}

struct Out {
    buf: [u8; MOST],
    len: usize,
}

impl Out {
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// `value`'s last `width` decimal digits, zero-padded.
    fn digits(&mut self, value: u32, width: u32) {
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            self.push(b'0' + u8::try_from(digit).unwrap_or(0));
        }
    }
}

/// `time` as `to_rfc3339_opts(SecondsFormat::AutoSi, false)` writes it (sqlx's SQLite text).
pub fn rfc3339_offset(time: &DateTime<Utc>) -> String {
    match text(time, Zone::Offset) {
        Some((buf, len)) => String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned(),
        None => time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
    }
}

/// Serializes `time` as chrono's `Serialize` does (`…Z`), for `#[serde(serialize_with)]`.
pub fn serialize<S: serde::Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    match text(time, Zone::Z) {
        Some((buf, len)) => match std::str::from_utf8(buf.get(..len).unwrap_or_default()) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => serde::Serialize::serialize(time, serializer),
        },
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
