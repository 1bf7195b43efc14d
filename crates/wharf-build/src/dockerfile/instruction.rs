//! Typing a [`Node`] into a [`Stage`] or an [`Instruction`] (buildkit's
//! `instructions.ParseInstruction`): argument counts, flags, heredoc sources, with
//! docker's error messages.

use super::flags::Flags;
use super::node::Node;
use super::{duration, heredoc, mount, suggest};
use super::{Healthcheck, Heredoc, Instruction, KeyValueOpt, Kind, ShellOrExec, Stage};

pub(super) enum Parsed {
    Stage(Stage),
    Instruction(Instruction),
}

const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn no_destination(cmd: &str) -> String {
    format!(
        "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

pub(super) fn parse_node(node: Node) -> Result<Parsed, String> {
    let line = node.start_line;
    let original = node.original.trim().to_string();
    let lower = node.cmd.to_lowercase();
    if lower == "onbuild" {
        return parse_onbuild(node).map(Parsed::Instruction);
    }
    let mut flags = Flags::new(&node.flags);
    let args = &node.args;
    let kind = match lower.as_str() {
        "from" => return parse_from(&node, flags).map(Parsed::Stage),
        "env" | "label" => {
            flags.parse()?;
            let name = if lower == "env" { "ENV" } else { "LABEL" };
            let pairs = key_values(args, name)?;
            if lower == "env" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "maintainer" => {
            let [m] = args.as_slice() else {
                return Err(exactly_one("MAINTAINER"));
            };
            flags.parse()?;
            Kind::Maintainer(m.clone())
        }
        "add" => parse_add(&node, flags)?,
        "copy" => parse_copy(&node, flags)?,
        "workdir" | "user" => {
            let name = if lower == "user" { "USER" } else { "WORKDIR" };
            let [v] = args.as_slice() else {
                return Err(exactly_one(name));
            };
            flags.parse()?;
            if lower == "user" {
                Kind::User(v.clone())
            } else {
                Kind::Workdir(v.clone())
            }
        }
        "run" => parse_run(&node, flags)?,
        "cmd" => {
            flags.parse()?;
            Kind::Cmd(shell_or_exec(&node))
        }
        "entrypoint" => {
            flags.parse()?;
            Kind::Entrypoint(shell_or_exec(&node))
        }
        "healthcheck" => parse_healthcheck(&node, flags)?,
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            flags.parse()?;
            Kind::Expose(args.clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            flags.parse()?;
            let mut volumes = Vec::with_capacity(args.len());
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".to_string());
                }
                volumes.push(v.to_string());
            }
            Kind::Volume(volumes)
        }
        // Docker checks no flags on STOPSIGNAL and ARG.
        "stopsignal" => {
            let [sig] = args.as_slice() else {
                return Err(exactly_one("STOPSIGNAL"));
            };
            Kind::StopSignal(sig.clone())
        }
        "arg" => Kind::Arg(parse_arg(args)?),
        "shell" => {
            flags.parse()?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".to_string());
            }
            Kind::Shell(args.clone())
        }
        _ => {
            return Err(suggest::wrap(
                format!("unknown instruction: {}", node.cmd),
                &node.cmd,
                INSTRUCTIONS,
                false,
            ))
        }
    };
    Ok(Parsed::Instruction(Instruction {
        line,
        original,
        kind,
    }))
}

/// `ENV`/`LABEL` triples into pairs.
fn key_values(args: &[String], cmd: &str) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    let triples = args.chunks_exact(3);
    if !triples.remainder().is_empty() {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    triples
        .map(|kv| {
            if kv[0].is_empty() {
                Err(format!("{cmd} names can not be blank"))
            } else {
                Ok((kv[0].clone(), kv[1].clone()))
            }
        })
        .collect()
}

fn parse_arg(args: &[String]) -> Result<Vec<KeyValueOpt>, String> {
    if args.is_empty() {
        return Err(at_least_one("ARG"));
    }
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((k, v)) => Ok(KeyValueOpt {
                key: k.to_string(),
                value: Some(v.to_string()),
            }),
            None => Ok(KeyValueOpt {
                key: arg.clone(),
                value: None,
            }),
        })
        .collect()
}

fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_from(node: &Node, mut flags: Flags<'_>) -> Result<Stage, String> {
    let args = &node.args;
    let name = match args.as_slice() {
        [_, r#as, name] if r#as.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !is_valid_stage_name(&lower) {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(lower)
        }
        [_] => None,
        _ => return Err("FROM requires either one or three arguments".to_string()),
    };
    let platform = flags.add_string("platform");
    flags.parse()?;
    Ok(Stage {
        index: 0,
        name,
        base: args[0].clone(),
        platform: flags.string(platform),
        instructions: Vec::new(),
        line: node.start_line,
    })
}

/// Splits `COPY`/`ADD` arguments into paths, heredoc sources and the destination.
fn sources_and_dest(node: &Node, cmd: &str) -> Result<(Vec<String>, String, Vec<Heredoc>), String> {
    let (dest, srcs) = node.args.split_last().ok_or_else(|| no_destination(cmd))?;
    if heredoc::parse_lenient(dest).is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut paths = Vec::new();
    let mut docs = Vec::new();
    for src in srcs {
        match heredoc::parse_lenient(src) {
            Some(word) => {
                let content = node
                    .heredocs
                    .iter()
                    .rev()
                    .find(|h| h.name == word.name)
                    .map(|h| h.content.clone())
                    .unwrap_or_default();
                docs.push(Heredoc {
                    name: word.name,
                    content,
                    expand: word.expand,
                    chomp: word.chomp,
                });
            }
            None => paths.push(src.clone()),
        }
    }
    Ok((paths, dest.clone(), docs))
}

fn parse_add(node: &Node, mut flags: Flags<'_>) -> Result<Kind, String> {
    if node.args.len() < 2 {
        return Err(no_destination("ADD"));
    }
    let chown = flags.add_string("chown");
    let chmod = flags.add_string("chmod");
    let link = flags.add_bool("link");
    let keep_git_dir = flags.add_bool("keep-git-dir");
    let checksum = flags.add_string("checksum");
    let unpack = flags.add_bool("unpack");
    let exclude = flags.add_strings("exclude");
    flags.parse()?;
    let (srcs, dest, heredocs) = sources_and_dest(node, "ADD")?;
    Ok(Kind::Add {
        srcs,
        dest,
        chown: flags.string(chown),
        chmod: flags.string(chmod),
        link: flags.bool(link),
        checksum: flags.string(checksum),
        keep_git_dir: flags.bool(keep_git_dir),
        unpack: flags.used(unpack).then(|| flags.bool(unpack)),
        exclude: flags.strings(exclude),
        heredocs,
    })
}

fn parse_copy(node: &Node, mut flags: Flags<'_>) -> Result<Kind, String> {
    if node.args.len() < 2 {
        return Err(no_destination("COPY"));
    }
    let chown = flags.add_string("chown");
    let from = flags.add_string("from");
    let chmod = flags.add_string("chmod");
    let link = flags.add_bool("link");
    let exclude = flags.add_strings("exclude");
    let parents = flags.add_bool("parents");
    flags.parse()?;
    let (srcs, dest, heredocs) = sources_and_dest(node, "COPY")?;
    Ok(Kind::Copy {
        srcs,
        dest,
        from: flags.string(from),
        chown: flags.string(chown),
        chmod: flags.string(chmod),
        link: flags.bool(link),
        parents: flags.bool(parents),
        exclude: flags.strings(exclude),
        heredocs,
    })
}

/// Exec form for a JSON array, else the shell command line.
fn shell_or_exec(node: &Node) -> ShellOrExec {
    if node.json {
        ShellOrExec::Exec(node.args.clone())
    } else {
        ShellOrExec::Shell(node.args.join(" "))
    }
}

