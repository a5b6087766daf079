//! Parsers for the CPUID dump formats people have, into [`HostCpuid`].
//!
//! | [`Format`] | what produces it |
//! |---|---|
//! | [`Format::CpuidTool`] | `cpuid -1r` (one CPU) and `cpuid -r` (every CPU) |
//! | [`Format::XenCpuid`] | `xen-cpuid -p` (Xen's policies; the Host policy is used, else Raw) |
//! | [`Format::Aida64`] | AIDA64 / InstLatx64 text dumps |
//! | [`Format::Libvirt`] | libvirt's `cpu-gather` XML, `<cpudata><cpuid eax_in=… …/></cpudata>` |
//! | [`Format::Json`] | xenmig's own JSON (see [`write::json`]) |
//!
//! [`parse`] detects the format of each file unless one is forced. Every
//! parser checks that all CPUs of a multi-CPU dump agree on their feature
//! registers (per-CPU fields such as APIC ids are not compared), and drops the
//! leaves beyond the maximum each leaf range reports. Errors name the file, the
//! line and what was expected.
//!
//! ```
//! use maskcalc::dump::{parse, Format};
//! let text = "CPU:\n   0x00000000 0x00: eax=0x00000001 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   \
//!             0x00000001 0x00: eax=0x000306f2 ebx=0x00400800 ecx=0x7ffefbff edx=0xbfebfbff\n";
//! let host = parse("node1", text.as_bytes(), None).unwrap();
//! assert_eq!(host.vendor_string().as_deref(), Some("GenuineIntel"));
//! assert_eq!(host.register(1, 0, maskcalc::model::ECX), 0x7ffefbff);
//! let err = parse("node2", b"CPU:\n   0x00000001 0x00: eax=0x1\n", Some(Format::CpuidTool)).unwrap_err();
//! assert!(err.to_string().starts_with("node2:2: "));
//! ```

mod aida64;
mod cpuid_tool;
mod json;
mod libvirt;
mod text;
pub mod write;
mod xen_cpuid;
pub(crate) mod xml;

use std::fmt;

use crate::model::{CpuidInput, HostCpuid};

pub use json::{DUMP_FORMAT_NAME, DUMP_FORMAT_VERSION};

/// Largest dump file accepted, in bytes. Real dumps are a few KiB; AIDA64
/// dumps with every logical CPU of a large server reach a few MiB.
pub const MAX_DUMP_BYTES: usize = 32 << 20;
/// Largest number of distinct leaves/subleaves one CPU may report.
pub const MAX_LEAVES: usize = 8192;
/// Largest number of MSRs one dump may carry.
pub const MAX_MSRS: usize = 4096;

/// A CPUID dump format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Todd Allen's `cpuid -1r` / `cpuid -r` raw output.
    CpuidTool,
    /// `xen-cpuid -p` policy output.
    XenCpuid,
    /// AIDA64 / InstLatx64 `CPUID xxxxxxxx: EAX-EBX-ECX-EDX` text.
    Aida64,
    /// libvirt `<cpudata>` XML from `cpu-gather`.
    Libvirt,
    /// xenmig's own JSON dump.
    Json,
}

impl Format {
    /// Every format, in detection order.
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Libvirt,
        Format::XenCpuid,
        Format::Aida64,
        Format::CpuidTool,
    ];

    /// The name used on command lines (`--input-format`).
    pub fn name(self) -> &'static str {
        match self {
            Format::CpuidTool => "cpuid",
            Format::XenCpuid => "xen-cpuid",
            Format::Aida64 => "aida64",
            Format::Libvirt => "libvirt",
            Format::Json => "json",
        }
    }

    /// The format with this command-line name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dump that cannot be used: which file, which line (when one is to blame) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpError {
    /// The file name as the user gave it.
    pub file: String,
    /// The 1-based line number, when one line is to blame.
    pub line: Option<usize>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for DumpError {}

/// An error inside one parser, before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineError {
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

