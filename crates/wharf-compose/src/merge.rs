//! Merging compose trees: several `-f` files in order, and `extends`. The rules follow the
//! Compose Specification's "Merge and override": mappings merge key by key; `command`,
//! `entrypoint` and scalars are replaced; sequences such as `ports`, `expose`, `dns` are
//! appended without duplicates; `environment`, `labels`, `extra_hosts` merge by key (list or
//! map form); `volumes` by target; `secrets`/`configs` by source. `!reset` removes a value and
//! `!override` replaces it whole.

use crate::yaml::{Entry, Node, V};

/// Service keys whose sequences are appended and de-duplicated.
const APPENDED: &[&str] = &[
    "ports",
    "expose",
    "dns",
    "dns_search",
    "dns_opt",
    "cap_add",
    "cap_drop",
    "security_opt",
    "tmpfs",
    "env_file",
    "profiles",
    "devices",
    "links",
    "external_links",
    "group_add",
    "volumes_from",
    "device_cgroup_rules",
    "label_file",
];

/// Service keys merged by key (after converting the list form `K=V` to a map).
const KEYED: &[&str] = &[
    "environment",
    "labels",
    "extra_hosts",
    "sysctls",
    "annotations",
];

/// Merges top-level `over` into `base` (both mappings).
pub(crate) fn merge_top(base: &mut Node, over: Node) {
    let V::Map(entries) = over.v else { return };
    for e in entries {
        match e.key.as_str() {
            "services" | "networks" | "volumes" | "secrets" | "configs" => {
                let services = e.key == "services";
                match base.entry(&e.key).map(|x| x.val.is_null()) {
                    None | Some(true) => base.set(&e.key, e.key_line, e.val),
                    Some(false) => {
                        let V::Map(items) = e.val.v else {
                            base.set(&e.key, e.key_line, e.val);
                            continue;
                        };
                        let Some(target) = get_mut(base, &e.key) else {
                            continue;
                        };
                        for item in items {
                            // `!reset` on a whole service or resource removes it.
                            if item.val.tag.as_deref() == Some("!reset") {
                                target.remove(&item.key);
                                continue;
                            }
                            match get_mut(target, &item.key) {
                                Some(existing) if services => {
                                    merge_service(existing, item.val);
                                }
                                Some(existing) => merge_generic(existing, item.val),
                                None => target.set(&item.key, item.key_line, item.val),
                            }
                        }
                    }
                }
            }
            "include" => match (get_mut(base, "include"), e.val.v) {
                (Some(Node { v: V::Seq(a), .. }), V::Seq(b)) => a.extend(b),
                (_, v) => {
                    let n = Node { v, ..e.val };
                    base.set("include", e.key_line, n);
                }
            },
            _ => base.set(&e.key, e.key_line, e.val),
        }
    }
}

pub(crate) fn get_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.v {
        V::Map(es) => es.iter_mut().find(|e| e.key == key).map(|e| &mut e.val),
        _ => None,
    }
}

/// Merges service definition `over` into `base`.
pub(crate) fn merge_service(base: &mut Node, over: Node) {
    if over.tag.as_deref() == Some("!override") || !matches!(base.v, V::Map(_)) {
        *base = over;
        return;
    }
    let V::Map(entries) = over.v else {
        *base = over;
        return;
    };
    for e in entries {
        let key = e.key.as_str();
        match e.val.tag.as_deref() {
            Some("!reset") => {
                base.remove(key);
                continue;
            }
            Some("!override") => {
                base.set(key, e.key_line, e.val);
                continue;
            }
            _ => {}
        }
        let Some(existing) = get_mut(base, key) else {
            base.set(key, e.key_line, e.val);
            continue;
        };
        if APPENDED.contains(&key) {
            append_unique(existing, e.val);
        } else if KEYED.contains(&key) {
            let sep = if key == "extra_hosts" { ':' } else { '=' };
            to_keyed(existing, sep);
            let mut v = e.val;
            to_keyed(&mut v, sep);
            merge_generic(existing, v);
        } else {
            match key {
                "command" | "entrypoint" => *existing = e.val,
                "build" => {
                    build_to_map(existing);
                    let mut v = e.val;
                    build_to_map(&mut v);
                    if let Some(a) = get_mut(existing, "args") {
                        to_keyed(a, '=');
                    }
                    if let Some(b) = get_mut(&mut v, "args") {
                        to_keyed(b, '=');
                    }
                    merge_generic(existing, v);
                }
                "depends_on" | "networks" => {
                    list_to_map(existing);
                    let mut v = e.val;
                    list_to_map(&mut v);
                    merge_generic(existing, v);
                }
                "volumes" => merge_by(existing, e.val, volume_target),
                "secrets" | "configs" => merge_by(existing, e.val, file_source),
                "healthcheck" => {
                    // `test` is replaced, other fields merged.
                    merge_generic(existing, e.val);
                }
                _ => merge_generic(existing, e.val),
            }
        }
    }
}

