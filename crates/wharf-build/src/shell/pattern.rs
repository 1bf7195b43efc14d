//! The glob patterns of `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`.
//!
//! buildkit turns the pattern into a Go regular expression (`convertShellPatternToRegex`:
//! `*` is `.*` or `.*?`, `?` is `.`, `\*` `\?` `\\` are literals, no bracket expressions)
//! and uses leftmost-first matching. This is the same machine, a tiny Pike VM, so the
//! chosen match is the one Go picks (including `.` not matching a newline).

#[derive(Debug, Clone, Copy)]
enum Inst {
    Char(char),
    AnyNotNewline,
    /// Try the first target, then the second.
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// Compiles `pattern`; `greedy` makes `*` prefer longer matches.
fn compile(pattern: &str, greedy: bool) -> Result<Vec<Inst>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut prog = Vec::with_capacity(chars.len() + 1);
    let mut i = 0;
    while i < chars.len() {
        let tok = chars[i];
        i += 1;
        match tok {
            '*' => {
                let at = prog.len();
                prog.push(if greedy {
                    Inst::Split(at + 1, at + 3)
                } else {
                    Inst::Split(at + 3, at + 1)
                });
                prog.push(Inst::AnyNotNewline);
                prog.push(Inst::Jmp(at));
            }
            '?' => prog.push(Inst::AnyNotNewline),
            '\\' => match chars.get(i) {
                // `\}` and `\/` only protected the character inside `${}`.
                Some('}' | '/') => {}
                Some(c @ ('*' | '?' | '\\')) => {
                    prog.push(Inst::Char(*c));
                    i += 1;
                }
                Some(c) => return Err(format!("invalid escape '\\{c}'")),
                None => return Err("invalid escape '\\%!c(int32=-1)'".to_string()),
            },
            c => prog.push(Inst::Char(c)),
        }
    }
    prog.push(Inst::Match);
    Ok(prog)
}

