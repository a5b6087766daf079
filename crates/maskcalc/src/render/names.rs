//! Renderers that name features: xl (libxl syntax), libvirt, QEMU; and Firecracker's bitmaps.

use std::fmt::Write as _;

use cpuid_defs::{Feature, FeatureRegister, Location, MsrHalf};

use super::{Rendered, cpuid_key};
use crate::consumer::{
    Baseline, Consumer, CpuMode, GuestCpu, ModelRow, Release, Targets, baseline,
};
use crate::pool::{Action, MaskedBit, PoolMasks};

/// libxl's legacy keys that take a number, not a flag character. libxl
/// searches its legacy table first, so a featureset name that equals one of
/// these (Xen's `clflush` for 1.EDX[19]) would set the numeric field instead.
const LIBXL_NUMERIC_KEYS: [&str; 12] = [
    "apicidsize",
    "brandid",
    "clflush",
    "family",
    "localapicid",
    "maxleaf",
    "maxhvleaf",
    "model",
    "nc",
    "proccount",
    "procpkg",
    "stepping",
];

/// The name `xl` accepts for a feature in `cpuid="host,…"`, if any.
///
/// ```
/// let clflush = cpuid_defs::lookup("CLFLUSH").unwrap();
/// assert_eq!(maskcalc::render::xl_name(clflush), Some("clfsh"));
/// assert_eq!(maskcalc::render::xl_name(cpuid_defs::lookup("LAHF_LM").unwrap()), Some("lahf-lm"));
/// ```
pub fn xl_name(feature: &Feature) -> Option<&'static str> {
    let legacy_flag = || {
        feature
            .libxl_legacy_names
            .iter()
            .copied()
            .find(|n| !LIBXL_NUMERIC_KEYS.contains(n))
    };
    match feature.xen_name {
        Some(name) if LIBXL_NUMERIC_KEYS.contains(&name) => legacy_flag(),
        Some(name) => Some(name),
        None => legacy_flag(),
    }
}

/// The libvirt feature name (`x86_features.xml`), from the table.
///
/// ```
/// let f = cpuid_defs::lookup("PCLMULQDQ").unwrap();
/// assert_eq!(maskcalc::render::libvirt_name(f), Some("pclmuldq".to_owned()));
/// ```
pub fn libvirt_name(feature: &Feature) -> Option<String> {
    feature.libvirt_name.map(str::to_owned)
}

fn omitted_line(bit: &MaskedBit, release: &Release<'_>) -> String {
    match bit.feature_name() {
        Some(name) => format!(
            "{name} ({}): {} has no name for it; {}",
            bit.location(),
            release.label(),
            release.first_naming(bit.location())
        ),
        None => format!(
            "{}: unnamed bit, {} cannot express it",
            bit.location(),
            release.label()
        ),
    }
}

/// The warnings for masked bits an xl output leaves out, one line per thing
/// to act on: a named feature that release of libxl has no name for (with
/// the first release that names it), unless it depends on a feature the
/// output clears (Xen clears a cleared feature's dependents itself: `svm=0`
/// takes every SVM sub-feature with it); the unnamed bits of one register,
/// in one line.
fn xl_omitted_lines(
    masks: &PoolMasks,
    lost: &[&MaskedBit],
    expressed: impl Fn(&MaskedBit) -> bool,
    release: &Release<'_>,
) -> Vec<String> {
    let cleared: Vec<cpuid_defs::FeatureId> = masks
        .bits
        .iter()
        .filter(|b| b.action == Action::Clear && expressed(b))
        .filter_map(|b| b.feature)
        .collect();
    let implied = |bit: &MaskedBit| {
        bit.action == Action::Clear
            && bit.feature.is_some_and(|id| {
                let needs = cpuid_defs::depends_closure(id);
                cleared.iter().any(|&c| needs.contains(c))
            })
    };
    let mut lines = Vec::new();
    let mut unnamed: Vec<(FeatureRegister, Vec<u8>)> = Vec::new();
    for bit in lost.iter().copied().filter(|b| !implied(b)) {
        match bit.feature_name() {
            Some(_) => lines.push(omitted_line(bit, release)),
            None => match unnamed.iter_mut().find(|(r, _)| *r == bit.register) {
                Some((_, bits)) => bits.push(bit.bit),
                None => unnamed.push((bit.register, vec![bit.bit])),
            },
        }
    }
    for (register, bits) in unnamed {
        let positions: Vec<String> = bits
            .iter()
            .map(|&b| match crate::pool::location_of(register, b) {
                Location::Cpuid { bit, .. } | Location::Msr { bit, .. } => bit.to_string(),
            })
            .collect();
        let (noun, pronoun) = if bits.len() == 1 {
            ("bit", "it")
        } else {
            ("bits", "them")
        };
        lines.push(format!(
            "{register}[{}]: unnamed {noun}, {} cannot express {pronoun}",
            positions.join(","),
            release.label()
        ));
    }
    lines
}

