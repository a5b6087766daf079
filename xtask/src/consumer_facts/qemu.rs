//! QEMU: which feature names and CPU models each release has, from libvirt's
//! captured QMP data of each release (`caps_*_x86_64.xml`), and where each
//! name is and what each model has, from QEMU source trees.

use super::qemu_cpu_c::{defines, feature_words, is_vmx_word, models, word_location};
use super::{Rows, header, model_key, read, table};
use crate::c_text::uncomment;
use cpuid_defs::Location;
use maskcalc::consumer::{NameTable, Version};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// One captured QEMU release: version, file, feature property names, model names.
type Captured = (Version, String, BTreeSet<String>, BTreeSet<String>);

/// From libvirt's captured QMP data of each QEMU release: the feature
/// property names of the host CPU, and the CPU model names.
fn caps(dir: &Path) -> Result<Vec<Captured>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(version) = file
            .strip_prefix("caps_")
            .and_then(|f| f.strip_suffix("_x86_64.xml"))
        else {
            continue;
        };
        let version: Version = version.parse().map_err(|e| format!("{file}: {e}"))?;
        let text = read(&path)?;
        let host = text
            .split("<hostCPU type='kvm'")
            .nth(1)
            .and_then(|t| t.split("</hostCPU>").next())
            .ok_or(format!("{file}: no KVM hostCPU"))?;
        let props: BTreeSet<String> = host
            .split("<property name='")
            .skip(1)
            .filter_map(|p| p.split('\'').next())
            .map(str::to_owned)
            .collect();
        let models: BTreeSet<String> = text
            .split("<cpu type='kvm' name='")
            .skip(1)
            .filter_map(|p| p.split('\'').next())
            .map(str::to_owned)
            .collect();
        out.push((
            version,
            format!("libvirt tests/qemucapabilitiesdata/{file}"),
            props,
            models,
        ));
    }
    out.sort_by_key(|c| c.0);
    Ok(out)
}

/// What the QEMU source trees say, read oldest first so the newest wins.
#[derive(Default)]
struct SourceFacts {
    /// Where each feature name is.
    position: BTreeMap<String, Location>,
    /// Each model's vendor and features.
    defined: BTreeMap<String, (Option<String>, BTreeSet<String>)>,
    /// Model names in the order the trees first define them.
    model_order: Vec<String>,
    /// Per tree: its version, feature names and model names.
    per_tree: Vec<(Version, BTreeSet<String>, BTreeSet<String>)>,
}

impl SourceFacts {
    fn read(sorted: &[(Version, PathBuf, String)]) -> Result<Self, String> {
        let mut facts = SourceFacts::default();
        for (version, tree, _) in sorted {
            facts.add_tree(*version, tree)?;
        }
        Ok(facts)
    }

    fn add_tree(&mut self, version: Version, tree: &Path) -> Result<(), String> {
        let raw = read(&tree.join("target/i386/cpu.c"))?;
        let c = uncomment(&raw);
        let h = read(&tree.join("target/i386/cpu.h"))?;
        let mut defs = defines(&h);
        defs.extend(defines(&raw));
        // Defined in Linux's kvm_para.h (QEMU's include/standard-headers), not in target/i386.
        defs.entry("KVM_CPUID_FEATURES".to_owned())
            .or_insert_with(|| "0x40000001".to_owned());
        let words = feature_words(&c, &defs).map_err(|e| format!("{version}: {e}"))?;
        let mut names = BTreeSet::new();
        for (word, w) in &words {
            if is_vmx_word(word) {
                continue;
            }
            for (bit, name) in w.names.iter().enumerate() {
                if let Some(name) = name {
                    names.insert(name.clone());
                    if let Some(at) = word_location(w, bit) {
                        self.position.insert(name.clone(), at);
                    }
                }
            }
        }
        let mut model_names = BTreeSet::new();
        for m in models(&c, &defs, &words).map_err(|e| format!("{version}: {e}"))? {
            model_names.insert(m.name.clone());
            if !self.defined.contains_key(&m.name) {
                self.model_order.push(m.name.clone());
            }
            if let Some((_, old)) = self.defined.get(&m.name)
                && *old != m.features
            {
                eprintln!(
                    "note: QEMU {version} defines {} differently from an older tree; keeping the newest",
                    m.name
                );
            }
            self.defined.insert(m.name, (m.vendor, m.features));
        }
        self.per_tree.push((version, names, model_names));
        Ok(())
    }

