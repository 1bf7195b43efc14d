//! Start order: services in waves, each wave depending only on earlier waves (Kahn's
//! algorithm on `depends_on`, sorted within a wave so the plan is deterministic).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::model::Project;

/// Services in start order: waves of names, each wave depending only on earlier waves, names
/// sorted within a wave. Dependencies on services not in the project (`required: false`) are
/// ignored. `Err` names a cycle: `dependency cycle detected: a -> b -> a`.
pub fn start_order(p: &Project) -> Result<Vec<Vec<String>>> {
    // Dependencies on services that are not in the project (required: false) are skipped.
    let deps: BTreeMap<&str, BTreeSet<&str>> = p
        .services
        .iter()
        .map(|(name, s)| {
            let d = s
                .depends_on
                .keys()
                .map(String::as_str)
                .filter(|d| p.services.contains_key(*d))
                .collect();
            (name.as_str(), d)
        })
        .collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut waves = Vec::new();
    while done.len() < deps.len() {
        let wave: Vec<&str> = deps
            .iter()
            .filter(|(n, d)| !done.contains(*n) && d.iter().all(|x| done.contains(x)))
            .map(|(n, _)| *n)
            .collect();
        if wave.is_empty() {
            return Err(Error::Invalid(format!(
                "dependency cycle detected: {}",
                find_cycle(&deps, &done).join(" -> ")
            )));
        }
        done.extend(wave.iter().copied());
        waves.push(wave.into_iter().map(str::to_string).collect());
    }
    Ok(waves)
}

/// A cycle among the services not yet placed, as `a, b, a`.
fn find_cycle<'a>(
    deps: &BTreeMap<&'a str, BTreeSet<&'a str>>,
    done: &BTreeSet<&str>,
) -> Vec<String> {
    let Some(start) = deps.keys().find(|n| !done.contains(*n)) else {
        return Vec::new();
    };
    // Every remaining node has a remaining dependency, so walking them must revisit one.
    let mut path: Vec<&str> = vec![start];
    loop {
        let cur = path[path.len() - 1];
        let Some(next) = deps[cur].iter().find(|d| !done.contains(*d)) else {
            return path.iter().map(|s| s.to_string()).collect();
        };
        if let Some(i) = path.iter().position(|x| x == next) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(next.to_string());
            return cycle;
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dependency, Service};

    fn project(edges: &[(&str, &[&str])]) -> Project {
        let mut p = Project::default();
        for (name, ds) in edges {
            let mut s = Service {
                name: name.to_string(),
                ..Service::default()
            };
            for d in *ds {
                s.depends_on.insert(
                    d.to_string(),
                    Dependency {
                        condition: "service_started".into(),
                        restart: false,
                        required: true,
                    },
                );
            }
            p.services.insert(name.to_string(), s);
        }
        p
    }

    #[test]
    fn waves() {
        let p = project(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
            ("proxy", &["web"]),
        ]);
        assert_eq!(
            start_order(&p).unwrap(),
            vec![vec!["cache", "db"], vec!["web"], vec!["proxy"]]
        );
    }

    #[test]
    fn cycle_is_named() {
        let p = project(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        assert_eq!(
            start_order(&p).unwrap_err().to_string(),
            "dependency cycle detected: a -> b -> a"
        );
        let p = project(&[("x", &["a"]), ("a", &["b"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(
            start_order(&p).unwrap_err().to_string(),
            "dependency cycle detected: a -> b -> c -> a"
        );
    }
}
