//! Test data of `xen-maskcalc`: the two hosts of the original README's
//! example (real Haswell-EP data, the second host edited to the README's values),
//! and that second host written in every other input format.

use std::path::Path;

use maskcalc::dump::{self, Format, write};
use maskcalc::model::{CpuidInput, EBX, ECX};

use crate::GeneratedFile;

/// The real dump the examples start from (Haswell-EP: its leaf 1 ECX/EDX and
/// leaf 7 EBX/ECX are exactly the first host of the README example).
const BASE: &str = "testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt";

/// The second host of the README example: leaf 1 ECX `00011111101111101110001111111111`,
/// leaf 7.0 EBX all zero; everything else as the first host.
const README_NODE2_LEAF1_ECX: u32 = 0x1fbe_e3ff;
const README_NODE2_LEAF7_EBX: u32 = 0;

/// Produces the files.
pub fn generate(root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let bytes = std::fs::read(root.join(BASE)).map_err(|e| format!("{BASE}: {e}"))?;
    let node1 = dump::parse(BASE, &bytes, None).map_err(|e| e.to_string())?;
    let mut node2 = node1.clone();
    let leaf1 = node2
        .leaves
        .get_mut(&CpuidInput::new(1, 0))
        .ok_or("no leaf 1")?;
    leaf1[ECX] = README_NODE2_LEAF1_ECX;
    let leaf7 = node2
        .leaves
        .get_mut(&CpuidInput::new(7, 0))
        .ok_or("no leaf 7")?;
    leaf7[EBX] = README_NODE2_LEAF7_EBX;
    let mut files = vec![
        GeneratedFile::new("testdata/cpuid/readme-node1.txt", write::cpuid_tool(&node1)),
        GeneratedFile::new("testdata/cpuid/readme-node2.txt", write::cpuid_tool(&node2)),
    ];
    for (format, extension) in [
        (Format::XenCpuid, "xen-cpuid.txt"),
        (Format::Aida64, "aida64.txt"),
        (Format::Libvirt, "libvirt.xml"),
        (Format::Json, "json"),
    ] {
        files.push(GeneratedFile::new(
            format!("testdata/cpuid/formats/readme-node2.{extension}"),
            write::to_format(&node2, format),
        ));
    }
    Ok(files)
}
