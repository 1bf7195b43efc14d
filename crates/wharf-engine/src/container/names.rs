//! Container names: docker's validation rule and its `adjective_name` generator (our own
//! word lists).

use rand::seq::IndexedRandom;

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager",
    "fancy", "fearless", "gentle", "golden", "happy", "humble", "jolly", "keen", "kind", "lively",
    "lucid", "merry", "mighty", "nimble", "noble", "patient", "polite", "proud", "quiet", "quick",
    "rapid", "serene", "sharp", "shiny", "silent", "smart", "steady", "stoic", "sunny", "swift",
    "tender", "tidy", "vivid", "warm", "wise", "witty", "zealous", "zen",
];

const NAMES: &[&str] = &[
    "anchor", "barge", "beacon", "bollard", "buoy", "cabin", "canal", "cargo", "compass", "crane",
    "current", "delta", "dock", "ferry", "fjord", "galley", "harbor", "helm", "hull", "inlet",
    "jetty", "keel", "lagoon", "lantern", "mast", "marina", "mooring", "oar", "pier", "pilot",
    "port", "quay", "reef", "rudder", "sail", "schooner", "shore", "skiff", "sloop", "stern",
    "tide", "tug", "vessel", "wake", "wave", "wharf", "yacht", "yard",
];

/// A fresh random name, e.g. `steady_harbor`.
pub fn generate() -> String {
    let mut rng = rand::rng();
    let a = ADJECTIVES.choose(&mut rng).copied().unwrap_or("quiet");
    let n = NAMES.choose(&mut rng).copied().unwrap_or("wharf");
    format!("{a}_{n}")
}

/// A generated name no container has: a few fresh draws, then docker's way out of a
/// collision — a random digit appended.
pub fn generate_unique(taken: impl Fn(&str) -> bool) -> String {
    for _ in 0..10 {
        let n = generate();
        if !taken(&n) {
            return n;
        }
    }
    loop {
        let n = format!("{}{}", generate(), rand::random_range(0..10_000u32));
        if !taken(&n) {
            return n;
        }
    }
}

/// Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional leading `/`.
pub fn validate(name: &str) -> Result<String, String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let ok = n.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(n.to_string())
    } else {
        Err(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_name_rule() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert!(validate("a").is_err());
        assert!(validate("-a").is_err());
        assert!(validate("a/b").is_err());
        assert!(validate("a b").is_err());
        assert!(validate(&generate()).is_ok());
        let n = generate_unique(|n| !n.chars().last().is_some_and(|c| c.is_ascii_digit()));
        assert!(n.chars().last().is_some_and(|c| c.is_ascii_digit()), "{n}");
    }
}