/// True when Xen `version` shows the bit to a guest by default: a
/// featureset bit with an `A`, `S` or `H` attribute in that release. Xen
/// offers nothing it has no name for, and fills other leaves (leaf 6, Intel
/// PT's 0x14…) itself, so a mask there changes nothing for xl.
fn xen_guests_see(xen: &Release<'_>, at: Location) -> bool {
    !crate::consumer::NameTable::xen_offers()
        .at(xen.version)
        .at(at)
        .is_empty()
}

/// True when the xend list syntax can carry a mask of this register.
fn xend_can_write(register: FeatureRegister) -> bool {
    cpuid_key(register).is_some_and(|(key, _)| super::xend::in_xen_policy(key))
}

/// libxl syntax for `targets.xen`: `cpuid = "host,NAME=0,…"`, a valid
/// xl.cfg line. Forced-on bits are `NAME=1`. When that release of libxl has
/// no name for a masked bit the xend list syntax could carry, the whole
/// output is the xend list instead (every xl parses it), and a note says why.
///
/// ```
/// use maskcalc::consumer::{Consumer, Release, Targets, Version};
/// use maskcalc::pool::{PoolMasks, RegisterMask};
/// use cpuid_defs::{FeatureRegister, Register};
/// let eax = FeatureRegister::cpuid(0xd, Some(1), Register::Eax);
/// // XSAVEC (0xd.1.eax[1]): Xen 4.17 offers it, but only 4.18's libxl names it.
/// let masks = PoolMasks::from_registers(
///     Vec::new(),
///     vec![RegisterMask { register: eax, values: Vec::new(), clear: 1 << 1, set: 0 }],
/// );
/// let mut targets = Targets::newest();
/// targets.xen = Release::builtin(Consumer::Xl, Version::new(4, 18));
/// assert_eq!(maskcalc::render::xl(&masks, &targets).text, "cpuid = \"host,xsavec=0\"\n");
/// targets.xen = Release::builtin(Consumer::Xl, Version::new(4, 17));
/// let old = maskcalc::render::xl(&masks, &targets);
/// assert!(old.text.starts_with("cpuid = [\n"), "{}", old.text);
/// assert!(old.notes[0].contains("XSAVEC"), "{:?}", old.notes);
/// ```
pub fn xl(masks: &PoolMasks, targets: &Targets<'_>) -> Rendered {
    let xen = &targets.xen;
    let xl_name_of = |bit: &MaskedBit| {
        let feature = bit.feature.map(cpuid_defs::feature);
        xen.names
            .name_for(bit.location(), feature.and_then(xl_name))
    };
    let mut items = vec!["host".to_owned()];
    let mut lost = Vec::new();
    let mut unnamed_but_writable = Vec::new();
    for bit in &masks.bits {
        match xl_name_of(bit) {
            Some(name) => items.push(format!("{name}={}", value_char(bit.action))),
            // Xen never offers `hidden` features to guests: nothing is lost.
            None if bit.class() == cpuid_defs::Class::Hidden => {}
            // A bit Xen does not offer needs no clearing (one to force on does).
            None if bit.action == Action::Clear && !xen_guests_see(xen, bit.location()) => {}
            None if xend_can_write(bit.register) => unnamed_but_writable.push(bit),
            None => lost.push(bit),
        }
    }
    if unnamed_but_writable.is_empty() {
        return Rendered {
            text: format!("cpuid = \"{}\"\n", items.join(",")),
            omitted: xl_omitted_lines(masks, &lost, |b| xl_name_of(b).is_some(), xen),
            notes: Vec::new(),
        };
    }
    // Grouped by the release that would name them: "A, B (Xen 4.18 is the first to name it)".
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for bit in &unnamed_but_writable {
        let why = xen.first_naming(bit.location());
        let what = bit.feature_name().map_or_else(
            || format!("the unnamed bit {}", bit.location()),
            str::to_owned,
        );
        match groups.iter_mut().find(|(w, _)| *w == why) {
            Some((_, names)) => names.push(what),
            None => groups.push((why, vec![what])),
        }
    }
    let which: Vec<String> = groups
        .into_iter()
        .map(|(why, names)| format!("{} ({why})", names.join(", ")))
        .collect();
    Rendered {
        text: super::xend::xend(masks),
        // The xend list writes every bit of the registers it carries.
        omitted: xl_omitted_lines(masks, &lost, |b| xend_can_write(b.register), xen),
        notes: vec![format!(
            "written in the xend list syntax, which every xl parses: the libxl of {} has no name for {}",
            xen.label(),
            which.join("; ")
        )],
    }
}

