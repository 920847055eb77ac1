//! Scenario catalogs: each app exports its scenarios as entries (a name,
//! one line, typed parameters with defaults and help, and a builder), and a
//! CLI lists and runs any of them without knowing the app.
//!
//! ```
//! use std::time::Duration;
//! use tf_core::catalog::{Catalog, Param, ScenarioEntry};
//! use tf_core::scenario::Scenario;
//! use tf_core::testing::FakeApp;
//!
//! let entry = ScenarioEntry::new("grows", "fake nodes grow for a while")
//!     .param(Param::count("nodes", 3, "cluster size"))
//!     .param(Param::duration("duration", Duration::from_secs(5), "run window"))
//!     .builds(|p| {
//!         Scenario::builder("grows", FakeApp::default())
//!             .nodes(p.count("nodes"))
//!             .duration(p.duration("duration"))
//!             .build()
//!     });
//! let catalog = Catalog::new().with(vec![entry]);
//!
//! let params = catalog.find("grows").unwrap().parse(&[("nodes", "5")]).unwrap();
//! assert_eq!(params.count("nodes"), 5);
//! let err = catalog.find("grows").unwrap().parse(&[("wallets", "4")]).unwrap_err();
//! assert!(err.to_string().contains("scenario `grows` has no parameter `wallets`"));
//! ```

mod entry;
mod params;

pub use entry::{AnyScenario, Catalog, ScenarioEntry};
pub use params::{Param, ParamError, ParamKind, ParamValue, Params};
