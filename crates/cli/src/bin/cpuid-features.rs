//! `cpuid-features`: query xenmig's x86 CPUID feature table.

use cpuid_defs::{
    Feature, FeatureRegister, Location, MSR_ARCH_CAPABILITIES, MsrHalf, Register,
    feature_registers, features, features_in, fields, lookup, suggest,
};
use serde::Serialize;
use std::io::{self, BufWriter, Write};
use xenmig_cli::args::cpuid_features::{Args, Command, NAME as TOOL};
use xenmig_cli::{Failure, exit, finish, parse_args};

fn main() -> std::process::ExitCode {
    match parse_args::<Args>() {
        Ok(args) => finish(TOOL, false, run(args)),
        Err(code) => code,
    }
}

fn run(cli: Args) -> Result<u8, Failure> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = match cli.command {
        Command::List { json, class } => list(&mut out, json, class),
        Command::Show { name, json } => show(&mut out, &name, json),
        Command::Decode {
            leaf,
            register,
            value,
            json,
        } => decode(&mut out, &leaf, &register, &value, json),
        Command::Fields { json } => list_fields(&mut out, json),
    }?;
    out.flush().map_err(|e| Failure::io("standard output", e))?;
    Ok(code)
}

fn io_err(e: io::Error) -> Failure {
    Failure::io("standard output", e)
}

/// A feature as `list --json` and `show --json` print it.
#[derive(Serialize)]
struct FeatureJson {
    name: &'static str,
    xen_name: Option<&'static str>,
    leaf: Option<u32>,
    subleaf: Option<u32>,
    register: Option<&'static str>,
    msr: Option<u32>,
    bit: u8,
    class: &'static str,
    vendors: Vec<&'static str>,
    aliases: Vec<&'static str>,
    depends: Vec<&'static str>,
    description: &'static str,
    reference: &'static str,
    xen_attrs: Option<&'static str>,
    linux_name: Option<&'static str>,
    linux_macro: Option<&'static str>,
    qemu_name: Option<&'static str>,
    libvirt_name: Option<&'static str>,
    libxl_legacy_names: &'static [&'static str],
}

impl FeatureJson {
    fn new(f: &'static Feature) -> Self {
        let (leaf, subleaf, register, msr, bit) = match f.location {
            Location::Cpuid { key, register, bit } => (
                Some(key.leaf),
                key.subleaf,
                Some(register.as_str()),
                None,
                bit,
            ),
            Location::Msr { index, bit } => (None, None, None, Some(index), bit),
        };
        FeatureJson {
            name: f.name,
            xen_name: f.xen_name,
            leaf,
            subleaf,
            register,
            msr,
            bit,
            class: f.class.as_str(),
            vendors: f.vendors.names().collect(),
            aliases: f.aliases().collect(),
            depends: f
                .depends
                .iter()
                .map(|d| cpuid_defs::feature(*d).name)
                .collect(),
            description: f.description,
            reference: f.reference,
            xen_attrs: f.xen_attrs,
            linux_name: f.linux_name,
            linux_macro: f.linux_macro,
            qemu_name: f.qemu_name,
            libvirt_name: f.libvirt_name,
            libxl_legacy_names: f.libxl_legacy_names,
        }
    }
}

fn write_json(out: &mut impl Write, value: &impl Serialize) -> Result<(), Failure> {
    // io::Error::from keeps the kind of an I/O failure, so a closed pipe
    // stays a quiet success.
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| io_err(io::Error::from(e)))?;
    writeln!(out).map_err(io_err)
}

fn list(out: &mut impl Write, json: bool, class: Option<cpuid_defs::Class>) -> Result<u8, Failure> {
    let selected = features()
        .iter()
        .filter(|f| class.is_none_or(|c| f.class == c));
    if json {
        let all: Vec<FeatureJson> = selected.map(FeatureJson::new).collect();
        write_json(out, &all)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{:<26} {:<24} {:<10} DESCRIPTION",
        "NAME", "LOCATION", "CLASS"
    )
    .map_err(io_err)?;
    for f in selected {
        writeln!(
            out,
            "{:<26} {:<24} {:<10} {}",
            f.name,
            f.location.to_string(),
            f.class.as_str(),
            f.description
        )
        .map_err(io_err)?;
    }
    Ok(exit::OK)
}