fn value_char(action: Action) -> char {
    match action {
        Action::Clear => '0',
        Action::Set => '1',
    }
}

/// The name a KVM consumer release uses for a masked bit, if it has one.
fn kvm_name<'a>(release: &Release<'a>, bit: &MaskedBit) -> Option<&'a str> {
    let feature = bit.feature.map(cpuid_defs::feature);
    let preferred = match release.consumer {
        Consumer::Libvirt => feature.and_then(libvirt_name).and_then(|n| {
            release
                .names
                .at(bit.location())
                .iter()
                .copied()
                .find(|k| *k == n)
        }),
        _ => feature.and_then(|f| f.qemu_name),
    };
    release.names.name_for(bit.location(), preferred)
}

/// The spelling a release prefers for a bit: cpuid-defs' QEMU name, or its
/// libvirt name (falling back to the QEMU one).
fn preferred_for(consumer: Consumer) -> impl Fn(Location) -> Option<&'static str> {
    move |at| {
        let feature = cpuid_defs::at(at)?;
        match consumer {
            Consumer::Libvirt => feature.libvirt_name.or(feature.qemu_name),
            _ => feature.qemu_name,
        }
    }
}

/// Whether QEMU knows a name for the bit a libvirt feature names (libvirt
/// passes the feature to QEMU under QEMU's name).
fn qemu_names_it(targets: &Targets<'_>, libvirt_feature: &str) -> bool {
    targets
        .libvirt
        .names
        .location_of(libvirt_feature)
        .is_some_and(|at| !targets.qemu.names.at(at).is_empty())
}

/// True when `-cpu host` passes the register through: QEMU models it as a
/// feature word (it names some bit of it). QEMU fills other leaves itself.
fn qemu_passes_through(qemu: &Release<'_>, register: FeatureRegister) -> bool {
    qemu.names
        .table
        .rows
        .iter()
        .any(|r| r.location.is_some_and(|at| at.register().0 == register))
}

/// True when the bit depends on a feature the output does clear by name: a
/// guest cannot use it without that feature (and QEMU zeroes the SVM leaf
/// without `svm`), so it needs no warning of its own.
fn covered_by_a_named_root(bit: &MaskedBit, release: &Release<'_>) -> bool {
    bit.reasons.iter().any(|r| match r {
        crate::pool::Reason::DependencyOf(id) => {
            let root = cpuid_defs::feature(*id);
            !release.names.at(root.location).is_empty()
        }
        _ => false,
    })
}