impl LineError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        LineError {
            line: Some(line),
            message: message.into(),
        }
    }

    pub(crate) fn whole(message: impl Into<String>) -> Self {
        LineError {
            line: None,
            message: message.into(),
        }
    }
}

/// Parses one dump. `file` names it in errors; `format` forces a format
/// instead of detecting it.
pub fn parse(file: &str, bytes: &[u8], format: Option<Format>) -> Result<HostCpuid, DumpError> {
    let fail = |e: LineError| DumpError {
        file: file.to_owned(),
        line: e.line,
        message: e.message,
    };
    if bytes.len() > MAX_DUMP_BYTES {
        return Err(fail(LineError::whole(format!(
            "expected a CPUID dump of at most {MAX_DUMP_BYTES} bytes, found a larger one"
        ))));
    }
    // AIDA64 dumps written on Windows may carry Latin-1 text (`°C`, `®`) in
    // sections the parser skips; a bad byte on a data line still fails there.
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();
    if text.trim().is_empty() {
        return Err(fail(LineError::whole(
            "expected a CPUID dump, found an empty file",
        )));
    }
    let format = match format {
        Some(format) => format,
        None => detect(text).ok_or_else(|| {
            fail(LineError::whole(
                "cannot tell the dump format: expected `cpuid -1r`/`cpuid -r` output, \
                 `xen-cpuid -p` output, an AIDA64 dump, libvirt <cpudata> XML or xenmig JSON \
                 (force one with --input-format)",
            ))
        })?,
    };
    let mut host = match format {
        Format::CpuidTool => cpuid_tool::parse(text),
        Format::XenCpuid => xen_cpuid::parse(text),
        Format::Aida64 => aida64::parse(text),
        Format::Libvirt => libvirt::parse(text),
        Format::Json => json::parse(text),
    }
    .map_err(fail)?;
    if host.max_basic_leaf().is_none() {
        return Err(fail(LineError::whole(format!(
            "expected leaf 0x00000000 with the vendor and a maximum basic leaf below 0x40000000 \
             in this {format} dump, found none"
        ))));
    }
    host.retain_reported_leaves();
    Ok(host)
}

/// Guesses the format of a dump from its text; `None` when nothing fits.
///
/// ```
/// use maskcalc::dump::{detect, Format};
/// assert_eq!(detect("CPU:\n   0x00000000 0x00: eax=0x0 ebx=0x0 ecx=0x0 edx=0x0\n"), Some(Format::CpuidTool));
/// assert_eq!(detect("<cpudata arch='x86'>\n</cpudata>\n"), Some(Format::Libvirt));
/// assert_eq!(detect("hello\n"), None);
/// ```
pub fn detect(text: &str) -> Option<Format> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        return Some(Format::Json);
    }
    if trimmed.contains("<cpudata") {
        return Some(Format::Libvirt);
    }
    let mut cpuid_tool_lines = 0usize;
    for line in text.lines().map(str::trim) {
        if xen_cpuid::is_policy_title(line) || line.starts_with("Xen reports there are maximum") {
            return Some(Format::XenCpuid);
        }
        if aida64::is_data_line(line) {
            return Some(Format::Aida64);
        }
        if cpuid_tool::is_header(line) || cpuid_tool::looks_like_data(line) {
            cpuid_tool_lines += 1;
        }
    }
    (cpuid_tool_lines > 0).then_some(Format::CpuidTool)
}

/// Collects the CPUs of a multi-CPU dump one at a time: the first CPU is kept,
/// every later one is compared with it on the feature registers and dropped,
/// so memory does not grow with the number of CPUs.
pub(crate) struct CpuAgreement {
    reference: Option<(String, HostCpuid)>,
    compared: Vec<(CpuidInput, usize)>,
}

impl CpuAgreement {
    pub(crate) fn new() -> Self {
        CpuAgreement {
            reference: None,
            compared: crate::defs::feature_cpuid_registers(),
        }
    }

