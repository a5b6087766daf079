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
//! leaves beyond the maximum each leaf range reports. A dump that lacks the
//! extended leaves, or the last leaf of a range, is refused as truncated.
//! Errors name the file, the line and what was expected.
//!
//! ```
//! use maskcalc::dump::{parse, Format};
//! let text = "CPU:\n   0x00000000 0x00: eax=0x00000001 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   \
//!             0x00000001 0x00: eax=0x000306f2 ebx=0x00400800 ecx=0x7ffefbff edx=0xbfebfbff\n   \
//!             0x80000000 0x00: eax=0x80000000 ebx=0x00000000 ecx=0x00000000 edx=0x00000000\n";
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
pub mod quirks;
mod text;
pub mod write;
mod xen_cpuid;
pub(crate) mod xml;

use std::fmt;

use crate::model::{CpuidInput, HostCpuid};

pub use json::{DUMP_FORMAT_NAME, DUMP_FORMAT_VERSION};

/// Largest dump file accepted, in bytes: 8 MiB. A `cpuid -1r` dump is 5 to
/// 8 KiB; `cpuid -r` repeats that per logical CPU, so 8 MiB holds every CPU of
/// a host with about a thousand of them, and AIDA64 dumps of a large server
/// are a few MiB. The whole dump is held while it is parsed, so this bounds
/// the parsers' memory too.
pub const MAX_DUMP_BYTES: usize = 8 << 20;
/// Largest number of distinct leaves/subleaves one CPU may report.
pub const MAX_LEAVES: usize = 8192;
/// Largest number of MSRs one dump may carry.
pub const MAX_MSRS: usize = 4096;

/// A CPUID dump format.
///
/// ```
/// use maskcalc::dump::Format;
/// assert_eq!(Format::XenCpuid.name(), "xen-cpuid");
/// assert_eq!(Format::from_name("aida64"), Some(Format::Aida64));
/// assert_eq!(Format::from_name("csv"), None);
/// // Every format's name round-trips, and Display writes it.
/// for format in Format::ALL {
///     assert_eq!(Format::from_name(&format.to_string()), Some(format));
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// A dump that cannot be used: what went wrong ([`DumpErrorKind`]), in
/// which file, at which line (when one is to blame), and the message that
/// says what was expected and found.
///
/// ```
/// use maskcalc::dump::{parse, DumpErrorKind};
/// let err = parse("node1", b"", None).unwrap_err();
/// assert_eq!(err.kind, DumpErrorKind::Empty);
/// assert_eq!(err.to_string(), "node1: expected a CPUID dump, found an empty file");
/// assert!(!err.is_undetected_format());
/// let err = parse("notes.txt", b"hello\n", None).unwrap_err();
/// assert!(err.is_undetected_format(), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DumpError {
    /// What went wrong.
    pub kind: DumpErrorKind,
    /// The file name as the user gave it.
    pub file: String,
    /// The 1-based line number, when one line is to blame.
    pub line: Option<usize>,
    /// What was expected and what was found.
    pub message: String,
}

/// What went wrong in a [`DumpError`].
///
/// ```
/// use maskcalc::dump::{parse, DumpErrorKind, Format};
/// // Leaf 0 says basic leaves go up to 7, but the dump stops at 1.
/// let text = "CPU:\n   0x00000000 0x00: eax=0x00000007 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   \
///             0x00000001 0x00: eax=0x000306f2 ebx=0x0 ecx=0x0 edx=0x0\n";
/// let err = parse("cut.txt", text.as_bytes(), Some(Format::CpuidTool)).unwrap_err();
/// assert_eq!(err.kind, DumpErrorKind::Truncated, "{err}");
/// let err = parse("bad.txt", b"CPU:\n   0x00000000 0x00: eax=zero\n", Some(Format::CpuidTool)).unwrap_err();
/// assert_eq!((err.kind, err.line), (DumpErrorKind::Malformed, Some(2)), "{err}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DumpErrorKind {
    /// The file is empty (or only white space).
    Empty,
    /// No format was forced and none could be detected.
    UndetectedFormat,
    /// The dump ends before what it announces (a leaf range cut short, an
    /// element never closed).
    Truncated,
    /// Larger than a bound: the file ([`MAX_DUMP_BYTES`]), its leaves, MSRs
    /// or attributes.
    TooLarge,
    /// The CPUs of one dump disagree on a feature register.
    CpusDisagree,
    /// A line or member is not what the format says.
    Malformed,
}

impl DumpError {
    /// True when the dump's format could not be detected (and none was
    /// forced): a caller can say how to force one (`--input-format`).
    pub fn is_undetected_format(&self) -> bool {
        self.kind == DumpErrorKind::UndetectedFormat
    }
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
    pub(crate) kind: DumpErrorKind,
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

impl LineError {
    /// A malformed line (use [`LineError::kind`] for another kind).
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        LineError {
            kind: DumpErrorKind::Malformed,
            line: Some(line),
            message: message.into(),
        }
    }