    /// The row key of a feature name: the name and where it is.
    fn name_key(&self, name: &str) -> String {
        format!(
            "{name}\t{}",
            NameTable::location_columns(self.position.get(name).copied())
        )
    }

    /// The row key of a model the trees define (None for one they do not).
    fn model_key(&self, model: &str) -> Option<String> {
        let (vendor, features) = self.defined.get(model)?;
        Some(model_key(model, vendor, features))
    }

    /// Lines of the model table in QEMU's own order (the newest tree's), so
    /// "later" means "newer".
    fn in_model_order(&self, mut lines: Vec<String>) -> Vec<String> {
        let mut order: HashMap<&str, usize> = HashMap::new();
        for (i, m) in self.model_order.iter().enumerate() {
            order.insert(m.as_str(), i);
        }
        lines.sort_by_key(|l| {
            order
                .get(l.split('\t').next().unwrap_or(""))
                .copied()
                .unwrap_or(usize::MAX)
        });
        lines
    }
}

/// The names and models tables: each release's names and models from its
/// captured data, or from its source tree where nothing was captured.
pub(super) fn qemu(
    caps_dir: &Path,
    sources: &[(Version, PathBuf, String)],
) -> Result<(String, String), String> {
    let captured = caps(caps_dir)?;
    let mut versions: BTreeSet<Version> = captured.iter().map(|c| c.0).collect();
    versions.extend(sources.iter().map(|s| s.0));
    let versions: Vec<Version> = versions.into_iter().collect();
    // Positions and models from the source trees, newest last.
    let mut sorted = sources.to_vec();
    sorted.sort_by_key(|s| s.0);
    let trees = SourceFacts::read(&sorted)?;
    let known_names: BTreeSet<String> = trees.position.keys().cloned().collect();

    let mut name_rows = Rows::new(versions.clone());
    let mut model_rows = Rows::new(versions.clone());
    let mut src_lines: Vec<(Version, String)> = Vec::new();
    for (version, source, props, models) in &captured {
        src_lines.push((*version, source.clone()));
        for p in props.iter().filter(|p| known_names.contains(*p)) {
            name_rows.add(trees.name_key(p), *version);
        }
        for key in models.iter().filter_map(|m| trees.model_key(m)) {
            model_rows.add(key, *version);
        }
        if let Some((_, names, _)) = trees.per_tree.iter().find(|s| s.0 == *version) {
            note_differences(*version, props, &known_names, names);
        }
    }
    for ((version, names, models), (_, _, where_)) in trees.per_tree.iter().zip(&sorted) {
        if !src_lines.iter().any(|s| s.0 == *version) {
            src_lines.push((*version, where_.clone()));
        }
        for n in names {
            name_rows.add(trees.name_key(n), *version);
        }
        for key in models.iter().filter_map(|m| trees.model_key(m)) {
            model_rows.add(key, *version);
        }
    }
    let names = table(
        header(
            "The CPUID feature names QEMU's -cpu option accepts (x86 feature words, VMX words left out), per QEMU release.",
            "name leaf subleaf reg bit first gone",
            &src_lines,
        ),
        name_rows.lines(5, true),
    );
    let models = table(
        header(
            "The x86 CPU models QEMU defines (versioned names, their aliases, and the unversioned name = v1) and their features, per QEMU release.",
            "name vendor first gone features",
            &src_lines,
        ),
        trees.in_model_order(model_rows.lines(2, false)),
    );
    Ok((names, models))
}

/// Says where a release's captured names (those the trees place) and its
/// source tree's names differ.
fn note_differences(
    version: Version,
    props: &BTreeSet<String>,
    known_names: &BTreeSet<String>,
    names: &BTreeSet<String>,
) {
    let captured_known: BTreeSet<&String> =
        props.iter().filter(|p| known_names.contains(*p)).collect();
    let from_source: BTreeSet<&String> = names.iter().collect();
    if captured_known != from_source {
        eprintln!(
            "note: QEMU {version}: captured and source names differ: {:?}",
            captured_known
                .symmetric_difference(&from_source)
                .collect::<Vec<_>>()
        );
    }
}
