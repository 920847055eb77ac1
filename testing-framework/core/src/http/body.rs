//! Reading an answer's body under a bound, so a node that streams without
//! end costs the client at most the bound, not the stream.

use reqwest::Response;

/// Why a bounded read stopped.
pub(crate) enum BodyError {
    /// The body passes the bound.
    TooLarge,
    /// The connection failed or timed out mid-body, after this many bytes.
    Read(reqwest::Error, usize),
}

/// The whole body, if it has at most `limit` bytes.
///
/// Returning early drops `response` unfinished: hyper then closes the
/// connection rather than drain it, so the node stops sending too.
pub(crate) async fn read_bounded(
    mut response: Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // Content-Length is only a hint (it may lie), but one already checked
    // against the bound.
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(error) => return Err(BodyError::Read(error, body.len())),
        };
        if chunk.len() > limit - body.len() {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most the first `limit` bytes of the body; the rest, and any failure
/// to read it, does not matter to the caller.
pub(crate) async fn read_prefix(mut response: Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        let Ok(Some(chunk)) = response.chunk().await else {
            break;
        };
        let take = chunk.len().min(limit - body.len());
        body.extend_from_slice(&chunk[..take]);
    }
    body
}
