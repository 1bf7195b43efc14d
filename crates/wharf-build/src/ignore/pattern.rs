//! One `.dockerignore` pattern, compiled as `moby/patternmatcher` compiles it.
//!
//! patternmatcher classifies a pattern: no wildcard is an exact match, a literal
//! followed by a final `**` is a prefix match, a leading `**` with a literal rest is a
//! suffix match, anything else becomes a regular expression where `*` is `[^/]*`, `?`
//! is `[^/]`, `**/` is `(.*/)?`, a final `**` is `.*`, `\x` escapes and `[…]` is a
//! character class. The regular expression is simulated here by a small NFA. Bracket
//! expressions follow `filepath.Match` syntax (their content is not re-read as
//! regexp syntax, so `*` inside brackets is just a character).

use std::fmt;

#[derive(Clone)]
enum Tok {
    Lit(char),
    /// `[^/]*`
    Star,
    /// `[^/]`
    Quest,
    /// `(.*/)?`, from `**` not at the end.
    DoubleStar,
    /// `.*`, from a final `**`.
    Rest,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A bare `^`: in the regexp it anchors at the start of the path.
    Caret,
}

#[derive(Clone)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    /// The tokens, and the literal text every match starts and ends with (a cheap
    /// first test before running the NFA).
    Regex(Vec<Tok>, String, String),
}

#[derive(Clone)]
pub(super) struct Pattern {
    pub exclusion: bool,
    /// The pattern after cleaning, without its `!`.
    pub text: String,
    kind: Kind,
    /// For a regexp that cannot match a `/` except with a literal one: how many `/` a
    /// matching path has. Lets [`Pattern::matches_at_depth`] skip most parent paths.
    slashes: Option<usize>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.exclusion { "!" } else { "" }, self.text)
    }
}

/// Characters patternmatcher escapes because they mean something in a regexp but
/// nothing in a file pattern.
fn should_escape(c: char) -> bool {
    matches!(c, '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$')
}

/// Go's `path.Clean`.
pub(super) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// One bracket term: a character or `\` and a character.
fn class_char(chars: &[char], i: &mut usize) -> Option<char> {
    let mut c = *chars.get(*i)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        *i += 1;
        c = *chars.get(*i)?;
    }
    *i += 1;
    // The class must go on (at least its closing bracket).
    chars.get(*i)?;
    Some(c)
}

/// Parses a bracket expression after its `[`, with `filepath.Match`'s syntax rules.
fn class(chars: &[char], i: &mut usize) -> Option<Tok> {
    let negated = chars.get(*i) == Some(&'^');
    if negated {
        *i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(*i) == Some(&']') && !ranges.is_empty() {
            *i += 1;
            return Some(Tok::Class { negated, ranges });
        }
        let lo = class_char(chars, i)?;
        let mut hi = lo;
        if chars.get(*i) == Some(&'-') {
            *i += 1;
            hi = class_char(chars, i)?;
        }
        // Go's regexp rejects a reversed range ("invalid character class range").
        if hi < lo {
            return None;
        }
        ranges.push((lo, hi));
    }
}

/// Checks `filepath.Match` syntax: escapes need a character, brackets must be well formed.
fn validate(chars: &[char]) -> bool {
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return false;
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if class(chars, &mut i).is_none() {
                    return false;
                }
            }
            _ => i += 1,
        }
    }
    true
}

