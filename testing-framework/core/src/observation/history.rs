//! What one successful cycle published, and the bounded history of it.
//!
//! The history is also the subscription buffer: every published observation
//! gets the next position ([`Cursor`]), subscribers read forward from their
//! cursor, and a subscriber whose next position was already trimmed is told
//! how many it missed. Replay and live delivery are one code path, so there
//! is no gap and no duplicate between them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::SourceName;

/// A position in the stream of observations: the position of the last one
/// seen. [`Cursor::START`] is before the first.
///
/// A cursor taken with [`ObservationHandle::cursor`](super::ObservationHandle::cursor)
/// also remembers when it was taken, so that
/// [`wait_until_after`](super::ObservationHandle::wait_until_after) counts
/// only cycles that began after that (a cycle in flight may have polled
/// before the action that follows). Cursors compare by position.
#[derive(Copy, Clone, Debug, Default)]
pub struct Cursor {
    pub(crate) position: u64,
    pub(crate) since: Option<Instant>,
}

impl Cursor {
    /// Before the first observation.
    pub const START: Cursor = Cursor::at(0);

    pub(crate) const fn at(position: u64) -> Self {
        Cursor {
            position,
            since: None,
        }
    }

    /// How many observations were published up to and including this
    /// position.
    pub fn position(self) -> u64 {
        self.position
    }

    /// Whether `observation` counts as after this cursor for a wait: its
    /// cycle began after the cursor was taken (at the same instant is
    /// not after: on a paused clock both happen at once).
    pub(crate) fn began_after<S, E>(&self, observation: &Observation<S, E>) -> bool {
        self.since.is_none_or(|since| observation.began_at > since)
    }
}

impl PartialEq for Cursor {
    fn eq(&self, other: &Self) -> bool {
        self.position == other.position
    }
}

impl Eq for Cursor {}

impl PartialOrd for Cursor {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cursor {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.position.cmp(&other.position)
    }
}

impl std::hash::Hash for Cursor {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.position.hash(state);
    }
}

/// What one successful cycle published: the snapshot after it, the events
/// it produced, and how the source set changed since the previous one.
#[derive(Debug)]
#[non_exhaustive]
pub struct Observation<Snap, E> {
    /// Its position in the stream; subscribe after it with
    /// [`ObservationHandle::subscribe_from`](super::ObservationHandle::subscribe_from).
    pub cursor: Cursor,
    /// The cycle that produced it (cycles count failed ones too).
    pub cycle: u64,
    /// When that cycle began (before it asked for sources and polled).
    pub began_at: Instant,
    /// When the cycle finished.
    pub observed_at: Instant,
    /// When the cycle finished, by the wall clock (for reports).
    pub observed_at_wall: SystemTime,
    /// How many sources the cycle polled.
    pub source_count: usize,
    /// Sources that appeared since the previous observation.
    pub sources_added: Vec<SourceName>,
    /// Sources that disappeared since the previous observation.
    pub sources_removed: Vec<SourceName>,
    /// The observer's events of this cycle.
    pub events: Vec<E>,
    /// Sources that went silent or answer again, from the runtime's
    /// per-source health (see [`Reachability`](super::Reachability)).
    pub reachability: Vec<super::Reachability>,
    /// The observer's snapshot after this cycle.
    pub snapshot: Snap,
}

impl<Snap, E> Observation<Snap, E> {
    /// Time since it was observed.
    pub fn age(&self) -> Duration {
        Instant::now().saturating_duration_since(self.observed_at)
    }
}

/// What a subscriber found after its cursor.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// This many observations after the cursor were already trimmed.
    Missed(u64),
    /// This many observations were appended to the buffer.
    Items(usize),
}

/// The retained observations, oldest first, and the limits they are kept
/// to. The limits live here, under the same lock as the entries, so that a
/// publication always trims with the limits in force.
pub(crate) struct History<Snap, E> {
    entries: VecDeque<Arc<Observation<Snap, E>>>,
    /// The position of `entries[0]`, or the next position when empty.
    first: u64,
    capacity: usize,
    max_age: Option<Duration>,
}

impl<Snap, E> History<Snap, E> {
    pub(crate) fn new(capacity: usize, max_age: Option<Duration>) -> Self {
        History {
            entries: VecDeque::new(),
            first: 1,
            capacity,
            max_age,
        }
    }

    /// New limits; a smaller history is trimmed at once.
    pub(crate) fn set_limits(&mut self, capacity: usize, max_age: Option<Duration>) {
        self.capacity = capacity;
        self.max_age = max_age;
        self.trim();
    }

