//! The examples of the Dockerfile reference (docs.docker.com/reference/dockerfile),
//! section by section, through the public API.

use wharf_build::{
    parse, Dockerfile, Healthcheck, Instruction, KeyValueOpt, Kind, Lex, ShellOrExec,
};

fn df(text: &str) -> Dockerfile {
    parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every instruction of every stage.
fn all(text: &str) -> Vec<Instruction> {
    df(text)
        .stages
        .into_iter()
        .flat_map(|s| s.instructions)
        .collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

fn shell(v: &str) -> ShellOrExec {
    ShellOrExec::Shell(s(v))
}

fn exec(v: &[&str]) -> ShellOrExec {
    ShellOrExec::Exec(v.iter().map(|x| s(x)).collect())
}

/// Expands with `vars` (name=value pairs).
fn expand(k: &Kind, vars: &[(&str, &str)]) -> Kind {
    let env = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| s(v));
    k.expand(&Lex::default(), &env).expect("expands")
}

fn run_cmd(k: &Kind) -> &ShellOrExec {
    match k {
        Kind::Run { cmd, .. } => cmd,
        k => panic!("not RUN: {k:?}"),
    }
}

#[test]
fn from_and_arg() {
    let d = df("ARG  CODE_VERSION=latest\nFROM base:${CODE_VERSION}\nCMD  /code/run-app\n\nFROM extras:${CODE_VERSION}\nCMD  /code/run-extras\n");
    assert_eq!(
        d.meta_args,
        [KeyValueOpt {
            key: s("CODE_VERSION"),
            value: Some(s("latest"))
        }]
    );
    let env = |n: &str| (n == "CODE_VERSION").then(|| s("latest"));
    let bases: Vec<String> = d
        .stages
        .iter()
        .map(|st| st.expand_base(&d.lex(), &env).expect("expands"))
        .collect();
    assert_eq!(bases, ["base:latest", "extras:latest"]);
    assert_eq!(
        d.stages[0].instructions[0].kind,
        Kind::Cmd(shell("/code/run-app"))
    );

    let i = all("ARG VERSION=latest\nFROM busybox:$VERSION\nARG VERSION\nRUN echo $VERSION > image_version\n");
    assert_eq!(
        i[0].kind,
        Kind::Arg(vec![KeyValueOpt {
            key: s("VERSION"),
            value: None
        }])
    );
    assert_eq!(run_cmd(&i[1].kind), &shell("echo $VERSION > image_version"));

    let i = all("FROM busybox\nARG user1=someuser\nARG buildno=1\n# ...\n");
    assert_eq!(i.len(), 2);
    let i = all("FROM busybox\nUSER ${username:-some_user}\nARG username\nUSER $username\n");
    assert_eq!(expand(&i[0].kind, &[]), Kind::User(s("some_user")));
    assert_eq!(
        expand(&i[2].kind, &[("username", "what_user")]),
        Kind::User(s("what_user"))
    );
    let i = all("FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nRUN echo $CONT_IMG_VER\n");
    assert_eq!(
        expand(&i[1].kind, &[]),
        Kind::Env(vec![(s("CONT_IMG_VER"), s("v1.0.0"))])
    );
    assert_eq!(
        expand(&i[1].kind, &[("CONT_IMG_VER", "v2.0.1")]),
        Kind::Env(vec![(s("CONT_IMG_VER"), s("v2.0.1"))])
    );
}

#[test]
fn run() {
    let i = all("FROM x\nRUN source $HOME/.bashrc && \\\necho $HOME\nRUN source $HOME/.bashrc && echo $HOME\n");
    assert_eq!(
        run_cmd(&i[0].kind),
        &shell("source $HOME/.bashrc && echo $HOME")
    );
    assert_eq!(i[0].kind, i[1].kind);
    let i = all("FROM x\nRUN [\"c:\\\\windows\\\\system32\\\\tasklist.exe\"]\nRUN [\"c:\\windows\\system32\\tasklist.exe\"]\n");
    assert_eq!(
        run_cmd(&i[0].kind),
        &exec(&["c:\\windows\\system32\\tasklist.exe"])
    );
    assert_eq!(
        run_cmd(&i[1].kind),
        &shell("[\"c:\\windows\\system32\\tasklist.exe\"]")
    );

    let i = all("FROM ubuntu\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked \\\n  --mount=type=cache,target=/var/lib/apt,sharing=locked \\\n  apt-get update && apt-get --no-install-recommends install -y gcc\n");
    let Kind::Run { cmd, mounts, .. } = &i[0].kind else {
        panic!()
    };
    assert_eq!(
        cmd,
        &shell("apt-get update && apt-get --no-install-recommends install -y gcc")
    );
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[1].target, "/var/lib/apt");
    assert_eq!(mounts[1].option("sharing"), Some("locked"));

    let i = all("FROM alpine\nRUN --mount=type=secret,id=API_KEY,env=API_KEY \\\n    some-command --token-from-env $API_KEY\nRUN --mount=type=ssh \\\n  ssh -q -T git@gitlab.com 2>&1 | tee /hello\n# comment after\n");
    let Kind::Run { mounts, .. } = &i[0].kind else {
        panic!()
    };
    assert_eq!(
        (
            mounts[0].kind.as_str(),
            mounts[0].id.as_deref(),
            mounts[0].option("env")
        ),
        ("secret", Some("API_KEY"), Some("API_KEY"))
    );
    let Kind::Run { mounts, .. } = &i[1].kind else {
        panic!()
    };
    assert_eq!((mounts[0].kind.as_str(), mounts[0].readonly), ("ssh", true));

    let i = all("FROM golang AS build\nWORKDIR /app\nRUN --mount=type=bind,target=. go build -o /myapp ./cmd\n\nCOPY --from=build /myapp /usr/bin/\n");
    let Kind::Run { mounts, .. } = &i[1].kind else {
        panic!()
    };
    assert_eq!(
        (
            mounts[0].kind.as_str(),
            mounts[0].target.as_str(),
            mounts[0].readonly
        ),
        ("bind", ".", true)
    );

    let i = all("FROM python:3.6\nADD mypackage.tgz wheels/\nRUN --network=none pip install --find-links wheels mypackage\nRUN --security=insecure cat /proc/self/status | grep CapEff\n");
    assert!(matches!(&i[1].kind, Kind::Run { network: Some(n), .. } if n == "none"));
    assert!(matches!(&i[2].kind, Kind::Run { security: Some(n), .. } if n == "insecure"));

    let i = all("FROM ghcr.io/ggml-org/llama.cpp:full-cuda-b5124\nRUN --device=nvidia.com/gpu=all \\\n    --mount=from=model,target=/models \\\n    --mount=from=prompt,target=/tmp \\\n    ./llama-cli -m /models/model.gguf\n");
    let Kind::Run {
        devices, mounts, ..
    } = &i[0].kind
    else {
        panic!()
    };
    assert_eq!(devices, &[s("nvidia.com/gpu=all")]);
    assert_eq!(mounts[0].from.as_deref(), Some("model"));
}