    /// Adds one CPU's leaves; `name` says which CPU ("CPU 3"), `block.line` where
    /// its block starts and `block.leaf_lines` where each leaf was read.
    pub(crate) fn add(&mut self, block: CpuBlock) -> Result<(), LineError> {
        let CpuBlock {
            name,
            line,
            mut cpu,
            leaf_lines,
        } = block;
        cpu.retain_reported_leaves();
        let Some((ref_name, reference)) = &self.reference else {
            self.reference = Some((name, cpu));
            return Ok(());
        };
        for &(input, reg) in &self.compared {
            let a = reference.register(input.leaf, input.subleaf, reg);
            let b = cpu.register(input.leaf, input.subleaf, reg);
            if a != b {
                return Err(LineError::at(
                    leaf_lines.get(&input).copied().unwrap_or(line),
                    format!(
                        "expected every CPU of one host to report the same features, but {name} \
                         reports leaf {:#010x} subleaf {:#x} {} = {b:#010x} where {ref_name} reports {a:#010x} \
                         (differing bits {:#010x}); a host's CPUs must agree (hybrid parts cannot be pooled)",
                        input.leaf,
                        input.subleaf,
                        crate::defs::register_name(reg),
                        a ^ b
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The first CPU, or an error when the dump had none.
    pub(crate) fn finish(self, what: &str) -> Result<HostCpuid, LineError> {
        self.reference.map(|(_, cpu)| cpu).ok_or_else(|| {
            LineError::whole(format!(
                "expected at least one CPU in this {what}, found none"
            ))
        })
    }
}

/// One CPU's block of a multi-CPU dump, as a parser collects it.
pub(crate) struct CpuBlock {
    /// Which CPU, for messages ("CPU 3").
    pub(crate) name: String,
    /// The line where the block starts.
    pub(crate) line: usize,
    /// Its leaves.
    pub(crate) cpu: HostCpuid,
    /// The line of each leaf.
    pub(crate) leaf_lines: std::collections::BTreeMap<CpuidInput, usize>,
}

impl CpuBlock {
    pub(crate) fn new(name: String, line: usize) -> Self {
        CpuBlock {
            name,
            line,
            cpu: HostCpuid::default(),
            leaf_lines: std::collections::BTreeMap::new(),
        }
    }

    /// Adds a leaf read at `line` (see [`insert_leaf`]).
    pub(crate) fn insert(
        &mut self,
        line: usize,
        input: CpuidInput,
        regs: [u32; 4],
        keep_first: bool,
    ) -> Result<(), LineError> {
        insert_leaf(&mut self.cpu, line, input, regs, keep_first)?;
        self.leaf_lines.entry(input).or_insert(line);
        Ok(())
    }
}

/// Inserts a leaf, bounding how many one CPU may have.
pub(crate) fn insert_leaf(
    cpu: &mut HostCpuid,
    line: usize,
    input: CpuidInput,
    regs: [u32; 4],
    keep_first: bool,
) -> Result<(), LineError> {
    if cpu.leaves.len() >= MAX_LEAVES && !cpu.leaves.contains_key(&input) {
        return Err(LineError::at(
            line,
            format!("expected at most {MAX_LEAVES} leaves per CPU, found more"),
        ));
    }
    if keep_first {
        cpu.leaves.entry(input).or_insert(regs);
        return Ok(());
    }
    if cpu.leaves.insert(input, regs).is_some() {
        return Err(LineError::at(
            line,
            format!(
                "expected each leaf once per CPU, found leaf {:#010x} subleaf {:#x} again",
                input.leaf, input.subleaf
            ),
        ));
    }
    Ok(())
}

/// Inserts an MSR, bounding how many a dump may have.
pub(crate) fn insert_msr(
    cpu: &mut HostCpuid,
    line: usize,
    index: u32,
    value: u64,
) -> Result<(), LineError> {
    if cpu.msrs.len() >= MAX_MSRS && !cpu.msrs.contains_key(&index) {
        return Err(LineError::at(
            line,
            format!("expected at most {MAX_MSRS} MSRs, found more"),
        ));
    }
    cpu.msrs.insert(index, value);
    Ok(())
}