    /// The position the next observation gets.
    pub(crate) fn next_position(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    pub(crate) fn push(&mut self, observation: Arc<Observation<Snap, E>>) {
        debug_assert_eq!(observation.cursor.position, self.next_position());
        self.entries.push_back(observation);
        self.trim();
    }

    /// Drops the oldest entries beyond the capacity and, keeping the newest,
    /// those older than the maximum age.
    fn trim(&mut self) {
        let excess = self.entries.len().saturating_sub(self.capacity);
        self.entries.drain(..excess);
        self.first += excess as u64;
        if let Some(max_age) = self.max_age {
            let now = Instant::now();
            while self.entries.len() > 1
                && self.entries.front().is_some_and(|oldest| {
                    now.saturating_duration_since(oldest.observed_at) > max_age
                })
            {
                self.entries.pop_front();
                self.first += 1;
            }
        }
    }

    /// Appends to `out` up to `max` observations after `cursor`.
    pub(crate) fn read_after(
        &self,
        cursor: Cursor,
        max: usize,
        out: &mut VecDeque<Arc<Observation<Snap, E>>>,
    ) -> Read {
        let wanted = cursor.position + 1;
        if wanted < self.first {
            return Read::Missed(self.first - wanted);
        }
        let offset = (wanted - self.first) as usize;
        let before = out.len();
        out.extend(self.entries.iter().skip(offset).take(max).cloned());
        Read::Items(out.len() - before)
    }

    /// The oldest retained position minus one: a cursor that replays all.
    pub(crate) fn oldest_cursor(&self) -> Cursor {
        Cursor::at(self.first - 1)
    }

    pub(crate) fn to_vec(&self) -> Vec<Arc<Observation<Snap, E>>> {
        self.entries.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(position: u64) -> Arc<Observation<u64, ()>> {
        Arc::new(Observation {
            cursor: Cursor::at(position),
            cycle: position,
            began_at: Instant::now(),
            observed_at: Instant::now(),
            observed_at_wall: SystemTime::now(),
            source_count: 0,
            sources_added: vec![],
            sources_removed: vec![],
            events: vec![],
            reachability: vec![],
            snapshot: position,
        })
    }

    fn filled(n: u64, capacity: usize) -> History<u64, ()> {
        let mut history = History::new(capacity, None);
        for position in 1..=n {
            history.push(observation(position));
        }
        history
    }

    #[test]
    fn capacity_bounds_the_history() {
        let history = filled(10, 4);
        let kept: Vec<u64> = history.to_vec().iter().map(|o| o.snapshot).collect();
        assert_eq!(kept, vec![7, 8, 9, 10]);
        assert_eq!(history.next_position(), 11);
    }

    #[test]
    fn reading_after_a_trimmed_cursor_reports_what_was_missed() {
        let history = filled(10, 4);
        let mut out = VecDeque::new();
        assert_eq!(
            history.read_after(Cursor::at(2), 100, &mut out),
            Read::Missed(4)
        );
        assert_eq!(
            history.read_after(history.oldest_cursor(), 100, &mut out),
            Read::Items(4)
        );
        assert_eq!(out.front().map(|o| o.snapshot), Some(7));
    }

    #[test]
    fn reading_is_bounded_and_resumes_where_it_stopped() {
        let history = filled(10, 100);
        let mut out = VecDeque::new();
        assert_eq!(
            history.read_after(Cursor::at(0), 3, &mut out),
            Read::Items(3)
        );
        assert_eq!(
            history.read_after(Cursor::at(3), 100, &mut out),
            Read::Items(7)
        );
        let seen: Vec<u64> = out.iter().map(|o| o.snapshot).collect();
        assert_eq!(seen, (1..=10).collect::<Vec<_>>());
        assert_eq!(
            history.read_after(Cursor::at(10), 100, &mut out),
            Read::Items(0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn age_bound_drops_old_entries_but_keeps_the_newest() {
        let mut history = History::new(100, None);
        history.push(observation(1));
        tokio::time::advance(Duration::from_secs(10)).await;
        history.push(observation(2));
        history.set_limits(100, Some(Duration::from_secs(5)));
        assert_eq!(history.to_vec().len(), 1);
        tokio::time::advance(Duration::from_secs(10)).await;
        history.set_limits(100, Some(Duration::from_secs(5)));
        assert_eq!(history.to_vec().len(), 1, "the newest is always kept");
    }
}
