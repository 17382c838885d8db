//! JSON strings written by hand, byte for byte as serde_json writes them.
//!
//! serde_json looks every byte of a string up in a table, one at a time; on a cached review
//! that loop was ~8 % of the instructions, over ids, digests and type names that never need
//! escaping. Here a string is checked eight bytes at a time and copied whole when nothing in
//! it needs escaping; only a string that does is escaped byte by byte, with serde_json's rules.

/// Appends `value` as a JSON string, quotes included: what `serde_json::to_string(value)` gives.
pub fn push_json_string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    match first_to_escape(value.as_bytes()) {
        None => out.push_str(value),
        Some(at) => {
            // `at` is an ASCII byte's index, so both halves are whole UTF-8.
            let (plain, rest) = value.split_at(at);
            out.push_str(plain);
            escape_into(out, rest);
        }
    }
    out.push('"');
}

/// Whether JSON needs `byte` escaped: a control character, `"` or `\` (serde_json leaves
/// DEL and every non-ASCII byte as they are).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes in `word` needs escaping. Each test sets a byte's high bit
/// only where a byte is below `n` (`x - n` borrows into it and `x` had it clear); a false alarm
/// costs a byte-by-byte look at these eight, never a missed byte.
fn word_needs_escape(word: u64) -> bool {
    let below = |x: u64, n: u64| x.wrapping_sub(LOW_BITS * n) & !x & HIGH_BITS;
    let control = below(word, 0x20);
    let quote = below(word ^ (LOW_BITS * u64::from(b'"')), 1);
    let backslash = below(word ^ (LOW_BITS * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

/// The index of the first byte that needs escaping, if any.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        if word_needs_escape(u64::from_le_bytes(eight))
            && let Some(i) = word.iter().position(|&b| needs_escape(b))
        {
            return Some(start + i);
        }
        start += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| needs_escape(b)).map(|i| start + i)
}

/// Appends `value` escaped as serde_json escapes it: the short forms where JSON has one,
/// `\u00xx` (lower-case hex) for the other control characters.
fn escape_into(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut plain_from = 0;
    for (i, byte) in value.bytes().enumerate() {
        if !needs_escape(byte) {
            continue;
        }
        // `i` is an ASCII byte's index: the slices stay whole UTF-8.
        out.push_str(&value[plain_from..i]);
        plain_from = i + 1;
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
    }
    out.push_str(&value[plain_from..]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn written(value: &str) -> String {
        let mut out = String::new();
        push_json_string(&mut out, value);
        out
    }

    /// Every character up to U+00FF, alone and at each place in a word-sized run (the check
    /// reads eight bytes at a time), as serde_json writes it.
    #[test]
    fn every_character_is_written_as_serde_json_writes_it() {
        for code in 0..=0xffu32 {
            let c = char::from_u32(code).unwrap();
            for before in 0..17 {
                let value = format!("{}{c}{}", "a".repeat(before), "b".repeat(16 - before));
                assert_eq!(
                    written(&value),
                    serde_json::to_string(&value).unwrap(),
                    "{code:#x} at {before}"
                );
            }
        }
        for value in [
            "",
            "\"",
            "\\",
            "\u{7f}",
            "é\"\n\u{1}\u{1f}",
            "\u{2028}\u{2029}😀",
            "a\"b\\c\td",
        ] {
            assert_eq!(written(value), serde_json::to_string(value).unwrap(), "{value:?}");
        }
    }

    #[test]
    fn no_byte_that_needs_escaping_is_missed_in_a_word() {
        for byte in 0..=0xffu8 {
            for at in 0..8 {
                let mut eight = [b'x'; 8];
                eight[at] = byte;
                assert_eq!(
                    word_needs_escape(u64::from_le_bytes(eight)),
                    needs_escape(byte),
                    "{byte:#x} at {at}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(value in any::<String>()) {
            prop_assert_eq!(written(&value), serde_json::to_string(&value).unwrap());
        }

        #[test]
        fn any_mostly_ascii_string_is_written_as_serde_json_writes_it(value in "[ -~\\x00-\\x1féü\"\\\\]{0,40}") {
            prop_assert_eq!(written(&value), serde_json::to_string(&value).unwrap());
        }
    }
}
