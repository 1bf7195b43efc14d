use super::*;

fn env(k: &str) -> Option<String> {
    match k {
        "FOO" => Some("/bar".into()),
        "str" => Some("foobarbaz".into()),
        "EMPTY" => Some(String::new()),
        "SPACED" => Some("  a  b ".into()),
        "HOME" => Some("/root".into()),
        _ => None,
    }
}

fn word(w: &str) -> String {
    Lex::default().process_word(w, &env).expect(w)
}

fn words(w: &str) -> Vec<String> {
    Lex::default().process_words(w, &env).expect(w)
}

fn err(w: &str) -> String {
    match Lex::default().process_word(w, &env).unwrap_err() {
        ShellError::Syntax { message, .. } => message,
        e => e.to_string(),
    }
}

#[test]
fn reference_example() {
    // Dockerfile reference, "Environment replacement".
    assert_eq!(word("${FOO}"), "/bar");
    assert_eq!(word("$FOO"), "/bar");
    assert_eq!(word("\\$FOO"), "$FOO");
    assert_eq!(word("\\${FOO}"), "${FOO}");
    assert_eq!(word("${FOO}_bar"), "/bar_bar");
    assert_eq!(word("$FOO_bar"), "");
}

#[test]
fn modifier_table() {
    // ${variable:-word}: set and non-empty gives the value, else word.
    assert_eq!(word("${FOO:-word}"), "/bar");
    assert_eq!(word("${EMPTY:-word}"), "word");
    assert_eq!(word("${UNSET:-word}"), "word");
    // ${variable-word}: set (even empty) gives the value.
    assert_eq!(word("${FOO-word}"), "/bar");
    assert_eq!(word("${EMPTY-word}"), "");
    assert_eq!(word("${UNSET-word}"), "word");
    // ${variable:+word}: word when set and non-empty, else empty.
    assert_eq!(word("${FOO:+word}"), "word");
    assert_eq!(word("${EMPTY:+word}"), "");
    assert_eq!(word("${UNSET:+word}"), "");
    // ${variable+word}: word when set, even empty.
    assert_eq!(word("${FOO+word}"), "word");
    assert_eq!(word("${EMPTY+word}"), "word");
    assert_eq!(word("${UNSET+word}"), "");
    // word can hold more variables.
    assert_eq!(word("${UNSET:-$FOO/x}"), "/bar/x");
    assert_eq!(word("${UNSET:-${ALSO:-${FOO}}}"), "/bar");
    assert_eq!(word("${FOO:+${UNSET}}"), "");
}

#[test]
fn required_variables() {
    assert_eq!(word("${FOO:?}"), "/bar");
    assert_eq!(word("${EMPTY?}"), "");
    assert_eq!(err("${UNSET?}"), "UNSET: is not allowed to be unset");
    assert_eq!(err("${UNSET:?}"), "UNSET: is not allowed to be unset");
    assert_eq!(err("${EMPTY:?}"), "EMPTY: is not allowed to be empty");
    assert_eq!(err("${UNSET?set it $FOO}"), "UNSET: set it /bar");
    assert_eq!(err("${EMPTY:?needed}"), "EMPTY: needed");
}

#[test]
fn pattern_modifiers() {
    // Dockerfile reference: str=foobarbaz.
    assert_eq!(word("${str#f*b}"), "arbaz");
    assert_eq!(word("${str##f*b}"), "az");
    assert_eq!(word("${str%b*}"), "foobar");
    assert_eq!(word("${str%%b*}"), "foo");
    assert_eq!(word("${str/ba/fo}"), "fooforbaz");
    assert_eq!(word("${str//ba/fo}"), "fooforfoz");
    assert_eq!(word("${str#x}"), "foobarbaz");
    assert_eq!(word("${str/a?/_}"), "foob_baz");
    assert_eq!(word("${str//a?/_}"), "foob_b_");
    assert_eq!(word("${UNSET#x}"), "");
    assert_eq!(word("${FOO#\\/}"), "bar");
    assert_eq!(
        err("${str:#x}"),
        "unsupported modifier (:#) in substitution"
    );
    assert_eq!(
        err("${str#\\x}"),
        "invalid pattern (\\x) in substitution: invalid escape '\\x'"
    );
    assert_eq!(err("${str/a"), "syntax error: missing '/' in ${}");
    assert_eq!(err("${str/a/b"), "syntax error: missing '}'");
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(word("'$FOO'"), "$FOO");
    assert_eq!(word("'\\$FOO'"), "\\$FOO");
    assert_eq!(word("\"$FOO\""), "/bar");
    assert_eq!(word("\"a'$FOO'b\""), "a'/bar'b");
    assert_eq!(word("\"\\$FOO\""), "$FOO");
    assert_eq!(word("\"a\\tb\""), "a\\tb");
    assert_eq!(word("\"a\\\\b\""), "a\\b");
    assert_eq!(word("\"a\\\"b\""), "a\"b");
    assert_eq!(word("a\\tb"), "atb");
    assert_eq!(word("it\\'s"), "it's");
    assert_eq!(word("'a\\'"), "a\\");
    assert_eq!(word("trailing\\"), "trailing");
    assert_eq!(word("x'y'z\"w\""), "xyzw");
    assert_eq!(word("$"), "$");
    assert_eq!(word("a$.b"), "a$.b");
    assert_eq!(word("$1x"), "x");
    assert_eq!(word("\"\""), "");
}

