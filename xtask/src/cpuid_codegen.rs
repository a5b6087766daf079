//! Generator of `crates/cpuid-defs/src/generated.rs` from the crate's data
//! files `data/features.tsv` and `data/fields.tsv`.
//!
//! xtask depends on cpuid-defs, so the data is parsed here, from text, rather
//! than through the crate: a broken table must not stop the generator that
//! repairs it. The generator also refuses a table that the crate's
//! invariants forbid (duplicate names or bits, unknown or cyclic
//! dependencies), so a bad edit fails at `cargo xtask codegen`, with the file
//! and line, before any test runs.

use crate::GeneratedFile;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

const FEATURES_TSV: &str = "crates/cpuid-defs/data/features.tsv";
const FIELDS_TSV: &str = "crates/cpuid-defs/data/fields.tsv";
const OUTPUT: &str = "crates/cpuid-defs/src/generated.rs";

const FEATURE_COLUMNS: [&str; 17] = [
    "name",
    "xen",
    "leaf",
    "subleaf",
    "reg",
    "bit",
    "vendors",
    "class",
    "linux",
    "linux_macro",
    "qemu",
    "libvirt",
    "libxl",
    "aliases",
    "depends",
    "reference",
    "description",
];
const FIELD_COLUMNS: [&str; 9] = [
    "name",
    "libxl",
    "leaf",
    "subleaf",
    "reg",
    "shift",
    "width",
    "per_cpu",
    "description",
];

/// Sort key of a feature register, in the order `FeatureRegister`'s derived
/// `Ord` puts them: CPUID before MSR; leaf, then no subleaf before any
/// subleaf, then register; MSR index, then low half before high.
type RegKey = (u8, u32, Option<u32>, u8);

#[derive(Debug, Clone)]
struct FeatureRow {
    line: usize,
    name: String,
    xen_attrs: Option<String>,
    reg: RegKey,
    bit: u8,
    vendors: u8,
    class: &'static str,
    linux: Option<String>,
    linux_macro: Option<String>,
    qemu: Option<String>,
    libvirt: Option<String>,
    libxl: Vec<String>,
    aliases: Vec<String>,
    depends: Vec<String>,
    /// Per entry of `depends`: bit 0 Xen, bit 1 Linux, bit 2 QEMU.
    depends_sources: Vec<u8>,
    reference: String,
    description: String,
}

#[derive(Debug)]
struct FieldRow {
    name: String,
    libxl: Option<String>,
    leaf: u32,
    subleaf: Option<u32>,
    reg: u8,
    shift: u8,
    width: u8,
    per_cpu: bool,
    description: String,
}

/// The generator registered in [`crate::generators`].
pub fn generate(root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let features_text = read(root, FEATURES_TSV)?;
    let fields_text = read(root, FIELDS_TSV)?;
    let features = parse_features(&features_text)?;
    let fields = parse_fields(&fields_text)?;
    let code = render(&features, &fields)?;
    Ok(vec![GeneratedFile::new(OUTPUT, code)])
}

fn read(root: &Path, rel: &str) -> Result<String, String> {
    std::fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: {e}"))
}

/// The data rows of a TSV file with `#` comments, checking the header.
fn rows<'a>(
    text: &'a str,
    file: &str,
    columns: &[&str],
) -> Result<Vec<(usize, Vec<&'a str>)>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    let (hline, header) = lines
        .next()
        .ok_or_else(|| format!("{file}: no header line"))?;
    let found: Vec<&str> = header.split('\t').collect();
    if found != columns {
        return Err(format!(
            "{file}:{hline}: expected header {columns:?}, found {found:?}"
        ));
    }
    lines
        .map(|(n, l)| {
            let cells: Vec<&str> = l.split('\t').collect();
            if cells.len() != columns.len() {
                Err(format!(
                    "{file}:{n}: expected {} tab-separated columns, found {}",
                    columns.len(),
                    cells.len()
                ))
            } else {
                Ok((n, cells))
            }
        })
        .collect()
}

fn opt(cell: &str) -> Option<String> {
    (cell != "-").then(|| cell.to_owned())
}

fn list(cell: &str, sep: char) -> Vec<String> {
    if cell == "-" {
        return Vec::new();
    }
    cell.split(sep)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn hex(cell: &str, at: &str) -> Result<u32, String> {
    cell.strip_prefix("0x")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| format!("{at}: expected a hex number like 0x0000000d, found {cell:?}"))
}

