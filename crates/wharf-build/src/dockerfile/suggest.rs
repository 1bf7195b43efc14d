//! "Did you mean …?" hints, as buildkit's `util/suggest` adds them to errors.

/// Edit distance with unit costs, over characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest option within distance 2, or none when `val` is itself an option.
/// Case-insensitive searches answer in the case `val` was written in (all lower or all
/// upper), else lowercase.
pub(super) fn search(val: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let norm = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let v = norm(val);
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = norm(opt);
        if o == v {
            return None;
        }
        let d = levenshtein(&v, &o);
        if d < min {
            min = d;
            best = Some(o);
        }
    }
    let best = best?;
    if case_sensitive || val == val.to_lowercase() || val != val.to_uppercase() {
        return Some(best);
    }
    Some(best.to_uppercase())
}

/// `message` with the hint appended, when there is one.
pub(super) fn wrap(message: String, val: &str, options: &[&str], case_sensitive: bool) -> String {
    match search(val, options, case_sensitive) {
        Some(m) => format!("{message} (did you mean {m}?)"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(levenshtein("FORM", "FROM"), 2);
        assert_eq!(
            search("FORM", &["FROM", "RUN"], false).as_deref(),
            Some("FROM")
        );
        assert_eq!(
            search("form", &["FROM", "RUN"], false).as_deref(),
            Some("from")
        );
        assert_eq!(
            search("Form", &["FROM", "RUN"], false).as_deref(),
            Some("from")
        );
        assert_eq!(
            search("chwon", &["chown", "chmod"], true).as_deref(),
            Some("chown")
        );
        assert_eq!(search("xyzzy", &["chown"], true), None);
    }
}