    /// A malformed dump, no line to blame.
    pub(crate) fn whole(message: impl Into<String>) -> Self {
        LineError {
            kind: DumpErrorKind::Malformed,
            line: None,
            message: message.into(),
        }
    }

    /// The same error, of `kind`.
    pub(crate) fn kind(self, kind: DumpErrorKind) -> Self {
        LineError { kind, ..self }
    }
}

/// Parses one dump. `file` names it in errors; `format` forces a format
/// instead of detecting it.
///
/// ```
/// use maskcalc::dump::{Format, parse};
/// use maskcalc::model::EBX;
/// let bytes = std::fs::read("../../testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt")?;
/// let cpuid = parse("skylake.txt", &bytes, None)?;
/// assert_eq!(cpuid.register(0, 0, EBX), 0x756e_6547); // "Genu"
/// assert_eq!(maskcalc::dump::detect(&String::from_utf8_lossy(&bytes)), Some(Format::CpuidTool));
///
/// let err = parse("junk.txt", b"not a dump at all", None).unwrap_err();
/// assert!(err.to_string().contains("junk.txt"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse(file: &str, bytes: &[u8], format: Option<Format>) -> Result<HostCpuid, DumpError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_text(file, text, bytes.len(), format),
        Err(_) if bytes.len() > MAX_DUMP_BYTES => parse_text(file, "", bytes.len(), format),
        Err(_) => parse_owned(file, bytes.to_vec(), format),
    }
}

/// [`parse`] of a dump the caller no longer needs: the bytes are taken by
/// value, so the dump is held once, whatever it contains.
///
/// ```
/// let text = "CPU:\n   0x00000000 0x00: eax=0x00000000 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   \
///             0x80000000 0x00: eax=0x80000000 ebx=0x0 ecx=0x0 edx=0x0\n";
/// let host = maskcalc::dump::parse_owned("node1", text.as_bytes().to_vec(), None).unwrap();
/// assert_eq!(host.vendor_string().as_deref(), Some("GenuineIntel"));
/// ```
pub fn parse_owned(
    file: &str,
    bytes: Vec<u8>,
    format: Option<Format>,
) -> Result<HostCpuid, DumpError> {
    let len = bytes.len();
    if len > MAX_DUMP_BYTES {
        return parse_text(file, "", len, format);
    }
    parse_text(file, &into_text(bytes), len, format)
}

