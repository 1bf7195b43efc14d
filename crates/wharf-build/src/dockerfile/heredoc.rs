//! Heredoc words (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`), as buildkit's
//! `ParseHeredoc` and `heredocsFromLine` find them.

use crate::shell::{self, Options};

/// A heredoc named on an instruction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
}

fn unset(_: &str) -> Option<String> {
    None
}

/// Go regexp `\s`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Parses one word as a heredoc (`^(\d*)<<(-?)\s*([^<]*)$`); `Ok(None)` when it is not
/// one. The delimiter must lex to a single word; quoting any part of it turns off
/// expansion of the body.
pub(super) fn parse(src: &str) -> Result<Option<Word>, String> {
    let s = src.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(s) = s.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let rest = s.trim_start_matches(is_re_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let lex = |raw_quotes| {
        let opts = Options {
            raw_quotes,
            skip_unset_env: true,
            ..Options::default()
        };
        shell::process(rest, '\\', opts, &unset)
            .map(|(_, words)| words)
            .map_err(|e| e.to_string())
    };
    let words = lex(false)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = lex(true)?;
    let [raw] = raw.as_slice() else {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    };
    let quotes = |w: &str| w.chars().filter(|c| matches!(c, '\'' | '"')).count();
    Ok(Some(Word {
        name: name.clone(),
        expand: quotes(name) == quotes(raw),
        chomp,
    }))
}

/// [`parse`] that treats errors as "not a heredoc" (`MustParseHeredoc`).
pub(super) fn parse_lenient(src: &str) -> Option<Word> {
    parse(src).ok().flatten()
}

/// Every heredoc named on an instruction line, in order.
pub(super) fn from_line(line: &str) -> Result<Vec<Word>, String> {
    let opts = Options {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Options::default()
    };
    // A line that does not lex has no heredocs (buildkit ignores the error).
    let words = shell::process(line, '\\', opts, &unset)
        .map(|(_, w)| w)
        .unwrap_or_default();
    let mut out = Vec::new();
    for word in words {
        if let Some(h) = parse(&word)? {
            out.push(h);
        }
    }
    Ok(out)
}

/// Strips leading tabs from every line (`<<-`).
pub(super) fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(name: &str, expand: bool, chomp: bool) -> Option<Word> {
        Some(Word {
            name: name.to_string(),
            expand,
            chomp,
        })
    }

    #[test]
    fn heredoc_words() {
        assert_eq!(parse("<<EOF").unwrap(), word("EOF", true, false));
        assert_eq!(parse("<<-EOF").unwrap(), word("EOF", true, true));
        assert_eq!(parse("<<'EOF'").unwrap(), word("EOF", false, false));
        assert_eq!(parse("<<-\"EOT\"").unwrap(), word("EOT", false, true));
        assert_eq!(parse("<<E\"O\"F").unwrap(), word("EOF", false, false));
        assert_eq!(parse("3<<EOF").unwrap(), word("EOF", true, false));
        assert_eq!(parse("<< EOF").unwrap(), word("EOF", true, false));
        assert_eq!(parse("<<").unwrap(), None);
        assert_eq!(parse("<<<EOF").unwrap(), None);
        assert_eq!(parse("EOF").unwrap(), None);
        assert_eq!(parse("<<A B").unwrap(), None);
        assert!(parse("<<'EOF").is_err());
    }

    #[test]
    fn heredocs_on_a_line() {
        let names: Vec<String> = from_line("RUN <<FILE1 cat > file1 && <<FILE2 cat > file2")
            .unwrap()
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["FILE1", "FILE2"]);
        assert!(from_line("RUN echo '<<EOF'").unwrap().is_empty());
        assert!(from_line("RUN echo a<<b").unwrap().is_empty());
        assert_eq!(from_line("COPY << EOF /x").unwrap().len(), 1);
    }

    #[test]
    fn chomping() {
        assert_eq!(chomp("\t\ta\n\tb\n c\n"), "a\nb\n c\n");
    }
}
