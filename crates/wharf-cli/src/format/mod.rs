//! Output formatting shared by every command: docker's `--format` handling over rows built as
//! `serde_json::Value` objects (one per table row, with docker's field names), Go-style
//! elastic tables ([`tabwriter`]), a Go-template subset ([`template`]) and human units
//! ([`units`]).

pub mod tabwriter;
pub mod template;
pub mod units;

use serde_json::Value;

use self::tabwriter::TabWriter;
use self::template::{ExecOptions, Template, TemplateError};

/// The `--format` value meaning "one JSON object per line".
pub const JSON_FORMAT: &str = "json";
/// docker's `table` keyword.
pub const TABLE_FORMAT: &str = "table";

/// Is this `--format` a table (header + aligned columns)?
pub fn is_table(format: &str) -> bool {
    format.starts_with(TABLE_FORMAT)
}

/// Renders list rows the way docker's `formatter.Context` does: `table …` formats get a header
/// row (the template run over `headers`, docker's column names) and tabwriter alignment;
/// `json` prints `{{json .}}` per row; anything else is a plain template per row.
pub fn render_list(format: &str, rows: &[Value], headers: &Value) -> Result<String, TemplateError> {
    let (table, body) = if format == JSON_FORMAT {
        (false, "{{json .}}".to_string())
    } else if let Some(rest) = format.strip_prefix(TABLE_FORMAT) {
        (true, rest.trim_matches(' ').to_string())
    } else {
        (false, format.trim_matches(' ').to_string())
    };
    let body = unescape(&body);
    let tmpl = Template::parse(&body)?;
    let opts = ExecOptions {
        escape_html_json_dot: true,
        ..Default::default()
    };
    let mut out = String::new();
    if table {
        let header_opts = ExecOptions {
            header: true,
            ..Default::default()
        };
        out.push_str(&tmpl.execute_with(headers, header_opts).unwrap_or_default());
        out.push('\n');
    }
    for row in rows {
        out.push_str(&tmpl.execute_with(row, opts)?);
        out.push('\n');
    }
    if table {
        out = TabWriter::DOCKER_TABLE.format(&out);
    }
    Ok(out)
}

/// Runs a free-form `--format`/`-f` template over one value (inspect, version, info), with the
/// literal `\t`/`\n` escapes docker accepts; the result ends with a newline.
pub fn render_one(format: &str, value: &Value) -> Result<String, TemplateError> {
    let tmpl = Template::parse(&unescape(format))?;
    let mut s = tmpl.execute(value)?;
    s.push('\n');
    Ok(s)
}

/// docker replaces the two-character sequences `\t` and `\n` in formats.
pub fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// `stringid.TruncateID`: drop an algorithm prefix, keep 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map(|(_, h)| h).unwrap_or(id);
    id.chars().take(12).collect()
}

/// `sortorder.NaturalLess` (fvbommel/sortorder), which docker uses to order `network ls`,
/// `volume ls` and `port` output: runs of digits compare as numbers ("net2" < "net10"),
/// digits sort before other bytes, and otherwise bytes compare as they are.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        // Leading zeros are skipped; a shorter number is smaller; equal lengths compare as
        // text; with equal values, fewer leading zeros sorts first.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (nz_a, nz_b) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (na, nb) = (&a[nz_a..i], &b[nz_b..j]);
        if na.len() != nb.len() {
            return na.len().cmp(&nb.len());
        }
        if na != nb {
            return na.cmp(nb);
        }
        if nz_a != nz_b {
            return nz_a.cmp(&nz_b);
        }
    }
    // Equal so far and at least one ended: the longer string sorts last.
    a.len().cmp(&b.len())
}

/// docker's `formatter.Ellipsis`: cut to `max` display characters, ending with "…".
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `json.Indent(dst, src, "", "    ")`: re-indents raw JSON text, keeping key order and
/// string escapes exactly as the daemon sent them.
pub fn indent_json(src: &[u8], indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let text = String::from_utf8_lossy(src);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let mut need_indent = false; // just opened a container: newline before the next value
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in text.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        if need_indent && c != ']' && c != '}' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    need_indent = false; // empty container stays "{}"
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_and_plain_and_json() {
        let rows = vec![
            json!({"ID": "a", "Tag": "<none>"}),
            json!({"ID": "bbbb", "Tag": "v1"}),
        ];
        let headers = json!({"ID": "IMAGE ID", "Tag": "TAG"});
        assert_eq!(
            render_list("table {{.ID}}\\t{{.Tag}}", &rows, &headers).unwrap(),
            "IMAGE ID   TAG\na          <none>\nbbbb       v1\n"
        );
        assert_eq!(
            render_list("{{.ID}}", &rows, &headers).unwrap(),
            "a\nbbbb\n"
        );
        assert_eq!(
            render_list("json", &rows[..1], &headers).unwrap(),
            "{\"ID\":\"a\",\"Tag\":\"\\u003cnone\\u003e\"}\n"
        );
    }

    #[test]
    fn natural_order_like_sortorder() {
        let mut v = vec![
            "net10", "net2", "bridge", "net02", "a", "host", "_x", "10", "9", "",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["", "9", "10", "_x", "a", "bridge", "host", "net2", "net02", "net10"]
        );
        // Digits sort before other bytes ("0.0.0.0:80" before "[::]:80").
        assert!(natural_cmp("0.0.0.0:80", "[::]:80").is_lt());
        assert!(natural_cmp("80/tcp -> x", "443/tcp -> x").is_lt());
        assert!(natural_cmp("abc", "abc").is_eq());
    }

    #[test]
    fn ids_and_ellipsis() {
        assert_eq!(
            truncate_id("sha256:11bc4be52f548d2222426adb3a1b5a769d50d"),
            "11bc4be52f54"
        );
        assert_eq!(truncate_id("<missing>"), "<missing>");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }

    #[test]
    fn indents_like_go() {
        let got = indent_json(
            br#"[{"Id":"x","A":[],"B":{},"C":[1,2],"D":{"e":"a\"b"}}]"#,
            "    ",
        );
        let want = "[\n    {\n        \"Id\": \"x\",\n        \"A\": [],\n        \"B\": {},\n        \"C\": [\n            1,\n            2\n        ],\n        \"D\": {\n            \"e\": \"a\\\"b\"\n        }\n    }\n]";
        assert_eq!(got, want);
    }
}
