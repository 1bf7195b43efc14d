//! `GET /images/search` (`docker search`): Docker Hub's `/v1/search?q=&n=` API on the index
//! the term names (`host[:port]/term`), or Docker Hub's (`index.docker.io`).

use wharf_types::ErrorKind;

use axum::http::{header, StatusCode};

use super::http::{
    bearer_token, endpoint_for, get, insecure_registries, parse_challenge, read_all, stored_auth,
    unavailable,
};
use super::{Error, RegistryAuth};

/// One result, in the Engine API's shape.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SearchResult {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
    pub name: String,
    #[serde(default)]
    pub star_count: i64,
}

/// Splits docker's search term into (index host, remote term).
pub fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/') {
        if first.contains('.') || first.contains(':') || first == "localhost" {
            let index = match first {
                "docker.io" | "index.docker.io" | "registry-1.docker.io" => "index.docker.io",
                h => h,
            };
            return (index.to_string(), rest.to_string());
        }
    }
    ("index.docker.io".to_string(), term.to_string())
}

/// Searches; `limit` in 1..=100. `creds`: the client's credentials (`X-Registry-Auth`), else
/// the daemon's config.json ones for that host; sent as Basic, or traded for a token when the
/// registry's challenge is Bearer.
pub async fn search(
    term: &str,
    limit: usize,
    creds: Option<RegistryAuth>,
) -> Result<Vec<SearchResult>, Error> {
    let (index, remote) = split_term(term);
    // the index of Docker Hub is its own host, not registry-1's
    let mut ep = endpoint_for(&index, &insecure_registries());
    if index == "index.docker.io" {
        ep.host = index.clone();
        ep.scheme = "https";
    }
    let ep = super::tls::negotiate(ep).await?;
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("q", &remote)
        .append_pair("n", &limit.to_string())
        .finish();
    let url = ep.url(&format!("/v1/search?{q}"));
    let creds = creds.or_else(|| stored_auth(&ep.host));
    let auth = match &creds {
        Some(RegistryAuth::Basic(b)) => Some(format!("Basic {b}")),
        _ => None,
    };
    let mut resp = get(&url, Some("application/json"), auth.as_deref()).await?;
    // A token-auth registry answers 401 with a Bearer challenge (scope `registry:catalog:*`
    // from ours and distribution): a token for the scopes it names, asked with the same
    // credentials, then once more — as pull and push do.
    let challenge = (resp.status() == StatusCode::UNAUTHORIZED)
        .then(|| resp.headers().get(header::WWW_AUTHENTICATE))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(parse_challenge)
        .filter(|c| c.scheme == "bearer");
    if let Some(ch) = challenge {
        let scopes: Vec<String> = ch
            .param("scope")
            .unwrap_or("registry:catalog:search")
            .split(' ')
            .map(str::to_string)
            .collect();
        let token = bearer_token(&ch, creds.as_ref(), &scopes).await?;
        let bearer = format!("Bearer {token}");
        resp = get(&url, Some("application/json"), Some(&bearer)).await?;
    }
    let status = resp.status();
    let body = read_all(resp, 8 << 20).await?;
    if !status.is_success() {
        return Err(Error::new(
            if status.as_u16() == 404 {
                ErrorKind::NotFound
            } else {
                ErrorKind::Unavailable
            },
            format!("Unexpected status code {}", status.as_u16()),
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| unavailable(format!("invalid search answer from {}: {e}", ep.host)))?;
    let results: Vec<SearchResult> = v
        .get("results")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| unavailable(format!("invalid search answer from {}: {e}", ep.host)))?
        .unwrap_or_default();
    Ok(results.into_iter().take(limit).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_like_docker() {
        assert_eq!(
            split_term("busybox"),
            ("index.docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("user/img"),
            ("index.docker.io".into(), "user/img".into())
        );
        assert_eq!(
            split_term("127.0.0.1:5000/bb"),
            ("127.0.0.1:5000".into(), "bb".into())
        );
        assert_eq!(split_term("localhost/x"), ("localhost".into(), "x".into()));
    }
}