fn subleaf(cell: &str, at: &str) -> Result<Option<u32>, String> {
    if cell == "-" {
        return Ok(None);
    }
    cell.parse()
        .map(Some)
        .map_err(|_| format!("{at}: expected a decimal subleaf or `-`, found {cell:?}"))
}

fn register(cell: &str, at: &str) -> Result<u8, String> {
    match cell {
        "eax" => Ok(0),
        "ebx" => Ok(1),
        "ecx" => Ok(2),
        "edx" => Ok(3),
        _ => Err(format!(
            "{at}: expected a register eax, ebx, ecx or edx, found {cell:?}"
        )),
    }
}

/// `*` in the vendors column: Intel, AMD, Hygon, Zhaoxin and Centaur (not
/// Transmeta, whose leaf 0x80860001 no other vendor shares).
const VENDORS_ALL: u8 = 0x1f;

fn vendors(cell: &str, at: &str) -> Result<u8, String> {
    if cell == "*" {
        return Ok(VENDORS_ALL);
    }
    let mut bits = 0u8;
    for c in cell.chars() {
        bits |= match c {
            'I' => 1,
            'A' => 2,
            'H' => 4,
            'Z' => 8,
            'C' => 16,
            'T' => 32,
            _ => {
                return Err(format!(
                    "{at}: expected vendor letters from IAHZCT or `*`, found {cell:?}"
                ));
            }
        };
    }
    if bits == 0 {
        return Err(format!("{at}: empty vendor list"));
    }
    Ok(bits)
}

fn class(cell: &str, at: &str) -> Result<&'static str, String> {
    Ok(match cell {
        "intersect" => "Intersect",
        "accumulate" => "Accumulate",
        "host" => "Host",
        "hidden" => "Hidden",
        "opt-in" => "OptIn",
        _ => {
            return Err(format!(
                "{at}: expected a class (intersect, accumulate, host, hidden, opt-in), found {cell:?}"
            ));
        }
    })
}

fn parse_features(text: &str) -> Result<Vec<FeatureRow>, String> {
    let mut out = Vec::new();
    for (line, c) in rows(text, FEATURES_TSV, &FEATURE_COLUMNS)? {
        let at = format!("{FEATURES_TSV}:{line}");
        let name = c[0].to_owned();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "{at}: a canonical name is upper case, digits and `_`, found {name:?}"
            ));
        }
        let xen_attrs = match c[1] {
            "-" => None,
            "." => Some(String::new()),
            a => Some(a.to_owned()),
        };
        let bit: u8 = c[5]
            .parse()
            .map_err(|_| format!("{at}: expected a bit number, found {:?}", c[5]))?;
        let reg = if let Some(idx) = c[2].strip_prefix("msr:") {
            if c[3] != "-" || c[4] != "-" {
                return Err(format!("{at}: an MSR bit has `-` for subleaf and reg"));
            }
            if bit > 63 {
                return Err(format!("{at}: an MSR bit is 0..=63, found {bit}"));
            }
            (1, hex(idx, &at)?, None, u8::from(bit >= 32))
        } else {
            if bit > 31 {
                return Err(format!("{at}: a CPUID bit is 0..=31, found {bit}"));
            }
            (
                0,
                hex(c[2], &at)?,
                subleaf(c[3], &at)?,
                register(c[4], &at)?,
            )
        };
        let (depends, depends_sources) = list(c[14], ' ')
            .iter()
            .map(|token| dependency(token, &at))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        out.push(FeatureRow {
            line,
            name,
            xen_attrs,
            reg,
            bit,
            vendors: vendors(c[6], &at)?,
            class: class(c[7], &at)?,
            linux: opt(c[8]),
            linux_macro: opt(c[9]),
            qemu: opt(c[10]),
            libvirt: opt(c[11]),
            libxl: list(c[12], ','),
            aliases: list(c[13], ','),
            depends,
            depends_sources,
            reference: c[15].to_owned(),
            description: c[16].to_owned(),
        });
    }
    // Location order makes each register's features one contiguous run.
    out.sort_by_key(|f| (f.reg, f.bit));
    check_features(&out)?;
    Ok(out)
}

