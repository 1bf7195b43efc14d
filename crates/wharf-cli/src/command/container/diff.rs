//! `wharf diff`: `GET /containers/{name}/changes`, one `C|A|D PATH` line per change.

use serde::Deserialize;

use super::container_path;
use crate::command::Ctx;
use crate::error::CliError;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: u8,
}

/// docker's letters: C modified, A added, D deleted.
pub fn render(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let k = match c.kind {
            0 => 'C',
            1 => 'A',
            2 => 'D',
            _ => '?',
        };
        out.push_str(&format!("{k} {}\n", c.path));
    }
    out
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<(), CliError> {
    let client = ctx.client().await?;
    let changes: Option<Vec<Change>> = client
        .get_json(&container_path(&args.container, "/changes"))
        .await?;
    crate::write_stdout(&render(&changes.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_docker() {
        let c: Vec<Change> = serde_json::from_str(
            r#"[{"Path":"/tmp","Kind":0},{"Path":"/tmp/x","Kind":1},{"Path":"/bin/false","Kind":2}]"#,
        )
        .unwrap();
        assert_eq!(render(&c), "C /tmp\nA /tmp/x\nD /bin/false\n");
    }
}
