//! The small value syntaxes of compose files: port specs, short volume specs, Go durations
//! (`1m30s`), byte sizes (`512m`), octal file modes.

use crate::model::Port;

/// Parses a short port spec: `[[host_ip:]published[-range]:]target[-range][/protocol]`.
pub(crate) fn parse_port(spec: &str) -> Result<Vec<Port>, String> {
    let bad = |why: &str| format!("invalid port {spec:?}: {why}");
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad("protocol must be tcp, udp or sctp"));
    }
    // Split off a host IP: bracketed IPv6, or everything before the last two fields.
    let (host_ip, ports) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r.split_once(']').ok_or_else(|| bad("unterminated ["))?;
        let after = after.strip_prefix(':').ok_or_else(|| bad("missing port"))?;
        (Some(ip.to_string()), after)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() > 2 {
            let n = rest.len() - parts[parts.len() - 2].len() - parts[parts.len() - 1].len() - 2;
            (Some(rest[..n].to_string()), &rest[n + 1..])
        } else {
            (None, rest)
        }
    };
    let (published, target) = match ports.split_once(':') {
        Some((p, t)) => (Some(p), t),
        None => (None, ports),
    };
    let targets = parse_range(target).ok_or_else(|| bad("invalid container port"))?;
    let published = match published {
        None | Some("") => None,
        Some(p) => Some(parse_range(p).ok_or_else(|| bad("invalid host port"))?),
    };
    if let Some(p) = &published {
        if p.1 - p.0 != targets.1 - targets.0 {
            return Err(bad("host and container port ranges differ in size"));
        }
    }
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    if let Some(ip) = &host_ip {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(&format!("invalid IP address {ip:?}")));
        }
    }
    Ok((0..=targets.1 - targets.0)
        .map(|i| Port {
            target: targets.0 + i,
            published: published.map(|p| p.0 + i),
            host_ip: host_ip.clone(),
            protocol: protocol.clone(),
        })
        .collect())
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
        None => {
            let a = s.parse::<u16>().ok()?;
            (a, a)
        }
    };
    (a <= b).then_some((a, b))
}

/// Parses a Go duration (`1h2m3.5s`, `500ms`, `0`) into nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {s:?}");
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Ok(total.round() as i64)
}

/// Formats nanoseconds as a Go duration (`1m30s`, `500ms`).
pub(crate) fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns % 1_000_000_000 != 0 {
        return if ns % 1_000_000 == 0 {
            format!("{}ms", ns / 1_000_000)
        } else if ns % 1000 == 0 {
            format!("{}us", ns / 1000)
        } else {
            format!("{ns}ns")
        };
    }
    let secs = ns / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// Parses a byte size: a number of bytes or `<n>[b|k|m|g|t][b]` (binary multiples, as
/// docker's `RAMInBytes`).
pub(crate) fn parse_size(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size {s:?}");
    let t = s.trim().to_ascii_lowercase();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t[..num_len].parse().map_err(|_| bad())?;
    let unit = t[num_len..].trim();
    let unit = unit
        .strip_suffix('b')
        .filter(|u| !u.is_empty())
        .unwrap_or(unit);
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    Ok((n * mult) as i64)
}

/// Parses a file mode: `0440` / `0o440` octal, other numbers decimal.
pub(crate) fn parse_mode(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Some(o) = s.strip_prefix("0o") {
        return u32::from_str_radix(o, 8).ok();
    }
    if s.len() > 1 && s.starts_with('0') {
        return u32::from_str_radix(&s[1..], 8).ok();
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(target: u16, published: Option<u16>, ip: Option<&str>, proto: &str) -> Port {
        Port {
            target,
            published,
            host_ip: ip.map(str::to_string),
            protocol: proto.into(),
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("80").unwrap(), vec![p(80, None, None, "tcp")]);
        assert_eq!(
            parse_port("8080:80").unwrap(),
            vec![p(80, Some(8080), None, "tcp")]
        );
        assert_eq!(
            parse_port("127.0.0.1:8080:80/udp").unwrap(),
            vec![p(80, Some(8080), Some("127.0.0.1"), "udp")]
        );
        assert_eq!(
            parse_port("127.0.0.1::80").unwrap(),
            vec![p(80, None, Some("127.0.0.1"), "tcp")]
        );
        assert_eq!(
            parse_port("[::1]:8080:80").unwrap(),
            vec![p(80, Some(8080), Some("::1"), "tcp")]
        );
        assert_eq!(
            parse_port("8000-8002:80-82").unwrap(),
            vec![
                p(80, Some(8000), None, "tcp"),
                p(81, Some(8001), None, "tcp"),
                p(82, Some(8002), None, "tcp")
            ]
        );
        assert_eq!(parse_port("3000-3001").unwrap().len(), 2);
        for bad in [
            "",
            "abc",
            "80/xyz",
            "70000",
            "8000-8001:80",
            "1:2:3:x",
            "90-80",
            "80:80:80",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_duration("10s").unwrap(), 10_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("1h").unwrap(), 3_600_000_000_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5x").is_err());
        for ns in [
            0,
            90_000_000_000,
            500_000_000,
            3_600_000_000_000,
            1_500_000_000,
            7,
        ] {
            assert_eq!(parse_duration(&format_duration(ns)).unwrap(), ns);
        }
        assert_eq!(format_duration(90_000_000_000), "1m30s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1024k").unwrap(), 1 << 20);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("10b").unwrap(), 10);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0440"), Some(0o440));
        assert_eq!(parse_mode("0o440"), Some(0o440));
        assert_eq!(parse_mode("288"), Some(288));
    }
}
