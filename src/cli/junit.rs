//! JUnit XML for `policy test --junit FILE`: one `<testsuite>` per test file, one `<testcase>`
//! per policy test case, a failing case carrying its diff in `<failure>` — the shape CI systems
//! (GitLab, Jenkins, GitHub test reporters) read.

use std::fmt::Write as _;

use crate::policy::{CaseOutcome, TestReport};

/// The report as a JUnit XML document.
pub fn render(report: &TestReport) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"gatehouse policy test\" tests=\"{}\" failures=\"{}\">",
        report.total,
        report.failures.len()
    );
    // Cases run file by file, so consecutive cases of one file form its suite.
    let mut suites: Vec<(&str, Vec<&CaseOutcome>)> = Vec::new();
    for case in &report.cases {
        match suites.last_mut() {
            Some((file, cases)) if *file == case.file => cases.push(case),
            _ => suites.push((&case.file, vec![case])),
        }
    }
    for (file, cases) in suites {
        let failures = cases.iter().filter(|c| c.failure.is_some()).count();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
            escape(file),
            cases.len()
        );
        for case in cases {
            let open = format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(file),
                escape(&case.name)
            );
            match &case.failure {
                None => {
                    let _ = writeln!(xml, "{open}/>");
                }
                Some(diff) => {
                    let first = diff.lines().next().unwrap_or_default().trim();
                    let _ = writeln!(
                        xml,
                        "{open}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        escape(first),
                        escape(diff)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Text safe in XML content and attribute values; characters XML 1.0 cannot hold at all
/// (most control characters) become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_and_diffs_is_escaped() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;\u{FFFD}");
    }
}
