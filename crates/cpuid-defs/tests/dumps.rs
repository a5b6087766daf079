//! Decoding real CPUID dumps (copied from InstLatx64-derived `cpuid -1r`
//! files into testdata/cpuid/): every set bit is named, vendors match, the
//! decoded features of a few parts match what their vendor documents, and
//! the per-CPU fields are exactly what differs between the CPUs of one host.

mod common;

use common::{BARE_METAL, Cpu, dump, parse_dump, register_value, testdata};
use cpuid_defs::{
    FeatureRegister, Register, Vendor, decode, display_family_model_stepping, feature_registers,
    fields, unnamed_bits,
};
use std::collections::BTreeSet;

/// Set bits that no row names, with why. Each is a bit these parts set that
/// the public manuals we cite do not name (or that we could not confirm);
/// the list keeps the gap visible instead of guessing a name.
const NOT_YET_NAMED: [(u32, Register, u32, &str); 8] = [
    (
        0x8000_0008,
        Register::Ebx,
        (1 << 10) | (1 << 21),
        "Zen 2-5: not named in the public APM revision cited",
    ),
    (
        0x8000_000a,
        Register::Edx,
        (1 << 8) | (1 << 11) | (1 << 31),
        "SVM bits reserved in the APM revision cited",
    ),
    (
        0x8000_001f,
        Register::Eax,
        0x875e_0000,
        "SEV-SNP era bits 17-20, 22, 24-26, 31: unconfirmed names",
    ),
    (
        0x8000_0021,
        Register::Eax,
        0x0021_d000,
        "Zen 5 bits 12, 14-16, 21: unconfirmed names",
    ),
    (
        0x8000_0021,
        Register::Ecx,
        1 << 7,
        "KVM guest on Zen 5: not in the APM revision cited",
    ),
    (
        0x6,
        Register::Eax,
        (1 << 21) | (1 << 22),
        "Leaf 6 bits 21-22 of recent Xeons: unconfirmed names",
    ),
    (
        0x8000_0007,
        Register::Ebx,
        (1 << 4) | (1 << 5),
        "RAS bits 4-5 of Zen 1-5: reserved in the APM revision cited, unnamed by Linux, QEMU and Xen",
    ),
    (
        0xf,
        Register::Edx,
        1 << 3,
        "Leaf 0xF.1 EDX bit 3 of Cascade Lake and Ice Lake: reserved in the SDM revision cited",
    ),
];

fn allowed_unnamed(reg: FeatureRegister) -> u32 {
    let FeatureRegister::Cpuid { key, register } = reg else {
        return 0;
    };
    NOT_YET_NAMED
        .iter()
        .filter(|(leaf, r, _, _)| *leaf == key.leaf && *r == register)
        .fold(0, |acc, (_, _, mask, _)| acc | mask)
}

/// Bits of `reg` covered by a multi-bit field (e.g. the AVX10 version).
fn field_bits(reg: FeatureRegister) -> u32 {
    let FeatureRegister::Cpuid { key, register } = reg else {
        return 0;
    };
    fields()
        .iter()
        .filter(|f| f.key == key && f.register == register)
        .fold(0, |acc, f| acc | f.mask())
}

fn vendor(cpu: &Cpu) -> Vendor {
    let l0 = cpu[&(0, 0)];
    Vendor::from_leaf0(l0[1], l0[2], l0[3])
}

#[test]
fn every_set_bit_of_every_dump_is_named() {
    let mut checked = 0;
    for name in BARE_METAL.iter().chain(&["amd-zen5-kvm-guest.txt"]) {
        let cpu = dump(name);
        for &reg in feature_registers() {
            let Some(value) = register_value(&cpu, reg) else {
                continue;
            };
            let left = unnamed_bits(reg, value) & !field_bits(reg) & !allowed_unnamed(reg);
            assert_eq!(
                left, 0,
                "{name}: {reg} = {value:#010x} has unnamed bits {left:#010x}"
            );
            checked += 1;
        }
    }
    assert!(checked > 18 * 15, "only {checked} registers checked");
}

#[test]
fn decoded_features_belong_to_the_cpus_vendor() {
    for name in BARE_METAL {
        let cpu = dump(name);
        let v = vendor(&cpu);
        assert_ne!(v, Vendor::Unknown, "{name}");
        for &reg in feature_registers() {
            let Some(value) = register_value(&cpu, reg) else {
                continue;
            };
            for f in decode(reg, value) {
                assert!(
                    f.vendors.has(v),
                    "{name}: {} is listed for {} only",
                    f.name,
                    f.vendors
                );
            }
        }
    }
}

