//! A subset of Go's `text/template` over `serde_json::Value`, with docker's extra functions
//! (`json`, `join`, `split`, `lower`, `upper`, `title`, `pad`, `truncate`, `println`).
//!
//! Supported: text, `{{.A.B}}`, `{{.}}`, `{{$}}`, variables from `range $k, $v := …`,
//! pipelines with `|`, parenthesised arguments, string/number/bool literals, `{{if}}` /
//! `{{else if}}` / `{{else}}` / `{{end}}`, `{{range}}` (arrays and maps, with `{{else}}`),
//! `{{with}}`, trim markers `{{-` and `-}}`, and the functions `index`, `len`, `eq`, `ne`,
//! `lt`, `le`, `gt`, `ge`, `not`, `and`, `or`, `print`, `printf` (%s %d %v %q).
//! A missing map key is an error, as docker's templates over structs and JSON maps report.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template parsing error: template: :{0}")]
    Parse(String),
    #[error("template: :{0}")]
    Exec(String),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range {
        vars: Vec<String>,
        pipe: Pipe,
        body: Vec<Node>,
        else_: Vec<Node>,
    },
    With(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
struct Pipe {
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    Ident(String),
    Sub(Pipe, Vec<String>),
}

/// A parsed template, reusable over many values.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

/// How to execute: normally, or as docker's header pass (functions return their argument).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecOptions {
    pub header: bool,
    /// `{{json .}}` on a list row escapes `<>&` as Go's json.Marshal does.
    pub escape_html_json_dot: bool,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let tokens = lex(src)?;
        let mut p = Parser { tokens, pos: 0 };
        let (nodes, end) = p.parse_list()?;
        if let Some(end) = end {
            return Err(TemplateError::Parse(format!("unexpected {{{{{end}}}}}")));
        }
        Ok(Template { nodes })
    }

    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        self.execute_with(data, ExecOptions::default())
    }

    pub fn execute_with(&self, data: &Value, opts: ExecOptions) -> Result<String, TemplateError> {
        let mut ex = Exec {
            root: data,
            vars: vec![("$".into(), data.clone())],
            opts,
        };
        let mut out = String::new();
        ex.run(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

// ---------- lexing ----------

#[derive(Debug, Clone)]
enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, TemplateError> {
    let mut toks = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let after = &rest[start + 2..];
        let trim_prev =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_prev {
            text = text.trim_end().to_string();
        }
        if !text.is_empty() {
            toks.push(Tok::Text(text));
        }
        let inner_start = if trim_prev { 1 } else { 0 };
        let end = find_action_end(after)
            .ok_or_else(|| TemplateError::Parse("1: unclosed action".into()))?;
        let mut inner = &after[inner_start..end];
        trim_next = false;
        if inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-") {
            inner = &inner[..inner.len() - 1];
            trim_next = true;
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            toks.push(Tok::Action(inner.to_string()));
        }
        rest = &after[end + 2..];
    }
    let mut text = rest.to_string();
    if trim_next {
        text = text.trim_start().to_string();
    }
    if !text.is_empty() {
        toks.push(Tok::Text(text));
    }
    Ok(toks)
}

/// Finds the closing `}}`, skipping quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum W {
    Word(String),
    Str(String),
    Pipe,
    Open,
    Close,
    Assign,
    Comma,
}

