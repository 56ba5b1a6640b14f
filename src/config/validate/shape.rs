//! Shape errors: what serde finds while reading the YAML into the raw
//! structs. Serde stops at the first, so a file with two typos would show
//! one. So each unknown key found is mended in the text and the text read
//! again, until no unknown key is left: a near miss (`upstrem`) is renamed
//! to the key it misses (so a required key is not reported missing next),
//! any other is masked out with its value (as blank lines, so every line
//! number stays). Only keys in block style are mended; in a flow mapping
//! (`{ a: 1, b: 2 }`) the search stops there. Only the unknown keys are
//! reported: anything else the mended text shows may follow from mending.

use serde_saphyr::Error;

use super::super::Problem;

/// At most this many rounds: a file with more typos shows the first ones.
const MAX_ROUNDS: usize = 25;

/// Every shape error of `text`, starting from `first` (serde's error on
/// `text` as written); `read` reads a text again.
pub(super) fn problems(text: &str, source: &str, first: &Error, read: impl Fn(&str) -> Option<Error>) -> Vec<Problem> {
    let mut problems = vec![problem(first, source)];
    let mut text = text.to_owned();
    let mut at = first.location().filter(|_| is_unknown_key(first));
    for _ in 1..MAX_ROUNDS {
        let near = problems.last().and_then(|last| near_miss(&last.message));
        let Some(mended) = at.and_then(|loc| mend(&text, loc.line(), loc.column(), near)) else { break };
        text = mended;
        // Another unknown key; anything else may follow from the masking.
        let Some(next) = read(&text).filter(is_unknown_key) else { break };
        problems.push(problem(&next, source));
        at = next.location();
    }
    problems
}

/// A key that does not belong where it stands: the entry can go without
/// changing what the rest of the file means.
fn is_unknown_key(err: &Error) -> bool {
    let text = err.without_snippet().to_string();
    text.contains("unknown field `") || text.contains("is not a key of scheme")
}

/// `text` with the block-style key at `line`:`column` (1-based) renamed to
/// `near` (unknown, known), or, without one, its entry blanked: that line
/// from the key on, and its value below: the lines indented deeper than the
/// key, and, for a key with nothing after its colon, the list items at the
/// key's own indent (as PyYAML and Helm write a list). `None` for a key
/// inside a flow mapping.
fn mend(text: &str, line: u64, column: u64, near: Option<(String, String)>) -> Option<String> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let indent = usize::try_from(column).ok()?.checked_sub(1)?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let prefix = lines.get(line)?.get(..indent)?.to_owned();
    // Only indentation, or a sequence item's dashes, may stand before the key.
    if !prefix.chars().all(|c| c == ' ' || c == '-') {
        return None;
    }
    if let Some((unknown, known)) = near {
        let rest = lines[line].get(indent..)?.strip_prefix(unknown.as_str())?.to_owned();
        lines[line] = format!("{prefix}{known}{rest}");
        return Some(lines.join("\n") + "\n");
    }
    let after_colon = lines[line].get(indent..)?.split_once(':').map_or("", |(_, after)| after.trim());
    let bare = after_colon.is_empty() || after_colon.starts_with('#');
    lines[line] = prefix.trim_end().to_owned();
    for below in lines.iter_mut().skip(line + 1) {
        let depth = below.len() - below.trim_start().len();
        let item = below.trim_start() == "-" || below.trim_start().starts_with("- ");
        let part_of_value = below.trim().is_empty() || depth > indent || (bare && depth == indent && item);
        if !part_of_value {
            break;
        }
        below.clear();
    }
    Some(lines.join("\n") + "\n")
}

/// One problem at serde's location, its message said once and, for an
/// unknown key close to a known one, with a suggestion.
pub(super) fn problem(err: &Error, source: &str) -> Problem {
    let (line, column) = err.location().map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
    let text = err.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // Drop the library's own "line N column M: " prefix and " at line N, column M"
    // suffix: the problem carries its location once, as file:line:column.
    let message = match first.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(first, |(_, m)| m),
        None => first,
    };
    let message = message.split(" at line ").next().unwrap_or(message);
    Problem { source: source.to_owned(), line, column, message: suggest(message) }
}

/// `unknown field `upstrem`, expected one of a, b` with `did you mean
/// `upstream`?` when one expected name is a near miss.
fn suggest(message: &str) -> String {
    match (message.split_once(", expected one of "), near_miss(message)) {
        (Some((head, expected)), Some((_, near))) => {
            format!("{head}: did you mean `{near}`? (expected one of {expected})")
        }
        _ => message.to_owned(),
    }
}

/// In serde's message about an unknown key, that key and the expected name
/// it misses by a little (a third of its letters at most), if any.
fn near_miss(message: &str) -> Option<(String, String)> {
    let (head, expected) = message.split_once(", expected one of ").or_else(|| {
        // Already suggested: `head: did you mean `x`? (expected one of ...)`.
        let (head, rest) = message.split_once(": did you mean ")?;
        Some((head, rest.split_once("(expected one of ")?.1.trim_end_matches(')')))
    })?;
    let unknown = head.split('`').nth(1)?;
    let near = expected.split(", ").map(|n| n.trim_matches('`')).min_by_key(|name| distance(unknown, name))?;
    let d = distance(unknown, near);
    (d > 0 && d <= (unknown.len().max(near.len()) / 3).max(1)).then(|| (unknown.to_owned(), near.to_owned()))
}

/// Levenshtein distance, by bytes (keys are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_far_ones_are_not() {
        let m = "unknown field `upstrem`, expected one of name, listener, upstream";
        assert_eq!(
            suggest(m),
            "unknown field `upstrem`: did you mean `upstream`? (expected one of name, listener, upstream)"
        );
        let m = "unknown field `colour`, expected one of name, listener, upstream";
        assert_eq!(suggest(m), m);
        assert_eq!(distance("listner", "listener"), 1);
    }

    #[test]
    fn a_block_entry_is_blanked_with_its_value_and_lines_are_kept() {
        let text = "routes:\n  - name: a\n    upstrem:\n      deep: 1\n    upstream: echo\n";
        let masked = mend(text, 3, 5, None).expect("block style");
        assert_eq!(masked, "routes:\n  - name: a\n\n\n    upstream: echo\n");
        // The first key of a sequence item keeps its dash.
        let masked = mend("items:\n  - typo: 1\n    ok: 2\n", 2, 5, None).expect("item");
        assert_eq!(masked, "items:\n  -\n    ok: 2\n");
        assert!(mend("a: { b: 1, typo: 2 }\n", 1, 12, None).is_none(), "flow style is left alone");
        // A list written at the key's own indent (PyYAML, Helm) goes with it.
        let dumped = "consumers:\n- id: c\nextra:\n- name: x\n  more: 1\n- name: y\nroutes: []\n";
        let masked = mend(dumped, 3, 1, None).expect("block style");
        assert_eq!(masked, "consumers:\n- id: c\n\n\n\n\nroutes: []\n");
        // A near miss is renamed, its value kept.
        let near = Some(("upstrem".to_owned(), "upstream".to_owned()));
        assert_eq!(mend("  - upstrem: echo\n", 1, 5, near).expect("renamed"), "  - upstream: echo\n");
    }
}