/// One entry of the depends column: `NAME` (from the vendor manuals) or
/// `NAME(xen,linux,qemu)` naming the upstream graphs that have the edge.
fn dependency(token: &str, at: &str) -> Result<(String, u8), String> {
    let Some((name, rest)) = token.split_once('(') else {
        return Ok((token.to_owned(), 0));
    };
    let inner = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("{at}: unclosed `(` in dependency {token:?}"))?;
    let mut bits = 0u8;
    for source in inner.split(',') {
        bits |= match source {
            "xen" => 1,
            "linux" => 2,
            "qemu" => 4,
            _ => {
                return Err(format!(
                    "{at}: dependency source is xen, linux or qemu, found {source:?} in {token:?}"
                ));
            }
        };
    }
    Ok((name.to_owned(), bits))
}

/// `lookup` compares names folded this way.
fn fold(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b == b'-' {
                '_'
            } else {
                char::from(b.to_ascii_lowercase())
            }
        })
        .collect()
}

fn xen_name(f: &FeatureRow) -> Option<String> {
    f.xen_attrs
        .as_ref()
        .map(|_| f.name.to_ascii_lowercase().replace('_', "-"))
}

/// Every name of a feature with its precedence: 0 for the canonical and
/// Xen names, 1 for the other ecosystems' names and aliases. When another
/// ecosystem reuses a name that is some other feature's Xen name (QEMU calls
/// IA32_ARCH_CAPABILITIES bit 4 `ssb-no`, Xen's `ssb-no` is AMD's
/// 0x80000008 EBX bit 26), the Xen meaning wins: the lesser name stays
/// recorded on its feature but is not indexed.
fn all_names(f: &FeatureRow) -> Vec<(u8, String)> {
    let mut names = vec![(0, f.name.clone())];
    names.extend(xen_name(f).map(|n| (0, n)));
    names.extend(f.linux.iter().map(|n| (1, n.clone())));
    names.extend(f.linux_macro.iter().map(|n| (1, n.clone())));
    names.extend(f.qemu.iter().map(|n| (1, n.clone())));
    names.extend(f.libvirt.iter().map(|n| (1, n.clone())));
    names.extend(f.libxl.iter().map(|n| (1, n.clone())));
    names.extend(f.aliases.iter().map(|n| (1, n.clone())));
    names
}

/// The name index: folded name to feature index, applying the precedence
/// of [`all_names`] and refusing any other ambiguity.
fn name_index(features: &[FeatureRow]) -> Result<BTreeMap<String, usize>, String> {
    let mut index: BTreeMap<String, (u8, usize)> = BTreeMap::new();
    for level in [0, 1] {
        for (i, f) in features.iter().enumerate() {
            for (l, n) in all_names(f) {
                if l != level {
                    continue;
                }
                if n.is_empty() || n.len() > 48 || !n.is_ascii() || n.contains(' ') {
                    return Err(format!("{FEATURES_TSV}:{}: bad name {n:?}", f.line));
                }
                match index.get(&fold(&n)) {
                    None => {
                        index.insert(fold(&n), (level, i));
                    }
                    Some(&(_, j)) if j == i => {}
                    // Shadowed by another feature's canonical or Xen name.
                    Some(&(other_level, _)) if other_level < level => {}
                    Some(&(_, j)) => {
                        let other = &features[j];
                        return Err(format!(
                            "{FEATURES_TSV}:{}: name {n:?} of {} already names {} (line {})",
                            f.line, f.name, other.name, other.line
                        ));
                    }
                }
            }
        }
    }
    Ok(index.into_iter().map(|(n, (_, i))| (n, i)).collect())
}

fn check_features(features: &[FeatureRow]) -> Result<(), String> {
    let mut at_bit = BTreeMap::new();
    for f in features {
        if let Some(other) = at_bit.insert((f.reg, f.bit), f) {
            return Err(format!(
                "{FEATURES_TSV}:{}: {} has the same bit as {} (line {})",
                f.line, f.name, other.name, other.line
            ));
        }
    }
    name_index(features)?;
    let index: BTreeMap<&str, usize> = features
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    for f in features {
        for d in &f.depends {
            if !index.contains_key(d.as_str()) {
                return Err(format!(
                    "{FEATURES_TSV}:{}: {} depends on unknown feature {d:?}",
                    f.line, f.name
                ));
            }
        }
    }
    // Depth-first search for a cycle: 0 unvisited, 1 on the stack, 2 done.
    fn visit(
        i: usize,
        features: &[FeatureRow],
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
    ) -> Result<(), String> {
        match state[i] {
            1 => {
                return Err(format!(
                    "{FEATURES_TSV}:{}: dependency cycle through {}",
                    features[i].line, features[i].name
                ));
            }
            2 => return Ok(()),
            _ => {}
        }
        state[i] = 1;
        for d in &features[i].depends {
            visit(index[d.as_str()], features, index, state)?;
        }
        state[i] = 2;
        Ok(())
    }
    let mut state = vec![0u8; features.len()];
    for i in 0..features.len() {
        visit(i, features, &index, &mut state)?;
    }
    Ok(())
}

