//! A line diff (longest common subsequence) of two WIT texts, for reading beside the
//! item-by-item API diff. WIT texts are a few hundred lines; past [`MAX_LINES`] the
//! diff is not computed.

/// The most lines on either side the diff is computed for.
pub const MAX_LINES: usize = 3000;

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The lines of `old` and `new`, each kept, removed or added; None when too long.
pub fn diff<'a>(old: &'a str, new: &'a str) -> Option<Vec<Line<'a>>> {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        return None;
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            (i, j) = (i + 1, j + 1);
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    Some(out)
}

/// Only the changed lines and `context` lines around each change; `None` entries mark
/// the gaps left out.
pub fn hunks<'a>(lines: &[Line<'a>], context: usize) -> Vec<Option<Line<'a>>> {
    let changed: Vec<bool> = lines.iter().map(|l| !matches!(l, Line::Same(_))).collect();
    let near = |i: usize| {
        let lo = i.saturating_sub(context);
        let hi = (i + context + 1).min(lines.len());
        changed[lo..hi].iter().any(|c| *c)
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (i, line) in lines.iter().enumerate() {
        if near(i) {
            if skipped {
                out.push(None);
                skipped = false;
            }
            out.push(Some(line.clone()));
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push(None);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_found_and_shown_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng";
        let new = "a\nb\nc\nD\ne\nf\ng\nh";
        let lines = diff(old, new).unwrap();
        assert!(lines.contains(&Line::Removed("d")));
        assert!(lines.contains(&Line::Added("D")));
        assert!(lines.contains(&Line::Added("h")));
        let shown = hunks(&lines, 1);
        assert_eq!(shown[0], None, "the unchanged start is left out");
        assert_eq!(shown[1], Some(Line::Same("c")));
        assert!(!shown.contains(&Some(Line::Same("a"))));
    }
}
