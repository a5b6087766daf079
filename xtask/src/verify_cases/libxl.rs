//! Cases for the xl header and the libxl layer around the libxc stream.

use super::stream::{
    Item, checkpointed, emulator_context, encode, hvm_libxl, inserted, le32s, libxl, libxl_header,
    patched, pv64, replaced, with_raw, xl_header, xl_rec,
};
use super::{Case, auto, broken};
use migration_stream::payload::EmulatorRecord;
use migration_stream::types::{EmulatorId, LibxlRecordType as L, XlMandatoryFlags};

/// The xl header in front of a libxl stream.
pub(super) fn xl_header_cases() -> Vec<Case> {
    let xl = |header: Vec<u8>| {
        let mut bytes = header;
        bytes.extend(encode(&hvm_libxl()));
        bytes
    };
    let xl_ok = || xl_header(XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2);
    vec![
        broken("xl.magic", "xl", xl(patched(xl_ok(), 31, b"\n"))),
        auto("xl.byte-order", xl(patched(xl_ok(), 32, &[1, 2, 3, 4]))),
        auto("xl.mandatory-flags", xl(patched(xl_ok(), 36, &le32s(&[7])))),
        auto("xl.config-length", {
            let mut header = xl_ok();
            let optional_len = u32::from_le_bytes([header[44], header[45], header[46], header[47]]);
            header = patched(header, 48, &le32s(&[optional_len]));
            xl(header)
        }),
    ]
}

/// The libxl header, and the libxl records other than the emulator's
/// xenstore data and the checkpoint records.
pub(super) fn header_and_record_checks() -> Vec<Case> {
    let with_libxl_header = |header: Vec<u8>| encode(&with_raw(hvm_libxl(), 0, header));
    vec![
        broken(
            "libxl-header.ident",
            "libxl",
            with_libxl_header(patched(libxl_header(0), 7, b"u")),
        ),
        auto(
            "libxl-header.version",
            with_libxl_header(patched(libxl_header(0), 8, &[0, 0, 0, 3])),
        ),
        auto(
            "libxl-header.options",
            with_libxl_header(libxl_header(1 << 16)),
        ),
        auto(
            "libxl-header.endianness",
            with_libxl_header(libxl_header(1)),
        ),
        auto(
            "libxl.record-unknown",
            inserted(hvm_libxl(), L::EMULATOR_CONTEXT, Item::Rec(6, vec![])),
        ),
        auto("libxl.end-length", {
            let mut items = hvm_libxl();
            let last = items.len() - 1;
            items[last] = xl_rec(L::END, vec![0; 8]);
            encode(&items)
        }),
        auto(
            "libxl.libxc-context-length",
            replaced(hvm_libxl(), L::LIBXC_CONTEXT, vec![0; 8]),
        ),
        auto(
            "libxl.libxc-context-once",
            encode(&[
                Item::Raw(libxl_header(0)),
                xl_rec(L::EMULATOR_CONTEXT, emulator_context()),
                xl_rec(L::END, vec![]),
            ]),
        ),
        auto(
            "libxl.emulator-length",
            replaced(hvm_libxl(), L::EMULATOR_CONTEXT, vec![2, 0, 0, 0]),
        ),
        auto(
            "libxl.emulator-id",
            replaced(
                hvm_libxl(),
                L::EMULATOR_CONTEXT,
                EmulatorRecord::encode(EmulatorId(3), 0, b"x"),
            ),
        ),
        auto(
            "libxl.emulator-not-hvm",
            inserted(
                libxl(pv64(), false),
                L::END,
                xl_rec(L::EMULATOR_CONTEXT, emulator_context()),
            ),
        ),
    ]
}

/// The emulator's xenstore data, CHECKPOINT_END and CHECKPOINT_STATE.
pub(super) fn xenstore_and_checkpoint_checks() -> Vec<Case> {
    let xenstore = |data: &[u8]| {
        replaced(
            hvm_libxl(),
            L::EMULATOR_XENSTORE_DATA,
            EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, data),
        )
    };
    let state = |body: Vec<u8>| inserted(hvm_libxl(), L::END, xl_rec(L::CHECKPOINT_STATE, body));
    vec![
        auto("libxl.xenstore-nul", xenstore(b"physmap/1/size\0800000")),
        auto(
            "libxl.xenstore-pairs",
            xenstore(b"physmap/1/size\0800000\0physmap/1/name\0"),
        ),
        auto(
            "libxl.xenstore-key",
            xenstore(b"physmap/1/bad key!\0800000\0"),
        ),
        auto(
            "libxl.xenstore-string-length",
            xenstore(&{
                let mut data = b"physmap/1/name\0".to_vec();
                data.extend(std::iter::repeat_n(b'v', 5000));
                data.push(0);
                data
            }),
        ),
        auto(
            "libxl.checkpoint-end-length",
            replaced(checkpointed(1, true), L::CHECKPOINT_END, vec![0; 8]),
        ),
        auto(
            "libxl.checkpoint-end-unexpected",
            inserted(hvm_libxl(), L::END, xl_rec(L::CHECKPOINT_END, vec![])),
        ),
        auto("libxl.checkpoint-state-empty", state(vec![])),
        auto("libxl.checkpoint-state-length", state(vec![0; 8])),
        auto("libxl.checkpoint-state-id", state(le32s(&[7]))),
        auto("libxl.checkpoint-state-unexpected", state(le32s(&[0]))),
    ]
}
