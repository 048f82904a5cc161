//! Turning answer text into JSON: merging continuation fragments, stripping Markdown code
//! fences, and finding the one JSON value in the text.

use serde_json::Value;

/// Shortest repeated overlap between fragments that [`merge_dedup`] removes.
const MIN_OVERLAP: usize = 8;
/// Longest overlap looked for (bounds the work on long answers).
const MAX_OVERLAP: usize = 2000;

/// Joins continuation fragments into one text. A fragment after the first that re-opens a
/// code fence (```` ```json ````, or any ```` ``` ```` while no fence is open) loses that line,
/// as models tend to restart the fence when asked to continue.
pub(crate) fn merge(fragments: &[String]) -> String {
    let mut out = String::with_capacity(fragments.iter().map(String::len).sum());
    for (i, fragment) in fragments.iter().enumerate() {
        if i == 0 {
            out.push_str(fragment);
            continue;
        }
        out.push_str(strip_reopened_fence(&out, fragment));
    }
    out
}

/// Like [`merge`], but also drops text a fragment repeats from the end of the text before it
/// (models sometimes restate the last few characters when they continue).
pub(crate) fn merge_dedup(fragments: &[String]) -> String {
    let mut out = String::new();
    for (i, fragment) in fragments.iter().enumerate() {
        if i == 0 {
            out.push_str(fragment);
            continue;
        }
        let fragment = strip_reopened_fence(&out, fragment);
        let overlap = longest_overlap(&out, fragment);
        out.push_str(&fragment[overlap..]);
    }
    out
}

fn strip_reopened_fence<'a>(before: &str, fragment: &'a str) -> &'a str {
    let trimmed = fragment.trim_start();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return fragment;
    };
    let (first_line, after) = rest.split_once('\n').unwrap_or((rest, ""));
    let has_language = !first_line.trim().is_empty();
    let fence_open = before.matches("```").count() % 2 == 1;
    if has_language || !fence_open {
        after
    } else {
        // A bare fence while one is open closes it: keep.
        fragment
    }
}

fn longest_overlap(before: &str, fragment: &str) -> usize {
    let max = fragment.len().min(before.len()).min(MAX_OVERLAP);
    (MIN_OVERLAP..=max)
        .rev()
        .find(|&k| fragment.is_char_boundary(k) && before.ends_with(&fragment[..k]))
        .unwrap_or(0)
}

/// The text inside the first Markdown code fence, or the trimmed text when it has none.
pub(crate) fn strip_fences(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(start) = trimmed.find("```") else {
        return trimmed;
    };
    let after_ticks = &trimmed[start + 3..];
    // Skip the info string (`json`) up to the end of the line.
    let body = match after_ticks.find('\n') {
        Some(nl) => &after_ticks[nl + 1..],
        None => after_ticks,
    };
    match body.find("```") {
        Some(end) => body[..end].trim(),
        // An unclosed fence (a cut answer): take the rest.
        None => body.trim(),
    }
}

/// Parses the one JSON value an answer holds: fenced or not, possibly with prose around it.
/// The error is serde_json's message for the most likely candidate.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let unfenced = strip_fences(text);
    let first_error = match serde_json::from_str::<Value>(unfenced) {
        Ok(v) => return Ok(v),
        Err(e) => e.to_string(),
    };
    // Prose around the value: take from the first opening bracket to the last closing one.
    let open = unfenced.find(['{', '[']);
    let close = unfenced.rfind(['}', ']']);
    if let (Some(open), Some(close)) = (open, close)
        && open < close
        && (open > 0 || close + 1 < unfenced.len())
        && let Ok(v) = serde_json::from_str::<Value>(&unfenced[open..=close])
    {
        return Ok(v);
    }
    if unfenced.is_empty() {
        return Err("the answer is empty".into());
    }
    Err(first_error)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn frags(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_plain_fenced_and_wrapped_json() {
        let want = json!({"items": [1, 2]});
        let cases = [
            r#"{"items":[1,2]}"#,
            "  {\"items\": [1, 2]}\n",
            "```json\n{\"items\":[1,2]}\n```",
            "```\n{\"items\":[1,2]}\n```\n",
            "Here you go:\n```json\n{\"items\":[1,2]}\n```\nAnything else?",
            "Sure! {\"items\":[1,2]} Done.",
            "```json\n{\"items\":[1,2]}",
        ];
        for case in cases {
            assert_eq!(parse(case).as_ref(), Ok(&want), "{case:?}");
        }
        assert_eq!(parse("[1]"), Ok(json!([1])));
    }

    #[test]
    fn reports_invalid_json() {
        for bad in [
            "",
            "```json\n```",
            "{\"a\":",
            "no json here",
            "{\"a\":1} {\"b\":2}",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn merges_fragments_and_reopened_fences() {
        let cases: &[(&[&str], &str)] = &[
            (&["{\"a\":", "1}"], "{\"a\":1}"),
            (
                &["```json\n{\"a\":", "```json\n1}\n```"],
                "```json\n{\"a\":1}\n```",
            ),
            // A bare fence closing the open one is kept.
            (&["```json\n{\"a\":1}\n", "```"], "```json\n{\"a\":1}\n```"),
            // A bare fence opening while none is open is dropped.
            (&["{\"a\":", "```\n1}"], "{\"a\":1}"),
            (&["x", "y", "z"], "xyz"),
        ];
        for (parts, want) in cases {
            assert_eq!(merge(&frags(parts)), *want, "{parts:?}");
        }
    }

    #[test]
    fn dedup_merge_drops_repeated_overlap_only_when_long() {
        let parts = frags(&[
            "{\"items\":[{\"name\":\"alpha\"}",
            "{\"name\":\"alpha\"},{\"name\":\"b\"}]}",
        ]);
        assert!(parse(&merge(&parts)).is_err());
        assert_eq!(
            parse(&merge_dedup(&parts)),
            Ok(json!({"items": [{"name": "alpha"}, {"name": "b"}]}))
        );
        // Short coincidences are not overlaps.
        assert_eq!(merge_dedup(&frags(&["[1,", "1,2]"])), "[1,1,2]");
    }
}
