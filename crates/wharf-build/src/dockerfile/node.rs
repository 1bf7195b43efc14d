//! One instruction line into keyword, flags and arguments (buildkit's `newNodeFromLine`,
//! `splitCommand` and the line parsers of `line_parsers.go`).
//!
//! Each keyword has its own argument syntax: a JSON array or one string (`RUN`, `CMD`,
//! `ENTRYPOINT`, `SHELL`), a JSON array or blank-separated words (`COPY`, `ADD`,
//! `VOLUME`), blank-separated words (`FROM`, `EXPOSE`), quote-aware words (`ARG`),
//! `key=value` words or the legacy `key value` (`ENV`, `LABEL`), one string (`USER`,
//! `WORKDIR`, `MAINTAINER`, `STOPSIGNAL`), a type then a command (`HEALTHCHECK`) and a
//! whole instruction (`ONBUILD`). Unknown keywords keep no arguments; the next step
//! rejects them.

use super::Heredoc;

/// An instruction before typing (buildkit's `parser.Node`).
#[derive(Debug, Clone, Default)]
pub(super) struct Node {
    /// The keyword as written.
    pub cmd: String,
    /// `--flag[=value]` words, quotes and escapes processed.
    pub flags: Vec<String>,
    /// The arguments; `ENV`/`LABEL` give `key, value, separator` triples.
    pub args: Vec<String>,
    /// The arguments were a JSON array.
    pub json: bool,
    /// The joined source line.
    pub original: String,
    /// `ONBUILD`'s trigger.
    pub sub: Option<Box<Node>>,
    pub heredocs: Vec<Heredoc>,
    pub start_line: usize,
}

impl Node {
    /// `RUN`, `COPY` and `ADD` in shell form, also as an `ONBUILD` trigger.
    pub fn can_contain_heredoc(&self) -> bool {
        let node = match &self.sub {
            Some(sub) if self.cmd.eq_ignore_ascii_case("onbuild") => sub,
            _ => self,
        };
        let cmd = node.cmd.to_lowercase();
        matches!(cmd.as_str(), "run" | "copy" | "add") && !node.json
    }
}

