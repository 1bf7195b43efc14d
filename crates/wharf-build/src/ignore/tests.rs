use super::*;

fn excluded(ignore: &Ignore, paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| ignore.matches(p))
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn reference_example_temp() {
    // docs: "Build context", .dockerignore example.
    let ig = Ignore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
    assert_eq!(ig.patterns(), ["*/temp*", "*/*/temp*", "temp?"]);
    assert!(ig.matches("somedir/temporary.txt"));
    assert!(ig.matches("somedir/temp"));
    assert!(ig.matches("somedir/temp/inside.txt"));
    assert!(ig.matches("somedir/subdir/temporary.txt"));
    assert!(ig.matches("tempa"));
    assert!(ig.matches("tempb"));
    assert!(!ig.matches("temp"));
    assert!(!ig.matches("temporary.txt"));
    assert!(!ig.matches("a/b/c/temp"));
    assert!(!ig.matches("somedir/other.txt"));
}

#[test]
fn reference_example_double_star() {
    let ig = Ignore::parse("**/*.go");
    assert_eq!(
        excluded(
            &ig,
            &[
                "main.go",
                "cmd/app/main.go",
                "main.gox",
                "README.md",
                "go/file.txt"
            ]
        ),
        ["main.go", "cmd/app/main.go"]
    );
}

#[test]
fn reference_examples_exceptions() {
    let ig = Ignore::parse("*.md\n!README.md");
    assert_eq!(
        excluded(&ig, &["CHANGELOG.md", "README.md", "docs/x.md", "a.txt"]),
        ["CHANGELOG.md"]
    );

    // The last matching line decides.
    let ig = Ignore::parse("*.md\n!README*.md\nREADME-secret.md");
    assert_eq!(
        excluded(
            &ig,
            &[
                "CHANGELOG.md",
                "README.md",
                "README-dev.md",
                "README-secret.md"
            ]
        ),
        ["CHANGELOG.md", "README-secret.md"]
    );
    let ig = Ignore::parse("*.md\nREADME-secret.md\n!README*.md");
    assert_eq!(
        excluded(
            &ig,
            &[
                "CHANGELOG.md",
                "README.md",
                "README-dev.md",
                "README-secret.md"
            ]
        ),
        ["CHANGELOG.md"]
    );

    // Include-list style: everything out, then exceptions.
    let ig = Ignore::parse("*\n!src\n!Cargo.toml");
    assert_eq!(
        excluded(
            &ig,
            &[
                "target",
                "target/debug/x",
                "src/main.rs",
                "Cargo.toml",
                "README.md"
            ]
        ),
        ["target", "target/debug/x", "README.md"]
    );
}

#[test]
fn reading_the_file() {
    // `#` only starts a comment in the first column; patterns are trimmed and cleaned;
    // a leading `/` or `./` is dropped; CRLF and a BOM are fine.
    let ig = Ignore::parse(
        "\u{feff}/foo/bar\r\n ./baz/ \n  # not a comment\n\n!/keep/../kept\nx//y/.\n",
    );
    assert_eq!(
        ig.patterns(),
        ["foo/bar", "baz", "# not a comment", "!kept", "x/y"]
    );
    assert!(ig.matches("foo/bar") && ig.matches("foo/bar/deep") && !ig.matches("foo"));
    assert!(ig.matches("baz/x"));
    assert!(ig.matches("# not a comment"));
    assert!(!ig.matches("kept"));
    assert!(Ignore::parse("").is_empty());
    assert!(!Ignore::parse("a").has_exceptions() && Ignore::parse("a\n!b").has_exceptions());
}

#[test]
fn paths_are_cleaned() {
    let ig = Ignore::parse("node_modules");
    assert!(ig.matches("node_modules"));
    assert!(ig.matches("./node_modules/x"));
    assert!(ig.matches("/node_modules"));
    assert!(ig.matches("a/../node_modules"));
    assert!(!ig.matches("."));
    assert!(!ig.matches(""));
    assert!(!ig.matches("src/node_modules"));
    assert!(Ignore::parse("**/node_modules").matches("src/node_modules/pkg/index.js"));
}

#[test]
fn directories_and_exceptions_below_them() {
    let ig = Ignore::parse("docs\n!docs/keep.md");
    assert!(ig.matches("docs"));
    assert!(ig.matches("docs/other.md"));
    assert!(!ig.matches("docs/keep.md"));
    assert!(ig.dir_may_contain_included("docs"));
    assert!(ig.dir_may_contain_included("src"));

    let ig = Ignore::parse("docs\n!src/keep.md");
    assert!(!ig.dir_may_contain_included("docs"));
    assert!(!ig.dir_may_contain_included("docs/deep"));
    assert!(ig.dir_may_contain_included("."));

    let ig = Ignore::parse("target\n!**/*.keep");
    assert!(ig.dir_may_contain_included("target"));
    assert!(!ig.matches("target/a/b.keep"));
    assert!(ig.matches("target/a/b.o"));

    let ig = Ignore::parse("*\n!src");
    assert!(!ig.dir_may_contain_included("target"));
    assert!(ig.dir_may_contain_included("src"));

    // An exception that only matches the directory itself cannot help once a later
    // pattern excludes it again.
    let ig = Ignore::parse("a\n!a\na/b");
    assert!(!ig.matches("a") && ig.matches("a/b") && ig.matches("a/b/c"));
    assert!(!ig.dir_may_contain_included("a/b"));
}

#[test]
fn exception_of_a_parent() {
    // patternmatcher checks every parent: `!a` re-includes what `a/*` excluded below it.
    let ig = Ignore::parse("a/*\n!a");
    assert!(!ig.matches("a/b"));
    let ig = Ignore::parse("*/b\n!a/b/c");
    assert!(ig.matches("a/b"));
    assert!(!ig.matches("a/b/c"));
    assert!(ig.matches("a/b/d"));
}

#[test]
fn invalid_patterns() {
    assert_eq!(
        Ignore::try_parse("!").unwrap_err(),
        IgnoreError::IllegalExclusion
    );
    assert_eq!(
        Ignore::try_parse("a\n ! \n").unwrap_err(),
        IgnoreError::IllegalExclusion
    );
    assert_eq!(
        Ignore::try_parse("[a-").unwrap_err().to_string(),
        "invalid .dockerignore pattern \"[a-\": syntax error in pattern"
    );
    assert!(Ignore::try_parse("a\\").is_err());
    // `parse` leaves them out and keeps the rest.
    let ig = Ignore::parse("[\n!\nfoo");
    assert_eq!(ig.patterns(), ["foo"]);
    assert!(Ignore::try_parse("*.md\n!README.md\n**/tmp\n[a-c]?").is_ok());
}