fn parse_fields(text: &str) -> Result<Vec<FieldRow>, String> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (line, c) in rows(text, FIELDS_TSV, &FIELD_COLUMNS)? {
        let at = format!("{FIELDS_TSV}:{line}");
        let shift: u8 = c[5]
            .parse()
            .map_err(|_| format!("{at}: bad shift {:?}", c[5]))?;
        let width: u8 = c[6]
            .parse()
            .map_err(|_| format!("{at}: bad width {:?}", c[6]))?;
        if width == 0 || u32::from(shift) + u32::from(width) > 32 {
            return Err(format!("{at}: field bits {shift}+{width} do not fit in 32"));
        }
        let per_cpu = match c[7] {
            "y" => true,
            "n" => false,
            other => return Err(format!("{at}: per_cpu is y or n, found {other:?}")),
        };
        let row = FieldRow {
            name: c[0].to_owned(),
            libxl: opt(c[1]),
            leaf: hex(c[2], &at)?,
            subleaf: subleaf(c[3], &at)?,
            reg: register(c[4], &at)?,
            shift,
            width,
            per_cpu,
            description: c[8].to_owned(),
        };
        let own: BTreeSet<String> = [Some(&row.name), row.libxl.as_ref()]
            .into_iter()
            .flatten()
            .map(|n| fold(n))
            .collect();
        for n in own {
            if !names.insert(n.clone()) {
                return Err(format!("{at}: field name {n:?} is used twice"));
            }
        }
        out.push(row);
    }
    Ok(out)
}

const REGISTERS: [&str; 4] = ["Eax", "Ebx", "Ecx", "Edx"];

fn subleaf_code(s: Option<u32>) -> String {
    match s {
        Some(s) => format!("Some({s})"),
        None => "None".to_owned(),
    }
}

fn reg_code(r: RegKey) -> String {
    let (kind, a, sub, b) = r;
    if kind == 0 {
        format!(
            "FeatureRegister::cpuid({a:#x}, {}, Register::{})",
            subleaf_code(sub),
            REGISTERS[usize::from(b)]
        )
    } else {
        let half = if b == 0 { "Low" } else { "High" };
        format!("FeatureRegister::Msr {{ index: {a:#x}, half: MsrHalf::{half} }}")
    }
}

fn opt_code(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("Some({s:?})"),
        None => "None".to_owned(),
    }
}

fn list_code(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("&[{}]", quoted.join(", "))
}

fn render(features: &[FeatureRow], fields: &[FieldRow]) -> Result<String, String> {
    if features.len() > usize::from(u16::MAX) {
        return Err("too many features for a u16 id".to_owned());
    }
    let mut o = String::new();
    o.push_str(
        "// @generated by `cargo xtask codegen` from crates/cpuid-defs/data/features.tsv\n\
         // and data/fields.tsv. Do not edit: change the data files and regenerate.\n\n\
         use crate::{\n    Class, DependencySources, Feature, FeatureId, FeatureRegister, Field, LeafKey, Location,\n    MsrHalf, Register, Vendors,\n};\n\n",
    );
    render_features(&mut o, features);
    render_registers(&mut o, features);
    render_names(&mut o, features)?;
    render_fields(&mut o, fields);
    Ok(o)
}

/// `FEATURE_COUNT` and `FEATURES`, one `Feature` a row.
fn render_features(o: &mut String, features: &[FeatureRow]) {
    let index: BTreeMap<&str, usize> = features
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    let _ = writeln!(o, "/// Number of rows in [`FEATURES`].");
    let _ = writeln!(
        o,
        "pub(crate) const FEATURE_COUNT: usize = {};\n",
        features.len()
    );
    let _ = writeln!(o, "/// Every feature, in location order.");
    let _ = writeln!(
        o,
        "pub(crate) static FEATURES: [Feature; FEATURE_COUNT] = ["
    );
    for (i, f) in features.iter().enumerate() {
        render_feature(o, i, f, &index);
    }
    o.push_str("];\n\n");
}