/// The feature called `name`, or the "did you mean" failure.
fn find(name: &str) -> Result<&'static Feature, Failure> {
    if let Some(f) = lookup(name) {
        return Ok(f);
    }
    let hint = match suggest(name) {
        Some(s) => match s.xen_name {
            Some(xl) if xl != s.name => format!("; did you mean {} ({xl})?", s.name),
            _ => format!("; did you mean {}?", s.name),
        },
        None => String::new(),
    };
    Err(Failure::bad_input(format!(
        "unknown feature name {name:?}{hint}"
    )))
}

/// `leaf.register[hi:lo]` of a field.
fn field_location(f: &cpuid_defs::Field) -> String {
    let hi = u32::from(f.shift) + u32::from(f.width) - 1;
    format!("{}.{}[{hi}:{}]", f.key, f.register, f.shift)
}

/// `show` of a name that is a multi-bit field rather than a feature bit.
fn show_field(out: &mut impl Write, f: &cpuid_defs::Field) -> Result<u8, Failure> {
    let lines = [
        ("field", f.name.to_owned()),
        ("location", field_location(f)),
        ("libxl", or_dash(f.libxl_name).to_owned()),
        ("per-cpu", if f.per_cpu { "yes" } else { "no" }.to_owned()),
        ("description", f.description.to_owned()),
    ];
    for (label, value) in lines {
        writeln!(out, "{label:<16} {value}").map_err(io_err)?;
    }
    Ok(exit::OK)
}

fn names(list: impl Iterator<Item = &'static Feature>) -> String {
    let v: Vec<&str> = list.map(|f| f.name).collect();
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.join(" ")
    }
}

/// Direct prerequisites with the upstream graphs that state each edge:
/// `AVX (xen,linux) SSE2 (manuals)`.
fn depends_on(f: &Feature) -> String {
    let v: Vec<String> = f
        .dependencies()
        .map(|(d, sources)| format!("{} ({sources})", d.name))
        .collect();
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.join(" ")
    }
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

fn show(out: &mut impl Write, name: &str, json: bool) -> Result<u8, Failure> {
    // Features first, as libxl does for flags; `clflush` is both the flag's
    // Xen name and libxl's numeric line-size key.
    if lookup(name).is_none()
        && let Some(field) = cpuid_defs::field(name)
    {
        if json {
            write_json(out, &FieldJson::new(field))?;
            return Ok(exit::OK);
        }
        return show_field(out, field);
    }
    let f = find(name)?;
    let dependents = f.dependents_closure();
    if json {
        #[derive(Serialize)]
        struct Show {
            #[serde(flatten)]
            feature: FeatureJson,
            depends_closure: Vec<&'static str>,
            direct_dependents: Vec<&'static str>,
            dependents_closure: Vec<&'static str>,
        }
        let value = Show {
            feature: FeatureJson::new(f),
            depends_closure: f.depends_closure().features().map(|d| d.name).collect(),
            direct_dependents: f.direct_dependents().map(|d| d.name).collect(),
            dependents_closure: dependents.features().map(|d| d.name).collect(),
        };
        write_json(out, &value)?;
        return Ok(exit::OK);
    }
    let xen = match (f.xen_name, f.xen_attrs) {
        (Some(n), Some(a)) => format!("{n} (attributes {a:?})"),
        _ => "-".to_owned(),
    };
    let aliases: Vec<&str> = f.aliases().collect();
    let lines = [
        ("name", f.name.to_owned()),
        ("location", f.location.to_string()),
        ("class", f.class.as_str().to_owned()),
        ("vendors", f.vendors.to_string()),
        ("description", f.description.to_owned()),
        ("reference", f.reference.to_owned()),
        ("xen", xen),
        ("linux", or_dash(f.linux_name).to_owned()),
        ("linux macro", or_dash(f.linux_macro).to_owned()),
        ("qemu", or_dash(f.qemu_name).to_owned()),
        ("libvirt", or_dash(f.libvirt_name).to_owned()),
        (
            "libxl legacy",
            if f.libxl_legacy_names.is_empty() {
                "-".to_owned()
            } else {
                f.libxl_legacy_names.join(" ")
            },
        ),
        (
            "aliases",
            if aliases.is_empty() {
                "-".to_owned()
            } else {
                aliases.join(" ")
            },
        ),
        ("depends on", depends_on(f)),
        ("needs (all)", names(f.depends_closure().features())),
        ("needed by", names(f.direct_dependents())),
        ("needed by (all)", names(dependents.features())),
    ];
    for (label, value) in lines {
        writeln!(out, "{label:<16} {value}").map_err(io_err)?;
    }
    Ok(exit::OK)
}

