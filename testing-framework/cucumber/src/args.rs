//! Step arguments, read with messages that say what was wrong.

use std::time::Duration;

/// `node-0`, `node-0 and node-1`, `node-0, node-1 and node-2`.
pub fn node_list(text: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = text
        .split([','])
        .flat_map(|part| part.split(" and "))
        .map(|n| n.trim().trim_matches('"').to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(format!(
            "`{text}` names no node; write e.g. `node-0 and node-1`"
        ));
    }
    Ok(names)
}

/// A count of whole seconds from a step, positive.
pub fn seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n > 0 => Ok(Duration::from_secs(n as u64)),
        Ok(n) => Err(format!(
            "a wait must last at least 1 second; the step says {n}"
        )),
        Err(_) => Err(format!("`{text}` is not a whole number of seconds")),
    }
}

/// A count from a step (nodes, keys), at least `min`; `what` names it in
/// the error.
pub fn count(text: &str, min: i64, what: &str) -> Result<usize, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= min => Ok(n as usize),
        Ok(n) => Err(format!("{what} must be at least {min}; the step says {n}")),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists_read_as_written() {
        assert_eq!(node_list("node-0").unwrap(), ["node-0"]);
        assert_eq!(
            node_list("node-0 and node-1").unwrap(),
            ["node-0", "node-1"]
        );
        assert_eq!(
            node_list("node-0, node-1 and node-2").unwrap(),
            ["node-0", "node-1", "node-2"]
        );
        assert!(node_list(" , ").is_err());
    }

    #[test]
    fn bad_numbers_say_what_is_wrong() {
        assert_eq!(seconds("5").unwrap(), Duration::from_secs(5));
        assert!(seconds("0").unwrap_err().contains("at least 1 second"));
        assert!(seconds("-3").unwrap_err().contains("-3"));
        assert!(
            count("-1", 1, "a cluster")
                .unwrap_err()
                .contains("at least 1")
        );
        assert_eq!(count("0", 0, "a cluster").unwrap(), 0);
        assert!(
            count("x", 0, "a cluster")
                .unwrap_err()
                .contains("not a whole number")
        );
    }
}