#[test]
fn cmd_entrypoint_shell() {
    let i = all("FROM ubuntu\nENTRYPOINT [\"top\", \"-b\"]\nCMD [\"-c\"]\nENTRYPOINT exec top -b\nCMD -- --ignored-param1\n");
    assert_eq!(i[0].kind, Kind::Entrypoint(exec(&["top", "-b"])));
    assert_eq!(i[1].kind, Kind::Cmd(exec(&["-c"])));
    assert_eq!(i[2].kind, Kind::Entrypoint(shell("exec top -b")));
    assert_eq!(i[3].kind, Kind::Cmd(shell("--ignored-param1")));

    let i = all("FROM microsoft/windowsservercore\n\n# Executed as cmd /S /C echo default\nRUN echo default\nSHELL [\"powershell\", \"-command\"]\nRUN Write-Host hello\nSHELL [\"cmd\", \"/S\", \"/C\"]\n");
    assert_eq!(i[1].kind, Kind::Shell(vec![s("powershell"), s("-command")]));
    assert_eq!(i[3].kind, Kind::Shell(vec![s("cmd"), s("/S"), s("/C")]));
    let i = all("FROM x\nRUN [\"powershell\", \"-command\", \"Execute-MyCmdlet\", \"-param1 \\\"c:\\\\foo.txt\\\"\"]\n");
    assert_eq!(
        run_cmd(&i[0].kind),
        &exec(&[
            "powershell",
            "-command",
            "Execute-MyCmdlet",
            "-param1 \"c:\\foo.txt\""
        ])
    );

    let d = df("# escape=`\n\nFROM microsoft/nanoserver\nSHELL [\"powershell\",\"-command\"]\nRUN New-Item -ItemType Directory C:\\Example\nADD Execute-MyCmdlet.ps1 c:\\example\\\nRUN c:\\example\\Execute-MyCmdlet -sample 'hello world'\n");
    let i = &d.stages[0].instructions;
    assert_eq!(
        run_cmd(&i[1].kind),
        &shell("New-Item -ItemType Directory C:\\Example")
    );
    let Kind::Add { srcs, dest, .. } = i[2].kind.expand(&d.lex(), &|_| None).expect("expands")
    else {
        panic!()
    };
    assert_eq!(
        (srcs, dest),
        (vec![s("Execute-MyCmdlet.ps1")], s("c:\\example\\"))
    );
    assert_eq!(
        run_cmd(&i[3].kind),
        &shell("c:\\example\\Execute-MyCmdlet -sample 'hello world'")
    );
}

