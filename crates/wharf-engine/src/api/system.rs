//! `/_ping`, `/version`, `/info`, `/system/df`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use bollard_stubs::models::{SystemVersion, SystemVersionComponents, SystemVersionPlatform};
use serde_json::json;

use super::{blocking, image, ApiResult, ApiVersion, AppState};
use crate::{API_VERSION, MIN_API_VERSION, VERSION};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(df))
}

async fn ping() -> Response {
    let mut r = "OK".into_response();
    let h = r.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    r
}

/// Facts about the host, read once per request (cheap).
struct Host {
    kernel: String,
    os: String,
    hostname: String,
    ncpu: i64,
    mem_total: i64,
    cgroup_version: &'static str,
}

fn host() -> Host {
    let uts = rustix::system::uname();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into());
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
        })
        .unwrap_or(0)
        * 1024;
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    Host {
        kernel: uts.release().to_string_lossy().into_owned(),
        os,
        hostname: uts.nodename().to_string_lossy().into_owned(),
        ncpu: std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1),
        mem_total,
        cgroup_version,
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

async fn version() -> Json<SystemVersion> {
    let h = host();
    let details = HashMap::from([
        ("ApiVersion".to_string(), API_VERSION.to_string()),
        ("MinAPIVersion".to_string(), MIN_API_VERSION.to_string()),
        ("Os".to_string(), "linux".to_string()),
        ("Arch".to_string(), arch().to_string()),
        ("KernelVersion".to_string(), h.kernel.clone()),
    ]);
    Json(SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: format!("Wharf Engine {VERSION}"),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: VERSION.into(),
            details: Some(details),
        }]),
        version: Some(VERSION.into()),
        api_version: Some(API_VERSION.into()),
        min_api_version: Some(MIN_API_VERSION.into()),
        git_commit: Some(option_env!("WHARF_GIT_COMMIT").unwrap_or("unknown").into()),
        go_version: Some(format!("rust ({})", env!("CARGO_PKG_RUST_VERSION"))),
        os: Some("linux".into()),
        arch: Some(arch().into()),
        kernel_version: Some(h.kernel),
        experimental: Some(false),
        build_time: None,
    })
}

async fn info(State(d): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let h = host();
    let store = d.images.clone();
    let images = blocking(move || Ok(store.list()?.len())).await?;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(Json(json!({
        "ID": d.id,
        "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0, "ContainersStopped": 0,
        "Images": images,
        "Driver": "overlayfs",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": { "Volume": ["local"], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"] },
        "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
        "CPUShares": true, "CPUSet": true, "PidsLimit": true, "OomKillDisable": false,
        "IPv4Forwarding": true, "Debug": false, "NFd": 0, "NGoroutines": 0,
        "SystemTime": now,
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": h.cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": h.kernel,
        "OperatingSystem": h.os,
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": crate::pull::registry_config(),
        "NCPU": h.ncpu,
        "MemTotal": h.mem_total,
        "DockerRootDir": d.data_root.display().to_string(),
        "Name": h.hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": VERSION,
        "Runtimes": { "wharf": { "path": "wharf" } },
        "DefaultRuntime": "wharf",
        "Swarm": { "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null },
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": [],
    })))
}

/// `GET /system/df`: the pre-1.52 shape (`LayersSize`, `Images`, …) that the docker CLI up to
/// API 1.51 reads, and the 1.52 `*DiskUsage` summaries beside it.
async fn df(
    State(d): State<AppState>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<serde_json::Value>> {
    let _ = v;
    let store = d.images.clone();
    let dd = d.clone();
    let images = blocking(move || Ok(store.list()?)).await?;
    let summaries = image::summaries(&dd, &images, true);
    let (volumes, volumes_usage) = {
        let dd = d.clone();
        blocking(move || Ok(super::volume::disk_usage(&dd))).await?
    };
    let layers_size: u64 = {
        let mut seen = std::collections::HashSet::new();
        images
            .iter()
            .flat_map(|i| i.layers.iter())
            .filter(|l| seen.insert(l.chain_id.clone()))
            .map(|l| l.size)
            .sum()
    };
    let active = summaries.iter().filter(|s| s.containers > 0).count();
    let reclaimable: i64 = summaries
        .iter()
        .filter(|s| s.containers <= 0)
        .map(|s| s.size - s.shared_size.max(0))
        .sum();
    Ok(Json(json!({
        "LayersSize": layers_size,
        "Images": summaries,
        "Containers": [],
        "Volumes": volumes,
        "BuildCache": [],
        "ImagesDiskUsage": { "ActiveCount": active, "TotalCount": images.len(), "Reclaimable": reclaimable, "TotalSize": layers_size },
        "ContainersDiskUsage": { "ActiveCount": 0, "TotalCount": 0, "Reclaimable": 0, "TotalSize": 0 },
        "VolumesDiskUsage": volumes_usage,
        "BuildCacheDiskUsage": { "ActiveCount": 0, "TotalCount": 0, "Reclaimable": 0, "TotalSize": 0 },
    })))
}
