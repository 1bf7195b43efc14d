//! Variable interpolation as the Compose Specification defines it ("Interpolation"):
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
//! `${VAR:+replacement}`, `${VAR+replacement}`, nested expressions in the default/replacement,
//! and `$$` for a literal `$`. Applied to values only, never to keys.

use crate::yaml::{Node, V};

/// Why a string could not be interpolated.
#[derive(Debug, PartialEq)]
pub(crate) enum InterpError {
    /// `${VAR:?msg}` / `${VAR?msg}` with VAR missing.
    Required { name: String, message: String },
    /// A `$` not followed by a name, `{` or `$`, or an unterminated `${`.
    Invalid(String),
}

impl std::fmt::Display for InterpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpError::Required { name, message } => {
                if message.is_empty() {
                    write!(f, "required variable {name} is missing a value")
                } else {
                    write!(f, "required variable {name} is missing a value: {message}")
                }
            }
            InterpError::Invalid(s) => write!(
                f,
                "invalid interpolation format for {s:?}; you may need to escape any $ with another $"
            ),
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Interpolates `text`; `lookup` gives a variable's value (None = unset); names of unset
/// variables used without a default are pushed to `unset`.
pub(crate) fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some(&c2) if is_name_start(c2) => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                match lookup(&name) {
                    Some(v) => out.push_str(&v),
                    None => unset.push(name),
                }
                i = j;
            }
            Some('{') => {
                // Find the matching `}`, allowing nested `${...}`.
                let start = i + 2;
                let mut depth = 1;
                let mut j = start;
                while j < chars.len() {
                    match chars[j] {
                        '$' if chars.get(j + 1) == Some(&'{') => {
                            depth += 1;
                            j += 1;
                        }
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(InterpError::Invalid(text.to_string()));
                }
                let inner: String = chars[start..j].iter().collect();
                out.push_str(&braced(&inner, text, lookup, unset)?);
                i = j + 1;
            }
            _ => return Err(InterpError::Invalid(text.to_string())),
        }
    }
    Ok(out)
}

fn braced(
    inner: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpError> {
    let name_len = inner
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(inner.len(), |(i, _)| i);
    let name = &inner[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(InterpError::Invalid(whole.to_string()));
    }
    let rest = &inner[name_len..];
    let value = lookup(name);
    if rest.is_empty() {
        return Ok(value.unwrap_or_else(|| {
            unset.push(name.to_string());
            String::new()
        }));
    }
    let (op, arg) = if rest.len() >= 2 && rest.starts_with(':') {
        rest.split_at(2)
    } else {
        rest.split_at(1)
    };
    let set = value.is_some();
    let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op {
        ":-" | "-" => {
            let use_value = if op == ":-" { non_empty } else { set };
            if use_value {
                Ok(value.unwrap_or_default())
            } else {
                interpolate(arg, lookup, unset)
            }
        }
        ":?" | "?" => {
            let ok = if op == ":?" { non_empty } else { set };
            if ok {
                Ok(value.unwrap_or_default())
            } else {
                Err(InterpError::Required {
                    name: name.to_string(),
                    message: interpolate(arg, lookup, unset)?,
                })
            }
        }
        ":+" | "+" => {
            let alt = if op == ":+" { non_empty } else { set };
            if alt {
                interpolate(arg, lookup, unset)
            } else {
                Ok(String::new())
            }
        }
        _ => Err(InterpError::Invalid(whole.to_string())),
    }
}

/// Interpolates every scalar value of a tree (keys are left alone).
pub(crate) fn interpolate_tree(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> crate::error::Result<()> {
    match &mut node.v {
        V::Str(s, _) => {
            let mut unset = Vec::new();
            match interpolate(s, lookup, &mut unset) {
                Ok(v) => *s = v,
                Err(e) => return Err(node.err(e.to_string())),
            }
            for name in unset {
                let w =
                    format!("The \"{name}\" variable is not set. Defaulting to a blank string.");
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
        }
        V::Seq(items) => {
            for n in items {
                interpolate_tree(n, lookup, warnings)?;
            }
        }
        V::Map(es) => {
            for e in es {
                interpolate_tree(&mut e.val, lookup, warnings)?;
            }
        }
        V::Null => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, InterpError> {
        let lookup = |k: &str| match k {
            "SET" => Some("value".to_string()),
            "EMPTY" => Some(String::new()),
            "B" => Some("bee".to_string()),
            _ => None,
        };
        interpolate(text, &lookup, &mut Vec::new())
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("$SET", "value"),
            ("${SET}", "value"),
            ("a${SET}b", "avalueb"),
            ("$SET/x", "value/x"),
            ("$UNSET", ""),
            ("${UNSET}", ""),
            ("${UNSET:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${UNSET-def}", "def"),
            ("${SET:-def}", "value"),
            ("${SET:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${UNSET+alt}", ""),
            ("${UNSET:-${B}}", "bee"),
            ("${UNSET:-${ALSO:-deep}}", "deep"),
            ("${UNSET:-$B-x}", "bee-x"),
            ("$$", "$"),
            ("$$SET", "$SET"),
            ("cost: $${SET}", "cost: ${SET}"),
            ("${SET:?must}", "value"),
            ("${UNSET:-a b c}", "a b c"),
        ];
        for (input, want) in cases {
            assert_eq!(run(input).as_deref(), Ok(*want), "input {input}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            run("${UNSET:?please set it}"),
            Err(InterpError::Required {
                name: "UNSET".into(),
                message: "please set it".into()
            })
        );
        assert!(matches!(
            run("${EMPTY:?x}"),
            Err(InterpError::Required { .. })
        ));
        assert_eq!(run("${EMPTY?x}").as_deref(), Ok(""));
        assert!(matches!(
            run("${UNSET?}"),
            Err(InterpError::Required { .. })
        ));
        for bad in ["$", "a $ b", "${", "${SET", "${}", "${1A}", "${SET!x}"] {
            assert!(matches!(run(bad), Err(InterpError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn unset_names_are_reported() {
        let mut unset = Vec::new();
        interpolate("$A ${B:-x} ${C}", &|_| None, &mut unset).unwrap();
        assert_eq!(unset, vec!["A".to_string(), "C".to_string()]);
    }
}
