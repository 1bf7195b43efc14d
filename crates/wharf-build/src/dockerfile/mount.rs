//! `RUN --mount=…` (buildkit's `instructions/commands_runmount.go`).
//!
//! The value is one CSV record of `key=value` fields (a few keys stand alone). Docker
//! checks it once variables are expanded; here a mount without `$` is checked when
//! parsed and every mount again by [`super::Kind::expand`].

use super::suggest;
use super::RunMount;

const TYPES: &[&str] = &["bind", "cache", "tmpfs", "secret", "ssh"];
const SHARING: &[&str] = &["shared", "private", "locked"];
const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// One record of Go's `encoding/csv` (comma-separated, `"` quoting with `""` inside).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') => match chars.peek() {
                        Some('"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some(',') | None => break,
                        Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
                    },
                    Some(c) => field.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err("bare \" in non-quoted-field".into());
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            _ => return Ok(fields),
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// docker/go-units `RAMInBytes`: `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`, binary units.
fn ram_in_bytes(v: &str) -> Option<i64> {
    let num_len = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, mut rest) = v.split_at(num_len);
    if !num.starts_with(|c: char| c.is_ascii_digit()) || num.split('.').any(str::is_empty) {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut mult = 1f64;
    if let Some(c) = rest.chars().next() {
        let exp = "kmgtp".find(c.to_ascii_lowercase());
        if let Some(e) = exp {
            mult = 1024f64.powi(i32::try_from(e).ok()? + 1);
            rest = &rest[1..];
        }
    }
    rest = rest.strip_prefix(['i', 'I']).unwrap_or(rest);
    rest = rest.strip_prefix(['b', 'B']).unwrap_or(rest);
    if !rest.is_empty() {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    Some((n * mult) as i64)
}

fn parse_u32(v: &str, radix: u32) -> bool {
    !v.starts_with('+') && u32::from_str_radix(v, radix).is_ok()
}

/// Parses a `--mount` value; `check` runs docker's validation of the values.
pub(super) fn parse(spec: &str, check: bool) -> Result<RunMount, String> {
    let fields = csv_fields(spec).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = RunMount {
        kind: "bind".into(),
        target: String::new(),
        source: None,
        from: None,
        id: None,
        readonly: false,
        options: Vec::new(),
    };
    let mut ro_explicit = false;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => m.readonly = true,
                "readwrite" | "rw" => m.readonly = false,
                "required" => m.options.push(("required".into(), "true".into())),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            ro_explicit |= key != "required";
            continue;
        };
        if key == "from" && value.find('$').is_some_and(|i| i != value.len() - 1) {
            return Err(format!(
                "'{key}' doesn't support variable expansion, define alias stage instead"
            ));
        }
        match key.as_str() {
            "type" => m.kind = value.to_lowercase(),
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = value,
            "id" => m.id = Some(value),
            "readonly" | "ro" | "readwrite" | "rw" => {
                let rw = key.starts_with("readw") || key == "rw";
                let b = parse_bool(&value);
                if check && b.is_none() {
                    return Err(format!("invalid value for {key}: {value}"));
                }
                m.readonly = b.unwrap_or(true) != rw;
                ro_explicit = true;
            }
            "required" | "size" | "sharing" | "mode" | "uid" | "gid" | "env" => {
                m.options.push((key, value))
            }
            _ => {
                return Err(suggest::wrap(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    KEYS,
                    true,
                ))
            }
        }
    }
    if !ro_explicit {
        m.readonly = !matches!(m.kind.as_str(), "cache" | "tmpfs");
    }
    if check {
        validate(&m)?;
    }
    Ok(m)
}