/// The blanks of buildkit's `reWhitespace` (`[\t\v\f\r ]+`).
pub(super) fn is_blank(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of blanks, dropping empty pieces at the ends.
pub(super) fn split_blanks(s: &str) -> Vec<String> {
    s.split(is_blank)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits off the first word at the first run of blanks.
fn split_first(s: &str) -> (&str, Option<&str>) {
    match s.find(is_blank) {
        Some(i) => (&s[..i], Some(s[i..].trim_start_matches(is_blank))),
        None => (s, None),
    }
}

pub(super) fn from_line(line: &str, escape: char) -> Result<Node, String> {
    let (cmd, rest) = split_first(line.trim());
    let (args, flags) = match rest {
        Some(rest) => extract_flags(rest, escape),
        None => (String::new(), Vec::new()),
    };
    let args = args.trim();
    let mut node = Node {
        cmd: cmd.to_string(),
        flags,
        original: line.to_string(),
        ..Node::default()
    };
    match cmd.to_lowercase().as_str() {
        "add" | "copy" | "volume" => (node.args, node.json) = maybe_json_to_list(args)?,
        "arg" => node.args = parse_words(args, escape),
        "cmd" | "entrypoint" | "run" | "shell" => (node.args, node.json) = maybe_json(args)?,
        "env" => node.args = parse_name_val(args, "ENV", escape)?,
        "label" => node.args = parse_name_val(args, "LABEL", escape)?,
        "expose" | "from" => node.args = split_blanks(args),
        "healthcheck" => (node.args, node.json) = health_config(args)?,
        "maintainer" | "stopsignal" | "user" | "workdir" if !args.is_empty() => {
            node.args = vec![args.to_string()]
        }
        "onbuild" if !args.is_empty() => {
            let sub = from_line(args, escape)?;
            node.args = std::iter::once(sub.cmd.clone())
                .chain(sub.args.iter().cloned())
                .collect();
            node.sub = Some(Box::new(sub));
        }
        _ => {}
    }
    Ok(node)
}

#[derive(PartialEq)]
enum Phase {
    Spaces,
    Word,
    Quote,
}

/// Takes the leading `--flag` words off an instruction's arguments (`extractBuilderFlags`):
/// quotes and escapes inside them are processed; a bare `--` ends the flags.
fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let n = chars.len();
    let at = |pos: usize| chars.get(pos).map_or(line.len(), |(i, _)| *i);
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= n {
        let mut ch = chars.get(pos).map_or('\0', |(_, c)| *c);
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || chars.get(pos + 1).map(|(_, c)| *c) != Some('-') {
                return (line[at(pos)..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if pos == n {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                if word == "--" {
                    return (line[at(pos)..].to_string(), words);
                }
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = chars[pos].1;
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        if ch == escape {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            ch = chars[pos].1;
        }
        word.push(ch);
        pos += 1;
    }
    (String::new(), words)
}

/// Words separated by blanks, with quotes and escapes kept for later expansion
/// (`parseWords`): only their grouping matters here.
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let n = chars.len();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    while pos <= n {
        let mut ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == n {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                // An escape outside quotes keeps itself and the next character, even a quote.
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes: the escape character is special except in single quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == n {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

/// `ENV`/`LABEL`: `key=value …`, or the legacy `key value` when the first word has no
/// `=` (the value is then the rest of the line, as written).
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (k, v) = split_first(rest);
        let Some(v) = v else {
            return Err(format!("{key} must have two arguments"));
        };
        return Ok(vec![k.to_string(), v.to_string(), String::new()]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

pub(super) const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// `Ok(Some(args))` for a JSON array of strings, `Ok(None)` when not JSON at all.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRING_ARRAY.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A JSON array, or else the whole string as one argument.
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    Ok(match parse_json(rest)? {
        Some(args) => (args, true),
        None => (vec![rest.to_string()], false),
    })
}

/// A JSON array, or else blank-separated words.
fn maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    Ok(match parse_json(rest)? {
        Some(args) => (args, true),
        None => (split_blanks(rest), false),
    })
}

/// `HEALTHCHECK TYPE command…`: the type word, then [`maybe_json`].
fn health_config(rest: &str) -> Result<(Vec<String>, bool), String> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let (cmd, json) = maybe_json(rest[sep..].trim_start())?;
    let args = std::iter::once(rest[..sep].to_string())
        .chain(cmd)
        .collect();
    Ok((args, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_split_off() {
        let (rest, flags) = extract_flags("--from=builder --chown='a b' src dst", '\\');
        assert_eq!(flags, ["--from=builder", "--chown=a b"]);
        assert_eq!(rest, "src dst");
        let (rest, flags) = extract_flags("-- --not-a-flag x", '\\');
        assert!(flags.is_empty());
        assert_eq!(rest.trim(), "--not-a-flag x");
        let (rest, flags) = extract_flags("--link", '\\');
        assert_eq!(flags, ["--link"]);
        assert_eq!(rest, "");
        let (rest, flags) = extract_flags("--a=x\\ y z", '\\');
        assert_eq!(flags, ["--a=x y"]);
        assert_eq!(rest, "z");
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="b c" d=e\ f 'g h'"#, '\\'),
            [r#"a="b c""#, r"d=e\ f", "'g h'"]
        );
        assert_eq!(parse_words(r#"a="x\"y""#, '\\'), [r#"a="x\"y""#]);
        assert_eq!(parse_words("a \"\" b", '\\'), ["a", "\"\"", "b"]);
    }

    #[test]
    fn name_val_forms() {
        assert_eq!(
            parse_name_val("ONE TWO= THREE=world", "ENV", '\\').unwrap(),
            ["ONE", "TWO= THREE=world", ""]
        );
        assert_eq!(
            parse_name_val("a=1 b=", "ENV", '\\').unwrap(),
            ["a", "1", "=", "b", "", "="]
        );
        assert_eq!(
            parse_name_val("a=1 b", "ENV", '\\').unwrap_err(),
            "Syntax error - can't find = in \"b\". Must be of the form: name=value"
        );
        assert_eq!(
            parse_name_val("A", "LABEL", '\\').unwrap_err(),
            "LABEL must have two arguments"
        );
    }

    #[test]
    fn json_or_not() {
        assert_eq!(
            maybe_json(r#"["a", "b"]"#).unwrap(),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            maybe_json(r#"["a", 'b']"#).unwrap(),
            (vec![r#"["a", 'b']"#.into()], false)
        );
        assert!(!maybe_json("[\"a\"] x").unwrap().1);
        assert_eq!(maybe_json("[1]").unwrap_err(), NOT_STRING_ARRAY);
        assert_eq!(maybe_json("[]").unwrap(), (vec![], true));
    }
}
