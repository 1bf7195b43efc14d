//! `create`: the request's config merged with the image's (moby's `merge`), checked, and made
//! into a [`Container`] record with its own directory.

use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig};

use super::store::{Container, State};
use crate::api::ApiError;
use crate::state::Daemon;

/// The image's `config` object as a container config.
pub fn image_container_config(
    d: &Daemon,
    id: &wharf_types::Digest,
) -> Result<ContainerConfig, ApiError> {
    let raw: serde_json::Value = serde_json::from_slice(&d.images.config_bytes(id)?)
        .map_err(|e| ApiError::internal(format!("corrupt image config {id}: {e}")))?;
    match raw.get("config") {
        Some(c) if !c.is_null() => serde_json::from_value(c.clone())
            .map_err(|e| ApiError::internal(format!("unreadable image config {id}: {e}"))),
        _ => Ok(ContainerConfig::default()),
    }
}

fn env_key(kv: &str) -> &str {
    kv.split_once('=').map_or(kv, |(k, _)| k)
}

/// moby's `merge(userConf, imageConf)`: what the user left empty comes from the image.
pub fn merge(user: &mut ContainerConfig, image: &ContainerConfig) {
    if user.user.as_deref().unwrap_or("").is_empty() {
        user.user = image.user.clone();
    }
    if let Some(ports) = &image.exposed_ports {
        let mine = user.exposed_ports.get_or_insert_with(Vec::new);
        for p in ports {
            if !mine.contains(p) {
                mine.push(p.clone());
            }
        }
    }
    if let Some(env) = &image.env {
        let mine = user.env.get_or_insert_with(Vec::new);
        for kv in env {
            if !mine.iter().any(|m| env_key(m) == env_key(kv)) {
                mine.push(kv.clone());
            }
        }
    }
    if let Some(labels) = &image.labels {
        let mine = user.labels.get_or_insert_with(Default::default);
        for (k, v) in labels {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = image.cmd.clone();
            user.args_escaped = image.args_escaped;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = image.entrypoint.clone();
        }
    }
    if user.healthcheck.is_none() {
        user.healthcheck = image.healthcheck.clone();
    }
    if user.working_dir.as_deref().unwrap_or("").is_empty() {
        user.working_dir = image.working_dir.clone();
    }
    if let Some(vols) = &image.volumes {
        let mine = user.volumes.get_or_insert_with(Vec::new);
        for v in vols {
            if !mine.contains(v) {
                mine.push(v.clone());
            }
        }
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = image.stop_signal.clone();
    }
    if user.shell.is_none() {
        user.shell = image.shell.clone();
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Builds the record for `POST /containers/create` (not yet stored).
pub fn build(
    d: &Daemon,
    name: Option<&str>,
    body: ContainerCreateBody,
) -> Result<Container, ApiError> {
    let image_name = body.image.clone().unwrap_or_default();
    if image_name.is_empty() {
        return Err(ApiError::invalid(
            "config cannot be empty in order to create a container",
        ));
    }
    let image = d.images.resolve(&image_name)?;
    let name = match name {
        Some(n) if !n.is_empty() => super::names::validate(n).map_err(ApiError::invalid)?,
        _ => super::names::generate_unique(|n| d.containers.name_taken(n)),
    };
    let mut host_config = body.host_config.clone().unwrap_or_default();
    // Docker records the logging driver it used; SDKs read it back (docker-py's `run`).
    if host_config
        .log_config
        .as_ref()
        .and_then(|l| l.typ.as_deref())
        .unwrap_or("")
        .is_empty()
    {
        let config = host_config
            .log_config
            .as_ref()
            .and_then(|l| l.config.clone())
            .unwrap_or_default();
        host_config.log_config = Some(bollard_stubs::models::HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(config),
        });
    }
    validate_host_config(&host_config)?;
    // As docker's daemon: a memory limit without `--memory-swap` allows as much swap again,
    // and `inspect` shows that (where the host can limit swap; the runtime applies it).
    if let Some(m) = host_config.memory.filter(|m| *m > 0) {
        if host_config.memory_swap.unwrap_or(0) == 0
            && wharf_runtime::cgroup::swap_limit_supported()
        {
            host_config.memory_swap = Some(m.saturating_mul(2));
        }
    }
    let endpoints = d.endpoints_for_create(&host_config, body.networking_config.as_ref())?;

    let mut config = ContainerConfig {
        hostname: body.hostname,
        domainname: body.domainname,
        user: body.user,
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        exposed_ports: body.exposed_ports,
        tty: body.tty,
        open_stdin: body.open_stdin,
        stdin_once: body.stdin_once,
        env: body.env,
        cmd: body.cmd,
        healthcheck: body.healthcheck,
        args_escaped: body.args_escaped,
        image: Some(image_name.clone()),
        volumes: body.volumes,
        working_dir: body.working_dir,
        entrypoint: body.entrypoint,
        network_disabled: body.network_disabled,
        on_build: None,
        labels: body.labels,
        stop_signal: body.stop_signal,
        stop_timeout: body.stop_timeout,
        shell: body.shell,
    };
    merge(&mut config, &image_container_config(d, &image.id)?);

    let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    argv.extend(config.cmd.clone().unwrap_or_default());
    if argv.is_empty() || (argv.len() == 1 && argv[0].is_empty()) {
        return Err(ApiError::invalid("no command specified"));
    }
    let id = wharf_types::id::random_id();
    if config.hostname.as_deref().unwrap_or("").is_empty() {
        config.hostname = Some(id[..12].to_string());
    }
    if config.working_dir.as_deref().unwrap_or("").is_empty() {
        config.working_dir = Some(String::new());
    }
    Ok(Container {
        id,
        name,
        created: now_rfc3339(),
        image: image_name,
        image_id: image.id,
        config,
        host_config,
        path: argv[0].clone(),
        args: argv[1..].to_vec(),
        state: State::default(),
        restart_count: 0,
        manually_stopped: false,
        mounts: Vec::new(),
        endpoints,
        ports: Vec::new(),
    })
}

fn validate_host_config(h: &HostConfig) -> Result<(), ApiError> {
    if let Some(mode) = h.network_mode.as_deref() {
        if mode.starts_with("container:") && mode.len() == "container:".len() {
            return Err(ApiError::invalid("invalid network mode: container:"));
        }
    }
    if let Some(rp) = &h.restart_policy {
        use bollard_stubs::models::RestartPolicyNameEnum as R;
        let retries = rp.maximum_retry_count.unwrap_or(0);
        match rp.name {
            Some(R::ON_FAILURE) if retries < 0 => {
                return Err(ApiError::invalid(
                    "invalid restart policy: maximum retry count can't be negative",
                ));
            }
            Some(R::ALWAYS) | Some(R::UNLESS_STOPPED) if retries != 0 => {
                return Err(ApiError::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
            _ => {}
        }
        if h.auto_remove == Some(true) && !matches!(rp.name, None | Some(R::NO) | Some(R::EMPTY)) {
            return Err(ApiError::invalid(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
    }
    if let Some(m) = h.memory {
        if m != 0 && m < 6 * 1024 * 1024 {
            return Err(ApiError::invalid("Minimum memory limit allowed is 6MB"));
        }
    }
    Ok(())
}

/// Adds a new container to the store. A generated name may have been taken by a create running
/// at the same time: then another is drawn (a name the client chose gets docker's 409).
pub fn insert(d: &Daemon, c: &mut Container, generated_name: bool) -> Result<(), ApiError> {
    loop {
        match d.containers.insert(c.clone()) {
            Err(e) if generated_name && e.kind == wharf_types::ErrorKind::Conflict => {
                c.name = super::names::generate_unique(|n| d.containers.name_taken(n));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_fills_what_the_user_left_empty() {
        let image = ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "A=image".into()]),
            cmd: Some(vec!["sh".into()]),
            working_dir: Some("/srv".into()),
            ..Default::default()
        };
        let mut user = ContainerConfig {
            env: Some(vec!["A=user".into()]),
            ..Default::default()
        };
        merge(&mut user, &image);
        assert_eq!(user.env.unwrap(), vec!["A=user", "PATH=/bin"]);
        assert_eq!(user.cmd.unwrap(), vec!["sh"]);
        assert_eq!(user.working_dir.unwrap(), "/srv");
    }

    #[test]
    fn a_user_entrypoint_drops_the_image_cmd() {
        let image = ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let mut user = ContainerConfig {
            entrypoint: Some(vec!["echo".into()]),
            ..Default::default()
        };
        merge(&mut user, &image);
        assert_eq!(user.cmd, None);
    }
}
