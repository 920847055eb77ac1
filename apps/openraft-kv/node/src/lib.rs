//! Stub: filled in by the node work.