/// Parses a number given in 0x-hex or decimal.
fn parse_number(s: &str, what: &str) -> Result<u64, Failure> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => t.replace('_', "").parse::<u64>(),
    };
    parsed.map_err(|_| {
        Failure::usage_or_io(format!(
            "{what}: expected a number in 0x-hex or decimal, found {s:?}"
        ))
    })
}

fn parse_u32(s: &str, what: &str) -> Result<u32, Failure> {
    let n = parse_number(s, what)?;
    u32::try_from(n)
        .map_err(|_| Failure::usage_or_io(format!("{what}: {s} does not fit in 32 bits")))
}

/// The register a `decode` command names.
fn parse_register(leaf: &str, register: &str) -> Result<FeatureRegister, Failure> {
    if leaf.eq_ignore_ascii_case("msr") {
        let index = parse_u32(register, "MSR index")?;
        return Ok(FeatureRegister::Msr {
            index,
            half: MsrHalf::Low,
        });
    }
    let (leaf_text, subleaf_text) = match leaf.split_once('.') {
        Some((l, s)) => (l, Some(s)),
        None => (leaf, None),
    };
    let leaf = parse_u32(leaf_text, "leaf")?;
    let subleaf = subleaf_text.map(|s| parse_u32(s, "subleaf")).transpose()?;
    let register: Register = register
        .parse()
        .map_err(|e| Failure::usage_or_io(format!("register: {e}, found {register:?}")))?;
    Ok(FeatureRegister::cpuid(leaf, subleaf, register))
}

/// Why `reg` has no named bits, with the spelling the user probably meant.
fn no_such_register(reg: FeatureRegister) -> Failure {
    if let FeatureRegister::Cpuid { key, register } = reg {
        let near: Vec<String> = feature_registers()
            .iter()
            .filter_map(|r| match r {
                FeatureRegister::Cpuid {
                    key: k,
                    register: g,
                } if k.leaf == key.leaf && *g == register => Some(k.to_string()),
                _ => None,
            })
            .collect();
        if !near.is_empty() {
            return Failure::bad_input(format!(
                "{reg} has no named bits; did you mean {} {register}?",
                near.join(" or ")
            ));
        }
    }
    Failure::bad_input(format!("{reg} has no named feature bits"))
}

#[derive(Serialize)]
struct DecodedBit {
    name: &'static str,
    bit: u8,
    class: &'static str,
    description: &'static str,
}

/// The named bits set in each (register, value) of `halves`, and the bits
/// set that have no name (an MSR's high half above bit 31).
fn decoded_bits(halves: &[(FeatureRegister, u32)]) -> (Vec<DecodedBit>, u64) {
    let mut bits = Vec::new();
    let mut unnamed = 0u64;
    for (r, v) in halves {
        for f in cpuid_defs::decode(*r, *v) {
            let bit = match f.location {
                Location::Cpuid { bit, .. } | Location::Msr { bit, .. } => bit,
            };
            bits.push(DecodedBit {
                name: f.name,
                bit,
                class: f.class.as_str(),
                description: f.description,
            });
        }
        let half = match r {
            FeatureRegister::Msr { half, .. } => *half,
            FeatureRegister::Cpuid { .. } => MsrHalf::Low,
        };
        unnamed |= half.place(cpuid_defs::uncovered_bits(*r, *v));
    }
    (bits, unnamed)
}