/// Adds `pc` and what it reaches without consuming input, in priority order.
fn add_thread(
    prog: &[Inst],
    list: &mut Vec<(usize, usize)>,
    seen: &mut [bool],
    pc: usize,
    start: usize,
) {
    let mut stack = vec![pc];
    while let Some(pc) = stack.pop() {
        if std::mem::replace(&mut seen[pc], true) {
            continue;
        }
        match prog[pc] {
            Inst::Jmp(t) => stack.push(t),
            Inst::Split(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            _ => list.push((pc, start)),
        }
    }
}

/// The leftmost-first match at or after `from` (only at `from` when `anchored`), as
/// `(start, end)` character indexes.
fn find(prog: &[Inst], text: &[char], from: usize, anchored: bool) -> Option<(usize, usize)> {
    let mut clist = Vec::new();
    let mut cseen = vec![false; prog.len()];
    let mut matched = None;
    let mut pos = from;
    loop {
        if matched.is_none() && (!anchored || pos == from) {
            add_thread(prog, &mut clist, &mut cseen, 0, pos);
        }
        let mut nlist = Vec::new();
        let mut nseen = vec![false; prog.len()];
        let ch = text.get(pos).copied();
        for &(pc, start) in &clist {
            match prog[pc] {
                Inst::Match => {
                    // Threads after this one have lower priority: drop them.
                    matched = Some((start, pos));
                    break;
                }
                Inst::Char(c) if ch == Some(c) => {
                    add_thread(prog, &mut nlist, &mut nseen, pc + 1, start)
                }
                Inst::AnyNotNewline if ch.is_some_and(|c| c != '\n') => {
                    add_thread(prog, &mut nlist, &mut nseen, pc + 1, start)
                }
                _ => {}
            }
        }
        if pos >= text.len() || (nlist.is_empty() && (matched.is_some() || anchored)) {
            return matched;
        }
        clist = nlist;
        cseen = nseen;
        pos += 1;
    }
}

fn invalid(pattern: &str, err: String) -> String {
    format!("invalid pattern ({pattern}) in substitution: {err}")
}

/// `${value#word}` / `${value##word}`.
pub(super) fn trim_prefix(word: &str, value: &str, greedy: bool) -> Result<String, String> {
    let prog = compile(word, greedy).map_err(|e| invalid(word, e))?;
    let text: Vec<char> = value.chars().collect();
    Ok(match find(&prog, &text, 0, true) {
        Some((_, end)) => text[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${value%word}` / `${value%%word}`: a prefix trim of the reversed value with the
/// reversed pattern, so that "shortest from the right" is a leftmost search.
pub(super) fn trim_suffix(word: &str, value: &str, greedy: bool) -> Result<String, String> {
    let rev_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(word), &rev_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern, keeping each `\x` escape pair in order (`a\*c` gives `c\*a`).
fn reverse_pattern(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; p.len()];
    let last = p.len().saturating_sub(1);
    let mut i = 0;
    while i < p.len() {
        let o = last - i;
        if p[i] == '\\' && i != last {
            out[o - 1] = '\\';
            out[o] = p[i + 1];
            i += 2;
        } else {
            out[o] = p[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// `${value/pat/repl}` (first match) or `${value//pat/repl}` (every match, with Go's
/// `ReplaceAllString`: empty matches next to a previous match are skipped and `repl`
/// is a template where `$0` is the match).
pub(super) fn replace(pat: &str, repl: &str, value: &str, all: bool) -> Result<String, String> {
    let prog = compile(pat, true).map_err(|e| invalid(pat, e))?;
    let text: Vec<char> = value.chars().collect();
    if !all {
        return Ok(match find(&prog, &text, 0, false) {
            Some((s, e)) => {
                let mut out: String = text[..s].iter().collect();
                out.push_str(repl);
                out.extend(&text[e..]);
                out
            }
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let (mut last_end, mut search) = (0, 0);
    while search <= text.len() {
        let Some((s, e)) = find(&prog, &text, search, false) else {
            break;
        };
        out.extend(&text[last_end..s]);
        if e > last_end || s == 0 {
            expand_template(&mut out, repl, &text[s..e]);
        }
        last_end = e;
        search = if search + 1 > e { search + 1 } else { e };
    }
    out.extend(&text[last_end..]);
    Ok(out)
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0`/`${0}` the
/// whole match, any other valid name nothing, and a malformed `$` stays.
fn expand_template(out: &mut String, template: &str, whole: &[char]) {
    let mut t = template;
    while let Some(i) = t.find('$') {
        out.push_str(&t[..i]);
        t = &t[i + 1..];
        if let Some(rest) = t.strip_prefix('$') {
            out.push('$');
            t = rest;
            continue;
        }
        let (brace, body) = match t.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, t),
        };
        let len: usize = body
            .chars()
            .take_while(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        if len == 0 || (brace && !body[len..].starts_with('}')) {
            out.push('$');
            continue;
        }
        let name = &body[..len];
        t = &body[len + usize::from(brace)..];
        if name == "0" {
            out.extend(whole);
        }
    }
    out.push_str(t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_suffix_follow_the_docs() {
        // Dockerfile reference, "Environment replacement".
        assert_eq!(trim_prefix("f*b", "foobarbaz", false).unwrap(), "arbaz");
        assert_eq!(trim_prefix("f*b", "foobarbaz", true).unwrap(), "az");
        assert_eq!(trim_suffix("b*", "foobarbaz", false).unwrap(), "foobar");
        assert_eq!(trim_suffix("b*", "foobarbaz", true).unwrap(), "foo");
        assert_eq!(
            replace("ba", "fo", "foobarbaz", false).unwrap(),
            "fooforbaz"
        );
        assert_eq!(replace("ba", "fo", "foobarbaz", true).unwrap(), "fooforfoz");
    }

    #[test]
    fn escapes_and_wildcards() {
        assert_eq!(trim_prefix("a\\*", "a*b", false).unwrap(), "b");
        assert_eq!(trim_prefix("a?", "abc", false).unwrap(), "c");
        assert_eq!(trim_prefix("x", "abc", false).unwrap(), "abc");
        assert_eq!(trim_suffix("c\\*", "abc*", false).unwrap(), "ab");
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert!(trim_prefix("a\\b", "ab", false)
            .unwrap_err()
            .contains("invalid escape '\\b'"));
        // `*` does not cross a newline, like Go's `.`.
        assert_eq!(trim_prefix("a*", "ab\ncd", true).unwrap(), "\ncd");
    }

    #[test]
    fn replace_all_handles_empty_matches_like_go() {
        assert_eq!(replace("", "-", "abc", true).unwrap(), "-a-b-c-");
        // `*` is the regexp `.*`: one match, then an empty one abutting it (skipped).
        assert_eq!(replace("*", "-", "abc", true).unwrap(), "-");
        assert_eq!(replace("?", "-", "abc", true).unwrap(), "---");
        assert_eq!(replace("b*", "-", "abbc", true).unwrap(), "a-");
        assert_eq!(replace("b?", "-", "abbcbb", true).unwrap(), "a-c-");
        assert_eq!(replace("", "-", "abc", false).unwrap(), "-abc");
    }

    #[test]
    fn replace_all_template() {
        assert_eq!(replace("b", "[$0]", "abc", true).unwrap(), "a[b]c");
        assert_eq!(replace("b", "${0}$$", "abc", true).unwrap(), "ab$c");
        assert_eq!(replace("b", "$1x", "abc", true).unwrap(), "ac");
        assert_eq!(replace("b", "$-", "abc", true).unwrap(), "a$-c");
        // Only the replace-all form is a template.
        assert_eq!(replace("b", "$0", "abc", false).unwrap(), "a$0c");
    }
}