fn words(s: &str) -> Result<Vec<W>, TemplateError> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(W::Pipe);
                i += 1
            }
            '(' => {
                out.push(W::Open);
                i += 1
            }
            ')' => {
                out.push(W::Close);
                i += 1
            }
            ',' => {
                out.push(W::Comma);
                i += 1
            }
            ':' if cs.get(i + 1) == Some(&'=') => {
                out.push(W::Assign);
                i += 2
            }
            '=' => {
                out.push(W::Assign);
                i += 1
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                while i < cs.len() && cs[i] != '"' {
                    if cs[i] == '\\' && i + 1 < cs.len() {
                        i += 1;
                        v.push(match cs[i] {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            o => o,
                        });
                    } else {
                        v.push(cs[i]);
                    }
                    i += 1;
                }
                if i >= cs.len() {
                    return Err(TemplateError::Parse("1: unterminated quoted string".into()));
                }
                i += 1;
                out.push(W::Str(v));
            }
            '`' => {
                let mut v = String::new();
                i += 1;
                while i < cs.len() && cs[i] != '`' {
                    v.push(cs[i]);
                    i += 1;
                }
                i += 1;
                out.push(W::Str(v));
            }
            _ => {
                let mut v = String::new();
                while i < cs.len() && !" \t\n\r|(),\"".contains(cs[i]) {
                    if cs[i] == ':' && cs.get(i + 1) == Some(&'=') {
                        break;
                    }
                    v.push(cs[i]);
                    i += 1;
                }
                // `(.A).B` field access on a parenthesised value is folded into the word.
                out.push(W::Word(v));
            }
        }
    }
    Ok(out)
}