fn decoded(
    cpu: &Cpu,
    leaf: u32,
    subleaf: Option<u32>,
    register: Register,
) -> BTreeSet<&'static str> {
    let reg = FeatureRegister::cpuid(leaf, subleaf, register);
    decode(reg, register_value(cpu, reg).unwrap())
        .map(|f| f.name)
        .collect()
}

fn set(names: &str) -> BTreeSet<&str> {
    names.split_whitespace().collect()
}

/// Intel Xeon Gold 6330 (Ice Lake-SP). Intel documents for Ice Lake server
/// cores AVX-512 F/CD/BW/DQ/VL plus IFMA, VBMI, VBMI2, VNNI, BITALG and
/// VPOPCNTDQ, GFNI/VAES/VPCLMULQDQ, SHA, SGX with launch control, TME,
/// 5-level paging and RDPID; TSX (HLE/RTM) is present on this stepping;
/// no AMX, AVX512_FP16, AVX512_BF16 (Cooper Lake only), MOVDIRI or WAITPKG.
#[test]
fn ice_lake_sp_has_what_intel_documents() {
    let cpu = dump("intel-icelake-sp-xeon-gold-6330.txt");
    assert_eq!(
        decoded(&cpu, 7, Some(0), Register::Ebx),
        set(
            "FSGSBASE TSC_ADJUST SGX BMI1 HLE AVX2 FDP_EXCP_ONLY SMEP BMI2 ERMS INVPCID RTM PQM \
             NO_FPU_SEL PQE AVX512F AVX512DQ RDSEED ADX SMAP AVX512_IFMA CLFLUSHOPT CLWB \
             PROC_TRACE AVX512CD SHA AVX512BW AVX512VL"
        )
    );
    assert_eq!(
        decoded(&cpu, 7, Some(0), Register::Ecx),
        set(
            "AVX512_VBMI UMIP PKU AVX512_VBMI2 GFNI VAES VPCLMULQDQ AVX512_VNNI AVX512_BITALG \
             TME AVX512_VPOPCNTDQ LA57 RDPID SGX_LC"
        )
    );
    assert_eq!(
        decoded(&cpu, 7, Some(0), Register::Edx),
        set("SGX_KEYS FSRM MD_CLEAR PCONFIG IBRSB STIBP L1D_FLUSH ARCH_CAPS SSBD")
    );
}

/// AMD EPYC 9654 (Genoa, Zen 4). AMD documents AVX-512 (F, CD, BW, DQ, VL,
/// IFMA, VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ, BF16), GFNI, VAES,
/// VPCLMULQDQ, shadow stacks, 5-level paging and SEV-SNP for Zen 4; it has
/// no TSX, SGX, MPX, AVX512_FP16 or AMX.
#[test]
fn genoa_has_what_amd_documents() {
    let cpu = dump("amd-genoa-epyc-9654.txt");
    assert_eq!(
        decoded(&cpu, 7, Some(0), Register::Ebx),
        set(
            "FSGSBASE BMI1 AVX2 SMEP BMI2 ERMS INVPCID PQM PQE AVX512F AVX512DQ RDSEED ADX SMAP \
             AVX512_IFMA CLFLUSHOPT CLWB AVX512CD SHA AVX512BW AVX512VL"
        )
    );
    assert_eq!(
        decoded(&cpu, 7, Some(0), Register::Ecx),
        set(
            "AVX512_VBMI UMIP PKU AVX512_VBMI2 CET_SS GFNI VAES VPCLMULQDQ AVX512_VNNI \
             AVX512_BITALG AVX512_VPOPCNTDQ LA57 RDPID"
        )
    );
    assert_eq!(decoded(&cpu, 7, Some(1), Register::Eax), set("AVX512_BF16"));
    let sev = decoded(&cpu, 0x8000_001f, None, Register::Eax);
    assert!(set("SME SEV SEV_ES").is_subset(&sev));
    assert!(sev.contains("SEV_SNP") || sev.contains("VMPL"));
    let e21 = decoded(&cpu, 0x8000_0021, None, Register::Eax);
    assert!(set("NO_NEST_BP LFENCE_DISPATCH NSCB AUTO_IBRS").is_subset(&e21));
}

