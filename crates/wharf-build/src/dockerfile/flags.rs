//! Instruction flags (`--name[=value]`), as buildkit's `BFlags` declares and checks them.

use super::suggest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Bool,
    String,
    Strings,
}

struct Def {
    name: &'static str,
    ty: Type,
    used: bool,
    /// Bool: "true"/"false"; String: the value.
    value: String,
    values: Vec<String>,
}

/// The flags an instruction accepts, filled by [`Flags::parse`].
pub(super) struct Flags<'a> {
    args: &'a [String],
    defs: Vec<Def>,
}

/// A declared flag.
#[derive(Debug, Clone, Copy)]
pub(super) struct Flag(usize);

impl<'a> Flags<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            defs: Vec::new(),
        }
    }

    fn add(&mut self, name: &'static str, ty: Type) -> Flag {
        self.defs.push(Def {
            name,
            ty,
            used: false,
            value: if ty == Type::Bool {
                "false".into()
            } else {
                String::new()
            },
            values: Vec::new(),
        });
        Flag(self.defs.len() - 1)
    }

    pub fn add_bool(&mut self, name: &'static str) -> Flag {
        self.add(name, Type::Bool)
    }

    pub fn add_string(&mut self, name: &'static str) -> Flag {
        self.add(name, Type::String)
    }

    pub fn add_strings(&mut self, name: &'static str) -> Flag {
        self.add(name, Type::Strings)
    }

    /// Checks the instruction's flags against the declarations.
    pub fn parse(&mut self) -> Result<(), String> {
        for a in self.args {
            if a == "--" {
                return Ok(());
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = format!("--{name}");
            let Some(def) = self.defs.iter_mut().find(|d| d.name == name) else {
                let names: Vec<&str> = self.defs.iter().map(|d| d.name).collect();
                return Err(suggest::wrap(
                    format!("unknown flag: {flag_name}"),
                    name,
                    &names,
                    true,
                ));
            };
            if def.used && def.ty != Type::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            def.used = true;
            match def.ty {
                Type::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    let v = value.unwrap_or("");
                    def.value = match v.to_lowercase().as_str() {
                        "true" | "" => "true".into(),
                        "false" => "false".into(),
                        _ => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {v}"
                            ))
                        }
                    };
                }
                Type::String | Type::Strings => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    };
                    if def.ty == Type::String {
                        def.value = v.to_string();
                    } else {
                        def.values.push(v.to_string());
                    }
                }
            }
        }
        Ok(())
    }

    pub fn used(&self, f: Flag) -> bool {
        self.defs[f.0].used
    }

    pub fn bool(&self, f: Flag) -> bool {
        self.defs[f.0].value == "true"
    }

    /// A string flag's value; `None` when absent or empty (docker does not tell them apart).
    pub fn string(&self, f: Flag) -> Option<String> {
        Some(self.defs[f.0].value.clone()).filter(|v| !v.is_empty())
    }

    /// A string flag's value when given, even empty.
    pub fn raw_string(&self, f: Flag) -> Option<String> {
        self.used(f).then(|| self.defs[f.0].value.clone())
    }

    pub fn strings(&self, f: Flag) -> Vec<String> {
        self.defs[f.0].values.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flag_errors() {
        let a = args(&["--chwon=1"]);
        let mut f = Flags::new(&a);
        f.add_string("chown");
        assert_eq!(
            f.parse().unwrap_err(),
            "unknown flag: --chwon (did you mean chown?)"
        );

        let a = args(&["--from=a", "--from=b"]);
        let mut f = Flags::new(&a);
        f.add_string("from");
        assert_eq!(f.parse().unwrap_err(), "duplicate flag specified: --from");

        let a = args(&["--from"]);
        let mut f = Flags::new(&a);
        f.add_string("from");
        assert_eq!(f.parse().unwrap_err(), "missing a value on flag: --from");

        let a = args(&["--link=maybe"]);
        let mut f = Flags::new(&a);
        f.add_bool("link");
        assert_eq!(
            f.parse().unwrap_err(),
            "expecting boolean value for flag --link, not: maybe"
        );

        let a = args(&["--link="]);
        let mut f = Flags::new(&a);
        f.add_bool("link");
        assert_eq!(f.parse().unwrap_err(), "missing a value on flag: --link");
    }

    #[test]
    fn flag_values() {
        let a = args(&[
            "--link=FALSE",
            "--exclude=a",
            "--exclude=b",
            "--x=",
            "--keep",
        ]);
        let mut f = Flags::new(&a);
        let link = f.add_bool("link");
        let ex = f.add_strings("exclude");
        let x = f.add_string("x");
        let keep = f.add_bool("keep");
        let other = f.add_string("other");
        f.parse().unwrap();
        assert!(!f.bool(link) && f.used(link));
        assert_eq!(f.strings(ex), ["a", "b"]);
        assert_eq!(f.string(x), None);
        assert_eq!(f.raw_string(x).as_deref(), Some(""));
        assert!(f.bool(keep));
        assert_eq!(f.raw_string(other), None);
    }
}