/// Masked bits a passthrough CPU would still show: per bit, the warning.
fn passthrough_losses(
    masks: &PoolMasks,
    releases: &[&Release<'_>],
    qemu: &Release<'_>,
    named: &[bool],
) -> Vec<String> {
    masks
        .bits
        .iter()
        .zip(named)
        .filter(|(_, named)| !**named)
        .filter(|(bit, _)| bit.class() != cpuid_defs::Class::Hidden || bit.action == Action::Set)
        .filter(|(bit, _)| qemu_passes_through(qemu, bit.register))
        .filter(|(bit, _)| bit.action == Action::Set || !covered_by_a_named_root(bit, releases[0]))
        .map(|(bit, _)| {
            let missing = releases
                .iter()
                .find(|r| kvm_name(r, bit).is_none())
                .unwrap_or(&releases[0]);
            omitted_line(bit, missing)
        })
        .collect()
}

/// The guest of a KVM consumer: `guest` without the bits
/// [`PoolMasks::for_kvm`] withholds, which not every host has either.
fn kvm_guest(guest: &GuestCpu, kvm: &PoolMasks) -> GuestCpu {
    let mut guest = guest.clone();
    for (bit, _) in kvm.withheld_from_kvm() {
        if let Some(reg) = guest.registers.get_mut(&bit.register) {
            reg.guest &= !(1 << bit.bit);
            reg.common &= !(1 << bit.bit);
        }
    }
    guest
}

/// One note per `accumulate` feature a KVM output does not offer the guest
/// because not every host has it, naming the hosts that lack it when the
/// masks know them; `kvm` is [`PoolMasks::for_kvm`]'s result.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, PoolOptions};
/// let host = |name: &str, edx: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, edx]);
///     Host { name: name.into(), cpuid }
/// };
/// let masks = compute(&[host("a", 1 << 10), host("b", 0)], &PoolOptions::default()).unwrap();
/// let notes = maskcalc::render::kvm_withheld_notes(&masks.for_kvm());
/// assert!(notes[0].starts_with("MD_CLEAR (0x7.0.edx[10]) not offered to the guest: b lacks it"), "{notes:?}");
/// ```
pub fn kvm_withheld_notes(kvm: &PoolMasks) -> Vec<String> {
    kvm.withheld_from_kvm()
        .map(|(bit, lacking)| {
            let name = bit.feature_name().unwrap_or("the unnamed bit");
            let who = match lacking.len() {
                0 => "not every host of the pool has it (which ones is not recorded)".to_owned(),
                1 => format!("{} lacks it", super::host_list(kvm, lacking)),
                _ => format!("{} lack it", super::host_list(kvm, lacking)),
            };
            format!(
                "{name} ({}) not offered to the guest: {who}, and KVM offers a guest only what \
                 its host has (Xen offers an accumulate feature that any host has; the xl output does)",
                bit.location()
            )
        })
        .collect()
}

fn baseline_for(guest: &GuestCpu, targets: &Targets<'_>, consumer: Consumer) -> Option<Baseline> {
    match consumer {
        Consumer::Libvirt => {
            // libvirt runs its models on QEMU: only those QEMU also defines.
            let qemu_models: std::collections::HashSet<&str> = targets
                .qemu
                .models
                .iter()
                .map(|m| m.name.as_str())
                .collect();
            let models: Vec<&ModelRow> = targets
                .libvirt
                .models
                .iter()
                .copied()
                .filter(|m| qemu_models.contains(m.name.as_str()))
                .collect();
            let mut chosen =
                baseline::choose(guest, &targets.libvirt, &models, preferred_for(consumer))?;
            chosen.add.retain(|f| qemu_names_it(targets, f));
            Some(chosen)
        }
        _ => baseline::choose(
            guest,
            &targets.qemu,
            &targets.qemu.models,
            preferred_for(consumer),
        ),
    }
}

/// Warnings for a named-model output: forced-on bits the release cannot name.
fn model_losses(masks: &PoolMasks, release: &Release<'_>) -> Vec<String> {
    masks
        .bits
        .iter()
        .filter(|bit| bit.action == Action::Set && kvm_name(release, bit).is_none())
        .map(|bit| omitted_line(bit, release))
        .collect()
}

/// A libvirt `<cpu>` element for `targets.libvirt` (on `targets.qemu`).
///
/// [`CpuMode::Model`]: `<cpu mode='custom' match='exact' check='full'>`
/// with the baseline model (`fallback='forbid'`) and `require`/`disable`
/// features. [`CpuMode::Passthrough`]: `host-passthrough` with
/// `policy='disable'` per cleared feature and `policy='require'` per forced
/// one. Only names both libvirt and QEMU of those releases know are written;
/// a masked bit left out is in [`Rendered::omitted`] with the first release
/// that would name it. The masks are [`PoolMasks::for_kvm`]'s: an
/// `accumulate` feature not every host has is left out (disabled where the
/// model or the host would show it), with a note.
///
/// ```
/// use maskcalc::consumer::{CpuMode, GuestCpu, Targets};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let guest = GuestCpu::from_masks(&masks);
/// let mut targets = Targets::newest();
/// // A named model: the one that needs the fewest changes, with them.
/// let model = maskcalc::render::libvirt(&masks, &guest, &targets);
/// assert!(model.text.starts_with("<cpu mode='custom' match='exact' check='full'>\n  <model fallback='forbid'>"));
/// assert!(model.text.contains("<feature policy='require' name='xsave'/>"), "{}", model.text);
/// targets.cpu_mode = CpuMode::Passthrough;
/// assert_eq!(
///     maskcalc::render::libvirt(&masks, &guest, &targets).text,
///     "<cpu mode='host-passthrough' check='none'>\n  <feature policy='disable' name='vmx'/>\n  \
///      <feature policy='disable' name='avx'/>\n  <feature policy='disable' name='avx2'/>\n</cpu>\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn libvirt(masks: &PoolMasks, guest: &GuestCpu, targets: &Targets<'_>) -> Rendered {
    let kvm = masks.for_kvm();
    let (masks, guest) = (&kvm, &kvm_guest(guest, &kvm));
    let notes = kvm_withheld_notes(masks);
    let release = &targets.libvirt;
    if targets.cpu_mode == CpuMode::Model
        && let Some(chosen) = baseline_for(guest, targets, Consumer::Libvirt)
    {
        let mut text = String::from("<cpu mode='custom' match='exact' check='full'>\n");
        let _ = writeln!(text, "  <model fallback='forbid'>{}</model>", chosen.model);
        for name in &chosen.add {
            let _ = writeln!(text, "  <feature policy='require' name='{name}'/>");
        }
        for name in &chosen.remove {
            let _ = writeln!(text, "  <feature policy='disable' name='{name}'/>");
        }
        text.push_str("</cpu>\n");
        return Rendered {
            text,
            omitted: model_losses(masks, release),
            notes,
        };
    }
    let mut text = String::from("<cpu mode='host-passthrough' check='none'>\n");
    let mut named = Vec::with_capacity(masks.bits.len());
    for bit in &masks.bits {
        let name = kvm_name(release, bit).filter(|n| qemu_names_it(targets, n));
        named.push(name.is_some());
        if let Some(name) = name {
            let policy = match bit.action {
                Action::Clear => "disable",
                Action::Set => "require",
            };
            let _ = writeln!(text, "  <feature policy='{policy}' name='{name}'/>");
        }
    }
    text.push_str("</cpu>\n");
    Rendered {
        text,
        omitted: passthrough_losses(masks, &[release, &targets.qemu], &targets.qemu, &named),
        notes,
    }
}

