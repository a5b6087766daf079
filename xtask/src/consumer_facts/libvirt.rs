//! libvirt: the feature names and CPU models of each release's cpu_map.

use super::{Rows, header, model_key, read, table};
use maskcalc::consumer::{NameTable, Version, cpu_map};
use std::collections::BTreeSet;
use std::path::PathBuf;

pub(super) fn libvirt(maps: &[(Version, PathBuf, String)]) -> Result<(String, String), String> {
    let mut versions: Vec<Version> = maps.iter().map(|m| m.0).collect();
    versions.sort();
    let mut name_rows = Rows::new(versions.clone());
    let mut model_rows = Rows::new(versions);
    let mut src_lines = Vec::new();
    let mut sorted = maps.to_vec();
    sorted.sort_by_key(|m| m.0);
    for (version, dir, where_) in &sorted {
        src_lines.push((*version, where_.clone()));
        let features = cpu_map::parse_features(&read(&dir.join("x86_features.xml"))?)
            .map_err(|e| format!("{version} x86_features.xml: {e}"))?;
        for f in features {
            if f.name.starts_with("vmx-") {
                continue;
            }
            name_rows.add(
                format!("{}\t{}", f.name, NameTable::location_columns(f.location)),
                *version,
            );
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(maskcalc::consumer::cpu_map::is_model_file)
            })
            .collect();
        files.sort();
        let mut models = Vec::new();
        for file in &files {
            models.extend(
                cpu_map::parse_models(&read(file)?)
                    .map_err(|e| format!("{}: {e}", file.display()))?,
            );
        }
        for m in cpu_map::resolve(&models).map_err(|e| format!("{version}: {e}"))? {
            let features: BTreeSet<String> = m
                .features
                .into_iter()
                .filter(|f| !f.starts_with("vmx-"))
                .collect();
            let vendor = m
                .vendor
                .map(|v| maskcalc::consumer::vendor_string(&v).to_owned());
            model_rows.add(model_key(&m.name, &vendor, &features), *version);
        }
    }
    let names = table(
        header(
            "The x86 feature names of libvirt's cpu_map (x86_features.xml; vmx-* left out), per libvirt release.",
            "name leaf subleaf reg bit first gone",
            &src_lines,
        ),
        name_rows.lines(5, true),
    );
    let models = table(
        header(
            "The x86 CPU models of libvirt's cpu_map (parents folded in, removed='yes' features and vmx-* left out), per libvirt release.",
            "name vendor first gone features",
            &src_lines,
        ),
        model_rows.lines(2, true),
    );
    Ok((names, models))
}