impl Pattern {
    /// Compiles a cleaned pattern (without `!`); `None` when its syntax is invalid.
    pub fn new(text: &str, exclusion: bool) -> Option<Pattern> {
        let chars: Vec<char> = text.chars().collect();
        if !validate(&chars) {
            return None;
        }
        let mut kind = Kind::Exact;
        let mut toks = Vec::new();
        let mut i = 0;
        let mut n = 0;
        let regex = |kind: &mut Kind| *kind = Kind::Regex(Vec::new(), String::new(), String::new());
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i == chars.len() {
                        if matches!(kind, Kind::Exact) {
                            kind = Kind::Prefix(String::new());
                        } else {
                            toks.push(Tok::Rest);
                            regex(&mut kind);
                        }
                    } else {
                        toks.push(Tok::DoubleStar);
                        regex(&mut kind);
                    }
                    if n == 0 {
                        kind = Kind::Suffix(String::new());
                    }
                }
                '*' => {
                    toks.push(Tok::Star);
                    regex(&mut kind);
                }
                '?' => {
                    toks.push(Tok::Quest);
                    regex(&mut kind);
                }
                c if should_escape(c) => toks.push(Tok::Lit(c)),
                '\\' => match chars.get(i) {
                    Some(&c) => {
                        toks.push(Tok::Lit(c));
                        i += 1;
                        regex(&mut kind);
                    }
                    None => toks.push(Tok::Lit('\\')),
                },
                '[' => {
                    toks.push(class(&chars, &mut i)?);
                    regex(&mut kind);
                }
                ']' => {
                    toks.push(Tok::Lit(']'));
                    regex(&mut kind);
                }
                '^' => toks.push(Tok::Caret),
                c => toks.push(Tok::Lit(c)),
            }
            n += 1;
        }
        let crosses = |t: &Tok| match t {
            Tok::DoubleStar | Tok::Rest => true,
            Tok::Class { negated, ranges } => {
                *negated || ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&'/'))
            }
            _ => false,
        };
        let slashes = (!toks.iter().any(crosses))
            .then(|| toks.iter().filter(|t| matches!(t, Tok::Lit('/'))).count());
        let kind = match kind {
            Kind::Exact => Kind::Exact,
            // Strip the trailing `**` / leading `**`.
            Kind::Prefix(_) => Kind::Prefix(text[..text.len() - 2].to_string()),
            Kind::Suffix(_) => Kind::Suffix(text[2..].to_string()),
            Kind::Regex(..) => {
                let lit = |t: &Tok| match t {
                    Tok::Lit(c) => Some(*c),
                    _ => None,
                };
                let head: String = toks.iter().map_while(lit).collect();
                let mut tail: Vec<char> = toks.iter().rev().map_while(lit).collect();
                tail.reverse();
                Kind::Regex(toks, head, tail.into_iter().collect())
            }
        };
        Some(Pattern {
            exclusion,
            text: text.to_string(),
            kind,
            slashes,
        })
    }

    /// [`Pattern::matches`] for a path known to contain `slashes` slashes.
    pub fn matches_at_depth(&self, path: &str, slashes: usize) -> bool {
        if matches!(self.kind, Kind::Regex(..)) && self.slashes.is_some_and(|n| n != slashes) {
            return false;
        }
        self.matches(path)
    }

    /// Whether the pattern matches this cleaned, `/`-separated path.
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            // `**/foo` also matches `foo` itself.
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Regex(toks, head, tail) => {
                path.starts_with(head.as_str())
                    && path.ends_with(tail.as_str())
                    && run(toks, path)[2 * toks.len()]
            }
        }
    }

    /// Whether the pattern could match some path strictly inside directory `dir`.
    pub fn may_match_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        match &self.kind {
            Kind::Exact => self.text.starts_with(&prefix),
            Kind::Prefix(p) => p.starts_with(&prefix) || prefix.starts_with(p.as_str()),
            Kind::Suffix(_) => true,
            Kind::Regex(toks, ..) => run(toks, &prefix).iter().any(|s| *s),
        }
    }
}

/// NFA states: `2t` is "before token t", `2t+1` is "inside the `(.*/)?` of token t".
/// Returns the live states after reading `input` from the start of the path (all dead
/// as soon as nothing can match any more).
fn run(toks: &[Tok], input: &str) -> Vec<bool> {
    let size = 2 * toks.len() + 1;
    let mut cur = vec![false; size];
    let mut next = vec![false; size];
    cur[0] = true;
    closure(toks, &mut cur, true);
    for ch in input.chars() {
        next.fill(false);
        let mut alive = false;
        for (s, live) in cur.iter().enumerate() {
            if !live {
                continue;
            }
            let t = s / 2;
            let mut step = |to: usize| {
                next[to] = true;
                alive = true;
            };
            if s % 2 == 1 {
                // Inside `(.*/)?`: `.` takes anything but a newline; a `/` may end the group.
                if ch != '\n' {
                    step(s);
                    if ch == '/' {
                        step(2 * (t + 1));
                    }
                }
                continue;
            }
            let Some(tok) = toks.get(t) else { continue };
            match tok {
                Tok::Lit(c) if *c == ch => step(2 * (t + 1)),
                Tok::Quest if ch != '/' => step(2 * (t + 1)),
                Tok::Star if ch != '/' => step(s),
                Tok::Rest if ch != '\n' => step(s),
                Tok::DoubleStar if ch != '\n' => {
                    step(s + 1);
                    if ch == '/' {
                        step(2 * (t + 1));
                    }
                }
                Tok::Class { negated, ranges } => {
                    let inside = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&ch));
                    if inside != *negated {
                        step(2 * (t + 1));
                    }
                }
                _ => {}
            }
        }
        std::mem::swap(&mut cur, &mut next);
        if !alive {
            break;
        }
        closure(toks, &mut cur, false);
    }
    cur
}

