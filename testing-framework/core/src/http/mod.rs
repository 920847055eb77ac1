//! A JSON-over-HTTP client for app node clients (feature `http`): what an
//! observer's poll needs from a node's HTTP API, so apps do not write the
//! request, the timeout, the size bound and the error messages by hand.
//!
//! - [`JsonClient`] talks to one node: [`get`](JsonClient::get) and
//!   [`post`](JsonClient::post) decode the answer's JSON, under a request
//!   timeout (1 s) and a bound on the answer's size (4 MiB) that is checked
//!   while reading, so a node streaming without end costs at most the bound.
//! - [`HttpError`] says which node, which request, and what went wrong:
//!   connection failed (with every cause, not just `error sending request`),
//!   answered but not with HTTP, timed out (saying how far the request
//!   got), error status with the node's explanation, too large, or JSON
//!   that does not decode, with what was received.
//!
//! # Example
//!
//! An app's node client wraps a `JsonClient` and names its API:
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tf_core::http::{HttpError, JsonClient};
//!
//! #[derive(Deserialize)]
//! struct Info {
//!     height: u64,
//! }
//!
//! #[derive(Serialize)]
//! struct Transfer {
//!     to: String,
//!     amount: u64,
//! }
//!
//! #[derive(Clone)]
//! struct NodeClient(JsonClient);
//!
//! impl NodeClient {
//!     async fn height(&self) -> Result<u64, HttpError> {
//!         Ok(self.0.get::<Info>("/info").await?.height)
//!     }
//!
//!     async fn transfer(&self, to: &str, amount: u64) -> Result<(), HttpError> {
//!         let transfer = Transfer { to: to.into(), amount };
//!         self.0.post("/transfers", &transfer).await
//!     }
//! }
//!
//! # async fn run() {
//! // One connection pool for every node.
//! let first = JsonClient::new("127.0.0.1:7000");
//! let nodes: Vec<NodeClient> = (7000..7003)
//!     .map(|port| NodeClient(first.at(format!("127.0.0.1:{port}"))))
//!     .collect();
//! match nodes[0].height().await {
//!     Ok(height) => println!("node 0 is at height {height}"),
//!     // e.g. `node 127.0.0.1:7000 GET /info: connection failed: ...: Connection refused (os error 111)`
//!     Err(error) if error.is_unreachable() => println!("node 0 is down: {error}"),
//!     Err(error) => println!("node 0 misbehaves: {error}"),
//! }
//! # }
//! ```

mod body;
mod client;
mod error;

pub use client::JsonClient;
pub use error::{HttpError, Stage};