/// One `Feature { … },` of `FEATURES`; `index` gives each name's id.
fn render_feature(o: &mut String, i: usize, f: &FeatureRow, index: &BTreeMap<&str, usize>) {
    let (kind, a, sub, b) = f.reg;
    let location = if kind == 0 {
        format!(
            "Location::cpuid({a:#x}, {}, Register::{}, {})",
            subleaf_code(sub),
            REGISTERS[usize::from(b)],
            f.bit
        )
    } else {
        format!("Location::Msr {{ index: {a:#x}, bit: {} }}", f.bit)
    };
    let deps: Vec<String> = f
        .depends
        .iter()
        .map(|d| format!("FeatureId({})", index[d.as_str()]))
        .collect();
    let _ = writeln!(o, "    Feature {{");
    let _ = writeln!(o, "        id: FeatureId({i}),");
    let _ = writeln!(o, "        name: {:?},", f.name);
    let _ = writeln!(o, "        xen_name: {},", opt_code(xen_name(f).as_deref()));
    let _ = writeln!(
        o,
        "        xen_attrs: {},",
        opt_code(f.xen_attrs.as_deref())
    );
    let _ = writeln!(o, "        linux_name: {},", opt_code(f.linux.as_deref()));
    let _ = writeln!(
        o,
        "        linux_macro: {},",
        opt_code(f.linux_macro.as_deref())
    );
    let _ = writeln!(o, "        qemu_name: {},", opt_code(f.qemu.as_deref()));
    let _ = writeln!(
        o,
        "        libvirt_name: {},",
        opt_code(f.libvirt.as_deref())
    );
    let _ = writeln!(o, "        libxl_legacy_names: {},", list_code(&f.libxl));
    let _ = writeln!(o, "        other_aliases: {},", list_code(&f.aliases));
    let _ = writeln!(o, "        location: {location},");
    let _ = writeln!(o, "        vendors: Vendors({:#04x}),", f.vendors);
    let _ = writeln!(o, "        class: Class::{},", f.class);
    let _ = writeln!(o, "        depends: &[{}],", deps.join(", "));
    let sources: Vec<String> = f
        .depends_sources
        .iter()
        .map(|b| format!("DependencySources({b:#x})"))
        .collect();
    let _ = writeln!(o, "        depends_sources: &[{}],", sources.join(", "));
    let _ = writeln!(o, "        description: {:?},", f.description);
    let _ = writeln!(o, "        reference: {:?},", f.reference);
    let _ = writeln!(o, "    }},");
}

/// `FEATURE_REGISTERS` and `REGISTER_RANGES`: each register with named bits
/// and its run of `FEATURES` (which are in location order).
fn render_registers(o: &mut String, features: &[FeatureRow]) {
    let mut regs: Vec<(RegKey, usize, usize)> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        match regs.last_mut() {
            Some((r, _, end)) if *r == f.reg => *end = i + 1,
            _ => regs.push((f.reg, i, i + 1)),
        }
    }
    let _ = writeln!(o, "/// Every register with named bits, sorted.");
    let _ = writeln!(
        o,
        "pub(crate) static FEATURE_REGISTERS: [FeatureRegister; {}] = [",
        regs.len()
    );
    for (r, _, _) in &regs {
        let _ = writeln!(o, "    {},", reg_code(*r));
    }
    o.push_str("];\n\n");
    let _ = writeln!(
        o,
        "/// For each of [`FEATURE_REGISTERS`], its run of [`FEATURES`]."
    );
    let _ = writeln!(
        o,
        "pub(crate) static REGISTER_RANGES: [(u16, u16); {}] = [",
        regs.len()
    );
    for (_, start, end) in &regs {
        let _ = writeln!(o, "    ({start}, {end}),");
    }
    o.push_str("];\n\n");
}

/// `NAME_INDEX`: every folded name and its feature's id.
fn render_names(o: &mut String, features: &[FeatureRow]) -> Result<(), String> {
    let names = name_index(features)?;
    let _ = writeln!(
        o,
        "/// Every folded name (lower case, `-` as `_`) and its feature, sorted for binary search."
    );
    let _ = writeln!(
        o,
        "pub(crate) static NAME_INDEX: [(&str, u16); {}] = [",
        names.len()
    );
    for (n, i) in &names {
        let _ = writeln!(o, "    ({n:?}, {i}),");
    }
    o.push_str("];\n\n");

    Ok(())
}