fn parse_run(node: &Node, mut flags: Flags<'_>) -> Result<Kind, String> {
    let devices = flags.add_strings("device");
    let mounts = flags.add_strings("mount");
    let network = flags.add_string("network");
    let security = flags.add_string("security");
    flags.parse()?;
    let mounts = flags
        .strings(mounts)
        .iter()
        .map(|spec| mount::parse(spec, !spec.contains('$')))
        .collect::<Result<Vec<_>, _>>()?;
    let network = flags.raw_string(network);
    if let Some(n) = network.as_deref() {
        if !matches!(n, "default" | "none" | "host") {
            return Err(format!("invalid network mode {n:?}"));
        }
    }
    let security = flags.raw_string(security);
    if let Some(s) = security.as_deref() {
        if !matches!(s, "sandbox" | "insecure") {
            return Err(format!("security {s:?} is not valid"));
        }
    }
    Ok(Kind::Run {
        cmd: shell_or_exec(node),
        mounts,
        network,
        security,
        devices: flags.strings(devices),
        heredocs: node.heredocs.clone(),
    })
}

/// A `HEALTHCHECK` duration flag: absent, empty or zero is `None`; below 1ms is an error.
fn interval(flags: &Flags<'_>, f: super::flags::Flag, name: &str) -> Result<Option<u64>, String> {
    let Some(v) = flags.string(f) else {
        return Ok(None);
    };
    let d = duration::parse(&v)?;
    if d == 0 {
        return Ok(None);
    }
    if d < 1_000_000 {
        return Err(format!("Interval {name:?} cannot be less than 1ms"));
    }
    Ok(u64::try_from(d).ok())
}

fn parse_healthcheck(node: &Node, mut flags: Flags<'_>) -> Result<Kind, String> {
    let Some((typ, rest)) = node.args.split_first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        // Flags are not looked at for NONE.
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".to_string());
        }
        return Ok(Kind::Healthcheck(None));
    }
    let fl_interval = flags.add_string("interval");
    let fl_timeout = flags.add_string("timeout");
    let fl_start_period = flags.add_string("start-period");
    let fl_start_interval = flags.add_string("start-interval");
    let fl_retries = flags.add_string("retries");
    flags.parse()?;
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".to_string());
    }
    let test = if node.json {
        std::iter::once("CMD".to_string())
            .chain(rest.iter().cloned())
            .collect()
    } else {
        vec!["CMD-SHELL".to_string(), rest.join(" ")]
    };
    let retries = match flags.string(fl_retries) {
        None => None,
        Some(v) => {
            let n: i32 = v.parse().map_err(|e: std::num::ParseIntError| {
                let why = match e.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        "value out of range"
                    }
                    _ => "invalid syntax",
                };
                format!("strconv.ParseInt: parsing {v:?}: {why}")
            })?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            u32::try_from(n).ok()
        }
    };
    Ok(Kind::Healthcheck(Some(Healthcheck {
        test,
        interval: interval(&flags, fl_interval, "interval")?,
        timeout: interval(&flags, fl_timeout, "timeout")?,
        start_period: interval(&flags, fl_start_period, "start-period")?,
        start_interval: interval(&flags, fl_start_interval, "start-interval")?,
        retries,
    })))
}

/// `ONBUILD <instruction>`: the trigger is parsed (docker only parses it when a child
/// image builds) and keeps the text docker stores in the image's `OnBuild`.
fn parse_onbuild(mut node: Node) -> Result<Instruction, String> {
    let Some(trigger) = node.args.first() else {
        return Err(at_least_one("ONBUILD"));
    };
    Flags::new(&node.flags).parse()?;
    let trigger = trigger.trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    let Some(mut sub) = node.sub.take() else {
        return Err(at_least_one("ONBUILD"));
    };
    let mut expression = strip_onbuild(&node.original).to_string();
    for h in &node.heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    sub.heredocs = std::mem::take(&mut node.heredocs);
    sub.start_line = node.start_line;
    sub.original = expression.clone();
    let inner = match parse_node(*sub)? {
        Parsed::Instruction(mut inst) => {
            inst.original = expression;
            inst
        }
        Parsed::Stage(_) => return Err("FROM isn't allowed as an ONBUILD trigger".to_string()),
    };
    Ok(Instruction {
        line: node.start_line,
        original: node.original.trim().to_string(),
        kind: Kind::OnBuild(Box::new(inner)),
    })
}

/// Removes `(?i)^\s*ONBUILD\s*` (Go `\s`: ASCII blanks without `\v`).
fn strip_onbuild(original: &str) -> &str {
    let is_s = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let s = original.trim_start_matches(is_s);
    match s.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => s[7..].trim_start_matches(is_s),
        _ => original,
    }
}
