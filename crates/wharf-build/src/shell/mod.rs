//! Docker's word expansion: the `shell.Lex` of buildkit's `frontend/dockerfile/shell/lex.go`.
//!
//! [`Lex::process_word`] expands `$VAR`, `${VAR}`, the modifiers buildkit supports
//! (`${VAR:-w}` `${VAR-w}` `${VAR:+w}` `${VAR+w}` `${VAR:?msg}` `${VAR?msg}`
//! `${VAR#pat}` `${VAR##pat}` `${VAR%pat}` `${VAR%%pat}` `${VAR/pat/repl}` `${VAR//pat/repl}`),
//! removes quotes (`'…'` literal, `"…"` with expansion) and handles the escape character.
//! [`Lex::process_words`] does the same and splits the result into words, the way
//! `EXPOSE` arguments are split. There is no `${#VAR}`: buildkit has none either.

mod pattern;

use std::fmt::Write as _;

/// Looks up a variable: `Some(value)` when it is set (possibly to ""), `None` when unset.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A failed expansion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// The word could not be processed; `message` is buildkit's
    /// (`syntax error: missing '}'`, `FOO: is not allowed to be unset`, …).
    #[error("failed to process {word:?}: {message}")]
    Syntax { word: String, message: String },
    /// The expanded value is not allowed where it is used (for example a variable in
    /// `COPY --from`).
    #[error("{0}")]
    Invalid(String),
}

/// Docker's word expander, parameterised by the Dockerfile's escape character
/// (`\` unless `# escape=` says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lex {
    pub escape: char,
}

impl Default for Lex {
    fn default() -> Self {
        Lex { escape: '\\' }
    }
}

impl Lex {
    pub const fn new(escape: char) -> Self {
        Lex { escape }
    }

    /// Expands one word (buildkit's `ProcessWord`): whitespace inside the word is kept.
    pub fn process_word(&self, word: &str, env: Env<'_>) -> Result<String, ShellError> {
        process(word, self.escape, Options::default(), env).map(|(w, _)| w)
    }

    /// Expands and splits into words (buildkit's `ProcessWords`): unquoted whitespace,
    /// including whitespace coming from a variable's value, separates words.
    pub fn process_words(&self, word: &str, env: Env<'_>) -> Result<Vec<String>, ShellError> {
        process(word, self.escape, Options::default(), env).map(|(_, ws)| ws)
    }
}

/// The switches buildkit's `Lex` has besides the escape token; the parser uses them to
/// find heredoc words, and COPY uses `skip_process_quotes` to expand heredoc bodies.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Quotes are ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

/// Expands `word`, returning the single-word result and the split words.
pub(crate) fn process(
    word: &str,
    escape: char,
    opts: Options,
    env: Env<'_>,
) -> Result<(String, Vec<String>), ShellError> {
    let mut sc = Scanner {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        opts,
        raw_escapes: opts.raw_escapes,
        env,
    };
    sc.process_stop_on(None, opts.raw_escapes)
        .map_err(|message| ShellError::Syntax {
            word: word.to_string(),
            message,
        })
}

struct Scanner<'e> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    opts: Options,
    raw_escapes: bool,
    env: Env<'e>,
}

/// Word splitting state (`wordsStruct` in lex.go).
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

