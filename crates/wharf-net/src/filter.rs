//! Living with another firewall's `FORWARD` policy DROP (dockerd's, docs/adr-0006-networking.md).
//!
//! A packet must be accepted by every base chain at a hook, so our own table's accept means
//! nothing when table `ip filter` (iptables-nft, where dockerd keeps its rules) has a `FORWARD`
//! chain with policy drop: containers on our bridges could not go out, nor reach a published
//! port on another network. When that chain drops by default, or when docker's `DOCKER-USER`
//! chain exists (docker's documented place for other people's rules, never flushed by
//! dockerd), we put two rules per bridge in it, `iifname BR accept` and `oifname BR accept`,
//! each tagged with `comment "<our table>"`. That hands the decision for traffic crossing our
//! bridges back to our own table (isolation, `--internal`), exactly as without dockerd.
//!
//! The rules are the plain kind iptables-nft can read back (`-i BR -m comment ... -j ACCEPT`):
//! native nft matches such as `ct state` would make iptables (and so dockerd) refuse the whole
//! chain as "incompatible". They are reconciled on every sync of our table and by a periodic
//! check (dockerd may start, restart or flush after us), and removed with our bridges.
//! The same is done in table `ip6 filter` (dockerd's ip6tables, on by default since docker 27),
//! so IPv6 traffic of our bridges is not dropped there either.

use std::io;
use std::process::{Command, Stdio};

/// What we found in table `ip filter`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FilterView {
    /// Where our rules belong (`DOCKER-USER` or `FORWARD`), or None: nothing to do.
    pub target: Option<String>,
    /// Our rules now: chain, handle, rule text (without the handle).
    pub ours: Vec<(String, u64, String)>,
}

/// Reads `nft -a list table ip filter` output; `tag` is our table's name (the comment).
pub fn parse(listing: &str, tag: &str) -> FilterView {
    let mark = format!("comment \"{tag}\"");
    let mut chain = String::new();
    let mut forward_drop = false;
    let mut docker_user = false;
    let mut forward_jumps = false;
    let mut ours = Vec::new();
    for line in listing.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("chain ") {
            chain = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if chain == "DOCKER-USER" {
                docker_user = true;
            }
            continue;
        }
        if chain == "FORWARD" && l.contains("hook forward") && l.contains("policy drop") {
            forward_drop = true;
        }
        if chain == "FORWARD" && l.contains("jump DOCKER-USER") {
            forward_jumps = true;
        }
        let (rule, handle) = match l.rsplit_once(" # handle ") {
            Some((r, h)) => (r.trim(), h.trim().parse::<u64>().ok()),
            None => (l, None),
        };
        if let Some(h) = handle {
            if rule.ends_with(&mark) {
                ours.push((chain.clone(), h, rule.to_string()));
            }
        }
    }
    // DOCKER-USER only while FORWARD still jumps to it (a stopped dockerd may leave the chain
    // behind, unreferenced, with the policy still drop).
    let target = if docker_user && forward_jumps {
        Some("DOCKER-USER".to_string())
    } else if forward_drop {
        Some("FORWARD".to_string())
    } else {
        None
    };
    FilterView { target, ours }
}

/// The rules we want, as nft prints them.
pub fn wanted(tag: &str, bridges: &[String]) -> Vec<String> {
    let mut v = Vec::new();
    for b in bridges {
        let b = b.replace(['"', '\\'], "");
        v.push(format!("iifname \"{b}\" accept comment \"{tag}\""));
        v.push(format!("oifname \"{b}\" accept comment \"{tag}\""));
    }
    v.sort();
    v.dedup();
    v
}

/// The `nft -f` script that brings `view` (of table `<family> filter`) to `bridges`' rules,
/// or None when it is in sync.
pub fn script(family: &str, view: &FilterView, tag: &str, bridges: &[String]) -> Option<String> {
    let want = match &view.target {
        Some(_) => wanted(tag, bridges),
        None => Vec::new(),
    };
    let mut have: Vec<String> = view
        .ours
        .iter()
        .filter(|(c, _, _)| Some(c) == view.target.as_ref())
        .map(|(_, _, r)| r.clone())
        .collect();
    have.sort();
    if have == want && have.len() == view.ours.len() {
        return None;
    }
    let mut s = String::new();
    for (chain, handle, _) in &view.ours {
        s.push_str(&format!(
            "delete rule {family} filter {chain} handle {handle}\n"
        ));
    }
    if let Some(chain) = &view.target {
        for r in want.iter().rev() {
            s.push_str(&format!("insert rule {family} filter {chain} {r}\n"));
        }
    }
    Some(s)
}

