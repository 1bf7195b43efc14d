use super::*;

fn parse_ok(text: &str) -> Dockerfile {
    match parse(text) {
        Ok(df) => df,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// The instructions of the only stage.
fn insts(text: &str) -> Vec<Instruction> {
    let df = parse_ok(text);
    assert_eq!(df.stages.len(), 1);
    df.stages
        .into_iter()
        .next()
        .expect("one stage")
        .instructions
}

fn kinds(text: &str) -> Vec<Kind> {
    insts(text).into_iter().map(|i| i.kind).collect()
}

fn one(text: &str) -> Kind {
    let mut k = kinds(&format!("FROM scratch\n{text}"));
    assert_eq!(k.len(), 1, "{k:?}");
    k.remove(0)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

fn s(v: &str) -> String {
    v.to_string()
}

fn env(k: &str) -> Option<String> {
    match k {
        "FOO" => Some(s("/bar")),
        "abc" => Some(s("hello")),
        "USER" => Some(s("app")),
        "PORT" => Some(s("8080 9090/udp")),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

#[test]
fn directives_at_the_top() {
    let df = parse_ok(
        "# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all;error=true\n\nFROM x\n",
    );
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.directives.escape, '`');
    assert_eq!(df.directives.check.as_deref(), Some("skip=all;error=true"));
    assert_eq!(df.lex().escape, '`');

    // Whitespace and case variations (reference, "Parser directives").
    for d in [
        "#escape=`",
        "# escape =`",
        "#\tescape= `",
        "# escape = `",
        "#\t  eScApE=`",
    ] {
        assert_eq!(
            parse_ok(&format!("{d}\nFROM x")).directives.escape,
            '`',
            "{d}"
        );
    }
    // After a comment, an instruction or a blank line, it is just a comment.
    for text in [
        "# About my dockerfile\n# escape=`\nFROM x",
        "FROM x\n# escape=`",
        "\n# escape=`\nFROM x",
        "# unknowndirective=value\n# escape=`\nFROM x",
    ] {
        assert_eq!(parse_ok(text).directives.escape, '\\', "{text}");
    }
    assert_eq!(
        error("# escape=`\n# escape=\\\nFROM x"),
        "dockerfile parse error on line 2: only one escape parser directive can be used"
    );
    assert_eq!(
        error("# escape=x\nFROM x"),
        "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\"
    );
    // A BOM before the directives is skipped.
    assert_eq!(
        parse_ok("\u{feff}# escape=`\nFROM x").directives.escape,
        '`'
    );
}

#[test]
fn comments_blank_lines_and_case() {
    let i = insts("# Comment\n\n  FROM alpine\n  # indented comment\nrun echo 'we are running some # of cool things'\n\n");
    assert_eq!(i.len(), 1);
    assert_eq!(
        i[0].kind,
        Kind::Run {
            cmd: ShellOrExec::Shell(s("echo 'we are running some # of cool things'")),
            mounts: vec![],
            network: None,
            security: None,
            devices: vec![],
            heredocs: vec![],
        }
    );
    assert_eq!(i[0].line, 5);
    assert_eq!(
        i[0].original,
        "run echo 'we are running some # of cool things'"
    );
}

#[test]
fn continuations() {
    // Comment lines inside a continuation are dropped (reference, "Format").
    let i = insts("FROM x\nRUN echo hello \\\n# comment\nworld\n");
    assert_eq!(i[0].kind, one("RUN echo hello \\\nworld"));
    assert_eq!(i[0].original, "RUN echo hello world");
    // Leading whitespace of continuation lines is kept.
    let i = insts("FROM x\nRUN echo \"\\\n     hello\\\n     world\"\n");
    assert_eq!(i[0].original, "RUN echo \"     hello     world\"");
    // Empty continuation lines are dropped too; blanks after the escape are fine.
    let i = insts("FROM x\nRUN a \\  \n\n   \n b\nUSER me");
    assert_eq!(i[0].original, "RUN a  b");
    assert_eq!(i[1].line, 6);
    // A continuation at the end of the file ends the instruction.
    assert_eq!(insts("FROM x\nRUN a \\")[0].original, "RUN a");
    // An escaped escape is not a continuation.
    let i = insts("FROM x\nRUN echo \\\\\nUSER me");
    assert_eq!(i.len(), 2);
    // Multi-line LABEL from the reference.
    let k = one("LABEL description=\"This text illustrates \\\nthat label-values can span multiple lines.\"");
    assert_eq!(
        k,
        Kind::Label(vec![(
            s("description"),
            s("\"This text illustrates that label-values can span multiple lines.\"")
        )])
    );
    // CRLF line endings.
    let i = insts("FROM x\r\nRUN a \\\r\n  b\r\n");
    assert_eq!(i[0].original, "RUN a   b");
}

#[test]
fn windows_escape_example() {
    // Reference, "escape": with the backtick, `\` is an ordinary character.
    let df =
        parse_ok("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    let i = &df.stages[0].instructions;
    assert_eq!(i.len(), 2);
    match &i[0].kind {
        Kind::Copy { srcs, dest, .. } => {
            assert_eq!(srcs, &[s("testfile.txt")]);
            assert_eq!(dest, "c:\\");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(i[1].original, "RUN dir c:\\");
    let dest = match i[0].expand(&df.lex(), &env).expect("expands") {
        Kind::Copy { dest, .. } => dest,
        k => panic!("{k:?}"),
    };
    assert_eq!(dest, "c:\\");
    // Backtick continuations.
    let df = parse_ok("# escape=`\nFROM x\nRUN a `\n  b\n");
    assert_eq!(df.stages[0].instructions[0].original, "RUN a   b");

    // With the default escape, `c:\` continues onto the next line (buildkit does not
    // treat `\\` as a continuation any more).
    let df = parse_ok("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n");
    let i = &df.stages[0].instructions;
    assert_eq!(i.len(), 2);
    assert_eq!(i[1].original, "RUN dir c:");
}

#[test]
fn from_forms() {
    let df = parse_ok("ARG VERSION=latest\nARG OTHER\nFROM --platform=$BUILDPLATFORM busybox:$VERSION AS Build-Env\nFROM build-env\nfrom scratch as x\n");
    assert_eq!(
        df.meta_args,
        [
            KeyValueOpt {
                key: s("VERSION"),
                value: Some(s("latest"))
            },
            KeyValueOpt {
                key: s("OTHER"),
                value: None
            },
        ]
    );
    let st = &df.stages;
    assert_eq!(st.len(), 3);
    assert_eq!(
        (st[0].index, st[0].name.as_deref(), st[0].base.as_str()),
        (0, Some("build-env"), "busybox:$VERSION")
    );
    assert_eq!(st[0].platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(st[0].line, 3);
    assert_eq!(
        (st[1].index, st[1].name.as_deref(), st[1].base.as_str()),
        (1, None, "build-env")
    );
    assert_eq!(st[2].name.as_deref(), Some("x"));

    let lex = df.lex();
    let meta = |k: &str| match k {
        "VERSION" => Some(s("1.36")),
        "BUILDPLATFORM" => Some(s("linux/amd64")),
        _ => None,
    };
    assert_eq!(
        expand_base(&st[0], &lex, &meta).expect("expands"),
        "busybox:1.36"
    );
    assert_eq!(
        st[0]
            .expand_platform(&lex, &meta)
            .expect("expands")
            .as_deref(),
        Some("linux/amd64")
    );
    let e = parse_ok("FROM $NOPE").stages[0]
        .expand_base(&lex, &meta)
        .unwrap_err();
    assert_eq!(e.to_string(), "base name ($NOPE) should not be blank");
}

#[test]
fn run_forms_and_flags() {
    assert_eq!(
        one("RUN [\"/bin/bash\", \"-c\", \"echo hello\"]"),
        Kind::Run {
            cmd: ShellOrExec::Exec(vec![s("/bin/bash"), s("-c"), s("echo hello")]),
            mounts: vec![],
            network: None,
            security: None,
            devices: vec![],
            heredocs: vec![],
        }
    );
    let k = one("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=tok,required --network=none --security=insecure --device=vendor.com/dev=x make");
    let Kind::Run {
        cmd,
        mounts,
        network,
        security,
        devices,
        ..
    } = k
    else {
        panic!()
    };
    assert_eq!(cmd, ShellOrExec::Shell(s("make")));
    assert_eq!(mounts.len(), 2);
    assert_eq!(
        (
            mounts[0].kind.as_str(),
            mounts[0].target.as_str(),
            mounts[0].readonly
        ),
        ("cache", "/root/.cache", false)
    );
    assert_eq!(
        (
            mounts[1].kind.as_str(),
            mounts[1].id.as_deref(),
            mounts[1].readonly
        ),
        ("secret", Some("tok"), true)
    );
    assert_eq!(network.as_deref(), Some("none"));
    assert_eq!(security.as_deref(), Some("insecure"));
    assert_eq!(devices, ["vendor.com/dev=x"]);
}

#[test]
fn json_or_shell_form() {
    let cmd = |t: &str| match one(t) {
        Kind::Cmd(c) => c,
        k => panic!("{k:?}"),
    };
    assert_eq!(
        cmd("CMD [\"a\", \"b\"]"),
        ShellOrExec::Exec(vec![s("a"), s("b")])
    );
    assert_eq!(cmd("CMD   [ \"a\" ]  "), ShellOrExec::Exec(vec![s("a")]));
    assert_eq!(cmd("CMD []"), ShellOrExec::Exec(vec![]));
    // Not valid JSON: shell form, as written.
    assert_eq!(
        cmd("CMD [\"a\", 'b']"),
        ShellOrExec::Shell(s("[\"a\", 'b']"))
    );
    assert_eq!(
        cmd("CMD [\"c:\\windows\\system32\\tasklist.exe\"]"),
        ShellOrExec::Shell(s("[\"c:\\windows\\system32\\tasklist.exe\"]"))
    );
    assert_eq!(
        cmd("CMD [\"c:\\\\windows\"]"),
        ShellOrExec::Exec(vec![s("c:\\windows")])
    );
    assert_eq!(cmd("CMD [\"a\""), ShellOrExec::Shell(s("[\"a\"")));
    assert_eq!(
        cmd("CMD [\"a\"] && b"),
        ShellOrExec::Shell(s("[\"a\"] && b"))
    );
    assert_eq!(
        cmd("CMD echo \"$HOME\""),
        ShellOrExec::Shell(s("echo \"$HOME\""))
    );
    assert_eq!(
        cmd("CMD [\"\\u00e9\\n\"]"),
        ShellOrExec::Exec(vec![s("é\n")])
    );
    // A JSON array of something else than strings is an error.
    assert_eq!(
        error("FROM x\nCMD [\"a\", 1]"),
        "dockerfile parse error on line 2: when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(
        one("ENTRYPOINT exec top -b"),
        Kind::Entrypoint(ShellOrExec::Shell(s("exec top -b")))
    );
    assert_eq!(
        one("SHELL [\"powershell\", \"-command\"]"),
        Kind::Shell(vec![s("powershell"), s("-command")])
    );
}

#[test]
fn env_and_label_forms() {
    // Reference, "ENV".
    let k = kinds("FROM x\nENV MY_NAME=\"John Doe\"\nENV MY_DOG=Rex\\ The\\ Dog\nENV MY_CAT=fluffy\nENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy\nENV MY_VAR my-value\nENV ONE TWO= THREE=world");
    assert_eq!(k[0], Kind::Env(vec![(s("MY_NAME"), s("\"John Doe\""))]));
    assert_eq!(k[1], Kind::Env(vec![(s("MY_DOG"), s("Rex\\ The\\ Dog"))]));
    assert_eq!(
        k[3],
        Kind::Env(vec![
            (s("MY_NAME"), s("\"John Doe\"")),
            (s("MY_DOG"), s("Rex\\ The\\ Dog")),
            (s("MY_CAT"), s("fluffy")),
        ])
    );
    assert_eq!(k[4], Kind::Env(vec![(s("MY_VAR"), s("my-value"))]));
    assert_eq!(k[5], Kind::Env(vec![(s("ONE"), s("TWO= THREE=world"))]));
    // Expanded values lose their quotes and escapes.
    let lex = Lex::default();
    let ex = |k: &Kind| k.expand(&lex, &env).expect("expands");
    assert_eq!(
        ex(&k[3]),
        Kind::Env(vec![
            (s("MY_NAME"), s("John Doe")),
            (s("MY_DOG"), s("Rex The Dog")),
            (s("MY_CAT"), s("fluffy"))
        ])
    );
    // Every pair sees the environment from before the instruction.
    let k = one("ENV abc=bye def=$abc");
    assert_eq!(
        ex(&k),
        Kind::Env(vec![(s("abc"), s("bye")), (s("def"), s("hello"))])
    );
    // Quotes of every kind.
    let k = one("ENV a='x \"y\"' b=\"it's\" c=\"q\\\"q\" d= e=\"\"");
    assert_eq!(
        ex(&k),
        Kind::Env(vec![
            (s("a"), s("x \"y\"")),
            (s("b"), s("it's")),
            (s("c"), s("q\"q")),
            (s("d"), s("")),
            (s("e"), s(""))
        ])
    );

    // Reference, "LABEL".
    let k = kinds("FROM x\nLABEL \"com.example.vendor\"=\"ACME Incorporated\"\nLABEL com.example.label-with-value=\"foo\"\nLABEL version=\"1.0\"\nLABEL multi.label1=\"value1\" multi.label2=\"value2\" other=\"value3\"");
    assert_eq!(
        ex(&k[0]),
        Kind::Label(vec![(s("com.example.vendor"), s("ACME Incorporated"))])
    );
    assert_eq!(
        ex(&k[3]),
        Kind::Label(vec![
            (s("multi.label1"), s("value1")),
            (s("multi.label2"), s("value2")),
            (s("other"), s("value3"))
        ])
    );
    let k = one("LABEL example=\"foo-$FOO\" single='foo-$FOO'");
    assert_eq!(
        ex(&k),
        Kind::Label(vec![
            (s("example"), s("foo-/bar")),
            (s("single"), s("foo-$FOO"))
        ])
    );
}

#[test]
fn copy_and_add() {
    let k = one("COPY --from=build --chown=55:mygroup --chmod=644 --link --parents --exclude=*.txt --exclude=*.md a b/ /dest/");
    assert_eq!(
        k,
        Kind::Copy {
            srcs: vec![s("a"), s("b/")],
            dest: s("/dest/"),
            from: Some(s("build")),
            chown: Some(s("55:mygroup")),
            chmod: Some(s("644")),
            link: true,
            parents: true,
            exclude: vec![s("*.txt"), s("*.md")],
            heredocs: vec![],
        }
    );
    // Paths with whitespace use the JSON form.
    let Kind::Copy { srcs, dest, .. } = one("COPY [\"my file\", \"/dest dir/\"]") else {
        panic!()
    };
    assert_eq!((srcs, dest), (vec![s("my file")], s("/dest dir/")));

    let k = one("ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d --keep-git-dir --unpack=false --chown=app https://example.com/a.tar.gz /");
    let Kind::Add {
        srcs,
        checksum,
        keep_git_dir,
        unpack,
        chown,
        link,
        ..
    } = k
    else {
        panic!()
    };
    assert_eq!(srcs, [s("https://example.com/a.tar.gz")]);
    assert!(checksum.is_some_and(|c| c.starts_with("sha256:")));
    assert!(keep_git_dir && !link);
    assert_eq!(unpack, Some(false));
    assert_eq!(chown.as_deref(), Some("app"));

    // Expansion: sources, destination, --chown/--chmod; reference example.
    let lex = Lex::default();
    let k = kinds("FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}\nADD . $FOO\nCOPY \\$FOO /quux\nCOPY --chown=$USER:$USER a $FOO/");
    let ex: Vec<Kind> = k
        .iter()
        .map(|k| k.expand(&lex, &env).expect("expands"))
        .collect();
    assert_eq!(ex[1], Kind::Workdir(s("/bar")));
    assert!(matches!(&ex[2], Kind::Add { srcs, dest, .. } if srcs == &[s(".")] && dest == "/bar"));
    assert!(
        matches!(&ex[3], Kind::Copy { srcs, dest, .. } if srcs == &[s("$FOO")] && dest == "/quux")
    );
    assert!(
        matches!(&ex[4], Kind::Copy { chown: Some(c), dest, .. } if c == "app:app" && dest == "/bar/")
    );
    // --from does not take variables.
    let k = one("COPY --from=$STAGE a b");
    assert_eq!(
        k.expand(&lex, &env).unwrap_err().to_string(),
        "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
    );
}

#[test]
fn other_instructions() {
    let lex = Lex::default();
    let ex = |k: Kind| k.expand(&lex, &env).expect("expands");
    assert_eq!(
        ex(one("EXPOSE 80/tcp 80/udp $PORT")),
        Kind::Expose(vec![s("80/tcp"), s("80/udp"), s("8080"), s("9090/udp")])
    );
    assert_eq!(one("VOLUME [\"/data\"]"), Kind::Volume(vec![s("/data")]));
    assert_eq!(
        ex(one("VOLUME /var/log /var/db $FOO")),
        Kind::Volume(vec![s("/var/log"), s("/var/db"), s("/bar")])
    );
    assert_eq!(ex(one("USER $USER:group")), Kind::User(s("app:group")));
    assert_eq!(ex(one("WORKDIR /a b")), Kind::Workdir(s("/a b")));
    assert_eq!(
        ex(one("STOPSIGNAL SIGKILL")),
        Kind::StopSignal(s("SIGKILL"))
    );
    assert_eq!(
        one("MAINTAINER SvenDowideit@home.org.au"),
        Kind::Maintainer(s("SvenDowideit@home.org.au"))
    );
    assert_eq!(
        ex(one("ARG user1=someuser buildno=\"1 $FOO\" plain")),
        Kind::Arg(vec![
            KeyValueOpt {
                key: s("user1"),
                value: Some(s("someuser"))
            },
            KeyValueOpt {
                key: s("buildno"),
                value: Some(s("1 /bar"))
            },
            KeyValueOpt {
                key: s("plain"),
                value: None
            },
        ])
    );
    // Not expanded by the builder.
    let run = one("RUN echo $FOO");
    assert_eq!(ex(run.clone()), run);
    let cmd = one("CMD [\"echo\", \"$FOO\"]");
    assert_eq!(ex(cmd.clone()), cmd);
    let ob = one("ONBUILD ADD $FOO /app/src");
    assert_eq!(ex(ob.clone()), ob);
    // RUN --mount values are.
    let Kind::Run { mounts, .. } = ex(one("RUN --mount=type=cache,target=$FOO,id=${abc} make"))
    else {
        panic!()
    };
    assert_eq!(
        (mounts[0].target.as_str(), mounts[0].id.as_deref()),
        ("/bar", Some("hello"))
    );
    let e = one("RUN --mount=type=$EMPTY,target=/x make")
        .expand(&lex, &env)
        .unwrap_err();
    assert_eq!(e.to_string(), "unsupported mount type \"\"");
}

#[test]
fn healthchecks() {
    let hc = |t: &str| match one(t) {
        Kind::Healthcheck(h) => h,
        k => panic!("{k:?}"),
    };
    // Reference example.
    let h =
        hc("HEALTHCHECK --interval=5m --timeout=3s \\\n  CMD curl -f http://localhost/ || exit 1")
            .expect("some");
    assert_eq!(
        h.test,
        [s("CMD-SHELL"), s("curl -f http://localhost/ || exit 1")]
    );
    assert_eq!(h.interval, Some(300_000_000_000));
    assert_eq!(h.timeout, Some(3_000_000_000));
    assert_eq!(
        (h.start_period, h.start_interval, h.retries),
        (None, None, None)
    );
    let h = hc("HEALTHCHECK --start-period=1m30s --start-interval=500ms --retries=5 --interval=0s CMD [\"/bin/check\", \"-q\"]").expect("some");
    assert_eq!(h.test, [s("CMD"), s("/bin/check"), s("-q")]);
    assert_eq!(
        (h.start_period, h.start_interval, h.retries, h.interval),
        (Some(90_000_000_000), Some(500_000_000), Some(5), None)
    );
    assert_eq!(hc("HEALTHCHECK NONE"), None);
    assert_eq!(hc("healthcheck none"), None);
}

#[test]
fn heredocs() {
    // Reference, "Here-Documents".
    let Kind::Run { cmd, heredocs, .. } = one("RUN <<EOT bash\n  set -ex\n  apt-get update\nEOT")
    else {
        panic!()
    };
    assert_eq!(cmd, ShellOrExec::Shell(s("<<EOT bash")));
    assert_eq!(
        heredocs,
        [Heredoc {
            name: s("EOT"),
            content: s("  set -ex\n  apt-get update\n"),
            expand: true,
            chomp: false
        }]
    );

    // Several on one line, in order.
    let i = insts("FROM alpine\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\nUSER me\n");
    let Kind::Run { heredocs, .. } = &i[0].kind else {
        panic!()
    };
    let names: Vec<(&str, &str)> = heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str()))
        .collect();
    assert_eq!(
        names,
        [("FILE1", "I am\nfirst\n"), ("FILE2", "I am\nsecond\n")]
    );
    assert_eq!(
        i[0].original,
        "RUN <<FILE1 cat > file1 && <<FILE2 cat > file2"
    );
    assert_eq!((i[1].line, i[1].kind.clone()), (9, Kind::User(s("me"))));

    // COPY: heredoc sources are taken out of srcs; `<<-` strips tabs; quotes stop expansion.
    let Kind::Copy {
        srcs,
        dest,
        heredocs,
        ..
    } = one("COPY <<-EOT /script.sh\n\techo \"hello ${FOO}\"\n\tEOT")
    else {
        panic!()
    };
    assert!(srcs.is_empty());
    assert_eq!(dest, "/script.sh");
    assert_eq!(heredocs[0].content, "\techo \"hello ${FOO}\"\n");
    assert!(heredocs[0].chomp && heredocs[0].expand);
    assert_eq!(heredocs[0].data(), "echo \"hello ${FOO}\"\n");
    assert_eq!(
        heredocs[0].expanded_data(&env).expect("expands"),
        "echo \"hello /bar\"\n"
    );
    let Kind::Copy { heredocs, .. } =
        one("COPY <<-\"EOT\" /script.sh\n  echo \"hello ${FOO}\"\nEOT")
    else {
        panic!()
    };
    assert!(!heredocs[0].expand);
    assert_eq!(
        heredocs[0].expanded_data(&env).expect("no expansion"),
        "  echo \"hello ${FOO}\"\n"
    );
    let Kind::Copy { srcs, heredocs, .. } =
        one("COPY <<one.txt two.txt <<three /dest/\n1\none.txt\n3\nthree")
    else {
        panic!()
    };
    assert_eq!(srcs, [s("two.txt")]);
    assert_eq!(
        heredocs.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["one.txt", "three"]
    );

    // Not heredocs: JSON form, quoted, other instructions.
    let Kind::Run { heredocs, .. } = one("RUN [\"cat\", \"<<EOF\"]") else {
        panic!()
    };
    assert!(heredocs.is_empty());
    let Kind::Run { heredocs, .. } = one("RUN echo '<<EOF'") else {
        panic!()
    };
    assert!(heredocs.is_empty());

    // The heredoc body is not parsed as instructions, and may contain anything.
    let i = insts("FROM x\nRUN <<EOF\nFROM y\n# not a comment\n\\\nEOF\nCMD x");
    assert_eq!(i.len(), 2);
    let Kind::Run { heredocs, .. } = &i[0].kind else {
        panic!()
    };
    assert_eq!(heredocs[0].content, "FROM y\n# not a comment\n\\\n");
    assert_eq!(heredoc_name("<<-'EOF'").as_deref(), Some("EOF"));
    assert_eq!(heredoc_name("EOF"), None);
}

#[test]
fn onbuild() {
    let i = insts("FROM x\nONBUILD ADD . /app/src\nonbuild RUN --mount=type=cache,target=/c <<EOF\necho hi\nEOF\n");
    let Kind::OnBuild(inner) = &i[0].kind else {
        panic!()
    };
    assert_eq!(inner.original, "ADD . /app/src");
    assert!(
        matches!(&inner.kind, Kind::Add { srcs, dest, .. } if srcs == &[s(".")] && dest == "/app/src")
    );
    assert_eq!(i[0].original, "ONBUILD ADD . /app/src");
    let Kind::OnBuild(inner) = &i[1].kind else {
        panic!()
    };
    assert_eq!(
        inner.original,
        "RUN --mount=type=cache,target=/c <<EOF\necho hi\nEOF"
    );
    let Kind::Run {
        mounts, heredocs, ..
    } = &inner.kind
    else {
        panic!()
    };
    assert_eq!((mounts.len(), heredocs.len()), (1, 1));
}

#[test]
fn error_messages() {
    let cases: &[(&str, &str)] = &[
        ("FORM alpine", "dockerfile parse error on line 1: unknown instruction: FORM (did you mean FROM?)"),
        ("FROM x\nfoo bar", "dockerfile parse error on line 2: unknown instruction: foo (did you mean from?)"),
        ("FROM x\nXYZZY a", "dockerfile parse error on line 2: unknown instruction: XYZZY"),
        ("RUN x\nFROM y", "dockerfile parse error on line 1: no build stage in current context"),
        ("FROM", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        ("FROM a b", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        ("FROM a AS", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        ("FROM a AS 1st", "dockerfile parse error on line 1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
        ("FROM a AS b$c", "dockerfile parse error on line 1: invalid name for build stage: \"b$c\", name can't start with a number or contain symbols"),
        ("FROM --platfrom=x a", "dockerfile parse error on line 1: unknown flag: --platfrom (did you mean platform?)"),
        ("FROM x\nCOPY a", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM x\nCOPY\t\n\tquux \\\n   bar", "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM x\nADD a", "dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM x\nCOPY --foo a b", "dockerfile parse error on line 2: unknown flag: --foo (did you mean from?)"),
        ("FROM x\nCOPY --bogus a b", "dockerfile parse error on line 2: unknown flag: --bogus"),
        ("FROM x\nCOPY --chwon=1 a b", "dockerfile parse error on line 2: unknown flag: --chwon (did you mean chown?)"),
        ("FROM x\nCOPY --from a b", "dockerfile parse error on line 2: missing a value on flag: --from"),
        ("FROM x\nCOPY --from=a --from=b a b", "dockerfile parse error on line 2: duplicate flag specified: --from"),
        ("FROM x\nCOPY --link=yes a b", "dockerfile parse error on line 2: expecting boolean value for flag --link, not: yes"),
        ("FROM x\nCOPY a <<EOF\nx\nEOF", "dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination"),
        ("FROM x\nRUN <<EOF\nno end", "dockerfile parse error on line 2: unterminated heredoc"),
        ("FROM x\nRUN --network=bridge x", "dockerfile parse error on line 2: invalid network mode \"bridge\""),
        ("FROM x\nRUN --security=lax x", "dockerfile parse error on line 2: security \"lax\" is not valid"),
        ("FROM x\nRUN --mount=type=bogus x", "dockerfile parse error on line 2: unsupported mount type \"bogus\""),
        ("FROM x\nMAINTAINER --boo joe@example.com", "dockerfile parse error on line 2: unknown flag: --boo"),
        ("FROM x\nMAINTAINER", "dockerfile parse error on line 2: MAINTAINER requires exactly one argument"),
        ("FROM x\nENV", "dockerfile parse error on line 2: ENV requires at least one argument"),
        ("FROM x\nENV A", "dockerfile parse error on line 2: ENV must have two arguments"),
        ("FROM x\nENV =a", "dockerfile parse error on line 2: ENV names can not be blank"),
        ("FROM x\nENV a=1 b", "dockerfile parse error on line 2: Syntax error - can't find = in \"b\". Must be of the form: name=value"),
        ("FROM x\nLABEL", "dockerfile parse error on line 2: LABEL requires at least one argument"),
        ("FROM x\nLABEL a", "dockerfile parse error on line 2: LABEL must have two arguments"),
        ("FROM x\nARG", "dockerfile parse error on line 2: ARG requires at least one argument"),
        ("FROM x\nARG =x", "dockerfile parse error on line 2: ARG names can not be blank"),
        ("FROM x\nEXPOSE", "dockerfile parse error on line 2: EXPOSE requires at least one argument"),
        ("FROM x\nVOLUME", "dockerfile parse error on line 2: VOLUME requires at least one argument"),
        ("FROM x\nVOLUME [\"\"]", "dockerfile parse error on line 2: VOLUME specified can not be an empty string"),
        ("FROM x\nUSER", "dockerfile parse error on line 2: USER requires exactly one argument"),
        ("FROM x\nWORKDIR", "dockerfile parse error on line 2: WORKDIR requires exactly one argument"),
        ("FROM x\nSTOPSIGNAL", "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument"),
        ("FROM x\nSHELL", "dockerfile parse error on line 2: SHELL requires at least one argument"),
        ("FROM x\nSHELL []", "dockerfile parse error on line 2: SHELL requires at least one argument"),
        ("FROM x\nSHELL powershell -command", "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM x\nONBUILD", "dockerfile parse error on line 2: ONBUILD requires at least one argument"),
        ("FROM x\nONBUILD ONBUILD RUN touch foobar", "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM x\nONBUILD FROM scratch", "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM x\nONBUILD MAINTAINER me", "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM x\nHEALTHCHECK", "dockerfile parse error on line 2: HEALTHCHECK requires at least one argument"),
        ("FROM x\nHEALTHCHECK NONE x", "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"),
        ("FROM x\nHEALTHCHECK CMD", "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD"),
        ("FROM x\nHEALTHCHECK CONNECT TCP 7000", "dockerfile parse error on line 2: Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"),
        ("FROM x\nHEALTHCHECK --interval=1 CMD x", "dockerfile parse error on line 2: time: missing unit in duration \"1\""),
        ("FROM x\nHEALTHCHECK --interval=1us CMD x", "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms"),
        ("FROM x\nHEALTHCHECK --timeout=-1s CMD x", "dockerfile parse error on line 2: Interval \"timeout\" cannot be less than 1ms"),
        ("FROM x\nHEALTHCHECK --retries=-1 CMD x", "dockerfile parse error on line 2: --retries cannot be negative (-1)"),
        ("FROM x\nHEALTHCHECK --retries=x CMD x", "dockerfile parse error on line 2: strconv.ParseInt: parsing \"x\": invalid syntax"),
        ("FROM x\nHEALTHCHECK --retries=99999999999 CMD x", "dockerfile parse error on line 2: strconv.ParseInt: parsing \"99999999999\": value out of range"),
        ("FROM x\nCMD --doit [\"a\"]", "dockerfile parse error on line 2: unknown flag: --doit"),
        ("# only a comment\n\n", "dockerfile parse error on line 2: file with no instructions"),
        ("\n", "dockerfile parse error on line 1: file with no instructions"),
        ("ARG a=b", "dockerfile contains no stages to build"),
        ("", "the Dockerfile cannot be empty"),
    ];
    for (text, want) in cases {
        assert_eq!(&error(text), want, "{text:?}");
    }
    assert_eq!(parse("").unwrap_err(), ParseError::Empty);
    assert_eq!(parse("FROM x\nFOO").unwrap_err().line(), Some(2));
}

#[test]
fn flags_docker_does_not_check() {
    // ARG, STOPSIGNAL and HEALTHCHECK NONE ignore flags, as docker does.
    assert_eq!(
        one("ARG --foo x"),
        Kind::Arg(vec![KeyValueOpt {
            key: s("x"),
            value: None
        }])
    );
    assert_eq!(
        one("STOPSIGNAL --foo SIGTERM"),
        Kind::StopSignal(s("SIGTERM"))
    );
    assert_eq!(one("HEALTHCHECK --foo NONE"), Kind::Healthcheck(None));
    // `--` ends the flags.
    let Kind::Copy { srcs, .. } = one("COPY -- --weird-name /dst") else {
        panic!()
    };
    assert_eq!(srcs, [s("--weird-name")]);
}

#[test]
fn serde_round_trip() {
    let df = parse_ok("FROM a AS b\nRUN --mount=type=cache,target=/x echo hi\nHEALTHCHECK CMD true\nONBUILD RUN x\n");
    let json = serde_json::to_string(&df).expect("serializes");
    let back: Dockerfile = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, df);
}