/// A QEMU `-cpu` argument for `targets.qemu`: `-cpu MODEL,+a,-b` with the
/// baseline model ([`CpuMode::Model`]), or `-cpu host,-a,+b`
/// ([`CpuMode::Passthrough`]). Only names that QEMU release knows are
/// written; a masked bit left out is in [`Rendered::omitted`]. The masks
/// are [`PoolMasks::for_kvm`]'s, as for [`libvirt`].
///
/// ```
/// use maskcalc::consumer::{CpuMode, GuestCpu, Targets};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let guest = GuestCpu::from_masks(&masks);
/// let mut targets = Targets::newest();
/// let model = maskcalc::render::qemu(&masks, &guest, &targets);
/// assert!(model.text.starts_with("-cpu ") && model.text.contains(",+xsave"), "{}", model.text);
/// targets.cpu_mode = CpuMode::Passthrough;
/// assert_eq!(maskcalc::render::qemu(&masks, &guest, &targets).text, "-cpu host,-vmx,-avx,-avx2\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn qemu(masks: &PoolMasks, guest: &GuestCpu, targets: &Targets<'_>) -> Rendered {
    let kvm = masks.for_kvm();
    let (masks, guest) = (&kvm, &kvm_guest(guest, &kvm));
    let notes = kvm_withheld_notes(masks);
    let release = &targets.qemu;
    if targets.cpu_mode == CpuMode::Model
        && let Some(chosen) = baseline_for(guest, targets, Consumer::Qemu)
    {
        let mut arg = chosen.model.clone();
        for name in &chosen.add {
            let _ = write!(arg, ",+{name}");
        }
        for name in &chosen.remove {
            let _ = write!(arg, ",-{name}");
        }
        return Rendered {
            text: format!("-cpu {arg}\n"),
            omitted: model_losses(masks, release),
            notes,
        };
    }
    let mut arg = String::from("host");
    let mut named = Vec::with_capacity(masks.bits.len());
    for bit in &masks.bits {
        let name = kvm_name(release, bit);
        named.push(name.is_some());
        if let Some(name) = name {
            let sign = match bit.action {
                Action::Clear => '-',
                Action::Set => '+',
            };
            let _ = write!(arg, ",{sign}{name}");
        }
    }
    Rendered {
        text: format!("-cpu {arg}\n"),
        omitted: passthrough_losses(masks, &[release], release, &named),
        notes,
    }
}

