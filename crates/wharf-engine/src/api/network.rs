//! `/networks`: list, inspect, create, remove, prune, connect, disconnect (moby
//! `router/network`), on the daemon's network service (`crate::network`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::container::json_body;
use super::params::{labels_match, Params};
use super::{blocking, ApiResult, AppState};
use crate::network::{CreateRequest, Network};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
    #[serde(rename = "IPRange")]
    ip_range: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: Option<String>,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    internal: Option<bool>,
    attachable: Option<bool>,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    options: Option<HashMap<String, String>>,
    labels: Option<HashMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<bollard_stubs::models::EndpointSettings>,
    force: bool,
}

fn matches(n: &Network, f: &super::params::Filters) -> bool {
    let typ = if n.predefined() { "builtin" } else { "custom" };
    f.get("driver").iter().all(|x| &n.driver == x)
        && f.get("name").iter().all(|x| n.name.contains(x.as_str()))
        && f.get("id").iter().all(|x| n.id.starts_with(x.as_str()))
        && f.get("type").iter().all(|x| x == typ)
        && labels_match(f.get("label"), &n.labels)
}

async fn list(State(d): State<AppState>, p: Params) -> ApiResult<Json<Value>> {
    let f = p.filters()?;
    f.only(&["driver", "name", "id", "type", "label", "dangling", "scope"])?;
    let dangling = f.bool("dangling")?;
    let used = used_networks(&d);
    let mut nets: Vec<Network> = d
        .networks
        .list()
        .into_iter()
        .filter(|n| matches(n, &f))
        .filter(|_| f.get("scope").iter().all(|s| s == "local"))
        .filter(|n| dangling.is_none_or(|want| (!n.predefined() && !used.contains(&n.id)) == want))
        .collect();
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(Value::Array(
        nets.iter().map(|n| d.network_json(n)).collect(),
    )))
}

/// Ids of networks some container (running or not) is on.
fn used_networks(d: &AppState) -> std::collections::HashSet<String> {
    d.containers
        .list()
        .iter()
        .flat_map(|c| c.endpoints.values().map(|e| e.network_id.clone()))
        .collect()
}

async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let n = d.networks.resolve(&id)?;
    Ok(Json(d.network_json(&n)))
}

async fn create(State(d): State<AppState>, body: Body) -> ApiResult<Response> {
    let b: CreateBody = json_body(body).await?;
    let configs = b.ipam.and_then(|i| i.config).unwrap_or_default();
    let is_v6 = |c: &IpamConfig| {
        c.subnet.as_deref().unwrap_or("").contains(':')
            || (c.subnet.is_none() && c.gateway.as_deref().unwrap_or("").contains(':'))
    };
    let cfg6 = configs.iter().find(|c| is_v6(c));
    let cfg = configs.iter().find(|c| !is_v6(c));
    let req = CreateRequest {
        name: b.name,
        driver: b.driver.unwrap_or_default(),
        subnet: cfg.as_ref().and_then(|c| c.subnet.clone()),
        gateway: cfg.as_ref().and_then(|c| c.gateway.clone()),
        ip_range: cfg.as_ref().and_then(|c| c.ip_range.clone()),
        internal: b.internal.unwrap_or(false),
        attachable: b.attachable.unwrap_or(false),
        labels: b.labels.unwrap_or_default(),
        options: b.options.unwrap_or_default(),
        enable_ipv6: b.enable_ipv6.unwrap_or(false),
        subnet6: cfg6.and_then(|c| c.subnet.clone()),
        gateway6: cfg6.and_then(|c| c.gateway.clone()),
    };
    let dd = d.clone();
    let n = blocking(move || dd.create_network(req)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    )
        .into_response())
}

async fn remove(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    blocking(move || d.remove_network(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(d): State<AppState>, p: Params) -> ApiResult<Json<Value>> {
    let f = p.filters()?;
    f.only(&["label", "label!", "until"])?;
    let dd = d.clone();
    let deleted = blocking(move || {
        let used = used_networks(&dd);
        let mut deleted = Vec::new();
        for n in dd.networks.list() {
            if n.predefined() || used.contains(&n.id) || !labels_match(f.get("label"), &n.labels) {
                continue;
            }
            if f.get("label!")
                .iter()
                .any(|l| labels_match(std::slice::from_ref(l), &n.labels))
            {
                continue;
            }
            match dd.remove_network(&n.id) {
                Ok(()) => deleted.push(n.name),
                Err(e) => tracing::warn!(network = n.name, error = %e, "prune: failed to remove"),
            }
        }
        Ok(deleted)
    })
    .await?;
    Ok(Json(json!({
        "NetworksDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
    })))
}

async fn connect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    let b: ConnectBody = json_body(body).await?;
    blocking(move || d.connect(&id, &b.container, b.endpoint_config.as_ref())).await?;
    Ok(StatusCode::OK)
}

async fn disconnect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    let b: ConnectBody = json_body(body).await?;
    blocking(move || d.disconnect(&id, &b.container, b.force)).await?;
    Ok(StatusCode::OK)
}
