//! `--format xl` must only write names that libxl resolves to the bit meant.
//!
//! libxl's `cpuid="host,NAME=…"` looks a name up in its legacy table first
//! (`libxl-cpuid-names.tsv`, where some names are multi-bit numeric fields)
//! and then among Xen's featureset names (`xl_name` in `xen-features.tsv`).
//! Both tables are Xen's own data, kept in `testdata/reference/`.

use std::path::PathBuf;

use cpuid_defs::{Location, Register};
use maskcalc::render::xl_name;

/// Where a table row puts its bit: `(leaf, subleaf, register)` for CPUID, or
/// the MSR index with `register` naming the half.
#[derive(Debug, PartialEq, Eq)]
struct Position {
    leaf: String,
    subleaf: Option<u32>,
    register: String,
    bit: u8,
}

fn reference(name: &str) -> Vec<Vec<String>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/reference")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .skip(1)
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

fn subleaf(text: &str) -> Option<u32> {
    (text != "-").then(|| text.parse().unwrap())
}

fn position_of(location: Location) -> Position {
    match location {
        Location::Cpuid { key, register, bit } => Position {
            leaf: format!("{:#010x}", key.leaf),
            subleaf: key.subleaf,
            register: register.as_str().to_owned(),
            bit,
        },
        Location::Msr { index, bit } => Position {
            leaf: format!("msr:{index:#x}"),
            subleaf: None,
            register: if bit < 32 { "lo" } else { "hi" }.to_owned(),
            bit: bit % 32,
        },
    }
}

/// What libxl does with `name=0`: the position of the one bit it writes, or
/// why it would not write exactly that one flag bit.
fn libxl_lookup(name: &str) -> Result<Position, String> {
    if let Some(row) = reference("libxl-cpuid-names.tsv")
        .into_iter()
        .find(|r| r[0] == name)
    {
        // name, leaf, subleaf, register, bit, length
        if row[5] != "1" {
            return Err(format!("legacy key {name} is a {}-bit field", row[5]));
        }
        return Ok(Position {
            leaf: row[1].clone(),
            subleaf: subleaf(&row[2]),
            register: row[3].clone(),
            bit: row[4].parse().unwrap(),
        });
    }
    // name, xl_name, word, bit, leaf, subleaf, register, attrs
    let row = reference("xen-features.tsv")
        .into_iter()
        .find(|r| r[1] == name)
        .ok_or_else(|| format!("libxl knows no name {name}"))?;
    Ok(match row[6].strip_prefix("msr:") {
        Some(msr) => {
            let (index, half) = msr.split_once(':').unwrap();
            Position {
                leaf: format!("msr:{index}"),
                subleaf: None,
                register: half.to_owned(),
                bit: row[3].parse().unwrap(),
            }
        }
        None => Position {
            leaf: row[4].clone(),
            subleaf: subleaf(&row[5]),
            register: row[6].clone(),
            bit: row[3].parse().unwrap(),
        },
    })
}

#[test]
fn every_xl_name_is_resolved_by_libxl_to_its_own_bit() {
    let mut named = 0;
    for feature in cpuid_defs::features() {
        let Some(name) = xl_name(feature) else {
            continue;
        };
        named += 1;
        let found = libxl_lookup(name).unwrap_or_else(|e| panic!("{}: {e}", feature.name));
        assert_eq!(
            found,
            position_of(feature.location),
            "{} as `{name}`",
            feature.name
        );
    }
    // Every one of Xen's 287 featureset names, whatever spelling libxl needs.
    assert!(named >= 287, "{named}");
}

#[test]
fn every_xen_feature_has_an_xl_name() {
    for row in reference("xen-features.tsv") {
        let feature = cpuid_defs::lookup(&row[0]).unwrap_or_else(|| panic!("{}", row[0]));
        assert!(xl_name(feature).is_some(), "{}", row[0]);
    }
    // CLFLUSH is `clflush` in the featureset but the legacy table takes that
    // name first, as the line size: libxl needs `clfsh`.
    let clflush = cpuid_defs::lookup("CLFLUSH").unwrap();
    assert_eq!(xl_name(clflush), Some("clfsh"));
    assert_eq!(
        position_of(clflush.location).register,
        Register::Edx.as_str()
    );
}
