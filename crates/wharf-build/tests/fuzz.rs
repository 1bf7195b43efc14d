//! Garbage in, no panic out: random and mutated inputs for the parser, the word
//! expander and the .dockerignore matcher.

use wharf_build::{parse, Ignore, Lex};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "LABEL ",
    "ARG ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "CMD ",
    "ENTRYPOINT ",
    "SHELL ",
    "EXPOSE ",
    "VOLUME ",
    "USER ",
    "WORKDIR ",
    "STOPSIGNAL ",
    "MAINTAINER ",
    "NONE",
    "AS ",
    "<<",
    "<<-",
    "EOF",
    "'EOF'",
    "\n",
    "\r\n",
    "\\",
    "\\\n",
    "`",
    "`\n",
    "\"",
    "'",
    "$",
    "${",
    "}",
    ":",
    ":-",
    "+",
    "?",
    "#",
    "##",
    "%",
    "%%",
    "/",
    "//",
    "*",
    "**",
    "[",
    "]",
    "^",
    "!",
    "=",
    " ",
    "\t",
    "--mount=",
    "type=cache,",
    "target=/x",
    ",",
    "--from=",
    "--chown=",
    "--interval=",
    "1m30s",
    "--retries=",
    "--platform=",
    "--network=",
    "--",
    "[\"a\", \"b\"]",
    "[1]",
    "é",
    "\u{feff}",
    "# escape=`\n",
    "# syntax=x\n",
    "0",
    "9",
    "a",
    "FOO",
    ".",
    "..",
    "\u{85}",
    "\u{a0}",
    "\0",
];

/// `n` rounds, times `WHARF_FUZZ_ROUNDS` when set (for longer runs by hand).
fn rounds(n: usize) -> usize {
    let k = std::env::var("WHARF_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    n * k
}

fn garbage(rng: &mut Rng, max: usize) -> String {
    let n = rng.below(max);
    let mut s = String::new();
    for _ in 0..n {
        if rng.below(4) == 0 {
            // Any character, including ones no Dockerfile has.
            let c = char::from_u32(rng.below(0x3000) as u32).unwrap_or('x');
            s.push(c);
        } else {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    s
}

fn env(name: &str) -> Option<String> {
    match name.len() % 3 {
        0 => None,
        1 => Some(String::new()),
        _ => Some(format!("v a l {name}")),
    }
}

const SEED_FILE: &str = "# syntax=docker/dockerfile:1\nARG V=1\nFROM --platform=$P alpine:$V AS build\nENV A=\"x y\" B=$A\nRUN --mount=type=cache,target=/c <<EOF cat\nhello $A\nEOF\nCOPY --from=build --chown=1:1 <<-'X' a b /dst/\n\tx\n\tX\nHEALTHCHECK --interval=5s CMD [\"true\"]\nONBUILD RUN echo hi\nEXPOSE 80 ${PORT:-443}/udp\nLABEL a=b\n";

#[test]
fn parse_survives_garbage() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..rounds(4000) {
        let text = garbage(&mut rng, 40);
        if let Ok(df) = parse(&text) {
            let lex = df.lex();
            for st in &df.stages {
                let _ = st.expand_base(&lex, &env);
                let _ = st.expand_platform(&lex, &env);
                for inst in &st.instructions {
                    let _ = inst.expand(&lex, &env);
                }
            }
        }
    }
}

#[test]
fn parse_survives_mutations() {
    let mut rng = Rng(42);
    for _ in 0..rounds(3000) {
        let mut text = SEED_FILE.to_string();
        for _ in 0..1 + rng.below(4) {
            let mut at = rng.below(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            if rng.below(2) == 0 {
                let end = (at + rng.below(8)).min(text.len());
                if text.is_char_boundary(end) {
                    text.replace_range(at..end, "");
                }
            } else {
                text.insert_str(at, PIECES[rng.below(PIECES.len())]);
            }
        }
        if let Ok(df) = parse(&text) {
            for st in &df.stages {
                for inst in &st.instructions {
                    let _ = inst.expand(&df.lex(), &env);
                }
            }
        }
    }
}

#[test]
fn words_survive_garbage() {
    let mut rng = Rng(7);
    for _ in 0..rounds(5000) {
        let word = garbage(&mut rng, 24);
        for escape in ['\\', '`'] {
            let lex = Lex::new(escape);
            let _ = lex.process_word(&word, &env);
            let _ = lex.process_words(&word, &env);
        }
    }
}

#[test]
fn ignore_survives_garbage() {
    let mut rng = Rng(1234);
    for _ in 0..rounds(1500) {
        let text = garbage(&mut rng, 12);
        let ig = Ignore::parse(&text);
        let _ = Ignore::try_parse(&text);
        for _ in 0..8 {
            let path = garbage(&mut rng, 6);
            let _ = ig.matches(&path);
            let _ = ig.dir_may_contain_included(&path);
        }
    }
}
