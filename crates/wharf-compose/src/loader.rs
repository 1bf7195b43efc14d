//! Loading a project: finding the files, the interpolation environment (`.env` under the
//! process environment), parsing and interpolating each file, `include`, merging the `-f`
//! files in order, `extends`, then converting to the model, applying profiles and checking
//! references.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::interpolate::interpolate_tree;
use crate::merge::{get_mut, merge_service, merge_top};
use crate::model::*;
use crate::service::{clean, convert_service, Ctx};
use crate::yaml::{display_name, err_at, parse, Node, Src, V};
use crate::{dotenv, resources, LoadOptions, Loaded};

const TOP_KEYS: &[&str] = &[
    "version", "name", "services", "networks", "volumes", "secrets", "configs", "include", "models",
];

const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

fn abs(cwd: &Path, p: &Path) -> PathBuf {
    clean(&if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    })
}

/// The compose files to read: `-f`, else `COMPOSE_FILE`, else the first default name found in
/// the working directory or a parent, with its override file.
fn find_files(opts: &LoadOptions) -> Result<Vec<PathBuf>> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| abs(&opts.cwd, f)).collect());
    }
    // COMPOSE_FILE may also come from the env file (docker compose reads `.env` first).
    let dir = match &opts.project_directory {
        Some(d) => abs(&opts.cwd, d),
        None => abs(&opts.cwd, Path::new(".")),
    };
    let env_files: Vec<PathBuf> = if opts.env_files.is_empty() {
        Some(dir.join(".env"))
            .filter(|f| f.is_file())
            .into_iter()
            .collect()
    } else {
        opts.env_files.iter().map(|f| abs(&opts.cwd, f)).collect()
    };
    let mut env = read_env_files(&env_files, &opts.cwd, &opts.environment).unwrap_or_default();
    env.extend(opts.environment.clone());
    if let Some(cf) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .map_or(":", String::as_str);
        return Ok(cf
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(|f| abs(&opts.cwd, Path::new(f)))
            .collect());
    }
    let mut dir = Some(dir.as_path());
    while let Some(d) = dir {
        if let Some(f) = DEFAULT_FILES
            .iter()
            .map(|n| d.join(n))
            .find(|p| p.is_file())
        {
            let mut files = vec![f];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(Error::NoConfigFile)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads env files in order (later ones win) into a map.
fn read_env_files(
    files: &[PathBuf],
    cwd: &Path,
    outer: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for f in files {
        let text = read(f)?;
        let known = env.clone();
        let pairs = dotenv::parse(&text, &|k| outer.get(k).or_else(|| known.get(k)).cloned())
            .map_err(|(line, message)| Error::At {
                file: display_name(f, cwd),
                line,
                message,
            })?;
        env.extend(dotenv::to_map(pairs));
    }
    Ok(env)
}

/// State shared by the whole load (warnings, the include chain for cycle detection).
pub(crate) struct Loader<'a> {
    pub cwd: &'a Path,
    pub warnings: Vec<String>,
    include_stack: Vec<PathBuf>,
}

impl<'a> Loader<'a> {
    /// Parses and interpolates one file; relative paths in it resolve against `base`.
    fn parse_file(
        &mut self,
        path: &Path,
        base: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Node> {
        let text = read(path)?;
        let src = Arc::new(Src {
            name: display_name(path, self.cwd),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            base: base.to_path_buf(),
        });
        let mut node = parse(&text, &src)?;
        if text.trim().is_empty() {
            return Err(err_at(&src, 1, "empty compose file"));
        }
        node.map("(top level)")?;
        node.check_keys("", TOP_KEYS)?;
        interpolate_tree(&mut node, &|k| env.get(k).cloned(), &mut self.warnings)?;
        if let Some(e) = node.entry("version") {
            self.warnings.push(format!(
                "{}:{}: the attribute `version` is obsolete, it will be ignored",
                src.name, e.key_line
            ));
        }
        if let Some(services) = node.get("services") {
            for e in services.map_or_empty("services")? {
                let ok = e.key.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && e.key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                if !ok {
                    return Err(err_at(
                        &src,
                        e.key_line,
                        format!(
                            "services.{}: invalid service name (allowed: [a-zA-Z0-9][a-zA-Z0-9_.-]*)",
                            e.key
                        ),
                    ));
                }
            }
        }
        Ok(node)
    }

    /// Loads `files` (merged in order) with `include` and `extends` resolved: the raw tree of
    /// a project.
    pub fn load_tree(
        &mut self,
        files: &[PathBuf],
        base: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Node> {
        let mut merged: Option<Node> = None;
        for f in files {
            let mut node = self.parse_file(f, base, env)?;
            // Included resources join the including file before the `-f` files merge, so a
            // later file (an override) may still change them, as with docker compose.
            if let Some(inc) = node.remove("include") {
                for tree in self.includes(&inc, env)? {
                    add_included(&mut node, tree, &inc)?;
                }
            }
            match &mut merged {
                None => merged = Some(node),
                Some(m) => merge_top(m, node),
            }
        }
        let Some(mut tree) = merged else {
            return Err(Error::NoConfigFile);
        };
        self.resolve_extends(&mut tree, env)?;
        Ok(tree)
    }

    fn includes(&mut self, inc: &Node, env: &BTreeMap<String, String>) -> Result<Vec<Node>> {
        let items: Vec<&Node> = match &inc.v {
            V::Seq(items) => items.iter().collect(),
            V::Null => Vec::new(),
            _ => vec![inc],
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let p = format!("include[{i}]");
            let dir = &item.src.dir;
            let (paths, project_dir, env_files) = match &item.v {
                V::Str(s, _) => (vec![dir.join(s)], None, None),
                V::Map(_) => {
                    item.check_keys(&p, &["path", "project_directory", "env_file"])?;
                    let paths = item
                        .get("path")
                        .ok_or_else(|| item.err(format!("{p}.path is required")))?
                        .str_or_list(&format!("{p}.path"))?
                        .into_iter()
                        .map(|s| dir.join(s))
                        .collect();
                    let pd = match item.get("project_directory") {
                        Some(d) => Some(dir.join(d.str(&format!("{p}.project_directory"))?)),
                        None => None,
                    };
                    let ef = match item.get("env_file") {
                        Some(e) => Some(
                            e.str_or_list(&format!("{p}.env_file"))?
                                .into_iter()
                                .map(|s| dir.join(s))
                                .collect::<Vec<_>>(),
                        ),
                        None => None,
                    };
                    (paths, pd, ef)
                }
                _ => return Err(item.err(format!("{p} must be a string or a mapping"))),
            };
            let paths: Vec<PathBuf> = paths.iter().map(|p| clean(p)).collect();
            let Some(first) = paths.first() else {
                continue;
            };
            if self.include_stack.contains(first) {
                return Err(item.err(format!(
                    "include cycle: {} is already being included",
                    display_name(first, self.cwd)
                )));
            }
            if !first.is_file() {
                return Err(item.err(format!(
                    "{p}: included file {} not found",
                    display_name(first, self.cwd)
                )));
            }
            let project_dir = clean(
                &project_dir
                    .unwrap_or_else(|| first.parent().map(Path::to_path_buf).unwrap_or_default()),
            );
            let env_files = env_files.unwrap_or_else(|| {
                let dotenv = project_dir.join(".env");
                if dotenv.is_file() {
                    vec![dotenv]
                } else {
                    Vec::new()
                }
            });
            // The including project's environment wins over the included one's env files.
            let mut inc_env = read_env_files(&env_files, self.cwd, env)?;
            inc_env.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
            self.include_stack.push(first.clone());
            let tree = self.load_tree(&paths, &project_dir, &inc_env);
            self.include_stack.pop();
            out.push(tree?);
        }
        Ok(out)
    }

    fn resolve_extends(&mut self, tree: &mut Node, env: &BTreeMap<String, String>) -> Result<()> {
        let Some(services) = tree.get("services").cloned() else {
            return Ok(());
        };
        if services.is_null() {
            return Ok(());
        }
        let names: Vec<String> = services
            .map("services")?
            .iter()
            .map(|e| e.key.clone())
            .collect();
        let mut resolved = Vec::new();
        for name in &names {
            let mut stack = Vec::new();
            resolved.push(self.resolve_service(&services, None, name, env, &mut stack)?);
        }
        if let Some(target) = get_mut(tree, "services") {
            if let V::Map(es) = &mut target.v {
                for (e, r) in es.iter_mut().zip(resolved) {
                    e.val = r;
                }
            }
        }
        Ok(())
    }

    /// Resolves `extends` of service `name` in `services` (read from `file`, None = the main
    /// files), recursively.
    fn resolve_service(
        &mut self,
        services: &Node,
        file: Option<&Path>,
        name: &str,
        env: &BTreeMap<String, String>,
        stack: &mut Vec<String>,
    ) -> Result<Node> {
        let here = format!(
            "{}{name}",
            file.map(|f| format!("{}#", f.display()))
                .unwrap_or_default()
        );
        let node = services
            .get(name)
            .ok_or_else(|| services.err(format!("cannot extend service {name:?}: not found")))?;
        let mut node = node.clone();
        if node.is_null() {
            node.v = V::Map(Vec::new());
        }
        let Some(ext) = node.remove("extends") else {
            return Ok(node);
        };
        let p = format!("services.{name}.extends");
        let (base_name, base_file) = match &ext.v {
            V::Str(s, _) => (s.clone(), None),
            V::Map(_) => {
                ext.check_keys(&p, &["service", "file"])?;
                let svc = ext
                    .get("service")
                    .ok_or_else(|| ext.err(format!("{p}.service is required")))?
                    .string(&format!("{p}.service"))?;
                let f = match ext.get("file") {
                    Some(f) => Some(clean(&ext.src.dir.join(f.str(&format!("{p}.file"))?))),
                    None => None,
                };
                (svc, f)
            }
            _ => return Err(ext.err(format!("{p} must be a string or a mapping"))),
        };
        stack.push(here);
        let target_file = base_file.clone().or_else(|| file.map(Path::to_path_buf));
        let there = format!(
            "{}{base_name}",
            target_file
                .as_ref()
                .map(|f| format!("{}#", f.display()))
                .unwrap_or_default()
        );
        if stack.contains(&there) {
            let mut chain: Vec<String> = stack.clone();
            chain.push(there);
            return Err(ext.err(format!(
                "circular reference with extends: {}",
                chain.join(" -> ")
            )));
        }
        let base = match &base_file {
            Some(f) => {
                let dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
                let other = self.parse_file(f, &dir, env).map_err(|e| match e {
                    Error::Read { path, source } => ext.err(format!(
                        "{p}.file: failed to read {}: {source}",
                        path.display()
                    )),
                    e => e,
                })?;
                let other_services = other
                    .get("services")
                    .cloned()
                    .unwrap_or_else(|| Node::new(V::Map(Vec::new()), 1, &other.src));
                if other_services.get(&base_name).is_none() {
                    return Err(ext.err(format!(
                        "{p}: service {base_name:?} not found in {}",
                        display_name(f, self.cwd)
                    )));
                }
                self.resolve_service(&other_services, Some(f), &base_name, env, stack)?
            }
            None => {
                if services.get(&base_name).is_none() {
                    return Err(
                        ext.err(format!("{p}: cannot extend unknown service {base_name:?}"))
                    );
                }
                self.resolve_service(services, file, &base_name, env, stack)?
            }
        };
        stack.pop();
        let mut out = base;
        merge_service(&mut out, node);
        Ok(out)
    }
}

fn add_included(tree: &mut Node, inc: Node, at: &Node) -> Result<()> {
    let V::Map(entries) = inc.v else {
        return Ok(());
    };
    for e in entries {
        if !matches!(
            e.key.as_str(),
            "services" | "networks" | "volumes" | "secrets" | "configs"
        ) {
            continue;
        }
        let V::Map(items) = e.val.v else { continue };
        if tree.get(&e.key).is_none_or(Node::is_null) {
            tree.set(
                &e.key,
                e.key_line,
                Node::new(V::Map(Vec::new()), e.key_line, &at.src),
            );
        }
        let Some(target) = get_mut(tree, &e.key) else {
            continue;
        };
        for item in items {
            if let Some(existing) = target.entry(&item.key) {
                if existing.val.canon() != item.val.canon() {
                    return Err(err_at(
                        &existing.val.src,
                        existing.key_line,
                        format!(
                            "{}.{}: conflicts with the definition imported by include from {}",
                            e.key, item.key, item.val.src.name
                        ),
                    ));
                }
                continue;
            }
            target.set(&item.key, item.key_line, item.val);
        }
    }
    Ok(())
}

/// docker compose's project name normalisation: lowercase, only `[a-z0-9_-]`, starting with a
/// letter or digit.
pub(crate) fn normalize_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

pub(crate) fn load(opts: &LoadOptions) -> Result<Loaded> {
    let cwd = abs(Path::new("/"), &opts.cwd);
    let files = find_files(opts)?;
    let first = files.first().ok_or(Error::NoConfigFile)?;
    let project_dir = match &opts.project_directory {
        Some(d) => abs(&cwd, d),
        None => first.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    // Interpolation environment: env files, overridden by the process environment.
    let env_files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let f = project_dir.join(".env");
        if f.is_file() {
            vec![f]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.iter().map(|f| abs(&cwd, f)).collect()
    };
    let mut env = read_env_files(&env_files, &cwd, &opts.environment)?;
    env.extend(opts.environment.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut loader = Loader {
        cwd: &cwd,
        warnings: Vec::new(),
        include_stack: files.clone(),
    };
    let tree = loader.load_tree(&files, &project_dir, &env)?;
    let mut warnings = std::mem::take(&mut loader.warnings);

    // Project name: -p > COMPOSE_PROJECT_NAME > name: > directory name.
    let top_name = match tree.get("name") {
        Some(n) => n.opt_string("name")?,
        None => None,
    };
    let raw_name = opts
        .project_name
        .clone()
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .cloned()
                .filter(|s| !s.is_empty())
        })
        .or(top_name)
        .unwrap_or_else(|| {
            project_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let name = normalize_name(&raw_name);
    if name.is_empty() {
        return Err(Error::Invalid(format!(
            "invalid project name {raw_name:?}: must contain at least one letter or digit"
        )));
    }

    let mut profiles: BTreeSet<String> = opts.profiles.iter().cloned().collect();
    if let Some(p) = env.get("COMPOSE_PROFILES") {
        profiles.extend(
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }

    let mut project = Project {
        name: name.clone(),
        working_dir: project_dir.clone(),
        config_files: files.clone(),
        ..Project::default()
    };
    let mut ctx = Ctx {
        env: &env,
        warnings: &mut warnings,
        cwd: &cwd,
    };
    let mut all_services: BTreeMap<String, (Service, usize, Arc<Src>)> = BTreeMap::new();
    if let Some(services) = tree.get("services") {
        for e in services.map_or_empty("services")? {
            let s = convert_service(&e.key, e.key_line, &e.val, &mut ctx)?;
            all_services.insert(e.key.clone(), (s, e.key_line, e.val.src.clone()));
        }
    }
    for (section, is_net) in [("networks", true), ("volumes", false)] {
        if let Some(n) = tree.get(section) {
            for e in n.map_or_empty(section)? {
                if is_net {
                    let net = resources::network(&e.key, &e.val, &name)?;
                    project.networks.insert(e.key.clone(), net);
                } else {
                    let vol = resources::volume(&e.key, &e.val, &name)?;
                    project.volumes.insert(e.key.clone(), vol);
                }
            }
        }
    }
    for (section, configs) in [("secrets", false), ("configs", true)] {
        if let Some(n) = tree.get(section) {
            for e in n.map_or_empty(section)? {
                let o = resources::file_object(&e.key, &e.val, &name, configs, &env)?;
                if configs {
                    project.configs.insert(e.key.clone(), o);
                } else {
                    project.secrets.insert(e.key.clone(), o);
                }
            }
        }
    }

    // Profiles: a service with profiles is enabled only when one of them is active.
    let enabled = |s: &Service| {
        s.profiles.is_empty()
            || profiles.contains("*")
            || s.profiles.iter().any(|p| profiles.contains(p))
    };
    for (svc_name, (s, line, src)) in &all_services {
        if !enabled(s) {
            continue;
        }
        for (dep, d) in &s.depends_on {
            match all_services.get(dep) {
                None if d.required => {
                    return Err(err_at(
                        src,
                        *line,
                        format!("service {svc_name:?} depends on undefined service {dep:?}"),
                    ))
                }
                Some((ds, _, _)) if !enabled(ds) && d.required => {
                    return Err(err_at(
                        src,
                        *line,
                        format!(
                            "service {svc_name:?} depends on service {dep:?}, which is disabled by its profiles ({})",
                            ds.profiles.join(", ")
                        ),
                    ))
                }
                None => warnings.push(format!(
                    "{}:{line}: service {svc_name:?} depends on undefined service {dep:?}: skipped (required: false)",
                    src.name
                )),
                _ => {}
            }
        }
        for net in s.networks.keys() {
            if net != "default" && !project.networks.contains_key(net) {
                return Err(err_at(
                    src,
                    *line,
                    format!("service {svc_name:?} refers to undefined network {net}"),
                ));
            }
        }
        for v in &s.volumes {
            if let (Some(source), "volume") = (&v.source, v.kind.as_str()) {
                if !project.volumes.contains_key(source) {
                    return Err(err_at(
                        src,
                        *line,
                        format!("service {svc_name:?} refers to undefined volume {source}"),
                    ));
                }
            }
        }
        for (refs, kind, defined) in [
            (&s.secrets, "secret", &project.secrets),
            (&s.configs, "config", &project.configs),
        ] {
            for r in refs {
                if !defined.contains_key(&r.source) {
                    return Err(err_at(
                        src,
                        *line,
                        format!(
                            "service {svc_name:?} refers to undefined {kind} {}",
                            r.source
                        ),
                    ));
                }
            }
        }
        if let Some(cn) = &s.container_name {
            if let Some(other) = project
                .services
                .values()
                .find(|o| o.container_name.as_ref() == Some(cn))
            {
                return Err(err_at(
                    src,
                    *line,
                    format!(
                        "services {:?} and {svc_name:?} have the same container_name {cn:?}",
                        other.name
                    ),
                ));
            }
        }
        project.services.insert(svc_name.clone(), s.clone());
    }
    if project
        .services
        .values()
        .any(|s| s.networks.contains_key("default"))
        && !project.networks.contains_key("default")
    {
        project.networks.insert(
            "default".into(),
            Network {
                name: format!("{name}_default"),
                ..Network::default()
            },
        );
    }
    drop_unused(&mut project);
    let mut seen = BTreeSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    crate::order::start_order(&project)?;
    Ok(Loaded { project, warnings })
}

/// Drops networks, volumes, secrets and configs that no enabled service uses, as docker
/// compose does (`WithoutUnnecessaryResources`): `up` creates only what is used and `config`
/// prints only that.
fn drop_unused(p: &mut Project) {
    let services: Vec<&Service> = p.services.values().collect();
    let nets: BTreeSet<&String> = services.iter().flat_map(|s| s.networks.keys()).collect();
    let vols: BTreeSet<&String> = services
        .iter()
        .flat_map(|s| &s.volumes)
        .filter(|v| v.kind == "volume")
        .filter_map(|v| v.source.as_ref())
        .collect();
    let secrets: BTreeSet<&String> = services
        .iter()
        .flat_map(|s| &s.secrets)
        .map(|r| &r.source)
        .collect();
    let configs: BTreeSet<&String> = services
        .iter()
        .flat_map(|s| &s.configs)
        .map(|r| &r.source)
        .collect();
    let keep_nets: BTreeSet<String> = nets.into_iter().cloned().collect();
    let keep_vols: BTreeSet<String> = vols.into_iter().cloned().collect();
    let keep_secrets: BTreeSet<String> = secrets.into_iter().cloned().collect();
    let keep_configs: BTreeSet<String> = configs.into_iter().cloned().collect();
    p.networks.retain(|k, _| keep_nets.contains(k));
    p.volumes.retain(|k, _| keep_vols.contains(k));
    p.secrets.retain(|k, _| keep_secrets.contains(k));
    p.configs.retain(|k, _| keep_configs.contains(k));
}
