//! The rules of the pool computation, one by one, on small synthetic hosts.

use cpuid_defs::{FeatureRegister, Register};
use maskcalc::consumer::{CpuMode, GuestCpu, Targets};
use maskcalc::model::{CpuidInput, Host, HostCpuid};
use maskcalc::pool::{self, Action, PoolError, PoolErrorKind, PoolOptions, Reason};
use maskcalc::render;

const INTEL: [u32; 3] = [0x756e6547, 0x6c65746e, 0x49656e69]; // ebx, ecx, edx

fn host(name: &str, vendor: [u32; 3], leaves: &[((u32, u32), [u32; 4])]) -> Host {
    let mut cpuid = HostCpuid::default();
    cpuid.leaves.insert(
        CpuidInput::new(0, 0),
        [0xd, vendor[0], vendor[1], vendor[2]],
    );
    for &((leaf, sub), regs) in leaves {
        cpuid.leaves.insert(CpuidInput::new(leaf, sub), regs);
    }
    Host {
        name: name.into(),
        cpuid,
    }
}

fn bit<'a>(masks: &'a pool::PoolMasks, name: &str) -> Option<&'a pool::MaskedBit> {
    masks.bits.iter().find(|b| b.feature_name() == Some(name))
}

const AVX: u32 = 1 << 28;
const AVX2: u32 = 1 << 5;
const MD_CLEAR: u32 = 1 << 10;

/// Two Intel hosts with AVX2; only the first has AVX, which AVX2 needs.
fn avx2_without_avx_on_one_host() -> [Host; 2] {
    [
        host(
            "a",
            INTEL,
            &[((1, 0), [0, 0, AVX, 0]), ((7, 0), [0, AVX2, 0, 0])],
        ),
        host(
            "b",
            INTEL,
            &[((1, 0), [0, 0, 0, 0]), ((7, 0), [0, AVX2, 0, 0])],
        ),
    ]
}

#[test]
fn differing_intersect_bits_are_cleared_with_the_hosts_that_lack_them() {
    let a = host("a", INTEL, &[((1, 0), [0, 0, AVX, 0])]);
    let b = host("b", INTEL, &[((1, 0), [0, 0, 0, 0])]);
    let c = host("c", INTEL, &[((1, 0), [0, 0, 0, 0])]);
    let masks = pool::compute(&[a, b, c], &PoolOptions::default()).unwrap();
    let avx = bit(&masks, "AVX").unwrap();
    assert_eq!(avx.action, Action::Clear);
    assert_eq!(
        avx.reasons,
        vec![Reason::Differs {
            lacking: vec![1, 2]
        }]
    );
}

#[test]
fn dependents_of_a_cleared_feature_are_cleared_when_a_host_has_them() {
    let [a, b] = avx2_without_avx_on_one_host();
    let masks = pool::compute(&[a, b], &PoolOptions::default()).unwrap();
    let avx = cpuid_defs::lookup("AVX").unwrap().id;
    let avx2 = bit(&masks, "AVX2").unwrap();
    assert_eq!(avx2.reasons, vec![Reason::DependencyOf(avx)]);
    // AVX512F depends on AVX2 too, but no host has it: no mask is written for it.
    assert!(bit(&masks, "AVX512F").is_none());
}

#[test]
fn accumulate_bits_are_forced_on_and_host_bits_left_alone() {
    let osxsave = 1 << 27;
    let a = host(
        "a",
        INTEL,
        &[((1, 0), [0, 0, osxsave, 0]), ((7, 0), [0, 0, 0, MD_CLEAR])],
    );
    let b = host(
        "b",
        INTEL,
        &[((1, 0), [0, 0, 0, 0]), ((7, 0), [0, 0, 0, 0])],
    );
    let masks = pool::compute(&[a, b], &PoolOptions::default()).unwrap();
    let md = bit(&masks, "MD_CLEAR").unwrap();
    assert_eq!(md.action, Action::Set);
    assert_eq!(md.reasons, vec![Reason::ForcedOn { having: vec![0] }]);
    assert!(bit(&masks, "OSXSAVE").is_none());
    let edx = masks
        .register(FeatureRegister::cpuid(7, Some(0), Register::Edx))
        .unwrap();
    assert_eq!(edx.set, MD_CLEAR);
    assert!(render::xend(&masks).contains(",edx=xxxxxxxxxxxxxxxxxxxxx1xxxxxxxxxx\""));
}

