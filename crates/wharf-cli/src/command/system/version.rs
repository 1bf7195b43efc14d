//! `wharf version`: the client's version and the daemon's `GET /version`, laid out as docker's
//! (a tabwriter with minwidth 20, padding 1). `--format` runs over `{Client, Server}`.

use serde_json::{json, Value};

use crate::client::API_VERSION;
use crate::command::{str_field, Ctx};
use crate::error::CliError;
use crate::format::{self, tabwriter::TabWriter};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    #[arg(
        short = 'f',
        long = "format",
        value_name = "string",
        verbatim_doc_comment
    )]
    pub format: Option<String>,
}

/// Go's GOARCH name for this machine.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub fn client_info(api_version: &str) -> Value {
    json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api_version,
        "DefaultAPIVersion": API_VERSION,
        "GitCommit": crate::build_id(),
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    })
}

/// The default (non-template) rendering.
pub fn render(client: &Value, server: Option<&Value>) -> String {
    let mut t = String::from("Client:\n");
    let api = str_field(client, "ApiVersion");
    let default_api = str_field(client, "DefaultAPIVersion");
    t.push_str(&format!(" Version:\t{}\n", str_field(client, "Version")));
    if api != default_api {
        t.push_str(&format!(
            " API version:\t{api} (downgraded from {default_api})\n"
        ));
    } else {
        t.push_str(&format!(" API version:\t{api}\n"));
    }
    t.push_str(&format!(
        " Git commit:\t{}\n",
        str_field(client, "GitCommit")
    ));
    t.push_str(&format!(
        " OS/Arch:\t{}/{}\n",
        str_field(client, "Os"),
        str_field(client, "Arch")
    ));
    t.push_str(&format!(" Context:\t{}\n", str_field(client, "Context")));
    if let Some(s) = server {
        let name = s
            .get("Platform")
            .map(|p| str_field(p, "Name"))
            .unwrap_or("");
        t.push_str(&format!(
            "\nServer:{}\n",
            if name.is_empty() {
                String::new()
            } else {
                format!(" {name}")
            }
        ));
        let components = s
            .get("Components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if components.is_empty() {
            engine_lines(
                &mut t,
                s,
                &json!({
                    "ApiVersion": str_field(s, "ApiVersion"), "MinAPIVersion": str_field(s, "MinAPIVersion"),
                    "GoVersion": str_field(s, "GoVersion"), "GitCommit": str_field(s, "GitCommit"),
                    "BuildTime": str_field(s, "BuildTime"), "Os": str_field(s, "Os"), "Arch": str_field(s, "Arch"),
                    "Experimental": s.get("Experimental").map(format::template::print_value).unwrap_or("false".into()),
                }),
            );
        }
        for c in &components {
            let cname = str_field(c, "Name");
            t.push_str(&format!(" {cname}:\n"));
            let details = c.get("Details").cloned().unwrap_or(Value::Null);
            if cname == "Engine" {
                engine_lines(&mut t, c, &details);
            } else {
                t.push_str(&format!("  Version:\t{}\n", str_field(c, "Version")));
                if let Some(m) = details.as_object() {
                    for (k, v) in m {
                        t.push_str(&format!("  {k}:\t{}\n", v.as_str().unwrap_or("")));
                    }
                }
            }
        }
    }
    TabWriter::new(20, 1).format(&t)
}

fn engine_lines(t: &mut String, c: &Value, d: &Value) {
    let d = |k: &str| {
        d.get(k)
            .map(format::template::print_value)
            .unwrap_or_default()
    };
    t.push_str(&format!("  Version:\t{}\n", str_field(c, "Version")));
    t.push_str(&format!(
        "  API version:\t{} (minimum version {})\n",
        d("ApiVersion"),
        d("MinAPIVersion")
    ));
    t.push_str(&format!("  Go version:\t{}\n", d("GoVersion")));
    t.push_str(&format!("  Git commit:\t{}\n", d("GitCommit")));
    t.push_str(&format!("  Built:\t{}\n", d("BuildTime")));
    t.push_str(&format!("  OS/Arch:\t{}/{}\n", d("Os"), d("Arch")));
    t.push_str(&format!("  Experimental:\t{}\n", d("Experimental")));
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let (client_v, server, err) = match ctx.client().await {
        Ok(c) => match c.get_json::<Value>("/version").await {
            Ok(v) => (client_info(c.version()), Some(v), None),
            Err(e) => (client_info(c.version()), None, Some(e)),
        },
        Err(e) => (client_info(API_VERSION), None, Some(e)),
    };
    let out = match args.format.as_deref() {
        None | Some("") => render(&client_v, server.as_ref()),
        Some("json") => format!("{}\n", json!({"Client": client_v, "Server": server})),
        Some(f) => {
            // Go templates name the client's field APIVersion (its JSON name is ApiVersion).
            let mut c = client_v.clone();
            c["APIVersion"] = c["ApiVersion"].clone();
            format::render_one(f, &json!({"Client": c, "Server": server}))?
        }
    };
    crate::write_stdout(&out)?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_layout_like_docker() {
        let server = json!({"Platform":{"Name":""},"Version":"0.1.0","Components":[{"Name":"Engine","Version":"0.1.0",
            "Details":{"ApiVersion":"1.52","MinAPIVersion":"1.24","GoVersion":"rust","GitCommit":"abc","BuildTime":"now",
            "Os":"linux","Arch":"amd64","Experimental":"false"}}]});
        let mut client = client_info("1.41");
        client["GitCommit"] = json!("x");
        client["Version"] = json!("0.1.0");
        client["Os"] = json!("linux");
        client["Arch"] = json!("amd64");
        let got = render(&client, Some(&server));
        crate::command::testutil::check_golden("version.golden", &got);
    }
}