/// The registers a template writes so that every guest sees the pool's
/// lowest highest leaves, as KVM reports them (leaf 0 EAX, 7.0 EAX,
/// 0x80000000 EAX), when the pool's limits are known.
fn pinned_limits(masks: &PoolMasks) -> Vec<(cpuid_defs::LeafKey, u32)> {
    let Some(limits) = masks.cpuid_limits else {
        return Vec::new();
    };
    let reported = crate::consumer::kvm::reported_limits(limits);
    let mut out = vec![
        (cpuid_defs::LeafKey::new(0, None), reported.max_basic),
        (
            cpuid_defs::LeafKey::new(7, Some(0)),
            reported.max_leaf7_subleaf,
        ),
    ];
    // A host without extended leaves (none here) would have no 0x80000000 to pin.
    if limits.max_extended & 0x8000_0000 != 0 {
        out.push((
            cpuid_defs::LeafKey::new(0x8000_0000, None),
            reported.max_extended,
        ));
    }
    out
}

/// Why a Firecracker template leaves a masked CPUID register alone: KVM
/// does not report its entry on some host, and Firecracker refuses a
/// template that modifies an entry KVM does not report.
fn firecracker_absence(masks: &PoolMasks, key: cpuid_defs::LeafKey) -> Option<String> {
    use crate::consumer::kvm::{self, Absence};
    let (leaf, subleaf) = (key.leaf, key.subleaf.unwrap_or(0));
    let entry = format!("{leaf:#x}.{subleaf:#x}");
    match kvm::absence(leaf, subleaf, masks.cpuid_limits)? {
        Absence::BeyondKvm => Some(format!(
            "KVM reports no leaf above {:#x}, so guests read {entry} as zeros",
            if leaf & 0x8000_0000 != 0 {
                kvm::MAX_EXTENDED_LEAF
            } else {
                kvm::MAX_BASIC_LEAF
            }
        )),
        Absence::ThisHost => {
            let (limit, value) = pinned_limits(masks)
                .into_iter()
                .find(|(k, _)| {
                    k.leaf
                        == match leaf {
                            7 => 7,
                            l if l & 0x8000_0000 != 0 => 0x8000_0000,
                            _ => 0,
                        }
                })
                .map(|(k, v)| {
                    let what = match k.leaf {
                        7 => "highest leaf-7 subleaf",
                        0 => "highest basic leaf",
                        _ => "highest extended leaf",
                    };
                    (what, v)
                })?;
            Some(format!(
                "not every host has {entry}, so KVM does not report it on all of them; the \
                 template sets every guest's {limit} to the pool's lowest, {value:#x}, so no \
                 guest sees it"
            ))
        }
        _ => Some(format!(
            "KVM never reports {entry} to a guest, which reads it as zeros"
        )),
    }
}

