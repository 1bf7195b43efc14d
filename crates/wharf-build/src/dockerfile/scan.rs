//! Splits Dockerfile text into instructions, like buildkit's `parser.Parse`.
//!
//! - Parser directives are `# key=value` comment lines before anything else; the first
//!   line that is not one (a blank line, another comment, an instruction) ends them.
//! - A line whose last non-blank character is the escape character, not itself escaped,
//!   continues on the next line. Inside a continuation, comment lines and blank lines
//!   are dropped (docker warns about the latter); leading whitespace of continuation
//!   lines is kept.
//! - `RUN`/`COPY`/`ADD` (also under `ONBUILD`) in shell form may name heredocs; their
//!   bodies are the following lines up to the delimiter line.

use super::heredoc;
use super::node::{self, Node};
use super::{Directives, ParseError};

pub(super) struct Scanned {
    pub directives: Directives,
    pub nodes: Vec<Node>,
}

/// Parser directive state (`DirectiveParser` in buildkit's directives.go).
struct DirectiveParser {
    directives: Directives,
    seen: Vec<&'static str>,
    done: bool,
}

impl DirectiveParser {
    /// Looks at a line (already left-trimmed for the first line of an instruction).
    fn line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = line.strip_prefix('#').and_then(directive) else {
            self.done = true;
            return Ok(());
        };
        let key: &'static str = match key.to_ascii_lowercase().as_str() {
            "syntax" => "syntax",
            "escape" => "escape",
            "check" => "check",
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key);
        match key {
            "escape" => {
                self.directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ))
                    }
                }
            }
            "syntax" => self.directives.syntax = Some(value),
            _ => self.directives.check = Some(value),
        }
        Ok(())
    }
}

/// Go regexp `\s`: ASCII blanks without `\v`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Matches `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on the comment text after `#` and
/// leading whitespace.
fn directive(comment: &str) -> Option<(String, String)> {
    let s = comment.trim_start();
    let mut chars = s.char_indices();
    if !chars.next()?.1.is_ascii_alphabetic() {
        return None;
    }
    let key_end = chars
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(s.len(), |(i, _)| i);
    let rest = s[key_end..]
        .trim_start_matches(is_re_space)
        .strip_prefix('=')?;
    let after_blanks = rest.trim_start_matches(is_re_space);
    let value = if after_blanks.is_empty() {
        // `.+?` still needs one character: the regexp gives up the last blank.
        rest.chars().last()?.to_string()
    } else {
        after_blanks.trim_end_matches(is_re_space).to_string()
    };
    Some((s[..key_end].to_string(), value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Removes a trailing line-continuation escape (and the blanks after it), unless the
/// escape is itself escaped. Returns the line and whether the instruction ends here.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    let Some(before) = t.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

pub(super) fn scan(text: &str) -> Result<Scanned, ParseError> {
    let mut d = DirectiveParser {
        directives: Directives::default(),
        seen: Vec::new(),
        done: false,
    };
    let mut lines = text.split_inclusive('\n').peekable();
    let mut nodes = Vec::new();
    let mut current = 0usize;
    let syntax = |line: usize, message: String| ParseError::Syntax { line, message };

    while let Some(raw) = lines.next() {
        let raw = if current == 0 {
            raw.strip_prefix('\u{feff}').unwrap_or(raw)
        } else {
            raw
        };
        current += 1;
        let first = trim_newline(raw).trim_start();
        d.line(first).map_err(|e| syntax(current, e))?;
        let first = if is_comment(first) { "" } else { first };
        let start = current;
        let escape = d.directives.escape;
        let (first, mut end) = trim_continuation(first, escape);
        if end && first.is_empty() {
            continue;
        }
        let mut joined = first.to_string();
        while !end {
            let Some(raw) = lines.next() else { break };
            current += 1;
            let line = trim_newline(raw);
            d.line(line).map_err(|e| syntax(current, e))?;
            if is_comment(raw) || line.trim_start().is_empty() {
                continue;
            }
            let (part, e) = trim_continuation(line, escape);
            joined.push_str(part);
            end = e;
        }

        let mut node = node::from_line(&joined, escape).map_err(|e| syntax(start, e))?;
        if node.can_contain_heredoc() && joined.contains("<<") {
            let words = heredoc::from_line(&joined).map_err(|e| syntax(start, e))?;
            for word in words {
                let mut content = String::new();
                let mut terminated = false;
                for raw in lines.by_ref() {
                    current += 1;
                    let candidate = trim_newline(raw);
                    let candidate = if word.chomp {
                        candidate.trim_start_matches('\t')
                    } else {
                        candidate
                    };
                    if candidate == word.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(syntax(start, "unterminated heredoc".to_string()));
                }
                node.heredocs.push(super::Heredoc {
                    name: word.name,
                    content,
                    expand: word.expand,
                    chomp: word.chomp,
                });
            }
        }
        node.start_line = start;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(syntax(
            current.max(1),
            "file with no instructions".to_string(),
        ));
    }
    Ok(Scanned {
        directives: d.directives,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_regexp() {
        let d = |s: &str| directive(s).map(|(k, v)| format!("{k}={v}"));
        assert_eq!(d(" escape=`").as_deref(), Some("escape=`"));
        assert_eq!(
            d("\tdIrEcTiVe = value  ").as_deref(),
            Some("dIrEcTiVe=value")
        );
        assert_eq!(
            d("syntax=docker/dockerfile:1").as_deref(),
            Some("syntax=docker/dockerfile:1")
        );
        assert_eq!(d("x= ").as_deref(), Some("x= "));
        assert_eq!(d("x="), None);
        assert_eq!(d("1x=y"), None);
        assert_eq!(d("About my dockerfile"), None);
        assert_eq!(d("direc \\"), None);
    }

    #[test]
    fn continuation() {
        assert_eq!(trim_continuation("RUN a \\", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN a \\  \t", '\\'), ("RUN a ", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("RUN a \\\\", '\\'), ("RUN a \\\\", true));
        assert_eq!(trim_continuation("RUN a `", '`'), ("RUN a ", false));
        assert_eq!(trim_continuation("RUN c:\\", '`'), ("RUN c:\\", true));
    }
}
