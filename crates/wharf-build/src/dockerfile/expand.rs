//! Variable substitution where docker applies it (buildkit's `Expand` methods and
//! `dispatch` in `dockerfile2llb/convert.go`).
//!
//! Expanded, each as one word: `ENV` and `LABEL` keys and values, `ARG` default values,
//! `WORKDIR`, `USER`, `STOPSIGNAL`, `VOLUME` entries, `COPY`/`ADD` sources, destination,
//! `--chown`, `--chmod` (and `ADD --checksum`), `RUN --mount` values, and the `FROM`
//! base and platform (against the meta `ARG`s). `EXPOSE` arguments are expanded and
//! split into words. `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK`, `MAINTAINER`
//! and `ONBUILD` are left alone (the shell, or the child build, expands them).

use super::{mount, Instruction, KeyValueOpt, Kind, RunMount, Stage};
use crate::shell::{Env, Lex, ShellError};

fn none(_: &str) -> Option<String> {
    None
}

impl Instruction {
    /// The instruction's [`Kind`] with variables expanded; see [`Kind::expand`].
    pub fn expand(&self, lex: &Lex, env: Env<'_>) -> Result<Kind, ShellError> {
        self.kind.expand(lex, env)
    }
}

impl Kind {
    /// Applies docker's variable substitution to the arguments docker expands, with
    /// `env` the stage's environment (its `ENV`s and `ARG`s) before this instruction:
    /// every variable in one instruction sees the same values (`ENV a=x b=$a` uses the
    /// previous `a`).
    pub fn expand(&self, lex: &Lex, env: Env<'_>) -> Result<Kind, ShellError> {
        let w = |s: &str| lex.process_word(s, env);
        let opt = |s: &Option<String>| s.as_deref().map(w).transpose();
        let list = |v: &[String]| v.iter().map(|s| w(s)).collect::<Result<Vec<_>, _>>();
        let pairs = |v: &[(String, String)]| {
            v.iter()
                .map(|(k, v)| Ok((w(k)?, w(v)?)))
                .collect::<Result<Vec<_>, ShellError>>()
        };
        Ok(match self {
            Kind::Env(v) => Kind::Env(pairs(v)?),
            Kind::Label(v) => Kind::Label(pairs(v)?),
            Kind::Arg(args) => Kind::Arg(
                args.iter()
                    .map(|a| {
                        Ok(KeyValueOpt {
                            key: a.key.clone(),
                            value: opt(&a.value)?,
                        })
                    })
                    .collect::<Result<_, ShellError>>()?,
            ),
            Kind::Workdir(p) => Kind::Workdir(w(p)?),
            Kind::User(u) => Kind::User(w(u)?),
            Kind::StopSignal(s) => Kind::StopSignal(w(s)?),
            Kind::Volume(v) => Kind::Volume(list(v)?),
            Kind::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(lex.process_words(p, env)?);
                }
                Kind::Expose(out)
            }
            Kind::Copy {
                srcs,
                dest,
                from,
                chown,
                chmod,
                link,
                parents,
                exclude,
                heredocs,
            } => {
                if let Some(f) = from {
                    // Docker refuses variables here rather than expanding them.
                    if lex.process_word(f, &none)? != *f {
                        return Err(ShellError::Invalid(
                            "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
                                .to_string(),
                        ));
                    }
                }
                Kind::Copy {
                    srcs: list(srcs)?,
                    dest: w(dest)?,
                    from: from.clone(),
                    chown: opt(chown)?,
                    chmod: opt(chmod)?,
                    link: *link,
                    parents: *parents,
                    exclude: exclude.clone(),
                    heredocs: heredocs.clone(),
                }
            }
            Kind::Add {
                srcs,
                dest,
                chown,
                chmod,
                link,
                checksum,
                keep_git_dir,
                unpack,
                exclude,
                heredocs,
            } => Kind::Add {
                srcs: list(srcs)?,
                dest: w(dest)?,
                chown: opt(chown)?,
                chmod: opt(chmod)?,
                link: *link,
                checksum: opt(checksum)?,
                keep_git_dir: *keep_git_dir,
                unpack: *unpack,
                exclude: exclude.clone(),
                heredocs: heredocs.clone(),
            },
            Kind::Run {
                cmd,
                mounts,
                network,
                security,
                devices,
                heredocs,
            } => Kind::Run {
                cmd: cmd.clone(),
                mounts: mounts
                    .iter()
                    .map(|m| expand_mount(m, lex, env))
                    .collect::<Result<_, _>>()?,
                network: network.clone(),
                security: security.clone(),
                devices: devices.clone(),
                heredocs: heredocs.clone(),
            },
            other => other.clone(),
        })
    }
}

/// Expands every value of a mount, then checks it as docker does.
fn expand_mount(m: &RunMount, lex: &Lex, env: Env<'_>) -> Result<RunMount, ShellError> {
    let w = |s: &str| lex.process_word(s, env);
    let out = RunMount {
        kind: w(&m.kind)?.to_lowercase(),
        target: w(&m.target)?,
        source: m.source.as_deref().map(w).transpose()?,
        from: m.from.as_deref().map(w).transpose()?,
        id: m.id.as_deref().map(w).transpose()?,
        readonly: m.readonly,
        options: m
            .options
            .iter()
            .map(|(k, v)| Ok((k.clone(), w(v)?)))
            .collect::<Result<_, ShellError>>()?,
    };
    mount::validate(&out).map_err(ShellError::Invalid)?;
    Ok(out)
}

/// The `FROM` image of `stage` expanded with the meta `ARG`s (and build args) in `env`.
/// An empty result is an error, as in docker.
pub fn expand_base(stage: &Stage, lex: &Lex, env: Env<'_>) -> Result<String, ShellError> {
    let base = lex.process_word(&stage.base, env)?;
    if base.is_empty() {
        return Err(ShellError::Invalid(format!(
            "base name ({}) should not be blank",
            stage.base
        )));
    }
    Ok(base)
}

impl Stage {
    /// See [`expand_base`].
    pub fn expand_base(&self, lex: &Lex, env: Env<'_>) -> Result<String, ShellError> {
        expand_base(self, lex, env)
    }

    /// `--platform` expanded with the meta `ARG`s (and `BUILDPLATFORM`/`TARGETPLATFORM`).
    pub fn expand_platform(&self, lex: &Lex, env: Env<'_>) -> Result<Option<String>, ShellError> {
        self.platform
            .as_deref()
            .map(|p| lex.process_word(p, env))
            .transpose()
    }
}
