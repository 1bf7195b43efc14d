//! `docker import --change` / `docker commit --change`: Dockerfile instructions applied to an
//! image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, ONBUILD,
//! STOPSIGNAL), with the Dockerfile's JSON-or-shell forms and key=value quoting.

use std::collections::BTreeMap;

use crate::config::{ContainerConfig, Empty};
use crate::error::{Error, Result};

/// Applies one change line to `c`.
pub(crate) fn apply(c: &mut ContainerConfig, line: &str) -> Result<()> {
    let line = line.trim();
    let (instr, rest) = match line.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (line, ""),
    };
    let bad = |msg: &str| Error::InvalidArgument(format!("{}: {msg}", instr.to_uppercase()));
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(exec_or_shell(rest)),
        "ENTRYPOINT" => c.entrypoint = Some(exec_or_shell(rest)),
        "ENV" => {
            let env = c.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(rest, true).map_err(|m| bad(&m))? {
                let prefix = format!("{k}=");
                let item = format!("{k}={v}");
                match env.iter_mut().find(|e| e.starts_with(&prefix) || **e == k) {
                    Some(e) => *e = item,
                    None => env.push(item),
                }
            }
        }
        "LABEL" => {
            let labels = c.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in key_values(rest, false).map_err(|m| bad(&m))? {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = c.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in words(rest).map_err(|m| bad(&m))? {
                for port in expand_port(&p).map_err(|m| bad(&m))? {
                    ports.insert(port, Empty::default());
                }
            }
        }
        "USER" => c.user = Some(one_word(rest).map_err(|m| bad(&m))?),
        "WORKDIR" => c.working_dir = Some(rest.to_string()),
        "STOPSIGNAL" => c.stop_signal = Some(one_word(rest).map_err(|m| bad(&m))?),
        "VOLUME" => {
            let vols = match json_array(rest) {
                Some(v) => v,
                None => words(rest).map_err(|m| bad(&m))?,
            };
            let map = c.volumes.get_or_insert_with(BTreeMap::new);
            for v in vols {
                if v.is_empty() {
                    return Err(bad("volume specified can not be an empty string"));
                }
                map.insert(v, Empty::default());
            }
        }
        "ONBUILD" => {
            if rest.is_empty() {
                return Err(bad("requires at least one argument"));
            }
            c.on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_string());
        }
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{} is not a valid change command",
                instr.to_uppercase()
            )))
        }
    }
    Ok(())
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// JSON (exec) form, else shell form wrapped in `/bin/sh -c`.
fn exec_or_shell(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

fn one_word(s: &str) -> std::result::Result<String, String> {
    let w = words(s)?;
    match w.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err("requires exactly one argument".into()),
    }
}

/// Splits on whitespace, honouring double/single quotes and backslash escapes.
fn words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unmatched quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `k=v k2="v 2"`, or (legacy, `allow_legacy`) `k some value`.
fn key_values(s: &str, allow_legacy: bool) -> std::result::Result<Vec<(String, String)>, String> {
    let w = words(s)?;
    if w.is_empty() {
        return Err("requires at least one argument".into());
    }
    if !w[0].contains('=') {
        if !allow_legacy && w.len() != 2 {
            return Err("requires key=value pairs".into());
        }
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or("requires a value")?;
        let v = words(v.trim())?.join(" ");
        return Ok(vec![(k.to_string(), v)]);
    }
    w.into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("invalid key=value: {kv:?}")),
        })
        .collect()
}

/// "80" → "80/tcp"; "80/udp"; ranges "8000-8002/tcp".
fn expand_port(p: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |x: &str| {
        x.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {x}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let n = parse(ports)?;
            (n, n)
        }
    };
    if hi < lo {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(lines: &[&str]) -> Result<ContainerConfig> {
        let mut c = ContainerConfig::default();
        for l in lines {
            apply(&mut c, l)?;
        }
        Ok(c)
    }

    #[test]
    fn applies_docker_changes() {
        let c = cfg(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/app --flag",
            "ENV A=1 B=\"two words\"",
            "ENV LEGACY some value",
            "ENV A=3",
            "EXPOSE 80 53/udp 8000-8001",
            "LABEL version=1.0 \"name\"=x",
            "USER app",
            "WORKDIR /srv",
            "VOLUME [\"/data\"]",
            "VOLUME /a /b",
            "ONBUILD RUN echo",
            "stopsignal SIGINT",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c", "/bin/app --flag"]);
        assert_eq!(c.env.unwrap(), ["A=3", "B=two words", "LEGACY=some value"]);
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["version"], "1.0");
        assert_eq!(labels["name"], "x");
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            c.volumes.unwrap().into_keys().collect::<Vec<_>>(),
            ["/a", "/b", "/data"]
        );
        assert_eq!(c.on_build.unwrap(), ["RUN echo"]);
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    }

    #[test]
    fn rejects_unknown() {
        let e = cfg(&["FROM busybox"]).unwrap_err();
        assert_eq!(e.to_string(), "FROM is not a valid change command");
        assert_eq!(e.kind(), wharf_types::ErrorKind::InvalidArgument);
        assert!(cfg(&["EXPOSE 80/xyz"]).is_err());
    }
}