// ---------- parsing ----------

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    /// Parses nodes until `{{end}}` / `{{else…}}`; returns which keyword stopped it.
    fn parse_list(&mut self) -> Result<(Vec<Node>, Option<String>), TemplateError> {
        let mut nodes = Vec::new();
        while self.pos < self.tokens.len() {
            let tok = self.tokens[self.pos].clone();
            self.pos += 1;
            match tok {
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::Action(a) => {
                    let (kw, rest) = split_keyword(&a);
                    match kw {
                        "end" => return Ok((nodes, Some("end".into()))),
                        "else" => {
                            return Ok((nodes, Some(format!("else {rest}").trim().to_string())))
                        }
                        "if" => nodes.push(self.parse_if(rest)?),
                        "range" => {
                            let (vars, pipe) = parse_decl_pipe(rest)?;
                            let (body, end) = self.parse_list()?;
                            let else_ = match end.as_deref() {
                                Some("end") => Vec::new(),
                                Some("else") => self.expect_end()?,
                                _ => {
                                    return Err(TemplateError::Parse(
                                        "1: unexpected EOF in range".into(),
                                    ))
                                }
                            };
                            nodes.push(Node::Range {
                                vars,
                                pipe,
                                body,
                                else_,
                            });
                        }
                        "with" => {
                            let pipe = parse_pipe(&words(rest)?)?;
                            let (body, end) = self.parse_list()?;
                            let else_ = match end.as_deref() {
                                Some("end") => Vec::new(),
                                Some("else") => self.expect_end()?,
                                _ => {
                                    return Err(TemplateError::Parse(
                                        "1: unexpected EOF in with".into(),
                                    ))
                                }
                            };
                            nodes.push(Node::With(pipe, body, else_));
                        }
                        _ => nodes.push(Node::Action(parse_pipe(&words(&a)?)?)),
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    fn expect_end(&mut self) -> Result<Vec<Node>, TemplateError> {
        let (nodes, end) = self.parse_list()?;
        if end.as_deref() != Some("end") {
            return Err(TemplateError::Parse("1: expected {{end}}".into()));
        }
        Ok(nodes)
    }

    fn parse_if(&mut self, cond: &str) -> Result<Node, TemplateError> {
        let mut branches = vec![];
        let mut cond = parse_pipe(&words(cond)?)?;
        loop {
            let (body, end) = self.parse_list()?;
            branches.push((cond, body));
            match end.as_deref() {
                Some("end") => return Ok(Node::If(branches, Vec::new())),
                Some("else") => return Ok(Node::If(branches, self.expect_end()?)),
                Some(e) if e.starts_with("else if ") => {
                    cond = parse_pipe(&words(&e["else if ".len()..])?)?;
                }
                _ => return Err(TemplateError::Parse("1: unexpected EOF in if".into())),
            }
        }
    }
}

fn split_keyword(a: &str) -> (&str, &str) {
    let a = a.trim();
    match a.find(|c: char| c.is_whitespace()) {
        Some(i) => (&a[..i], a[i..].trim()),
        None => (a, ""),
    }
}

fn parse_decl_pipe(s: &str) -> Result<(Vec<String>, Pipe), TemplateError> {
    let ws = words(s)?;
    if let Some(i) = ws.iter().position(|w| *w == W::Assign) {
        let vars = ws[..i]
            .iter()
            .filter_map(|w| match w {
                W::Word(v) if v.starts_with('$') => Some(v.clone()),
                _ => None,
            })
            .collect();
        Ok((vars, parse_pipe(&ws[i + 1..])?))
    } else {
        Ok((Vec::new(), parse_pipe(&ws)?))
    }
}

fn parse_pipe(ws: &[W]) -> Result<Pipe, TemplateError> {
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        match &ws[i] {
            W::Pipe => {
                if cur.is_empty() {
                    return Err(TemplateError::Parse("1: missing command".into()));
                }
                cmds.push(std::mem::take(&mut cur));
            }
            W::Open => {
                let mut depth = 1;
                let start = i + 1;
                while depth > 0 {
                    i += 1;
                    match ws.get(i) {
                        Some(W::Open) => depth += 1,
                        Some(W::Close) => depth -= 1,
                        None => return Err(TemplateError::Parse("1: unclosed left paren".into())),
                        _ => {}
                    }
                }
                let sub = parse_pipe(&ws[start..i])?;
                // A field chain straight after the paren: `(index .A 0).Name`.
                let mut fields = Vec::new();
                if let Some(W::Word(w)) = ws.get(i + 1) {
                    if w.starts_with('.') && w.len() > 1 {
                        fields = field_path(w);
                        i += 1;
                    }
                }
                cur.push(Arg::Sub(sub, fields));
            }
            W::Close | W::Assign | W::Comma => {
                return Err(TemplateError::Parse(
                    "1: unexpected token in command".into(),
                ))
            }
            W::Str(s) => cur.push(Arg::Str(s.clone())),
            W::Word(w) => cur.push(parse_word(w)?),
        }
        i += 1;
    }
    if cur.is_empty() {
        return Err(TemplateError::Parse("1: missing value for command".into()));
    }
    cmds.push(cur);
    Ok(Pipe { cmds })
}

fn field_path(w: &str) -> Vec<String> {
    w.split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_word(w: &str) -> Result<Arg, TemplateError> {
    Ok(if w.starts_with('.') {
        Arg::Field(field_path(w))
    } else if let Some(rest) = w.strip_prefix('$') {
        let mut parts = rest.split('.');
        let name = format!("${}", parts.next().unwrap_or(""));
        Arg::Var(
            name,
            parts
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    } else if w == "true" || w == "false" {
        Arg::Bool(w == "true")
    } else if w == "nil" {
        Arg::Nil
    } else if let Ok(n) = w.parse::<f64>() {
        Arg::Num(n)
    } else if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
        Arg::Ident(w.to_string())
    } else {
        return Err(TemplateError::Parse(format!("1: bad character in {w:?}")));
    })
}

// ---------- execution ----------

struct Exec<'a> {
    #[allow(dead_code)]
    root: &'a Value,
    vars: Vec<(String, Value)>,
    opts: ExecOptions,
}

impl Exec<'_> {
    fn run(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), TemplateError> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    out.push_str(&print_value(&v));
                }
                Node::If(branches, else_) => {
                    let mut done = false;
                    for (cond, body) in branches {
                        if truthy(&self.pipe(cond, dot)?) {
                            self.run(body, dot, out)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.run(else_, dot, out)?;
                    }
                }
                Node::With(p, body, else_) => {
                    let v = self.pipe(p, dot)?;
                    if truthy(&v) {
                        self.run(body, &v, out)?;
                    } else {
                        self.run(else_, dot, out)?;
                    }
                }
                Node::Range {
                    vars,
                    pipe,
                    body,
                    else_,
                } => {
                    let v = self.pipe(pipe, dot)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, x)| (Value::from(i), x.clone()))
                            .collect(),
                        Value::Object(m) => m
                            .iter()
                            .map(|(k, x)| (Value::from(k.clone()), x.clone()))
                            .collect(),
                        Value::Null => Vec::new(),
                        Value::Number(n) => (0..n.as_u64().unwrap_or(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        _ => {
                            return Err(TemplateError::Exec(format!(
                                "range can't iterate over {}",
                                print_value(&v)
                            )))
                        }
                    };
                    if items.is_empty() {
                        self.run(else_, dot, out)?;
                    }
                    for (k, x) in items {
                        let saved = self.vars.len();
                        match vars.len() {
                            1 => self.vars.push((vars[0].clone(), x.clone())),
                            2 => {
                                self.vars.push((vars[0].clone(), k));
                                self.vars.push((vars[1].clone(), x.clone()));
                            }
                            _ => {}
                        }
                        let r = self.run(body, &x, out);
                        self.vars.truncate(saved);
                        r?;
                    }
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, TemplateError> {
        let mut prev: Option<Value> = None;
        for cmd in &p.cmds {
            prev = Some(self.command(cmd, dot, prev)?);
        }
        Ok(prev.unwrap_or(Value::Null))
    }

    fn command(
        &mut self,
        cmd: &[Arg],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        if let Some(Arg::Ident(name)) = cmd.first() {
            let mut args = Vec::new();
            let mut dot_arg = false;
            for a in &cmd[1..] {
                if matches!(a, Arg::Field(f) if f.is_empty()) {
                    dot_arg = true;
                }
                args.push(self.arg(a, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            return self.call(name, args, dot_arg);
        }
        if cmd.len() > 1 || piped.is_some() {
            return Err(TemplateError::Exec(
                "can't give argument to non-function".into(),
            ));
        }
        match cmd.first() {
            Some(a) => self.arg(a, dot),
            None => Ok(Value::Null),
        }
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        Ok(match a {
            Arg::Field(path) => walk(dot, path)?,
            Arg::Var(name, path) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| {
                        TemplateError::Parse(format!("1: undefined variable \"{name}\""))
                    })?;
                walk(&v, path)?
            }
            Arg::Str(s) => Value::String(s.clone()),
            Arg::Num(n) => serde_json::Number::from_f64(*n)
                .map(|num| {
                    if n.fract() == 0.0 {
                        Value::from(*n as i64)
                    } else {
                        Value::Number(num)
                    }
                })
                .unwrap_or(Value::Null),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Null,
            Arg::Ident(name) => self.call(name, Vec::new(), false)?,
            Arg::Sub(p, fields) => walk(&self.pipe(p, dot)?, fields)?,
        })
    }

    fn call(
        &mut self,
        name: &str,
        args: Vec<Value>,
        dot_arg: bool,
    ) -> Result<Value, TemplateError> {
        let s = |i: usize| args.get(i).map(print_value).unwrap_or_default();
        if self.opts.header
            && matches!(
                name,
                "json" | "split" | "join" | "title" | "lower" | "upper" | "pad" | "truncate"
            )
        {
            return Ok(args.into_iter().next().unwrap_or(Value::Null));
        }
        let need = |n: usize| {
            if args.len() < n {
                Err(TemplateError::Exec(format!(
                    "error calling {name}: wrong number of args for {name}"
                )))
            } else {
                Ok(())
            }
        };
        Ok(match name {
            "json" => {
                need(1)?;
                let mut j = serde_json::to_string(&args[0]).unwrap_or_default();
                if self.opts.escape_html_json_dot && dot_arg {
                    j = go_escape_html(&j);
                }
                Value::String(j)
            }
            "join" => {
                need(2)?;
                let sep = s(1);
                match &args[0] {
                    Value::Array(a) => {
                        Value::String(a.iter().map(print_value).collect::<Vec<_>>().join(&sep))
                    }
                    Value::Null => Value::String(String::new()),
                    other => Value::String(print_value(other)),
                }
            }
            "split" => {
                need(2)?;
                Value::Array(
                    s(0).split(s(1).as_str())
                        .map(|x| Value::String(x.into()))
                        .collect(),
                )
            }
            "lower" => Value::String(s(0).to_lowercase()),
            "upper" => Value::String(s(0).to_uppercase()),
            "title" => Value::String(title(&s(0))),
            "pad" => {
                need(3)?;
                let l = args[1].as_u64().unwrap_or(0) as usize;
                let r = args[2].as_u64().unwrap_or(0) as usize;
                Value::String(format!("{}{}{}", " ".repeat(l), s(0), " ".repeat(r)))
            }
            "truncate" => {
                need(2)?;
                let n = args[1].as_u64().unwrap_or(0) as usize;
                Value::String(s(0).chars().take(n).collect())
            }
            "println" => Value::String(format!(
                "{}\n",
                args.iter().map(print_value).collect::<Vec<_>>().join(" ")
            )),
            "print" => Value::String(args.iter().map(print_value).collect::<String>()),
            "printf" => {
                need(1)?;
                Value::String(printf(&s(0), &args[1..]))
            }
            "len" => {
                need(1)?;
                Value::from(match &args[0] {
                    Value::Array(a) => a.len(),
                    Value::Object(m) => m.len(),
                    Value::String(st) => st.len(),
                    _ => {
                        return Err(TemplateError::Exec(
                            "error calling len: len of unsupported type".into(),
                        ))
                    }
                })
            }
            "index" => {
                need(1)?;
                let mut cur = args[0].clone();
                for k in &args[1..] {
                    cur = match (&cur, k) {
                        (Value::Object(m), key) => {
                            m.get(&print_value(key)).cloned().unwrap_or(Value::Null)
                        }
                        (Value::Array(a), Value::Number(n)) => {
                            let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                            a.get(i).cloned().ok_or_else(|| {
                                TemplateError::Exec(format!(
                                    "error calling index: index out of range: {i}"
                                ))
                            })?
                        }
                        (Value::Null, _) => Value::Null,
                        _ => {
                            return Err(TemplateError::Exec(
                                "error calling index: can't index item".into(),
                            ))
                        }
                    };
                }
                cur
            }
            "eq" => {
                need(2)?;
                Value::Bool(args[1..].iter().any(|b| loose_eq(&args[0], b)))
            }
            "ne" => {
                need(2)?;
                Value::Bool(!loose_eq(&args[0], &args[1]))
            }
            "lt" | "le" | "gt" | "ge" => {
                need(2)?;
                let ord = compare(&args[0], &args[1]);
                Value::Bool(match name {
                    "lt" => ord == std::cmp::Ordering::Less,
                    "le" => ord != std::cmp::Ordering::Greater,
                    "gt" => ord == std::cmp::Ordering::Greater,
                    _ => ord != std::cmp::Ordering::Less,
                })
            }
            "not" => {
                need(1)?;
                Value::Bool(!truthy(&args[0]))
            }
            "and" => {
                need(1)?;
                args.iter()
                    .find(|a| !truthy(a))
                    .or(args.last())
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            "or" => {
                need(1)?;
                args.iter()
                    .find(|a| truthy(a))
                    .or(args.last())
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            _ => {
                return Err(TemplateError::Parse(format!(
                    "1: function \"{name}\" not defined"
                )))
            }
        })
    }
}

fn walk(v: &Value, path: &[String]) -> Result<Value, TemplateError> {
    let mut cur = v;
    for key in path {
        cur = match cur {
            Value::Object(m) => m.get(key).ok_or_else(|| {
                TemplateError::Exec(format!(
                    "executing \"\" at <.{key}>: map has no entry for key \"{key}\""
                ))
            })?,
            Value::Null => return Ok(Value::Null),
            _ => {
                return Err(TemplateError::Exec(format!(
                    "executing \"\" at <.{key}>: can't evaluate field {key} in type {}",
                    type_name(cur)
                )))
            }
        };
    }
    Ok(cur.clone())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "interface {}",
    }
}

/// Go's truth: false, 0, nil, and empty strings/collections are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        _ => print_value(a).cmp(&print_value(b)),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(
                &serde_json::to_string(&it.next().map(print_value).unwrap_or_default())
                    .unwrap_or_default(),
            ),
            Some(_) => out.push_str(
                &it.next()
                    .map(print_value)
                    .unwrap_or_else(|| "%!v(MISSING)".into()),
            ),
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

/// Prints a value as Go's `fmt` `%v` would for the decoded JSON.
pub fn print_value(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 && f.abs() < 1e21 {
                    format!("{f}")
                } else {
                    super::units::format_g(f, 17)
                }
            }
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(print_inner).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, x)| format!("{k}:{}", print_inner(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn print_inner(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        other => print_value(other),
    }
}

/// Go's json.Marshal escapes `<`, `>` and `&` (and U+2028/2029) inside strings.
pub fn go_escape_html(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().execute(v).unwrap()
    }

    #[test]
    fn fields_and_text() {
        let v =
            json!({"ID": "abc", "Config": {"Cmd": ["sh", "-c"], "Labels": {"a": "1", "b": "2"}}});
        assert_eq!(run("id={{.ID}}\t{{.Config.Cmd}}", &v), "id=abc\t[sh -c]");
        assert_eq!(run("{{json .Config.Cmd}}", &v), r#"["sh","-c"]"#);
        assert_eq!(run("{{index .Config.Labels \"b\"}}", &v), "2");
        assert_eq!(run("{{join .Config.Cmd \",\"}}", &v), "sh,-c");
        assert_eq!(run("{{.Config.Labels}}", &v), "map[a:1 b:2]");
        assert_eq!(
            run("{{lower \"AbC\"}} {{upper .ID}} {{.ID | upper}}", &v),
            "abc ABC ABC"
        );
    }

    #[test]
    fn range_if_with_vars() {
        let v = json!({"L": ["x", "y"], "M": {"k": "v"}, "E": [], "N": 0, "S": "s"});
        assert_eq!(run("{{range .L}}<{{.}}>{{end}}", &v), "<x><y>");
        assert_eq!(
            run("{{range $k, $v := .M}}{{$k}}={{$v}};{{end}}", &v),
            "k=v;"
        );
        assert_eq!(run("{{range .E}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(run("{{if .N}}yes{{else}}no{{end}}", &v), "no");
        assert_eq!(run("{{if eq .S \"s\"}}yes{{end}}", &v), "yes");
        assert_eq!(
            run("{{if not .S}}a{{else if .L}}b{{else}}c{{end}}", &v),
            "b"
        );
        assert_eq!(run("{{with .M}}{{.k}}{{end}}", &v), "v");
        assert_eq!(run("{{range .L -}}  {{.}} {{- end}}", &v), "xy");
        assert_eq!(run("{{len .L}} {{index .L 1}} {{$.S}}", &v), "2 y s");
        assert_eq!(
            run("{{(index .L 0)}} {{printf \"%s-%d\" .S 3}}", &v),
            "x s-3"
        );
    }

    #[test]
    fn missing_key_is_an_error() {
        let t = Template::parse("{{.Nope}}").unwrap();
        let err = t.execute(&json!({})).unwrap_err().to_string();
        assert!(err.contains("map has no entry for key \"Nope\""), "{err}");
    }

    #[test]
    fn header_mode_keeps_names() {
        let t = Template::parse("{{upper .Repository}}\t{{json .Tag}}").unwrap();
        let h = json!({"Repository": "REPOSITORY", "Tag": "TAG"});
        let opts = ExecOptions {
            header: true,
            ..Default::default()
        };
        assert_eq!(t.execute_with(&h, opts).unwrap(), "REPOSITORY\tTAG");
    }

    #[test]
    fn json_dot_escapes_html_like_go() {
        let t = Template::parse("{{json .}}").unwrap();
        let opts = ExecOptions {
            escape_html_json_dot: true,
            ..Default::default()
        };
        assert_eq!(
            t.execute_with(&json!({"Tag": "<none>"}), opts).unwrap(),
            r#"{"Tag":"\u003cnone\u003e"}"#
        );
    }

    #[test]
    fn parse_errors() {
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
    }
}
