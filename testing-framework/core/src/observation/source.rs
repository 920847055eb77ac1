//! Sources: the named things an observer polls (usually node clients), and
//! the provider that says which of them exist right now.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use async_trait::async_trait;

use super::error::BoxError;

/// The name of one source, e.g. `node-2`. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceName(Arc<str>);

impl SourceName {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two names share one allocation: a cheap "certainly equal".
    pub(crate) fn same_allocation(&self, other: &SourceName) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Borrow<str> for SourceName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SourceName {
    fn from(name: &str) -> Self {
        SourceName(name.into())
    }
}

impl From<String> for SourceName {
    fn from(name: String) -> Self {
        SourceName(name.into())
    }
}

/// One named source of observations, typically a client of one node.
#[derive(Clone, Debug)]
pub struct ObservedSource<S> {
    /// Unique name within a source set; per-source health is keyed by it.
    pub name: SourceName,
    /// What the observer polls.
    pub source: S,
}

impl<S> ObservedSource<S> {
    /// A source called `name`.
    pub fn new(name: impl Into<SourceName>, source: S) -> Self {
        ObservedSource {
            name: name.into(),
            source,
        }
    }
}

/// An immutable, shared list of sources.
///
/// Cloning a set is one reference-count increment, whatever its size: a
/// provider whose sources did not change returns a clone of the set it
/// returned last time, and the runtime notices that in O(1). Build one from a
/// `Vec` with `.into()` or from an iterator with `.collect()`.
pub struct SourceSet<S>(Arc<[ObservedSource<S>]>);

impl<S> SourceSet<S> {
    /// Whether both sets are the very same allocation.
    pub(crate) fn ptr_eq(&self, other: &SourceSet<S>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The empty set.
    pub fn empty() -> Self {
        SourceSet(Arc::from(Vec::new()))
    }
}

impl<S> Clone for SourceSet<S> {
    fn clone(&self) -> Self {
        SourceSet(Arc::clone(&self.0))
    }
}

impl<S> Deref for SourceSet<S> {
    type Target = [ObservedSource<S>];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: fmt::Debug> fmt::Debug for SourceSet<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl<S> From<Vec<ObservedSource<S>>> for SourceSet<S> {
    fn from(sources: Vec<ObservedSource<S>>) -> Self {
        SourceSet(sources.into())
    }
}

impl<S> FromIterator<ObservedSource<S>> for SourceSet<S> {
    fn from_iter<I: IntoIterator<Item = ObservedSource<S>>>(iter: I) -> Self {
        SourceSet(iter.into_iter().collect())
    }
}

/// Says which sources exist right now. Called once per cycle: nodes come and
/// go during a run (restarted, added, removed), and the runtime follows.
///
/// A fixed [`SourceSet`] is itself a provider.
#[async_trait]
pub trait SourceProvider<S>: Send + Sync + 'static {
    /// The current sources. Names must be unique; an error fails the cycle
    /// (stage [`FailureStage::SourceRefresh`](super::FailureStage)).
    async fn sources(&self) -> Result<SourceSet<S>, BoxError>;
}

#[async_trait]
impl<S: Send + Sync + 'static> SourceProvider<S> for SourceSet<S> {
    async fn sources(&self) -> Result<SourceSet<S>, BoxError> {
        Ok(self.clone())
    }
}

/// What changed between two source sets, by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SourceChanges {
    pub(crate) added: Vec<SourceName>,
    pub(crate) removed: Vec<SourceName>,
}

impl SourceChanges {
    /// Compares by name. O(1) when `new` is the same allocation as `old`,
    /// O(n) without hashing when the names are unchanged and in order.
    pub(crate) fn between<S>(old: &SourceSet<S>, new: &SourceSet<S>) -> Self {
        if same_names(old, new) {
            return SourceChanges::default();
        }
        let old_names: std::collections::HashSet<&str> =
            old.iter().map(|s| s.name.as_str()).collect();
        let new_names: std::collections::HashSet<&str> =
            new.iter().map(|s| s.name.as_str()).collect();
        SourceChanges {
            added: new
                .iter()
                .filter(|s| !old_names.contains(s.name.as_str()))
                .map(|s| s.name.clone())
                .collect(),
            removed: old
                .iter()
                .filter(|s| !new_names.contains(s.name.as_str()))
                .map(|s| s.name.clone())
                .collect(),
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Whether both sets have the same names in the same order: O(1) for the
/// same allocation, else O(n) without hashing.
pub(crate) fn same_names<S>(a: &SourceSet<S>, b: &SourceSet<S>) -> bool {
    a.ptr_eq(b)
        || (a.len() == b.len()
            && a.iter()
                .zip(b.iter())
                .all(|(x, y)| x.name.same_allocation(&y.name) || x.name == y.name))
}

/// The first name that appears twice, if any.
pub(crate) fn duplicate_name<S>(set: &SourceSet<S>) -> Option<&SourceName> {
    let mut seen = std::collections::HashSet::with_capacity(set.len());
    set.iter()
        .map(|s| &s.name)
        .find(|name| !seen.insert(name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> SourceSet<()> {
        names.iter().map(|n| ObservedSource::new(*n, ())).collect()
    }

    #[test]
    fn same_set_has_no_changes() {
        let a = set(&["a", "b"]);
        assert!(SourceChanges::between(&a, &a.clone()).is_empty());
        assert!(SourceChanges::between(&a, &set(&["a", "b"])).is_empty());
    }

    #[test]
    fn changes_name_added_and_removed_sources() {
        let changes = SourceChanges::between(&set(&["a", "b"]), &set(&["b", "c"]));
        assert_eq!(changes.added, vec![SourceName::from("c")]);
        assert_eq!(changes.removed, vec![SourceName::from("a")]);
    }

    #[test]
    fn reordering_is_not_a_change() {
        assert!(SourceChanges::between(&set(&["a", "b"]), &set(&["b", "a"])).is_empty());
    }

    #[test]
    fn duplicate_names_are_found() {
        assert_eq!(
            duplicate_name(&set(&["a", "b", "a"])).map(|n| n.as_str()),
            Some("a")
        );
        assert!(duplicate_name(&set(&["a", "b"])).is_none());
    }
}