/// A Firecracker custom CPU template, fields in the alphabetical order
/// its first version was written in.
#[derive(serde::Serialize)]
struct FirecrackerTemplate {
    cpuid_modifiers: Vec<CpuidModifier>,
    msr_modifiers: Vec<MsrModifier>,
}

#[derive(serde::Serialize)]
struct CpuidModifier {
    flags: u8,
    leaf: String,
    modifiers: Vec<RegisterModifier>,
    subleaf: String,
}

#[derive(serde::Serialize)]
struct RegisterModifier {
    bitmap: String,
    register: &'static str,
}

#[derive(serde::Serialize)]
struct MsrModifier {
    addr: String,
    bitmap: String,
}

/// A Firecracker custom CPU template: `cpuid_modifiers` with a `0b…` bitmap
/// (bit 31 first; `0`/`1` forced, `x` the host's value) per masked register,
/// and `msr_modifiers` (64 characters) for masked MSR bits.
///
/// Only entries that KVM reports on every host are modified
/// ([`crate::consumer::kvm`]); a masked register elsewhere is a note. When
/// the pool's limits are known, the template sets every guest's highest
/// leaves (leaf 0 EAX, 7.0 EAX, 0x80000000 EAX) to the pool's lowest as KVM
/// reports them, so a leaf that some host lacks is one no guest sees. The
/// masks are [`PoolMasks::for_kvm`]'s: an `accumulate` feature not every
/// host has is `0`, with a note.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let template: serde_json::Value = serde_json::from_str(&maskcalc::render::firecracker(&masks).text)?;
/// let leaf1 = &template["cpuid_modifiers"][1];
/// assert_eq!((&leaf1["leaf"], &leaf1["subleaf"], &leaf1["flags"]), (&"0x1".into(), &"0x0".into(), &0.into()));
/// assert_eq!(leaf1["modifiers"][0]["register"], "ecx");
/// assert_eq!(leaf1["modifiers"][0]["bitmap"], "0bxxx0xxxxxxxxxxxxxxxxxxxxxx0xxxxx");
/// // Leaf 0 EAX, the highest basic leaf, pinned to the pool's lowest (7).
/// assert_eq!(template["cpuid_modifiers"][0]["modifiers"][0]["bitmap"], format!("0b{:032b}", 7));
/// assert_eq!(template["msr_modifiers"], serde_json::json!([]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn firecracker(masks: &PoolMasks) -> Rendered {
    let kvm = masks.for_kvm();
    let masks = &kvm;
    let mut cpuid_entries: Vec<(cpuid_defs::LeafKey, Vec<RegisterModifier>)> = Vec::new();
    let mut msr_entries: Vec<(u32, [Option<String>; 2])> = Vec::new();
    let mut left_alone: Vec<(cpuid_defs::LeafKey, Vec<&str>, String)> = Vec::new();
    for reg in masks.registers.iter().filter(|r| !r.is_untouched()) {
        match reg.register {
            FeatureRegister::Cpuid { .. } => {
                let Some((key, index)) = cpuid_key(reg.register) else {
                    continue;
                };
                if let Some(why) = firecracker_absence(masks, key) {
                    let register = crate::defs::register_name(index);
                    match left_alone.iter_mut().find(|(k, _, _)| *k == key) {
                        Some((_, registers, _)) => registers.push(register),
                        None => left_alone.push((key, vec![register], why)),
                    }
                    continue;
                }
                let modifier = RegisterModifier {
                    bitmap: format!("0b{}", reg.policy_string()),
                    register: crate::defs::register_name(index),
                };
                match cpuid_entries.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, mods)) => mods.push(modifier),
                    None => cpuid_entries.push((key, vec![modifier])),
                }
            }
            FeatureRegister::Msr { index, half } => {
                set_msr_half(&mut msr_entries, index, half, reg.policy_string());
            }
        }
    }
    let notes = kvm_withheld_notes(masks)
        .into_iter()
        .chain(left_alone.into_iter().map(|(key, registers, why)| {
            format!(
                "{:#x}.{:#x} {} not modified: {why} (Firecracker refuses a template that \
                 modifies an entry KVM does not report)",
                key.leaf,
                key.subleaf.unwrap_or(0),
                registers.join(", "),
            )
        }))
        .collect();
    for (key, value) in pinned_limits(masks) {
        let modifier = RegisterModifier {
            bitmap: format!("0b{value:032b}"),
            register: "eax",
        };
        match cpuid_entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, mods)) => mods.insert(0, modifier),
            None => cpuid_entries.push((key, vec![modifier])),
        }
    }
    Rendered {
        text: super::json::pretty(&FirecrackerTemplate {
            cpuid_modifiers: cpuid_modifiers(cpuid_entries),
            msr_modifiers: msr_modifiers(msr_entries),
        }),
        omitted: Vec::new(),
        notes,
    }
}

