//! The dependency graph: direct prerequisites with their sources, and the
//! closures in both directions, computed without allocating.

use crate::{DependencySources, Feature, FeatureId, FeatureSet, feature, features};

impl Feature {
    /// The direct prerequisites with the upstream graphs that state each edge.
    ///
    /// ```
    /// use cpuid_defs::{DependencySources, lookup};
    /// let avx2 = lookup("AVX2").unwrap();
    /// let (avx, sources) = avx2.dependencies().find(|(d, _)| d.name == "AVX").unwrap();
    /// assert_eq!(avx.name, "AVX");
    /// assert!(sources.contains(DependencySources::XEN));
    /// ```
    pub fn dependencies(&self) -> impl Iterator<Item = (&'static Feature, DependencySources)> + '_ {
        self.depends.iter().enumerate().map(|(i, d)| {
            let sources = self
                .depends_sources
                .get(i)
                .copied()
                .unwrap_or(DependencySources::NONE);
            (feature(*d), sources)
        })
    }

    /// Every feature this one needs, directly or indirectly (not itself).
    ///
    /// ```
    /// use cpuid_defs::lookup;
    /// let avx2 = lookup("AVX2").unwrap();
    /// let needs = avx2.depends_closure();
    /// // AVX2 needs AVX directly and XSAVE through AVX.
    /// assert!(needs.contains(lookup("AVX").unwrap().id));
    /// assert!(needs.contains(lookup("XSAVE").unwrap().id));
    /// assert!(!needs.contains(avx2.id));
    /// ```
    pub fn depends_closure(&self) -> FeatureSet {
        depends_closure(self.id)
    }

    /// Every feature that needs this one, directly or indirectly (not itself).
    ///
    /// ```
    /// use cpuid_defs::lookup;
    /// let xsave = lookup("XSAVE").unwrap();
    /// let needs_xsave = xsave.dependents_closure();
    /// // AVX512F needs AVX2, which needs AVX, which needs XSAVE.
    /// assert!(needs_xsave.contains(lookup("AVX512F").unwrap().id));
    /// assert!(!needs_xsave.contains(xsave.id));
    /// ```
    pub fn dependents_closure(&self) -> FeatureSet {
        dependents_closure(self.id)
    }

    /// Features that list this one as a direct prerequisite.
    ///
    /// ```
    /// use cpuid_defs::lookup;
    /// let avx512f = lookup("AVX512F").unwrap();
    /// assert!(avx512f.direct_dependents().any(|f| f.name == "AVX512DQ"));
    /// // AVX512_VBMI2 needs AVX512F only through AVX512BW and AVX512VL.
    /// let vbmi2 = lookup("AVX512_VBMI2").unwrap();
    /// assert!(!avx512f.direct_dependents().any(|f| f.id == vbmi2.id));
    /// ```
    pub fn direct_dependents(&self) -> impl Iterator<Item = &'static Feature> + '_ {
        features()
            .iter()
            .filter(move |f| f.depends.contains(&self.id))
    }
}

/// Every feature that `id` needs, directly or through other features (not
/// `id` itself unless the graph had a cycle, which a test forbids).
///
/// ```
/// use cpuid_defs::{depends_closure, lookup};
/// let needs = depends_closure(lookup("AVX512F").unwrap().id);
/// for name in ["AVX2", "AVX", "XSAVE"] {
///     assert!(needs.contains(lookup(name).unwrap().id));
/// }
/// ```
pub fn depends_closure(id: FeatureId) -> FeatureSet {
    let mut set = FeatureSet::new();
    for &dep in feature(id).depends {
        set.insert(dep);
    }
    // Fixpoint over direct edges: the graph is small and shallow, and this
    // needs no stack or heap.
    loop {
        let mut grew = false;
        for member in set.iter() {
            for &dep in feature(member).depends {
                grew |= set.insert(dep);
            }
        }
        if !grew {
            return set;
        }
    }
}

/// Every feature that needs `id`, directly or through other features: what
/// must be hidden when `id` is hidden.
///
/// ```
/// use cpuid_defs::{dependents_closure, lookup};
/// let lost = dependents_closure(lookup("XSAVE").unwrap().id);
/// assert!(lost.contains(lookup("AVX512BW").unwrap().id));
/// ```
pub fn dependents_closure(id: FeatureId) -> FeatureSet {
    let mut set = FeatureSet::new();
    loop {
        let mut grew = false;
        for f in features() {
            if !set.contains(f.id) && f.depends.iter().any(|d| *d == id || set.contains(*d)) {
                grew |= set.insert(f.id);
            }
        }
        if !grew {
            return set;
        }
    }
}