/// Mappings merge key by key; anything else is replaced.
pub(crate) fn merge_generic(base: &mut Node, over: Node) {
    if over.tag.as_deref() == Some("!reset") {
        *base = Node::new(V::Null, over.line, &over.src);
        return;
    }
    if over.tag.as_deref() == Some("!override") {
        *base = over;
        return;
    }
    match (&mut base.v, over.v) {
        (V::Map(a), V::Map(b)) => {
            for e in b {
                if e.val.tag.as_deref() == Some("!reset") {
                    a.retain(|x| x.key != e.key);
                    continue;
                }
                match a.iter_mut().find(|x| x.key == e.key) {
                    Some(x) => merge_generic(&mut x.val, e.val),
                    None => a.push(e),
                }
            }
        }
        (_, v) => {
            *base = Node {
                v,
                line: over.line,
                src: over.src,
                tag: None,
            };
        }
    }
}

fn append_unique(base: &mut Node, over: Node) {
    // `dns: 1.1.1.1` is a list of one.
    if let V::Str(..) = base.v {
        let one = base.clone();
        base.v = V::Seq(vec![one]);
    }
    match (&mut base.v, over.v) {
        (V::Seq(a), V::Seq(b)) => {
            for n in b {
                let c = n.canon();
                if !a.iter().any(|x| x.canon() == c) {
                    a.push(n);
                }
            }
        }
        (V::Seq(a), v @ V::Str(..)) => {
            let n = Node {
                v,
                line: over.line,
                src: over.src,
                tag: None,
            };
            if !a.iter().any(|x| x.canon() == n.canon()) {
                a.push(n);
            }
        }
        (_, v) => {
            *base = Node {
                v,
                line: over.line,
                src: over.src,
                tag: None,
            }
        }
    }
}

/// `["K=V", "K2"]` → `{K: V, K2: null}` (keeps positions).
pub(crate) fn to_keyed(node: &mut Node, sep: char) {
    let V::Seq(items) = &node.v else { return };
    let mut entries: Vec<Entry> = Vec::new();
    for it in items {
        let Some(s) = it.scalar() else { continue };
        // extra_hosts (sep ':') also accepts `host=ip`, the only form for IPv6 addresses.
        let sep = if sep == ':' && s.contains('=') {
            '='
        } else {
            sep
        };
        let (k, v) = match s.split_once(sep) {
            Some((k, v)) => (k, V::Str(v.to_string(), false)),
            None => (s, V::Null),
        };
        entries.retain(|e| e.key != k);
        entries.push(Entry {
            key: k.to_string(),
            key_line: it.line,
            val: Node::new(v, it.line, &it.src),
        });
    }
    node.v = V::Map(entries);
}

/// `[a, b]` → `{a: null, b: null}`.
pub(crate) fn list_to_map(node: &mut Node) {
    let V::Seq(items) = &node.v else { return };
    let entries = items
        .iter()
        .filter_map(|it| {
            it.scalar().map(|s| Entry {
                key: s.to_string(),
                key_line: it.line,
                val: Node::new(V::Null, it.line, &it.src),
            })
        })
        .collect();
    node.v = V::Map(entries);
}

fn build_to_map(node: &mut Node) {
    if let V::Str(..) = node.v {
        let ctx = node.clone();
        node.v = V::Map(vec![Entry {
            key: "context".into(),
            key_line: ctx.line,
            val: ctx,
        }]);
    }
}

fn merge_by(base: &mut Node, over: Node, key_of: fn(&Node) -> Option<String>) {
    let (V::Seq(a), V::Seq(b)) = (&mut base.v, &over.v) else {
        *base = over;
        return;
    };
    for n in b {
        let k = key_of(n);
        match a.iter_mut().find(|x| k.is_some() && key_of(x) == k) {
            Some(x) => *x = n.clone(),
            None => a.push(n.clone()),
        }
    }
}

fn volume_target(n: &Node) -> Option<String> {
    match &n.v {
        V::Str(s, _) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() == 1 { parts[0] } else { parts[1] }.to_string())
        }
        V::Map(_) => n.get("target").and_then(Node::scalar).map(str::to_string),
        _ => None,
    }
}

fn file_source(n: &Node) -> Option<String> {
    match &n.v {
        V::Str(s, _) => Some(s.clone()),
        V::Map(_) => n.get("source").and_then(Node::scalar).map(str::to_string),
        _ => None,
    }
}
