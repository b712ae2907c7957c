//! When a call ends with a run of QuickJS's cycle collector.
//!
//! Reference counting frees everything acyclic the moment it is dropped, so
//! the only garbage a collection can find is unreachable cycles. A full
//! collection walks every object of the runtime (thousands of built-ins
//! included) and costs several times a small call, so by default a call
//! only ends with one when the heap kept more than [`growth_budget`] bytes
//! since the last collection: growth is the one sign that cycles may have
//! been left behind. QuickJS's own trigger still collects *during* a call
//! that allocates past its threshold, as it always did. docs/api.md ("Garbage
//! collection") states the policy and its bound.

/// What a call does with the cycle collector when it has returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// A full collection after every call (`gc=True`, hyperlight-js's default).
    Always,
    /// Never after a call (`gc=False`); QuickJS's own trigger still runs.
    Never,
    /// After a call that left the heap more than `budget` bytes above its size
    /// after the last collection (`gc=None`, the default here).
    WhenGrown {
        /// Bytes of growth that make a collection worth its cost.
        budget: usize,
    },
}

impl Collection {
    /// The policy a call's `gc` option asks for, in a heap of `heap_limit` bytes.
    pub fn from_option(gc: Option<bool>, heap_limit: usize) -> Self {
        match gc {
            Some(true) => Self::Always,
            Some(false) => Self::Never,
            None => Self::WhenGrown { budget: growth_budget(heap_limit) },
        }
    }

    /// Whether a call that left the heap at `used` bytes collects, given the
    /// size it had after the last collection.
    pub fn collects(self, used: usize, after_last_collection: usize) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::WhenGrown { budget } => used.saturating_sub(after_last_collection) > budget,
        }
    }
}

/// A sixteenth of the heap, between 64 KiB and 1 MiB: small against the
/// limit (so cycles can never crowd out live data: the heap holds at most
/// this much more than its live size plus QuickJS's in-call threshold), and
/// large against what a call that makes no cycles leaves behind (so such
/// calls never pay for a collection).
pub fn growth_budget(heap_limit: usize) -> usize {
    (heap_limit / 16).clamp(64 * 1024, 1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_maps_to_the_policy() {
        assert_eq!(Collection::from_option(Some(true), 8 << 20), Collection::Always);
        assert_eq!(Collection::from_option(Some(false), 8 << 20), Collection::Never);
        assert_eq!(Collection::from_option(None, 8 << 20), Collection::WhenGrown { budget: 512 * 1024 });
    }

    #[test]
    fn the_budget_is_a_sixteenth_of_the_heap_within_bounds() {
        assert_eq!(growth_budget(512 * 1024), 64 * 1024);
        assert_eq!(growth_budget(4 << 20), 256 * 1024);
        assert_eq!(growth_budget(1 << 30), 1024 * 1024);
    }

    #[test]
    fn only_growth_past_the_budget_collects() {
        let policy = Collection::WhenGrown { budget: 100 };
        assert!(!policy.collects(1_100, 1_000));
        assert!(policy.collects(1_101, 1_000));
        // A heap smaller than after the last collection (QuickJS collected
        // during the call) has not grown.
        assert!(!policy.collects(500, 1_000));
        assert!(Collection::Always.collects(0, 1_000));
        assert!(!Collection::Never.collects(usize::MAX, 0));
    }
}