#[test]
fn label_expose_env_maintainer() {
    let i = all("FROM x\nLABEL multi.label1=\"value1\" \\\n      multi.label2=\"value2\" \\\n      other=\"value3\"\n");
    assert_eq!(
        expand(&i[0].kind, &[]),
        Kind::Label(vec![
            (s("multi.label1"), s("value1")),
            (s("multi.label2"), s("value2")),
            (s("other"), s("value3"))
        ])
    );
    let i = all("FROM x\nEXPOSE 80/udp\nEXPOSE 80/tcp\nEXPOSE 80 443\n");
    assert_eq!(i[0].kind, Kind::Expose(vec![s("80/udp")]));
    assert_eq!(i[2].kind, Kind::Expose(vec![s("80"), s("443")]));
    let i = all("FROM x\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n");
    assert_eq!(
        expand(&i[1].kind, &[("abc", "hello")]),
        Kind::Env(vec![(s("abc"), s("bye")), (s("def"), s("hello"))])
    );
    assert_eq!(
        expand(&i[2].kind, &[("abc", "bye")]),
        Kind::Env(vec![(s("ghi"), s("bye"))])
    );
    let i = all("FROM x\nMAINTAINER SvenDowideit@home.org.au\n");
    assert_eq!(i[0].kind, Kind::Maintainer(s("SvenDowideit@home.org.au")));
}