#[test]
fn syntax_errors() {
    assert_eq!(
        err("'open"),
        "unexpected end of statement while looking for matching single-quote"
    );
    assert_eq!(
        err("\"open"),
        "unexpected end of statement while looking for matching double-quote"
    );
    assert_eq!(
        err("${FOO"),
        "unsupported modifier (\u{FFFD}) in substitution"
    );
    assert_eq!(err("${"), "syntax error: missing '}'");
    assert_eq!(err("${}"), "syntax error: bad substitution");
    assert_eq!(err("${:x}"), "syntax error: bad substitution");
    assert_eq!(err("${FOO:-x"), "syntax error: missing '}'");
    assert_eq!(err("${FOO:x}"), "unsupported modifier (:x) in substitution");
    assert_eq!(err("${FOO=x}"), "unsupported modifier (=) in substitution");
    assert_eq!(err("${#FOO}"), "unsupported modifier (F) in substitution");
    let e = Lex::default().process_word("${}", &env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"${}\": syntax error: bad substitution"
    );
}

#[test]
fn word_splitting() {
    assert_eq!(words("80/tcp 443"), ["80/tcp", "443"]);
    assert_eq!(words("a$SPACED"), ["a", "a", "b"]);
    assert_eq!(words("a\"$SPACED\""), ["a  a  b "]);
    assert_eq!(words("'one two' three\\ four"), ["one two", "three four"]);
    assert_eq!(words("  "), Vec::<String>::new());
    assert_eq!(words("\"\" x"), ["x"]);
    assert_eq!(words("${UNSET:-a b}"), ["a", "b"]);
    // The whitespace is kept by process_word.
    assert_eq!(word("a$SPACED"), "a  a  b ");
}

#[test]
fn backtick_escape() {
    let lex = Lex::new('`');
    let w = |s: &str| lex.process_word(s, &env).expect(s);
    assert_eq!(w("c:\\windows"), "c:\\windows");
    assert_eq!(w("`$FOO"), "$FOO");
    assert_eq!(w("a` b"), "a b");
    assert_eq!(w("\"`\"\""), "\"");
    assert_eq!(w("\"\\\""), "\\");
}

#[test]
fn raw_options_keep_text() {
    let opts = Options {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Options::default()
    };
    let (w, ws) = process("<<'EOF' \"$X\" ${Y:-z} \\$", '\\', opts, &env).unwrap();
    assert_eq!(w, "<<'EOF' \"$X\" ${Y:-z} \\$");
    assert_eq!(ws, ["<<'EOF'", "\"$X\"", "${Y:-z}", "\\$"]);
    // `<< EOF` stays one word.
    let (_, ws) = process("cat << EOF > x", '\\', Options::default(), &env).unwrap();
    assert_eq!(ws, ["cat", "<< EOF", ">", "x"]);
}

#[test]
fn heredoc_body_expansion_ignores_quotes() {
    let opts = Options {
        skip_process_quotes: true,
        ..Options::default()
    };
    let (w, _) = process("echo \"hello ${HOME}\" '$HOME'\n", '\\', opts, &env).unwrap();
    assert_eq!(w, "echo \"hello /root\" '/root'\n");
}
