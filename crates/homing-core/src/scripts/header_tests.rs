//! Every Lua header must name exactly the KEYS and ARGV the body uses and the Rust wrapper
//! passes, and list the includes the wrapper joins.

use super::{all, ScriptSpec};
use std::collections::BTreeSet;

/// `(KEYS names, ARGV names, includes, body)` as the header declares them.
fn header(spec: &ScriptSpec) -> (Vec<String>, Vec<String>, Vec<String>, &'static str) {
    let (head, body) = spec.file.split_once("]]").expect("header closes with ]]");
    assert!(head.starts_with("--[["), "{}: header opens with --[[", spec.name);
    let first = head.lines().nth(1).unwrap_or_default().trim();
    assert!(first.starts_with(&format!("{}: ", spec.name)), "{}: first line names the script", spec.name);
    let mut keys = Vec::new();
    let mut argv = Vec::new();
    let mut includes = Vec::new();
    for line in head.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Includes:") {
            includes = rest.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        }
        for (prefix, list) in [("KEYS[", &mut keys), ("ARGV[", &mut argv)] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let (index, rest) = rest.split_once(']').expect("closing bracket");
                let index: usize = index.parse().expect("numeric index");
                assert_eq!(index, list.len() + 1, "{}: {prefix}{index}] out of order", spec.name);
                list.push(rest.split_whitespace().next().expect("a name").to_string());
            }
        }
    }
    (keys, argv, includes, body)
}

fn used(body: &str, prefix: &str) -> BTreeSet<usize> {
    body.match_indices(prefix)
        .filter_map(|(i, _)| {
            let rest = &body[i + prefix.len()..];
            rest[..rest.find(']')?].parse().ok()
        })
        .collect()
}

#[test]
fn every_header_matches_its_body_and_wrapper() {
    for spec in all() {
        let (keys, argv, includes, body) = header(spec);
        assert_eq!(keys, spec.keys, "{}: KEYS in header vs Rust", spec.name);
        assert_eq!(argv, spec.argv, "{}: ARGV in header vs Rust", spec.name);
        assert_eq!(includes, spec.includes, "{}: Includes in header vs Rust", spec.name);
        let expect_keys: BTreeSet<usize> = (1..=keys.len()).collect();
        let expect_argv: BTreeSet<usize> = (1..=argv.len()).collect();
        assert_eq!(used(body, "KEYS["), expect_keys, "{}: KEYS used by the body", spec.name);
        assert_eq!(used(body, "ARGV["), expect_argv, "{}: ARGV used by the body", spec.name);
        assert!(spec.file.contains("Returns:"), "{}: header says what it returns", spec.name);
    }
}

#[test]
fn includes_never_touch_keys_or_argv() {
    for spec in all() {
        let joined_includes = &spec.source[..spec.source.len() - spec.file.len()];
        assert!(used(joined_includes, "KEYS[").is_empty(), "{}: include reads KEYS", spec.name);
        assert!(used(joined_includes, "ARGV[").is_empty(), "{}: include reads ARGV", spec.name);
    }
}