#[test]
fn add_and_copy() {
    let i = all("FROM x\nADD file1.txt file2.txt /usr/src/things/\nADD https://example.com/archive.zip /usr/src/things/\nADD git@github.com:user/repo.git /usr/src/things/\nADD *.png /dest/\nADD index.?s /dest/\nADD arr[[]0].txt /dest/\nADD git@github.com:moby/buildkit.git#v0.14.1:docs /buildkit-docs\nADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.10.1 /buildkit\nADD --checksum=be1f38e https://github.com/moby/buildkit.git#v0.26.2 /\nADD --unpack=true https://example.com/archive.tar.gz /download\n");
    let srcs: Vec<Vec<String>> = i
        .iter()
        .map(|i| match &i.kind {
            Kind::Add { srcs, .. } => srcs.clone(),
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(srcs[0], [s("file1.txt"), s("file2.txt")]);
    assert_eq!(srcs[5], [s("arr[[]0].txt")]);
    assert!(matches!(
        &i[7].kind,
        Kind::Add {
            keep_git_dir: true,
            ..
        }
    ));
    assert!(matches!(&i[8].kind, Kind::Add { checksum: Some(c), .. } if c == "be1f38e"));
    assert!(matches!(
        &i[9].kind,
        Kind::Add {
            unpack: Some(true),
            ..
        }
    ));

    let i = all("FROM x\nCOPY --chown=55:mygroup files* /somedir/\nCOPY --chown=bin files* /somedir/\nCOPY --chown=myuser:mygroup --chmod=644 files* /somedir/\nARG MODE=440\nCOPY --chmod=$MODE . .\nCOPY --chmod=u=rwX,go=rX . /app/\nCOPY --from=nginx:latest /etc/nginx/nginx.conf /nginx.conf\nCOPY --link /foo /bar\nCOPY --parents ./x/a.txt ./y/a.txt /parents/\nCOPY --exclude=*.txt --exclude=*.md hom* /mydir/\n");
    assert!(
        matches!(&i[2].kind, Kind::Copy { chown: Some(o), chmod: Some(m), .. } if o == "myuser:mygroup" && m == "644")
    );
    assert!(
        matches!(expand(&i[4].kind, &[("MODE", "440")]), Kind::Copy { chmod: Some(m), .. } if m == "440")
    );
    assert!(matches!(&i[5].kind, Kind::Copy { chmod: Some(m), .. } if m == "u=rwX,go=rX"));
    assert!(matches!(&i[6].kind, Kind::Copy { from: Some(f), .. } if f == "nginx:latest"));
    assert!(matches!(&i[7].kind, Kind::Copy { link: true, .. }));
    assert!(matches!(&i[8].kind, Kind::Copy { parents: true, srcs, .. } if srcs.len() == 2));
    assert!(
        matches!(&i[9].kind, Kind::Copy { exclude, .. } if exclude == &[s("*.txt"), s("*.md")])
    );
}

#[test]
fn volume_user_workdir_stopsignal() {
    let i = all("FROM ubuntu\nVOLUME [\"/var/www\", \"/var/log/apache2\", \"/etc/apache2\"]\nVOLUME /myvol\nUSER patrick\nUSER 1000:1000\nWORKDIR /a\nWORKDIR b\nENV DIRPATH=/path\nWORKDIR $DIRPATH/$DIRNAME\nSTOPSIGNAL SIGTERM\n");
    assert_eq!(
        i[0].kind,
        Kind::Volume(vec![
            s("/var/www"),
            s("/var/log/apache2"),
            s("/etc/apache2")
        ])
    );
    assert_eq!(i[1].kind, Kind::Volume(vec![s("/myvol")]));
    assert_eq!(i[3].kind, Kind::User(s("1000:1000")));
    // The reference says `/path/$DIRNAME`, but buildkit expands an unset variable to
    // nothing (its lexer only keeps unset references for heredoc detection).
    assert_eq!(
        expand(&i[7].kind, &[("DIRPATH", "/path")]),
        Kind::Workdir(s("/path/"))
    );
    assert_eq!(i[8].kind, Kind::StopSignal(s("SIGTERM")));
}

#[test]
fn onbuild_and_healthcheck() {
    let i = all("FROM alpine AS baseimage\nONBUILD ADD . /app/src\nONBUILD RUN /usr/local/bin/python-build --dir /app/src\nONBUILD COPY --from=build /usr/bin/app /app\nONBUILD RUN --mount=from=config,target=/opt/appconfig ...\n");
    let triggers: Vec<&str> = i
        .iter()
        .map(|i| match &i.kind {
            Kind::OnBuild(t) => t.original.as_str(),
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(
        triggers,
        [
            "ADD . /app/src",
            "RUN /usr/local/bin/python-build --dir /app/src",
            "COPY --from=build /usr/bin/app /app",
            "RUN --mount=from=config,target=/opt/appconfig ...",
        ]
    );
    let i = all("FROM x\nHEALTHCHECK --interval=5m --timeout=3s \\\n  CMD curl -f http://localhost/ || exit 1\n");
    assert_eq!(
        i[0].kind,
        Kind::Healthcheck(Some(Healthcheck {
            test: vec![s("CMD-SHELL"), s("curl -f http://localhost/ || exit 1")],
            interval: Some(5 * 60 * 1_000_000_000),
            timeout: Some(3_000_000_000),
            start_period: None,
            start_interval: None,
            retries: None,
        }))
    );
}

#[test]
fn here_documents() {
    let i = all("FROM python:3.6\nRUN <<EOT\n#!/usr/bin/env python\nprint(\"hello world\")\nEOT\n");
    let Kind::Run { cmd, heredocs, .. } = &i[0].kind else {
        panic!()
    };
    assert_eq!(cmd, &shell("<<EOT"));
    assert_eq!(
        wharf_build::heredoc_name("<<EOT").as_deref(),
        Some(heredocs[0].name.as_str())
    );
    assert_eq!(
        heredocs[0].content,
        "#!/usr/bin/env python\nprint(\"hello world\")\n"
    );

    let i = all("FROM alpine\nCOPY <<EOF greeting.txt\nhello world\nEOF\n");
    let Kind::Copy {
        srcs,
        dest,
        heredocs,
        ..
    } = &i[0].kind
    else {
        panic!()
    };
    assert!(srcs.is_empty());
    assert_eq!(dest, "greeting.txt");
    assert_eq!(heredocs[0].content, "hello world\n");

    let i = all("FROM alpine\nARG FOO=bar\nCOPY <<-EOT /script.sh\n  echo \"hello ${FOO}\"\nEOT\nENTRYPOINT ash /script.sh\n");
    let Kind::Copy { heredocs, .. } = &i[1].kind else {
        panic!()
    };
    let env = |n: &str| (n == "FOO").then(|| s("bar"));
    assert_eq!(
        heredocs[0].expanded_data(&env).expect("expands"),
        "  echo \"hello bar\"\n"
    );
    assert_eq!(i[2].kind, Kind::Entrypoint(shell("ash /script.sh")));

    let i =
        all("FROM alpine\nARG FOO=bar\nCOPY <<-\"EOT\" /script.sh\n  echo \"hello ${FOO}\"\nEOT\n");
    let Kind::Copy { heredocs, .. } = &i[1].kind else {
        panic!()
    };
    assert_eq!(
        heredocs[0].expanded_data(&env).expect("expands"),
        "  echo \"hello ${FOO}\"\n"
    );
}
