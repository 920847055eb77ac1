//! How a failed poll met its source: it could not be reached (no
//! connection, no answer in time), or it answered, but not usefully (an
//! error status, an answer that does not decode). Reports say
//! "unreachable" only for the first.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::io::ErrorKind;

use serde::{Deserialize, Serialize};

use crate::ErrorChain;

/// What a failed poll says about its source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Contact {
    /// No connection, or no answer in time.
    Unreachable,
    /// It answered, but not usefully (an error status, garbage).
    Answered,
    /// The error does not say (an app's own error type).
    #[default]
    Unknown,
}

/// A poll's error that says how the contact went, for an app's own error
/// type: return it from a [`Sources::poll_each`](super::Sources::poll_each)
/// call (`.map_err(PollError::answered)`) and reports say "unreachable"
/// or "answered, but not usefully" as it says.
#[derive(Debug)]
pub struct PollError {
    contact: Contact,
    error: Box<dyn Error + Send + Sync>,
}

impl PollError {
    /// No connection, or no answer in time.
    pub fn unreachable(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        PollError {
            contact: Contact::Unreachable,
            error: error.into(),
        }
    }

    /// The source answered, but not usefully (an error status, garbage).
    pub fn answered(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        PollError {
            contact: Contact::Answered,
            error: error.into(),
        }
    }

    /// What it says about the contact.
    pub fn contact(&self) -> Contact {
        self.contact
    }
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&ErrorChain(&*self.error), f)
    }
}

impl Error for PollError {}

/// The error's text with every cause its type lets us walk (boxed errors,
/// I/O and HTTP errors), and what it says about the contact.
pub(crate) fn describe<E: fmt::Display + 'static>(error: &E) -> (String, Contact) {
    match as_error(error) {
        Some(error) => (ErrorChain(error).to_string(), contact(error)),
        None => (error.to_string(), Contact::Unknown),
    }
}

/// `error` as a `dyn Error`, for the types a poll returns most.
fn as_error<E: 'static>(error: &E) -> Option<&(dyn Error + 'static)> {
    let any = error as &dyn Any;
    if let Some(poll) = any.downcast_ref::<PollError>() {
        return Some(poll);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
        return Some(&**boxed);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send>>() {
        return Some(&**boxed);
    }
    if let Some(boxed) = any.downcast_ref::<Box<dyn Error>>() {
        return Some(&**boxed);
    }
    if let Some(io) = any.downcast_ref::<std::io::Error>() {
        return Some(io);
    }
    #[cfg(feature = "http")]
    {
        if let Some(http) = any.downcast_ref::<crate::http::HttpError>() {
            return Some(http);
        }
        if let Some(reqwest) = any.downcast_ref::<reqwest::Error>() {
            return Some(reqwest);
        }
    }
    None
}

/// The first cause in the chain that says how the contact went.
fn contact(error: &(dyn Error + 'static)) -> Contact {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(poll) = error.downcast_ref::<PollError>() {
            return poll.contact;
        }
        #[cfg(feature = "http")]
        {
            if let Some(http) = error.downcast_ref::<crate::http::HttpError>() {
                return if http.is_unreachable() || http.is_timeout() {
                    Contact::Unreachable
                } else {
                    Contact::Answered
                };
            }
            if let Some(reqwest) = error.downcast_ref::<reqwest::Error>() {
                if reqwest.is_connect() || reqwest.is_timeout() {
                    return Contact::Unreachable;
                }
                if reqwest.is_status() || reqwest.is_decode() {
                    return Contact::Answered;
                }
            }
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::BrokenPipe
                    | ErrorKind::TimedOut
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
            ) {
                return Contact::Unreachable;
            }
        }
        if error.downcast_ref::<serde_json::Error>().is_some() {
            return Contact::Answered;
        }
        next = error.source();
    }
    Contact::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::error::BoxError;

    #[test]
    fn a_boxed_error_shows_every_cause_and_how_the_contact_went() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read the state of node-1")]
        struct Outer(#[source] std::io::Error);
        let refused: BoxError = Box::new(Outer(std::io::Error::new(
            ErrorKind::ConnectionRefused,
            "connection refused",
        )));
        assert_eq!(
            describe(&refused),
            (
                "cannot read the state of node-1: connection refused".to_owned(),
                Contact::Unreachable
            )
        );
        let garbage: BoxError = Box::new(serde_json::from_str::<u64>("{").unwrap_err());
        assert_eq!(describe(&garbage).1, Contact::Answered);
    }

    #[test]
    fn an_error_type_of_its_own_is_shown_as_it_displays_itself() {
        #[derive(Debug)]
        struct Own;
        impl fmt::Display for Own {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("no")
            }
        }
        assert_eq!(describe(&Own), ("no".to_owned(), Contact::Unknown));
        let said = PollError::answered("malformed answer from node: expected `,`");
        assert_eq!(
            describe(&said),
            (
                "malformed answer from node: expected `,`".to_owned(),
                Contact::Answered
            )
        );
        assert_eq!(describe(&"text"), ("text".to_owned(), Contact::Unknown));
    }
}