/// How Go's `string(rune)` prints a character the scanner returned, EOF included.
fn rune_str(ch: Option<char>) -> String {
    ch.unwrap_or('\u{FFFD}').to_string()
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn get_env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// Processes until `stop` (consumed) or the end of input.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if !self.opts.skip_process_quotes => Some(self.process_single_quote()?),
                '"' if !self.opts.skip_process_quotes => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            self.next();
            let mut ch = ch;
            if ch == self.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                // The escape character escapes anything, except at the end of the word.
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        // Everything up to the next ' is literal; ' itself cannot be escaped.
        let mut result = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    )
                }
                Some('\'') => {
                    if self.opts.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        // Literal except `$`; the escape character escapes only `"`, `$` and itself
        // (sh(1) "Double Quotes"), otherwise it stays.
        let mut result = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.opts.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let Some(mut ch) = self.next() else { continue };
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `<<` followed by blanks is kept together so that `<< EOF` stays one word.
    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut out = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.next();
        }
        out
    }

    fn process_name(&mut self) -> String {
        // A name is letters, digits and `_`; a leading digit reads only digits, and a
        // special parameter (POSIX 2.5.2) is one character.
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_go_digit(ch) {
                while let Some(d) = self.peek().filter(|c| is_go_digit(*c)) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphabetic() && !is_go_digit(ch) && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.opts.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.process_name();
        let mut ch = self.next();
        let mut chs = rune_str(ch);
        let null_is_unset = ch == Some(':');
        match ch {
            Some('}') => {
                return Ok(match self.get_env(&name) {
                    Some(v) => v,
                    None if self.opts.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            Some('/') => return self.process_replace(&name),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {}
            _ => return Err(format!("unsupported modifier ({chs}) in substitution")),
        }
        if null_is_unset {
            ch = self.next();
            chs.push_str(&rune_str(ch));
        }
        let raw_escapes = matches!(ch, Some('#' | '%'));
        if null_is_unset && raw_escapes {
            return Err(format!("unsupported modifier ({chs}) in substitution"));
        }
        let mut word = match self.process_stop_on(Some('}'), raw_escapes) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".to_string()),
            Err(e) => return Err(e),
        };
        let value = self.get_env(&name);
        if self.opts.skip_unset_env && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        let empty = value
            .as_deref()
            .is_none_or(|v| null_is_unset && v.is_empty());
        match ch {
            Some('-') => Ok(if empty {
                word
            } else {
                value.unwrap_or_default()
            }),
            Some('+') => Ok(if empty { String::new() } else { word }),
            Some('?') => match value {
                None => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                Some(v) if null_is_unset && v.is_empty() => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                )),
                Some(v) => Ok(v),
            },
            Some(c @ ('%' | '#')) => {
                // `%`/`#` remove the shortest match, `%%`/`##` the longest.
                let greedy = word.starts_with(c);
                if greedy {
                    word.remove(0);
                }
                let value = value.unwrap_or_default();
                if c == '%' {
                    pattern::trim_suffix(&word, &value, greedy)
                } else {
                    pattern::trim_prefix(&word, &value, greedy)
                }
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn process_replace(&mut self, name: &str) -> Result<String, String> {
        let replace_all = self.peek() == Some('/');
        if replace_all {
            self.next();
        }
        let pat = match self.process_stop_on(Some('/'), true) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => {
                return Err("syntax error: missing '/' in ${}".to_string())
            }
            Err(e) => return Err(e),
        };
        let repl = match self.process_stop_on(Some('}'), true) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".to_string()),
            Err(e) => return Err(e),
        };
        let value = self.get_env(name);
        if self.opts.skip_unset_env && value.is_none() {
            let mut s = String::new();
            let _ = write!(s, "${{{name}/{pat}/{repl}}}");
            return Ok(s);
        }
        pattern::replace(&pat, &repl, &value.unwrap_or_default(), replace_all)
    }
}

/// Go's `unicode.IsDigit` (decimal digits, category Nd).
fn is_go_digit(ch: char) -> bool {
    ch.is_ascii_digit() || (!ch.is_ascii() && is_unicode_nd(ch))
}

/// Approximates Unicode category Nd for non-ASCII characters: Rust's `is_numeric` also
/// accepts No/Nl (like `²` or `Ⅻ`), which Go's `IsDigit` rejects. Decimal digit blocks
/// are runs of ten starting at a code point ending in 0 or 6; this covers the common
/// scripts and is only used in variable names.
fn is_unicode_nd(ch: char) -> bool {
    const ND_STARTS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
        0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0,
        0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0,
        0xAA50, 0xABF0, 0xFF10,
    ];
    let c = ch as u32;
    ND_STARTS.iter().any(|s| (*s..*s + 10).contains(&c))
}

/// POSIX special parameters (XCU 2.5.2).
fn is_special_param(ch: char) -> bool {
    matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

#[cfg(test)]
mod tests;