/// Adds the states reachable without reading: optional tokens can be skipped, and `^`
/// passes only at the start.
fn closure(toks: &[Tok], states: &mut [bool], at_start: bool) {
    for t in 0..toks.len() {
        if !states[2 * t] {
            continue;
        }
        let skip = match toks[t] {
            Tok::Star | Tok::Rest | Tok::DoubleStar => true,
            Tok::Caret => at_start,
            _ => false,
        };
        if skip {
            states[2 * (t + 1)] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Pattern::new(p, false).expect("valid pattern").matches(path)
    }

    #[test]
    fn go_clean() {
        assert_eq!(clean("./foo/"), "foo");
        assert_eq!(clean("/foo/../bar"), "/bar");
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("a/.."), ".");
    }

    #[test]
    fn kinds_of_patterns() {
        assert!(m("foo", "foo") && !m("foo", "foo/bar") && !m("foo", "xfoo"));
        assert!(m("foo/**", "foo/bar") && m("foo/**", "foo/a/b") && !m("foo/**", "foo"));
        assert!(m("**/foo", "foo") && m("**/foo", "a/b/foo") && !m("**/foo", "afoo"));
        assert!(m("**foo", "afoo"));
        assert!(m("**", "anything/at/all"));
        assert!(m("*.go", "main.go") && !m("*.go", "a/main.go"));
        assert!(
            m("**/*.go", "main.go") && m("**/*.go", "a/b/main.go") && !m("**/*.go", "a/main.gox")
        );
        assert!(m("a/**/b", "a/b") && m("a/**/b", "a/x/y/b") && !m("a/**/b", "a/xb"));
        assert!(m("a**b", "ab") && m("a**b", "ax/b") && !m("a**b", "axb"));
        assert!(m("a/**", "a/b") && m("x*/**", "xy/z"));
        assert!(m("temp?", "tempa") && !m("temp?", "temp") && !m("temp?", "temp/"));
        assert!(m("[a-c]x", "bx") && !m("[a-c]x", "dx") && m("[^a-c]x", "dx"));
        assert!(m("a\\*b", "a*b") && !m("a\\*b", "axb"));
        assert!(m("a.b", "a.b") && !m("a.b", "axb"));
        assert!(m("a+(b)|{c}$", "a+(b)|{c}$"));
        assert!(m("a^b", "a^b") && !m("a^b*", "a^bc") && m("^a*", "ab"));
        // The shortcuts (slash count, literal ends) agree with the NFA.
        let p = Pattern::new("a/*/c", false).expect("valid pattern");
        assert!(p.matches_at_depth("a/b/c", 2) && !p.matches_at_depth("a/b/c", 1));
        assert!(!m("a/*/c", "a/b/d/c") && !m("a/*/c", "a/b/cd"));
        let p = Pattern::new("a[/]b", false).expect("valid pattern");
        assert!(p.matches_at_depth("a/b", 1) && p.matches("a/b"));
        assert!(m("[^x]y", "/y") && m("x*x", "xx") && !m("x*x", "x"));
    }

    #[test]
    fn invalid_patterns() {
        assert!(Pattern::new("[", false).is_none());
        assert!(Pattern::new("[]", false).is_none());
        assert!(Pattern::new("[a-]", false).is_none());
        assert!(Pattern::new("[z-a]", false).is_none());
        assert!(Pattern::new("a\\", false).is_none());
        assert!(Pattern::new("]", false).is_some());
    }

    #[test]
    fn below() {
        let p = |s: &str| Pattern::new(s, true).expect("valid pattern");
        assert!(p("foo/bar").may_match_below("foo"));
        assert!(!p("foo").may_match_below("foo"));
        assert!(!p("foobar/x").may_match_below("foo"));
        assert!(p("fo**").may_match_below("foo"));
        assert!(p("foo/*.md").may_match_below("foo"));
        assert!(!p("bar/*.md").may_match_below("foo"));
        assert!(p("*/keep").may_match_below("foo"));
        assert!(p("**/keep").may_match_below("foo"));
        assert!(!p("*.md").may_match_below("foo"));
    }
}