/// Intel Xeon E5-2697 v2 (Ivy Bridge-EP): AVX, F16C, RDRAND, FSGSBASE,
/// SMEP and ERMS are there; Haswell's AVX2, BMI1/2, FMA, MOVBE are not.
#[test]
fn ivy_bridge_ep_has_what_intel_documents() {
    let cpu = dump("intel-ivybridge-ep-xeon-e5-2697-v2.txt");
    assert_eq!(
        decoded(&cpu, 7, Some(0), Register::Ebx),
        set("FSGSBASE SMEP ERMS")
    );
    let ecx = decoded(&cpu, 1, None, Register::Ecx);
    assert!(set("AVX F16C RDRAND AESNI PCLMULQDQ SSE4_2 POPCNT XSAVE").is_subset(&ecx));
    assert!(set("FMA MOVBE").is_disjoint(&ecx));
}

/// The KVM guest dump shows KVM's paravirtual features by name.
#[test]
fn kvm_guest_decodes_kvm_leaf() {
    let cpu = dump("amd-zen5-kvm-guest.txt");
    let kvm = decoded(&cpu, 0x4000_0001, None, Register::Eax);
    assert!(set("KVM_CLOCKSOURCE KVM_CLOCKSOURCE2 KVM_STEAL_TIME KVM_PV_EOI KVM_PV_UNHALT KVM_CLOCKSOURCE_STABLE").is_subset(&kvm));
    assert!(decoded(&cpu, 1, None, Register::Ecx).contains("HYPERVISOR"));
}

/// Family/model/stepping of every dump agree with the dumps' README table.
#[test]
fn family_model_stepping_match_the_readme() {
    let readme = std::fs::read_to_string(testdata("cpuid/README.md")).unwrap();
    let mut rows = 0;
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let file = cells[1].trim_matches('`');
        let fms: Vec<u32> = cells[4]
            .split('/')
            .map(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).unwrap())
            .collect();
        let eax =
            u32::from_str_radix(cells[5].trim_matches('`').trim_start_matches("0x"), 16).unwrap();
        let cpu = dump(file);
        assert_eq!(cpu[&(1, 0)][0], eax, "{file}");
        assert_eq!(
            display_family_model_stepping(eax),
            (fms[0], fms[1], fms[2]),
            "{file}"
        );
        rows += 1;
    }
    assert_eq!(rows, 19);
}

/// What differs between the vCPUs of one (virtual) host is exactly what the
/// table marks per-CPU.
#[test]
fn per_cpu_fields_cover_what_differs_between_cpus() {
    let text = std::fs::read_to_string(testdata("cpuid/amd-zen5-kvm-guest-allcpus.txt")).unwrap();
    let cpus = parse_dump(&text);
    assert!(cpus.len() >= 2);
    let mut differing = 0;
    for other in &cpus[1..] {
        for (&(leaf, sub), regs) in other {
            for (r, register) in Register::ALL.into_iter().enumerate() {
                let diff = regs[r] ^ cpus[0][&(leaf, sub)][r];
                if diff == 0 {
                    continue;
                }
                differing += 1;
                let covered = fields()
                    .iter()
                    .filter(|f| {
                        f.per_cpu
                            && f.key.leaf == leaf
                            && f.key.subleaf.unwrap_or(0) == sub
                            && f.register == register
                    })
                    .fold(0, |acc, f| acc | f.mask());
                assert_eq!(
                    diff & !covered,
                    0,
                    "{leaf:#x}.{sub} {register}: {diff:#x} differs but is not per-CPU"
                );
            }
        }
    }
    assert!(differing >= 4);
    // And nothing per-CPU is a feature flag: features are never per-CPU.
    for f in fields().iter().filter(|f| f.per_cpu) {
        let reg = FeatureRegister::Cpuid {
            key: f.key,
            register: f.register,
        };
        assert_eq!(cpuid_defs::features_in(reg).count(), 0, "{}", f.name);
    }
}

/// The topology leaves repeat the x2APIC / extended APIC id of the CPU that
/// ran CPUID in EDX of every subleaf, so every subleaf a dump shows must
/// have a per-CPU field there; otherwise two CPUs of one host would look
/// like two different hosts.
#[test]
fn every_topology_subleaf_has_its_apic_id_marked_per_cpu() {
    let mut checked = 0;
    for name in BARE_METAL.iter().chain(&["amd-zen5-kvm-guest.txt"]) {
        let cpu = dump(name);
        for (&(leaf, sub), _) in cpu
            .iter()
            .filter(|((leaf, _), _)| [0xb, 0x1f, 0x8000_0026].contains(leaf))
        {
            let per_cpu = fields().iter().any(|f| {
                f.per_cpu
                    && f.key.leaf == leaf
                    && f.key.subleaf == Some(sub)
                    && f.register == Register::Edx
                    && f.mask() == u32::MAX
            });
            assert!(per_cpu, "{name}: {leaf:#x}.{sub} EDX is not marked per-CPU");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} topology subleaves");
}
