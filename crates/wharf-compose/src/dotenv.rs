//! `.env` / `env_file` syntax as docker compose reads it: `KEY=VAL`, `export KEY=VAL`,
//! `#` comments and blank lines, single quotes (literal), double quotes (escapes, may span
//! lines), unquoted values (trimmed, ` #` starts a comment), and interpolation of unquoted and
//! double-quoted values with the keys defined earlier in the file, then `lookup`.

use std::collections::BTreeMap;

use crate::interpolate::interpolate;

/// Ordered `(key, value)` pairs of an env file.
pub(crate) type Pairs = Vec<(String, Option<String>)>;

/// Parses env file text into ordered `(key, value)` pairs; `Err((line, message))`.
/// A bare `KEY` (no `=`) takes its value from `lookup`, or `None`.
pub(crate) fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Pairs, (usize, String)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let lineno = i + 1;
        let raw = lines[i];
        i += 1;
        let mut line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("export ") {
            line = rest.trim_start();
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (line.trim(), None),
        };
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err((lineno, format!("invalid variable name {key:?}")));
        }
        let Some(value) = value else {
            let v = lookup_in(&out, key, lookup);
            out.push((key.to_string(), v));
            continue;
        };
        let value = value.trim_start();
        let known = out.clone();
        let look = |k: &str| lookup_in(&known, k, lookup);
        let parsed = if let Some(rest) = value.strip_prefix('\'') {
            // Single quotes: literal, may span lines.
            let mut acc = rest.to_string();
            loop {
                if let Some(end) = acc.find('\'') {
                    acc.truncate(end);
                    break acc;
                }
                if i >= lines.len() {
                    return Err((lineno, "unterminated single-quoted value".into()));
                }
                acc.push('\n');
                acc.push_str(lines[i]);
                i += 1;
            }
        } else if let Some(rest) = value.strip_prefix('"') {
            let mut acc = rest.to_string();
            let body = loop {
                if let Some(end) = closing_double_quote(&acc) {
                    acc.truncate(end);
                    break acc;
                }
                if i >= lines.len() {
                    return Err((lineno, "unterminated double-quoted value".into()));
                }
                acc.push('\n');
                acc.push_str(lines[i]);
                i += 1;
            };
            let unescaped = unescape(&body);
            interpolate(&unescaped, &look, &mut Vec::new()).map_err(|e| (lineno, e.to_string()))?
        } else {
            let v = match value.find(" #") {
                Some(p) => &value[..p],
                None => value,
            };
            interpolate(v.trim(), &look, &mut Vec::new()).map_err(|e| (lineno, e.to_string()))?
        };
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), Some(parsed)));
    }
    Ok(out)
}

fn lookup_in(
    known: &[(String, Option<String>)],
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    known
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.clone())
        .or_else(|| lookup(key))
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            // `\$` keeps a literal `$` through interpolation.
            Some('$') => out.push_str("$$"),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Convenience: the pairs as a map of set values.
pub(crate) fn to_map(pairs: Vec<(String, Option<String>)>) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        let text = "# comment\n\nA=1\nexport B = two \nC='lit $A'\nD=\"x\\ny $A\"\nE=${A}-${Z:-z} # trailing\nF=\"multi\nline\"\nG\nH=a#b\n";
        let got = parse(text, &|k| (k == "G").then(|| "from-env".to_string())).unwrap();
        let m: BTreeMap<_, _> = got.into_iter().collect();
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"].as_deref(), Some("two"));
        assert_eq!(m["C"].as_deref(), Some("lit $A"));
        assert_eq!(m["D"].as_deref(), Some("x\ny 1"));
        assert_eq!(m["E"].as_deref(), Some("1-z"));
        assert_eq!(m["F"].as_deref(), Some("multi\nline"));
        assert_eq!(m["G"].as_deref(), Some("from-env"));
        assert_eq!(m["H"].as_deref(), Some("a#b"));
    }

    #[test]
    fn errors_have_lines() {
        assert_eq!(parse("A=1\nB='open\n", &|_| None).unwrap_err().0, 2);
        assert_eq!(parse("A=1\nB=${X:?need X}\n", &|_| None).unwrap_err().0, 2);
    }
}