/// How `decode` names the register: an MSR by index (and name, for
/// IA32_ARCH_CAPABILITIES), a CPUID register as asked and, when it resolves
/// to another, as resolved.
fn register_label(asked: FeatureRegister, resolved: FeatureRegister) -> String {
    match resolved {
        FeatureRegister::Msr { index, .. } if index == MSR_ARCH_CAPABILITIES => {
            format!("msr {index:#x} (IA32_ARCH_CAPABILITIES)")
        }
        FeatureRegister::Msr { index, .. } => format!("msr {index:#x}"),
        cpuid if cpuid != asked => format!("{asked} (as {cpuid})"),
        cpuid => cpuid.to_string(),
    }
}

fn decode(
    out: &mut impl Write,
    leaf: &str,
    register: &str,
    value: &str,
    json: bool,
) -> Result<u8, Failure> {
    let asked = parse_register(leaf, register)?;
    let reg = cpuid_defs::resolve_register(asked);
    let is_msr = matches!(reg, FeatureRegister::Msr { .. });
    let value = if is_msr {
        parse_number(value, "value")?
    } else {
        u64::from(parse_u32(value, "value")?)
    };
    // An MSR is two 32-bit feature registers; decode both halves.
    let halves: Vec<(FeatureRegister, u32)> = match reg {
        FeatureRegister::Msr { index, .. } => MsrHalf::BOTH
            .into_iter()
            .map(|half| (FeatureRegister::Msr { index, half }, half.of(value)))
            .collect(),
        cpuid => vec![(cpuid, value as u32)],
    };
    if halves.iter().all(|(r, _)| features_in(*r).next().is_none()) {
        return Err(no_such_register(reg));
    }
    let (bits, unnamed) = decoded_bits(&halves);
    let label = register_label(asked, reg);
    if json {
        #[derive(Serialize)]
        struct Decoded<'a> {
            register: &'a str,
            value: u64,
            features: &'a [DecodedBit],
            unnamed_bits: u64,
        }
        write_json(
            out,
            &Decoded {
                register: &label,
                value,
                features: &bits,
                unnamed_bits: unnamed,
            },
        )?;
        return Ok(exit::OK);
    }
    let width = if is_msr { 16 } else { 8 };
    writeln!(out, "{label} = {value:#0w$x}", w = width + 2).map_err(io_err)?;
    for b in &bits {
        writeln!(
            out,
            "  bit {:>2}  {:<25} {:<10} {}",
            b.bit, b.name, b.class, b.description
        )
        .map_err(io_err)?;
    }
    if unnamed != 0 {
        writeln!(out, "  unnamed bits: {unnamed:#0w$x}", w = width + 2).map_err(io_err)?;
    }
    Ok(exit::OK)
}

/// A multi-bit field as `fields --json` and `show --json` print it.
#[derive(Serialize)]
struct FieldJson {
    name: &'static str,
    libxl_name: Option<&'static str>,
    leaf: u32,
    subleaf: Option<u32>,
    register: &'static str,
    shift: u8,
    width: u8,
    per_cpu: bool,
    description: &'static str,
}

impl FieldJson {
    fn new(f: &'static cpuid_defs::Field) -> Self {
        FieldJson {
            name: f.name,
            libxl_name: f.libxl_name,
            leaf: f.key.leaf,
            subleaf: f.key.subleaf,
            register: f.register.as_str(),
            shift: f.shift,
            width: f.width,
            per_cpu: f.per_cpu,
            description: f.description,
        }
    }
}

fn list_fields(out: &mut impl Write, json: bool) -> Result<u8, Failure> {
    if json {
        let all: Vec<FieldJson> = fields().iter().map(FieldJson::new).collect();
        write_json(out, &all)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{:<30} {:<22} {:<8} DESCRIPTION",
        "NAME", "LOCATION", "PER-CPU"
    )
    .map_err(io_err)?;
    for f in fields() {
        let location = field_location(f);
        writeln!(
            out,
            "{:<30} {:<22} {:<8} {}",
            f.name,
            location,
            if f.per_cpu { "yes" } else { "no" },
            f.description
        )
        .map_err(io_err)?;
    }
    Ok(exit::OK)
}
