//! An error with every cause behind it, on one line: what people need to see
//! when a node sent garbage (`error sending request ...: connection closed
//! before message completed`), not just the outermost message.

use std::error::Error;
use std::fmt;

/// Displays an error followed by its causes, separated by `: `; a cause
/// whose text the error already shows is not repeated.
///
/// ```
/// use tf_core::ErrorChain;
///
/// let io = std::io::Error::other("connection reset by peer");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, io);
/// assert_eq!(ErrorChain(&outer).to_string(), "connection reset by peer");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            // Many wrappers print their cause already; say each thing once.
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request for url (http://127.0.0.1:1/state)")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("client error (SendRequest)")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown_once_in_order() {
        let error = Outer(Middle(std::io::Error::other(
            "connection closed before message completed",
        )));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "error sending request for url (http://127.0.0.1:1/state): client error (SendRequest): connection closed before message completed"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("deploy failed: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let error = Repeats(std::io::Error::other("port 7000 in use"));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "deploy failed: port 7000 in use"
        );
    }
}
