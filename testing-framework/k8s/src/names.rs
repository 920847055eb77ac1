//! Names and label values the API accepts.

/// The namespace of run `run`: `tf-<run>`.
pub fn namespace_of(run: &str) -> String {
    format!("tf-{run}")
}

/// `text` as a label value: at most 63 characters of letters, digits, `-`,
/// `_` and `.`, starting and ending with a letter or digit.
pub fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// `name` as a port name: at most 15 lowercase letters, digits and `-`,
/// with a letter in it, no `--`, not starting or ending with `-`.
pub(crate) fn port_name(name: &str) -> String {
    let mut cleaned = String::new();
    for c in name.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (cleaned.is_empty() || cleaned.ends_with('-'))) {
            cleaned.push(c);
        }
    }
    let cleaned: String = cleaned.chars().take(15).collect();
    let cleaned = cleaned.trim_matches('-').to_owned();
    if cleaned.chars().any(|c| c.is_ascii_alphabetic()) {
        cleaned
    } else {
        format!("p{}", cleaned.chars().take(14).collect::<String>())
    }
}

/// The port names of `names`, each valid and all distinct: a name that
/// cutting to 15 characters made equal to an earlier one ends in its place
/// instead (`-2`, `-3`).
pub(crate) fn port_names(names: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut candidate = port_name(name);
        if out.contains(&candidate) {
            let suffix = format!("-{}", i + 1);
            let keep = 15 - suffix.len();
            candidate = format!(
                "{}{suffix}",
                candidate
                    .chars()
                    .take(keep)
                    .collect::<String>()
                    .trim_end_matches('-')
            );
        }
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_cut_and_cleaned() {
        assert_eq!(label_value("raft-failover"), "raft-failover");
        assert_eq!(label_value("a b/c"), "a-b-c");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"y".repeat(80)).len(), 63);
    }

    #[test]
    fn port_names_fit_the_api() {
        assert_eq!(port_name("api"), "api");
        assert_eq!(port_name("Peer_Gossip_Port_Long"), "peer-gossip-por");
        assert_eq!(port_name("8080"), "p8080");
        assert_eq!(port_name("a_-b"), "a-b");
    }

    #[test]
    fn port_names_cut_alike_are_told_apart() {
        let names = port_names(&["gossip_port_primary", "gossip_port_primary_2", "api"]);
        assert_eq!(names, ["gossip-port-pri", "gossip-port-p-2", "api"]);
    }
}