/// Docker's checks of a mount's (expanded) values.
pub(super) fn validate(m: &RunMount) -> Result<(), String> {
    let kind = m.kind.as_str();
    if !TYPES.contains(&kind) {
        return Err(suggest::wrap(
            format!("unsupported mount type {:?}", m.kind),
            kind,
            TYPES,
            true,
        ));
    }
    for (key, value) in &m.options {
        let bad = || format!("invalid value for {key}: {value}");
        match key.as_str() {
            "required" => {
                if kind != "secret" && kind != "ssh" {
                    return Err(format!("unexpected key 'required' for mount type '{kind}'"));
                }
                parse_bool(value).ok_or_else(bad)?;
            }
            "size" => {
                if kind != "tmpfs" {
                    return Err(format!("unexpected key 'size' for mount type '{kind}'"));
                }
                ram_in_bytes(value).ok_or_else(bad)?;
            }
            "sharing" if !SHARING.contains(&value.to_lowercase().as_str()) => {
                return Err(suggest::wrap(
                    format!("unsupported sharing value {value:?}"),
                    value,
                    SHARING,
                    true,
                ));
            }
            "mode" if !parse_u32(value, 8) => {
                return Err(format!("invalid value {value} for mode"))
            }
            "uid" | "gid" if !parse_u32(value, 10) => {
                return Err(format!("invalid value {value} for {key}"))
            }
            _ => {}
        }
        if matches!(key.as_str(), "mode" | "uid" | "gid")
            && !matches!(kind, "secret" | "ssh" | "cache")
        {
            return Err(format!("{key} not allowed for {kind:?} type mounts"));
        }
    }
    let sharing = m.option("sharing").is_some();
    if kind == "secret" {
        if m.from.as_deref().is_some_and(|f| !f.is_empty()) {
            return Err("secret mount should not have a from".into());
        }
        if sharing {
            return Err("secret mount should not define sharing".into());
        }
        let set = |v: Option<&str>| v.is_some_and(|v| !v.is_empty());
        let (source, id) = (set(m.source.as_deref()), set(m.id.as_deref()));
        if !source && m.target.is_empty() && !id {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if source && id {
            return Err("both source and id can't be set".into());
        }
    }
    if sharing && kind != "cache" {
        return Err(format!("invalid cache sharing set for {kind} mount"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        let m = parse("type=cache,target=/root/.cache/go-build", true).unwrap();
        assert_eq!(m.kind, "cache");
        assert_eq!(m.target, "/root/.cache/go-build");
        assert!(!m.readonly);

        let m = parse("target=/src,from=builder,source=/out", true).unwrap();
        assert_eq!((m.kind.as_str(), m.readonly), ("bind", true));
        assert_eq!(m.from.as_deref(), Some("builder"));
        assert_eq!(m.source.as_deref(), Some("/out"));

        let m = parse("type=bind,target=/x,rw", true).unwrap();
        assert!(!m.readonly);

        let m = parse(
            "type=secret,id=aws,target=/root/.aws/credentials,required",
            true,
        )
        .unwrap();
        assert_eq!(m.id.as_deref(), Some("aws"));
        assert_eq!(m.option("required"), Some("true"));

        let m = parse(
            "type=cache,target=/var/cache/apt,sharing=locked,mode=0755,uid=0",
            true,
        )
        .unwrap();
        assert_eq!(m.option("sharing"), Some("locked"));

        let m = parse("type=tmpfs,target=/tmp,size=64m", true).unwrap();
        assert_eq!(m.option("size"), Some("64m"));

        let m = parse("\"type=bind\",\"target=/a,b\"", true).unwrap();
        assert_eq!(m.target, "/a,b");
    }

    #[test]
    fn mount_errors() {
        let e = |s| parse(s, true).unwrap_err();
        assert_eq!(e("type=foo,target=/x"), "unsupported mount type \"foo\"");
        assert_eq!(
            e("type=cahce,target=/x"),
            "unsupported mount type \"cahce\" (did you mean cache?)"
        );
        assert_eq!(
            e("target=/x,bogus=1"),
            "unexpected key 'bogus' in 'bogus=1'"
        );
        assert_eq!(
            e("target=/x,trget=1"),
            "unexpected key 'trget' in 'trget=1' (did you mean target?)"
        );
        assert_eq!(
            e("target=/x,whatever"),
            "invalid field 'whatever' must be a key=value pair"
        );
        assert_eq!(
            e("type=bind,target=/x,required"),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(
            e("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            e("type=secret,id=a,source=b"),
            "both source and id can't be set"
        );
        assert_eq!(
            e("type=secret,id=a,from=x"),
            "secret mount should not have a from"
        );
        assert_eq!(
            e("type=bind,target=/x,mode=0700"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            e("type=bind,target=/x,sharing=shared"),
            "invalid cache sharing set for bind mount"
        );
        assert_eq!(
            e("type=cache,target=/x,sharing=nope"),
            "unsupported sharing value \"nope\""
        );
        assert_eq!(
            e("type=tmpfs,target=/x,size=lots"),
            "invalid value for size: lots"
        );
        assert_eq!(e("type=cache,target=/x,uid=-1"), "invalid value -1 for uid");
        assert_eq!(
            e("type=bind,target=/x,ro=maybe"),
            "invalid value for ro: maybe"
        );
        assert_eq!(
            e("from=$STAGE,target=/x"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        assert!(e("target=\"/x").starts_with("failed to parse csv mounts: "));
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("64m"), Some(64 << 20));
        assert_eq!(ram_in_bytes("1.5 GiB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("m"), None);
        assert_eq!(ram_in_bytes("1x"), None);
    }
}
