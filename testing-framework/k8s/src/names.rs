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
/// with a letter in it, not starting or ending with `-`.
pub(crate) fn port_name(name: &str) -> String {
    let cleaned: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(15)
        .collect();
    let cleaned = cleaned.trim_matches('-').to_owned();
    if cleaned.chars().any(|c| c.is_ascii_alphabetic()) {
        cleaned
    } else {
        format!("p{}", cleaned.chars().take(14).collect::<String>())
    }
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
    }
}