/// `FIELDS`: every multi-bit field.
fn render_fields(o: &mut String, fields: &[FieldRow]) {
    let _ = writeln!(o, "/// Every multi-bit field.");
    let _ = writeln!(o, "pub(crate) static FIELDS: [Field; {}] = [", fields.len());
    for f in fields {
        let _ = writeln!(o, "    Field {{");
        let _ = writeln!(o, "        name: {:?},", f.name);
        let _ = writeln!(o, "        libxl_name: {},", opt_code(f.libxl.as_deref()));
        let _ = writeln!(
            o,
            "        key: LeafKey::new({:#x}, {}),",
            f.leaf,
            subleaf_code(f.subleaf)
        );
        let _ = writeln!(
            o,
            "        register: Register::{},",
            REGISTERS[usize::from(f.reg)]
        );
        let _ = writeln!(o, "        shift: {},", f.shift);
        let _ = writeln!(o, "        width: {},", f.width);
        let _ = writeln!(o, "        per_cpu: {},", f.per_cpu);
        let _ = writeln!(o, "        description: {:?},", f.description);
        let _ = writeln!(o, "    }},");
    }
    o.push_str("];\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A features.tsv with a header and `rows` (each a tab-separated line).
    fn table(rows: &[&str]) -> String {
        let mut t = format!("# comment\n{}\n", FEATURE_COLUMNS.join("\t"));
        for r in rows {
            t.push_str(r);
            t.push('\n');
        }
        t
    }

    /// One row: name, bit, QEMU name, depends.
    fn row(name: &str, bit: u8, qemu: &str, depends: &str) -> String {
        format!(
            "{name}\t-\t0x00000001\t-\tecx\t{bit}\t*\tintersect\t-\t-\t{qemu}\t-\t-\t-\t{depends}\tref\tdesc"
        )
    }

    fn error(rows: &[String]) -> String {
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        match parse_features(&table(&rows)) {
            Ok(_) => panic!("accepted {rows:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_good_table_parses_in_location_order() {
        let rows = [row("B", 5, "-", "A"), row("A", 1, "-", "-")];
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let parsed = parse_features(&table(&rows)).unwrap();
        let names: Vec<&str> = parsed.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
    }

    #[test]
    fn two_features_on_one_bit_are_refused_with_both_lines() {
        let e = error(&[row("A", 1, "-", "-"), row("B", 1, "-", "-")]);
        assert!(
            e.contains("features.tsv:3") || e.contains("features.tsv:4"),
            "{e}"
        );
        assert!(e.contains("same bit"), "{e}");
    }

    #[test]
    fn an_ambiguous_name_is_refused() {
        let e = error(&[row("A", 1, "same", "-"), row("B", 2, "same", "-")]);
        assert!(e.contains("\"same\"") && e.contains("already names"), "{e}");
    }

    #[test]
    fn a_lesser_name_may_be_shadowed_by_a_canonical_one() {
        let rows = [row("A", 1, "b", "-"), row("B", 2, "-", "-")];
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let parsed = parse_features(&table(&rows)).unwrap();
        assert_eq!(name_index(&parsed).unwrap()["b"], 1);
    }

    #[test]
    fn an_unknown_prerequisite_is_refused() {
        let e = error(&[row("A", 1, "-", "NOPE")]);
        assert!(
            e.contains("features.tsv:3") && e.contains("\"NOPE\""),
            "{e}"
        );
    }

    #[test]
    fn a_dependency_cycle_is_refused() {
        let e = error(&[
            row("A", 1, "-", "C"),
            row("B", 2, "-", "A"),
            row("C", 3, "-", "B"),
        ]);
        assert!(e.contains("dependency cycle"), "{e}");
    }

    #[test]
    fn bad_cells_name_the_line() {
        let bad_bit = row("A", 1, "-", "-").replace("\t1\t", "\t32\t");
        assert!(error(&[bad_bit]).contains("features.tsv:3"));
        let bad_class = row("A", 1, "-", "-").replace("intersect", "sometimes");
        assert!(error(&[bad_class]).contains("expected a class"));
        let short = "A\t-".to_owned();
        assert!(error(&[short]).contains("tab-separated columns"));
    }
}