/// The bytes as text, in place: AIDA64 dumps written on Windows may carry
/// Latin-1 text (`°C`, `®`) in sections the parser skips, so every byte that
/// is not UTF-8 becomes `?` (a bad byte on a data line still fails there).
/// Unlike `String::from_utf8_lossy`, this neither copies the dump nor
/// triples the size of binary garbage.
fn into_text(mut bytes: Vec<u8>) -> String {
    let mut pos = 0;
    while let Err(err) = std::str::from_utf8(&bytes[pos..]) {
        let start = pos + err.valid_up_to();
        let len = err.error_len().unwrap_or(bytes.len() - start);
        bytes[start..start + len].fill(b'?');
        pos = start + len;
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`parse`] of text already decoded; `len` is the size of the original
/// bytes (larger than [`MAX_DUMP_BYTES`]: refused without looking at `text`).
fn parse_text(
    file: &str,
    text: &str,
    len: usize,
    format: Option<Format>,
) -> Result<HostCpuid, DumpError> {
    let fail = |e: LineError| DumpError {
        kind: e.kind,
        file: file.to_owned(),
        line: e.line,
        message: e.message,
    };
    if len > MAX_DUMP_BYTES {
        return Err(fail(
            LineError::whole(format!(
                "expected a CPUID dump of at most {MAX_DUMP_BYTES} bytes, found a larger one \
                 (a `cpuid -1r` dump, one CPU, is a few KiB)"
            ))
            .kind(DumpErrorKind::TooLarge),
        ));
    }
    if text.trim().is_empty() {
        return Err(fail(
            LineError::whole("expected a CPUID dump, found an empty file")
                .kind(DumpErrorKind::Empty),
        ));
    }
    let format = match format {
        Some(format) => format,
        None => detect(text).ok_or_else(|| {
            fail(
                LineError::whole(
                    "cannot tell the dump format: expected `cpuid -1r`/`cpuid -r` output, \
                     `xen-cpuid -p` output, an AIDA64 dump, libvirt <cpudata> XML or xenmig JSON",
                )
                .kind(DumpErrorKind::UndetectedFormat),
            )
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
    missing_last_leaf(&host, format).map_err(fail)?;
    host.retain_reported_leaves();
    Ok(host)
}

/// A dump cut short (a copy that stopped, `head` of the file) still parses:
/// what gives it away is a range that ends before the maximum leaf its base
/// leaf reports. Every dumping tool prints each range up to its maximum (the
/// maximum leaf itself always answers), so a missing last leaf means missing
/// lines. Leaves inside a range may be absent (AMD has no leaf 4), and a
/// maximum beyond the range's 64 Ki leaves is junk that
/// [`HostCpuid::retain_reported_leaves`] drops.
fn missing_last_leaf(host: &HostCpuid, format: Format) -> Result<(), LineError> {
    let ranges = [
        (
            0,
            host.max_basic_leaf(),
            "maximum basic leaf that leaf 0x00000000",
        ),
        (
            crate::model::EXTENDED_BASE,
            host.max_extended_leaf(),
            "maximum extended leaf that leaf 0x80000000",
        ),
    ];
    if host.max_extended_leaf().is_none() {
        return Err(LineError::whole(format!(
            "expected leaf 0x80000000 (the extended leaves, where long mode and NX are) in this \
             {format} dump, found none: is the file truncated?"
        ))
        .kind(DumpErrorKind::Truncated));
    }
    for (base, max, what) in ranges {
        let Some(max) = max.filter(|&m| m >= base && m - base <= 0xffff) else {
            continue;
        };
        if host.leaves.keys().any(|k| k.leaf == max) {
            continue;
        }
        let last = host
            .leaves
            .keys()
            .map(|k| k.leaf)
            .filter(|&l| l >= base && l < max)
            .max()
            .unwrap_or(base);
        return Err(LineError::whole(format!(
            "expected leaf {max:#010x} (the {what} reports) in this {format} dump, found the \
             range ending at leaf {last:#010x}: is the file truncated?"
        ))
        .kind(DumpErrorKind::Truncated));
    }
    Ok(())
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
                )
                .kind(DumpErrorKind::CpusDisagree));
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
        )
        .kind(DumpErrorKind::TooLarge));
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
        )
        .kind(DumpErrorKind::TooLarge));
    }
    cpu.msrs.insert(index, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_become_one_question_mark_each_in_place() {
        assert_eq!(into_text(b"a\xb0C \xe2\x82 \xff\xfe".to_vec()), "a?C ?? ??");
        assert_eq!(into_text("°C ok".as_bytes().to_vec()), "°C ok");
        let garbage: Vec<u8> = (0..=255u8).cycle().take(1 << 16).collect();
        assert_eq!(into_text(garbage).len(), 1 << 16);
    }

    #[test]
    fn every_error_says_its_kind() {
        let kind = |bytes: &[u8]| parse("x", bytes, None).unwrap_err().kind;
        assert_eq!(kind(b""), DumpErrorKind::Empty);
        assert_eq!(kind(b" \n\t\n"), DumpErrorKind::Empty);
        assert_eq!(kind(b"hello\n"), DumpErrorKind::UndetectedFormat);
        assert_eq!(
            kind(&vec![b'x'; MAX_DUMP_BYTES + 1]),
            DumpErrorKind::TooLarge
        );
        assert_eq!(
            kind(b"CPU:\n   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e\n"),
            DumpErrorKind::Malformed
        );
        assert_eq!(
            kind(b"<cpudata arch='x86'>\n  <cpuid eax_in='0x0'"),
            DumpErrorKind::Truncated
        );
        let cpus = "CPU 0:\n   0x00000000 0x00: eax=0x00000001 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   \
                    0x00000001 0x00: eax=0x000306f2 ebx=0x0 ecx=0x7ffefbff edx=0xbfebfbff\n   \
                    0x80000000 0x00: eax=0x80000000 ebx=0x0 ecx=0x0 edx=0x0\n";
        let two = format!(
            "{cpus}{}",
            cpus.replace("CPU 0", "CPU 1")
                .replace("0x7ffefbff", "0x7ffefbfe")
        );
        assert_eq!(kind(two.as_bytes()), DumpErrorKind::CpusDisagree);
    }

    #[test]
    fn a_dump_cut_at_any_line_before_a_ranges_last_leaf_is_refused() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let has = |prefix: &[&str], leaf: &str| prefix.iter().any(|l| l.trim().starts_with(leaf));
        let mut refused = 0;
        for n in 2..lines.len() {
            let prefix = &lines[..n];
            let cut = prefix.join("\n");
            match parse("cut", cut.as_bytes(), None) {
                Ok(_) => assert!(
                    has(prefix, "0x00000016 ") && has(prefix, "0x80000008 "),
                    "a dump of {n} lines parsed"
                ),
                Err(err) => {
                    refused += 1;
                    if has(prefix, "0x80000000 ") && !has(prefix, "0x80000008 ") {
                        assert!(err.message.contains("expected leaf 0x80000008"), "{err}");
                        assert!(err.message.contains("truncated"), "{err}");
                        assert_eq!(err.kind, DumpErrorKind::Truncated, "{err}");
                    }
                }
            }
        }
        assert!(refused > 10, "{refused}");
        // Cut inside a line: the half line is refused, or the range is short.
        let cut = &text[..text.find("0x80000001 0x00").unwrap() + 30];
        let err = parse("cut", cut.as_bytes(), None).unwrap_err();
        assert!(
            err.message.contains("truncated") || err.line.is_some(),
            "{err}"
        );
    }
}