/// The families whose `filter` table we look at.
pub const FAMILIES: [&str; 2] = ["ip", "ip6"];

fn list_filter(family: &str) -> io::Result<Option<String>> {
    let out = match Command::new("nft")
        .args(["-a", "list", "table", family, "filter"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        // No nft, no nftables firewall to live with (and no warning every 5 s about it).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !out.status.success() {
        // No such table: nobody filters forwarding there.
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Makes our accept rules in `ip filter` and `ip6 filter` match `bridges` (all of them
/// removed when empty or when nothing there drops forwarded traffic). Returns whether
/// anything changed; an error in one family does not keep the other from its update.
pub fn sync(tag: &str, bridges: &[String]) -> io::Result<bool> {
    let mut changed = false;
    let mut first_err = None;
    for family in FAMILIES {
        let r = list_filter(family).and_then(|listing| {
            let Some(listing) = listing else {
                return Ok(false);
            };
            let view = parse(&listing, tag);
            match script(family, &view, tag, bridges) {
                None => Ok(false),
                Some(s) => crate::nft::run_script(&s).map(|()| true),
            }
        });
        match r {
            Ok(c) => changed |= c,
            Err(e) => {
                first_err.get_or_insert(io::Error::other(format!("{family} filter: {e}")));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(changed),
    }
}

/// Removes every rule tagged with `tag` (the daemon's table is going away).
pub fn remove(tag: &str) -> io::Result<bool> {
    sync(tag, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERD: &str = r#"# Warning: table ip filter is managed by iptables-nft, do not touch!
table ip filter { # handle 5
	chain DOCKER { # handle 1
	}
	chain DOCKER-USER { # handle 4
		iifname "wh1" accept comment "wharf_t" # handle 40
		iifname "wh1" accept comment "wharf_tt" # handle 41
		counter packets 618 bytes 48138 return # handle 12
	}
	chain FORWARD { # handle 6
		type filter hook forward priority filter; policy drop;
		counter packets 243 bytes 18943 jump DOCKER-USER # handle 13
	}
}
"#;

    #[test]
    fn finds_docker_user_and_only_our_rules() {
        let v = parse(DOCKERD, "wharf_t");
        assert_eq!(v.target.as_deref(), Some("DOCKER-USER"));
        assert_eq!(
            v.ours,
            vec![(
                "DOCKER-USER".to_string(),
                40,
                "iifname \"wh1\" accept comment \"wharf_t\"".to_string()
            )]
        );
        let s = script("ip", &v, "wharf_t", &["wh1".into(), "br-2".into()]).unwrap();
        assert!(
            s.starts_with("delete rule ip filter DOCKER-USER handle 40\n"),
            "{s}"
        );
        assert!(
            s.contains(
                "insert rule ip filter DOCKER-USER oifname \"br-2\" accept comment \"wharf_t\""
            ),
            "{s}"
        );
        assert_eq!(s.lines().count(), 5, "{s}");
        let s6 = script("ip6", &v, "wharf_t", &["wh1".into()]).unwrap();
        assert!(
            s6.starts_with("delete rule ip6 filter DOCKER-USER handle 40\n"),
            "{s6}"
        );
    }

    #[test]
    fn in_sync_is_left_alone_and_no_drop_means_no_rules() {
        let listing = "table ip filter {\n chain FORWARD { # handle 1\n  type filter hook forward priority filter; policy drop;\n  iifname \"wh1\" accept comment \"wharf\" # handle 7\n  oifname \"wh1\" accept comment \"wharf\" # handle 8\n }\n}\n";
        let v = parse(listing, "wharf");
        assert_eq!(v.target.as_deref(), Some("FORWARD"));
        assert_eq!(script("ip", &v, "wharf", &["wh1".into()]), None);
        // Policy accept and no DOCKER-USER: our rules go.
        // DOCKER-USER that FORWARD no longer jumps to: the rules go to FORWARD.
        let orphan_user =
            listing.replace(" }\n}\n", " }\n chain DOCKER-USER { # handle 2\n }\n}\n");
        assert_eq!(
            parse(&orphan_user, "wharf").target.as_deref(),
            Some("FORWARD")
        );
        let accept = listing.replace("policy drop", "policy accept");
        let v = parse(&accept, "wharf");
        assert_eq!(v.target, None);
        let s = script("ip", &v, "wharf", &["wh1".into()]).unwrap();
        assert_eq!(
            s,
            "delete rule ip filter FORWARD handle 7\ndelete rule ip filter FORWARD handle 8\n"
        );
        assert_eq!(
            script("ip", &parse("", "wharf"), "wharf", &["wh1".into()]),
            None
        );
    }
}