/// Records the policy string of one half of an MSR, in `entries` (by MSR
/// index, in the order first seen; `[high, low]`).
fn set_msr_half(
    entries: &mut Vec<(u32, [Option<String>; 2])>,
    index: u32,
    half: MsrHalf,
    policy: String,
) {
    let slot = match entries.iter().position(|(i, _)| *i == index) {
        Some(pos) => pos,
        None => {
            entries.push((index, [None, None]));
            entries.len() - 1
        }
    };
    if let Some((_, halves)) = entries.get_mut(slot) {
        halves[usize::from(half == MsrHalf::Low)] = Some(policy);
    }
}

/// The template's `cpuid_modifiers`, by leaf and subleaf.
fn cpuid_modifiers(
    mut entries: Vec<(cpuid_defs::LeafKey, Vec<RegisterModifier>)>,
) -> Vec<CpuidModifier> {
    entries.sort_by_key(|(key, _)| (key.leaf, key.subleaf.unwrap_or(0)));
    entries
        .into_iter()
        .map(|(key, modifiers)| CpuidModifier {
            // KVM_CPUID_FLAG_SIGNIFCANT_INDEX as KVM sets it: Firecracker
            // writes this over the entry's own flags.
            flags: u8::from(crate::consumer::kvm::indexed(key.leaf)),
            leaf: format!("{:#x}", key.leaf),
            modifiers,
            subleaf: format!("{:#x}", key.subleaf.unwrap_or(0)),
        })
        .collect()
}

/// The template's `msr_modifiers`: 64-character bitmaps, a half the masks
/// leave alone all `x`.
fn msr_modifiers(entries: Vec<(u32, [Option<String>; 2])>) -> Vec<MsrModifier> {
    let untouched = "x".repeat(32);
    entries
        .into_iter()
        .map(|(index, [high, low])| MsrModifier {
            addr: format!("{index:#x}"),
            bitmap: format!(
                "0b{}{}",
                high.as_deref().unwrap_or(&untouched),
                low.as_deref().unwrap_or(&untouched)
            ),
        })
        .collect()
}
