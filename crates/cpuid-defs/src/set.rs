//! [`FeatureSet`]: a fixed-size bit set over [`FeatureId`], no allocation.

use crate::{FEATURE_COUNT, Feature, FeatureId, feature};
use core::fmt;

const WORDS: usize = FEATURE_COUNT.div_ceil(64);

/// A set of features, one bit per [`FeatureId`]. `Copy`, fixed size, no
/// allocation.
///
/// ```
/// use cpuid_defs::{lookup, FeatureSet};
/// let avx = lookup("avx").unwrap().id;
/// let mut set = FeatureSet::new();
/// assert!(set.insert(avx));
/// assert!(!set.insert(avx));
/// assert!(set.contains(avx));
/// assert_eq!(set.len(), 1);
/// assert_eq!(set.iter().next(), Some(avx));
/// ```
///
/// The set operations together, on a two-feature example:
///
/// ```
/// use cpuid_defs::{FeatureSet, lookup};
/// let [avx, avx2, sse] = ["AVX", "AVX2", "SSE"].map(|n| lookup(n).unwrap().id);
/// let a: FeatureSet = [avx, avx2].into_iter().collect();
/// let b: FeatureSet = [avx, sse].into_iter().collect();
/// assert_eq!(a.union(&b).len(), 3);
/// assert_eq!(a.intersection(&b).iter().collect::<Vec<_>>(), [avx]);
/// assert_eq!(a.difference(&b).iter().collect::<Vec<_>>(), [avx2]);
/// assert!(a.intersection(&b).is_subset(&a) && !a.is_subset(&b));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeatureSet {
    words: [u64; WORDS],
}

impl Default for FeatureSet {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureSet {
    /// The empty set.
    pub const fn new() -> Self {
        FeatureSet { words: [0; WORDS] }
    }

    /// The set of every feature in the table.
    ///
    /// ```
    /// use cpuid_defs::{FeatureSet, features};
    /// assert_eq!(FeatureSet::all().len(), features().len());
    /// ```
    pub fn all() -> Self {
        let mut set = Self::new();
        for f in crate::features() {
            set.insert(f.id);
        }
        set
    }

    fn slot(id: FeatureId) -> (usize, u64) {
        (id.index() / 64, 1u64 << (id.index() % 64))
    }

    /// Adds `id`; true if it was not there before.
    pub fn insert(&mut self, id: FeatureId) -> bool {
        let (w, bit) = Self::slot(id);
        match self.words.get_mut(w) {
            Some(word) => {
                let fresh = *word & bit == 0;
                *word |= bit;
                fresh
            }
            None => false,
        }
    }

    /// Removes `id`; true if it was there.
    ///
    /// ```
    /// use cpuid_defs::{FeatureSet, lookup};
    /// let sse = lookup("SSE").unwrap().id;
    /// let mut set = FeatureSet::all();
    /// assert!(set.remove(sse));
    /// assert!(!set.remove(sse));
    /// assert!(!set.contains(sse));
    /// ```
    pub fn remove(&mut self, id: FeatureId) -> bool {
        let (w, bit) = Self::slot(id);
        match self.words.get_mut(w) {
            Some(word) => {
                let present = *word & bit != 0;
                *word &= !bit;
                present
            }
            None => false,
        }
    }

    /// True if `id` is in the set.
    pub fn contains(&self, id: FeatureId) -> bool {
        let (w, bit) = Self::slot(id);
        self.words.get(w).is_some_and(|word| word & bit != 0)
    }

    /// Number of features in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// True if the set is empty.
    ///
    /// ```
    /// use cpuid_defs::FeatureSet;
    /// assert!(FeatureSet::new().is_empty());
    /// assert!(!FeatureSet::all().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Features in either set.
    pub fn union(&self, other: &FeatureSet) -> FeatureSet {
        self.zip(other, |a, b| a | b)
    }

    /// Features in both sets.
    pub fn intersection(&self, other: &FeatureSet) -> FeatureSet {
        self.zip(other, |a, b| a & b)
    }

    /// Features in `self` but not in `other`.
    pub fn difference(&self, other: &FeatureSet) -> FeatureSet {
        self.zip(other, |a, b| a & !b)
    }

    /// True if every feature of `self` is in `other`.
    pub fn is_subset(&self, other: &FeatureSet) -> bool {
        self.difference(other).is_empty()
    }

    fn zip(&self, other: &FeatureSet, op: impl Fn(u64, u64) -> u64) -> FeatureSet {
        let mut out = FeatureSet::new();
        for ((o, a), b) in out.words.iter_mut().zip(&self.words).zip(&other.words) {
            *o = op(*a, *b);
        }
        out
    }

    /// The ids in the set, ascending.
    pub fn iter(&self) -> FeatureSetIter {
        FeatureSetIter {
            set: *self,
            next: 0,
        }
    }

    /// The features in the set, ascending by id (location order).
    ///
    /// ```
    /// use cpuid_defs::{FeatureSet, lookup};
    /// let set: FeatureSet = ["AVX2", "SSE2"].map(|n| lookup(n).unwrap().id).into_iter().collect();
    /// let names: Vec<&str> = set.features().map(|f| f.name).collect();
    /// assert_eq!(names, ["SSE2", "AVX2"]); // leaf 1 comes before leaf 7
    /// ```
    pub fn features(&self) -> impl Iterator<Item = &'static Feature> {
        self.iter().map(feature)
    }
}

impl FromIterator<FeatureId> for FeatureSet {
    fn from_iter<I: IntoIterator<Item = FeatureId>>(iter: I) -> Self {
        let mut set = FeatureSet::new();
        for id in iter {
            set.insert(id);
        }
        set
    }
}

impl<'a> FromIterator<&'a Feature> for FeatureSet {
    fn from_iter<I: IntoIterator<Item = &'a Feature>>(iter: I) -> Self {
        iter.into_iter().map(|f| f.id).collect()
    }
}

impl IntoIterator for &FeatureSet {
    type Item = FeatureId;
    type IntoIter = FeatureSetIter;
    fn into_iter(self) -> FeatureSetIter {
        self.iter()
    }
}

impl fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.features().map(|x| x.name))
            .finish()
    }
}

/// Iterator over the ids of a [`FeatureSet`], ascending.
///
/// ```
/// use cpuid_defs::{FeatureSet, lookup};
/// let set: FeatureSet = ["AVX2", "SSE"].map(|n| lookup(n).unwrap().id).into_iter().collect();
/// let ids: Vec<_> = set.iter().collect();
/// assert!(ids.windows(2).all(|w| w[0] < w[1]));
/// assert_eq!(ids.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct FeatureSetIter {
    set: FeatureSet,
    next: usize,
}

impl Iterator for FeatureSetIter {
    type Item = FeatureId;

    fn next(&mut self) -> Option<FeatureId> {
        while self.next < FEATURE_COUNT {
            let index = self.next;
            self.next += 1;
            let id = FeatureId::from_index(index)?;
            if self.set.contains(id) {
                return Some(id);
            }
        }
        None
    }
}
