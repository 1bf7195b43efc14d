//! docker's credential store choice (cli/config/configfile `GetCredentialsStore`): a helper
//! from `credHelpers.<server>`, else from `credsStore`, else the file's own `auths`.
//! With a helper, login stores through it and keeps only an empty `auths.<server>` entry
//! (docker's native store saves the e-mail-only remainder), so logout still finds it.

use serde_json::{json, Map, Value};

use crate::{b64, config, helper, Credentials, Error, RegistryAuth, HUB_ADDRESS, TOKEN_USERNAME};

/// Where [`store`] put the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In config.json itself (docker warns they are unencrypted).
    File,
    /// With `docker-credential-<name>`.
    Helper(String),
}

/// The config.json spellings of a server key, most specific first (docker's file store
/// matches `http://` and `https://` forms of the same host).
fn spellings(key: &str) -> Vec<String> {
    if key == HUB_ADDRESS {
        vec![
            HUB_ADDRESS.to_string(),
            "index.docker.io".into(),
            "docker.io".into(),
        ]
    } else {
        vec![
            key.to_string(),
            format!("https://{key}"),
            format!("http://{key}"),
        ]
    }
}

/// A config.json entry, decoded: `auth` (base64 `user:password`) and `identitytoken`
/// (docker/cli `configfile`: after a login that gave an identity token, `auth` holds
/// `user:` — the password is dropped — and `identitytoken` the token).
fn from_file(cfg: &Map<String, Value>, key: &str) -> Option<Credentials> {
    let auths = cfg.get("auths")?.as_object()?;
    spellings(key).iter().find_map(|n| {
        let entry = auths.get(n)?;
        let identity_token = entry
            .get("identitytoken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let (username, secret) = match entry.get("auth").and_then(Value::as_str) {
            Some(a) if !a.is_empty() => {
                let plain = String::from_utf8(b64::decode(a)?).ok()?;
                let (u, p) = plain.split_once(':')?;
                (u.to_string(), p.to_string())
            }
            _ if identity_token.is_some() => (String::new(), String::new()),
            _ => return None,
        };
        Some(Credentials {
            username,
            secret,
            identity_token,
        })
    })
}

/// A helper's answer: the user name `<token>` means the secret is an identity token
/// (docker/cli `native_store.go`).
fn from_helper(c: Credentials) -> Credentials {
    if c.username == TOKEN_USERNAME {
        Credentials {
            username: String::new(),
            secret: String::new(),
            identity_token: Some(c.secret),
        }
    } else {
        c
    }
}

/// The credentials stored for a server key (see [`crate::server_key`]): through its helper
/// when one is configured, else from config.json.
pub fn get(key: &str) -> Result<Option<Credentials>, Error> {
    let cfg = config::load()?;
    match config::helper_for(&cfg, key) {
        Some(h) => helper::get(&h, key).map(|c| c.map(from_helper)),
        None => Ok(from_file(&cfg, key)),
    }
}

/// Stores credentials for a server key, as `docker login` does: an identity token goes to a
/// helper as the secret of the user `<token>`, to config.json as `identitytoken` next to
/// `auth` (`user:` then, the password is not kept).
pub fn store(key: &str, creds: &Credentials) -> Result<Stored, Error> {
    let mut cfg = config::load()?;
    let entry = match config::helper_for(&cfg, key) {
        Some(h) => {
            let for_helper = match &creds.identity_token {
                Some(t) => Credentials {
                    username: TOKEN_USERNAME.to_string(),
                    secret: t.clone(),
                    identity_token: None,
                },
                None => creds.clone(),
            };
            helper::store(&h, key, &for_helper)?;
            Some(h)
        }
        None => None,
    };
    let value = match (&entry, &creds.identity_token) {
        (Some(_), _) => json!({}),
        (None, None) => {
            json!({"auth": b64::encode(format!("{}:{}", creds.username, creds.secret).as_bytes())})
        }
        (None, Some(t)) => {
            let mut v = json!({"identitytoken": t});
            if !creds.username.is_empty() {
                // docker's encodeAuth: the user name and an empty password
                v["auth"] = b64::encode(format!("{}:", creds.username).as_bytes()).into();
            }
            v
        }
    };
    config::auths_mut(&mut cfg).insert(key.to_string(), value);
    config::save(&cfg)?;
    Ok(entry.map_or(Stored::File, Stored::Helper))
}

/// What [`erase`] found and did.
#[derive(Debug, Default)]
pub struct Erased {
    /// The config.json entries removed (none: "Not logged in").
    pub removed: Vec<String>,
    /// Helpers that failed to erase (docker warns and goes on).
    pub warnings: Vec<(String, Error)>,
}

/// `docker logout`: every config.json entry of the server is removed, and for each its
/// helper (if any) erases its credentials.
pub fn erase(key: &str) -> Result<Erased, Error> {
    let mut cfg = config::load()?;
    let mut names = vec![key.to_string()];
    if key != HUB_ADDRESS {
        names.push(format!("http://{key}"));
        names.push(format!("https://{key}"));
    }
    let mut out = Erased::default();
    let present: Vec<String> = match cfg.get("auths").and_then(Value::as_object) {
        Some(a) => names.into_iter().filter(|n| a.contains_key(n)).collect(),
        None => Vec::new(),
    };
    if present.is_empty() {
        return Ok(out);
    }
    for n in &present {
        if let Some(h) = config::helper_for(&cfg, n) {
            if let Err(e) = helper::erase(&h, n) {
                out.warnings.push((n.clone(), e));
            }
        }
        config::auths_mut(&mut cfg).remove(n);
    }
    config::save(&cfg)?;
    out.removed = present;
    Ok(out)
}

/// For the daemon's registry client: what to authenticate to a registry host with
/// (`registry-1.docker.io` is Docker Hub's key). Errors (a broken helper) count as none.
pub fn auth_for_host(host: &str) -> Option<RegistryAuth> {
    let c = get(&crate::server_key(Some(host))).ok()??;
    RegistryAuth::of(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_tokens_in_config_json_and_from_helpers() {
        // what docker's CLI writes after a login that gave an identity token
        let cfg: Map<String, Value> = serde_json::from_str(
            r#"{"auths": {"r:5000": {"auth": "dXNlcjo=", "identitytoken": "tok"},
                          "s:5000": {"identitytoken": "tok2"},
                          "t:5000": {"auth": "dXNlcjpwYXNz"},
                          "u:5000": {}}}"#,
        )
        .unwrap();
        let c = from_file(&cfg, "r:5000").unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("user", ""));
        assert_eq!(
            RegistryAuth::of(&c),
            Some(RegistryAuth::IdentityToken("tok".into()))
        );
        let c = from_file(&cfg, "s:5000").unwrap();
        assert_eq!(c.identity_token.as_deref(), Some("tok2"));
        let c = from_file(&cfg, "t:5000").unwrap();
        assert_eq!(
            RegistryAuth::of(&c),
            Some(RegistryAuth::Basic("dXNlcjpwYXNz".into()))
        );
        assert_eq!(from_file(&cfg, "u:5000"), None);
        let c = from_helper(Credentials {
            username: TOKEN_USERNAME.into(),
            secret: "tok".into(),
            identity_token: None,
        });
        assert_eq!(c.identity_token.as_deref(), Some("tok"));
        assert!(c.username.is_empty());
    }
}