#[test]
fn kvm_outputs_do_not_offer_an_accumulate_feature_a_host_lacks() {
    // Xen levels MD_CLEAR up (xl forces it on); a KVM guest sees it only
    // when every host has it: b lacks it, so QEMU, libvirt and Firecracker
    // leave it out, or disable it where the model or the host would show it.
    let sse3 = 1;
    let a = host(
        "a",
        INTEL,
        &[((1, 0), [0, 0, sse3, 0]), ((7, 0), [0, 0, 0, MD_CLEAR])],
    );
    let b = host(
        "b",
        INTEL,
        &[((1, 0), [0, 0, sse3, 0]), ((7, 0), [0, 0, 0, 0])],
    );
    let mut nested = PoolOptions::default();
    nested.nested_hvm = true;
    let masks = pool::compute(&[a, b], &nested).unwrap();
    let guest = GuestCpu::from_masks(&masks);
    let mut targets = Targets::newest();
    assert_eq!(
        render::xl(&masks, &targets).text,
        "cpuid = \"host,md-clear=1\"\n"
    );
    assert!(render::xend(&masks).contains(",edx=xxxxxxxxxxxxxxxxxxxxx1xxxxxxxxxx\""));

    let note = "MD_CLEAR (0x7.0.edx[10]) not offered to the guest: b lacks it";
    let has_note = |r: &render::Rendered| r.notes.iter().any(|n| n.starts_with(note));
    let qemu = render::qemu(&masks, &guest, &targets);
    assert!(!qemu.text.contains("md-clear"), "{}", qemu.text);
    assert!(has_note(&qemu), "{:?}", qemu.notes);
    let libvirt = render::libvirt(&masks, &guest, &targets);
    assert!(!libvirt.text.contains("md-clear"), "{}", libvirt.text);
    assert!(has_note(&libvirt), "{:?}", libvirt.notes);

    // A model that has MD_CLEAR: it is disabled.
    let model = maskcalc::consumer::ModelRow {
        name: "Test-Model".into(),
        vendor: Some("GenuineIntel".into()),
        features: vec!["pni".into(), "md-clear".into()],
        first: targets.qemu.version,
        gone: None,
    };
    let mut with_md_clear = Targets::newest();
    with_md_clear.qemu.models = vec![&model];
    assert_eq!(
        render::qemu(&masks, &guest, &with_md_clear).text,
        "-cpu Test-Model,-md-clear\n"
    );

    targets.cpu_mode = CpuMode::Passthrough;
    let qemu = render::qemu(&masks, &guest, &targets);
    assert_eq!(qemu.text, "-cpu host,-md-clear\n");
    assert!(has_note(&qemu), "{:?}", qemu.notes);
    let libvirt = render::libvirt(&masks, &guest, &targets);
    assert!(
        libvirt
            .text
            .contains("<feature policy='disable' name='md-clear'/>"),
        "{}",
        libvirt.text
    );
    assert!(!libvirt.text.contains("require"), "{}", libvirt.text);

    let firecracker = render::firecracker(&masks);
    assert!(has_note(&firecracker), "{:?}", firecracker.notes);
    let template: serde_json::Value = serde_json::from_str(&firecracker.text).unwrap();
    let leaf7 = template["cpuid_modifiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["leaf"] == "0x7")
        .unwrap();
    assert_eq!(
        leaf7["modifiers"][1]["bitmap"], "0bxxxxxxxxxxxxxxxxxxxxx0xxxxxxxxxx",
        "{leaf7}"
    );

    // The HTML page's blocks carry the notes of the outputs they show.
    let formats = render::html::baseline_formats(&masks, &Targets::newest());
    for id in ["libvirt", "qemu", "firecracker"] {
        let format = formats.iter().find(|f| f.id == id).unwrap();
        assert!(format.notes.iter().any(|n| n.starts_with(note)), "{id}");
    }
    let block = render::html::formats_block(&formats);
    assert!(block.contains("<p class=\"note\">How it was written:</p>"));
}

#[test]
fn no_feature_depends_on_an_accumulate_feature() {
    // PoolMasks::for_kvm clears an accumulate feature without a dependency
    // closure: it would need one the day a feature depends on such a one.
    for feature in cpuid_defs::features() {
        for needed in cpuid_defs::depends_closure(feature.id).features() {
            assert_ne!(
                needed.class,
                cpuid_defs::Class::Accumulate,
                "{} depends on {}",
                feature.name,
                needed.name
            );
        }
    }
}

#[test]
fn vmx_is_cleared_unless_nested_hvm() {
    let vmx = 1 << 5;
    let a = host("a", INTEL, &[((1, 0), [0, 0, vmx, 0])]);
    let b = a.clone();
    let masks = pool::compute(&[a.clone(), b.clone()], &PoolOptions::default()).unwrap();
    assert_eq!(
        bit(&masks, "VMX").unwrap().reasons,
        vec![Reason::NestedHvmDisabled]
    );
    let mut nested = PoolOptions::default();
    nested.nested_hvm = true;
    assert!(pool::compute(&[a, b], &nested).unwrap().bits.is_empty());
}

#[test]
fn hide_and_keep() {
    let [a, b] = avx2_without_avx_on_one_host();
    let avx = cpuid_defs::lookup("AVX").unwrap().id;
    let mut keep = PoolOptions::default();
    keep.nested_hvm = true;
    keep.keep = vec![avx];
    let masks = pool::compute(&[a.clone(), b.clone()], &keep).unwrap();
    assert!(masks.bits.is_empty(), "{:?}", masks.bits);
    assert_eq!(masks.kept.len(), 1);
    let avx2 = cpuid_defs::lookup("AVX2").unwrap().id;
    let mut hide = PoolOptions::default();
    hide.nested_hvm = true;
    hide.hide = vec![avx2];
    let masks = pool::compute(&[a.clone(), b.clone()], &hide).unwrap();
    assert!(
        bit(&masks, "AVX2")
            .unwrap()
            .reasons
            .contains(&Reason::HiddenByRequest)
    );
    let mut both = PoolOptions::default();
    both.hide = vec![avx];
    both.keep = vec![avx];
    assert_eq!(
        pool::compute(&[a, b], &both).unwrap_err().kind,
        PoolErrorKind::HiddenAndKept("AVX")
    );
}

#[test]
fn mixed_vendors_are_refused_unless_allowed() {
    let amd = [0x68747541, 0x444d4163, 0x69746e65];
    let a = host("a", INTEL, &[]);
    let b = host("b", amd, &[]);
    let err = pool::compute(&[a.clone(), b.clone()], &PoolOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("a: GenuineIntel, b: AuthenticAMD"),
        "{err}"
    );
    let mut allow = PoolOptions::default();
    allow.allow_mixed_vendors = true;
    assert!(pool::compute(&[a, b], &allow).unwrap().mixed_vendors());
}

#[test]
fn named_renderers_use_each_ecosystems_names() {
    let clflush = 1 << 19;
    let sse3 = 1;
    let a = host("a", INTEL, &[((1, 0), [0, 0, sse3, clflush])]);
    let b = host("b", INTEL, &[((1, 0), [0, 0, 0, 0])]);
    let mut nested = PoolOptions::default();
    nested.nested_hvm = true;
    let masks = pool::compute(&[a, b], &nested).unwrap();
    let mut targets = Targets::newest();
    targets.cpu_mode = CpuMode::Passthrough;
    let guest = GuestCpu::from_masks(&masks);
    assert_eq!(
        render::xl(&masks, &targets).text,
        "cpuid = \"host,sse3=0,clfsh=0\"\n"
    );
    assert_eq!(
        render::qemu(&masks, &guest, &targets).text,
        "-cpu host,-pni,-clflush\n"
    );
    assert!(
        render::libvirt(&masks, &guest, &targets)
            .text
            .contains("<feature policy='disable' name='pni'/>")
    );
    let template: serde_json::Value =
        serde_json::from_str(&render::firecracker(&masks).text).unwrap();
    // Leaf 0 first: every guest's highest basic leaf pinned to the pool's (0xd).
    assert_eq!(template["cpuid_modifiers"][0]["leaf"], "0x0");
    assert_eq!(
        template["cpuid_modifiers"][0]["modifiers"][0]["bitmap"],
        "0b00000000000000000000000000001101"
    );
    assert_eq!(template["cpuid_modifiers"][1]["leaf"], "0x1");
    assert_eq!(
        template["cpuid_modifiers"][1]["modifiers"][0]["bitmap"],
        "0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0"
    );
    assert_eq!(
        template["cpuid_modifiers"][1]["modifiers"][1]["bitmap"],
        "0bxxxxxxxxxxxx0xxxxxxxxxxxxxxxxxxx"
    );
}

#[test]
fn msr_bits_are_compared_only_when_every_dump_has_them() {
    let arch_caps = 1 << 29;
    let rdcl_no = 1u64;
    let mut a = host("a", INTEL, &[((7, 0), [0, 0, 0, arch_caps])]);
    a.cpuid.msrs.insert(0x10a, rdcl_no);
    let mut b = host("b", INTEL, &[((7, 0), [0, 0, 0, arch_caps])]);
    let mut nested = PoolOptions::default();
    nested.nested_hvm = true;
    let masks = pool::compute(&[a.clone(), b.clone()], &nested).unwrap();
    assert_eq!(
        masks.unknown_registers.len(),
        2,
        "both halves of ARCH_CAPS are unknown on b"
    );
    b.cpuid.msrs.insert(0x10a, 0);
    let masks = pool::compute(&[a, b], &nested).unwrap();
    assert!(masks.unknown_registers.is_empty());
    assert_eq!(bit(&masks, "RDCL_NO").unwrap().action, Action::Clear);
    let verbose = render::xend_verbose(&masks);
    assert!(
        verbose.contains("MSR 0x10a[31:0] registers:\n"),
        "{verbose}"
    );
    assert!(
        render::xl(&masks, &Targets::newest())
            .text
            .contains("rdcl-no=0")
    );
    let template: serde_json::Value =
        serde_json::from_str(&render::firecracker(&masks).text).unwrap();
    assert_eq!(template["msr_modifiers"][0]["addr"], "0x10a");
    assert_eq!(
        template["msr_modifiers"][0]["bitmap"],
        format!("0b{}0", "x".repeat(63))
    );
}

#[test]
fn xend_lines_only_for_leaves_in_xens_policy() {
    // 0x14.0 EBX bit 0 (Intel PT) differs: masked, but Xen's policy has no leaf 0x14.
    let mut a = host("a", INTEL, &[((0x14, 0), [0, 1, 0, 0])]);
    let mut b = host("b", INTEL, &[((0x14, 0), [0, 0, 0, 0])]);
    // Leaf 0 says the hosts have leaf 0x14, so KVM reports it and a
    // Firecracker template may modify it.
    for h in [&mut a, &mut b] {
        h.cpuid.leaves.get_mut(&CpuidInput::new(0, 0)).unwrap()[0] = 0x14;
    }
    let mut nested = PoolOptions::default();
    nested.nested_hvm = true;
    let masks = pool::compute(&[a.clone(), b.clone()], &nested).unwrap();
    let pt = masks
        .register(FeatureRegister::cpuid(0x14, Some(0), Register::Ebx))
        .unwrap();
    assert_eq!(pt.clear, 1);
    assert!(!render::xend(&masks).contains("0x00000014"));
    assert!(render::xend_verbose(&masks).contains("Xen's CPUID policy has no leaf 0x14.0"));
    assert!(render::firecracker(&masks).text.contains("\"0x14\""));
    // A host whose leaf 0 stops below 0x14: KVM reports no 0x14 there, so
    // the template leaves it alone and lowers every guest's highest leaf.
    b.cpuid.leaves.get_mut(&CpuidInput::new(0, 0)).unwrap()[0] = 0xd;
    let masks = pool::compute(&[a, b], &nested).unwrap();
    let rendered = render::firecracker(&masks);
    assert!(!rendered.text.contains("\"0x14\""), "{}", rendered.text);
    assert!(rendered.text.contains("0b00000000000000000000000000001101"));
    assert!(
        rendered.notes[0].contains("not every host has 0x14.0x0"),
        "{:?}",
        rendered.notes
    );
}

#[test]
fn error_messages_name_no_command_line_flags() {
    // A library does not know the flags of the tools that embed it: the
    // binary adds `--allow-mixed-vendors`, `--hide`/`--keep`, `--input-format`.
    let errors = [
        PoolError::from(PoolErrorKind::NoHosts).to_string(),
        PoolError::from(PoolErrorKind::MixedVendors(vec![(
            "a".into(),
            "GenuineIntel".into(),
        )]))
        .to_string(),
        PoolError::from(PoolErrorKind::HiddenAndKept("AVX")).to_string(),
        maskcalc::pool::resolve_feature("zzzz")
            .unwrap_err()
            .to_string(),
        maskcalc::dump::parse("x", b"hello\n", None)
            .unwrap_err()
            .to_string(),
    ];
    for message in errors {
        assert!(!message.contains("--"), "{message}");
    }
    assert!(
        maskcalc::dump::parse("x", b"hello\n", None)
            .unwrap_err()
            .is_undetected_format()
    );
}
