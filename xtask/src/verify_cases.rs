//! Test streams for `stream-verify`: for every rule a small stream that breaks
//! exactly that rule, plus valid streams of every shape the verifier follows.
//!
//! Output: `testdata/verify/<name>.stream` and `testdata/verify/cases.txt`,
//! one line per stream: `<file> <format> <expected rule id | valid>`.
//! The rule catalogue page `docs/verify-rules.md` is generated here too, so it
//! cannot drift from the code.
//!
//! The cases are grouped by what they break: the framing, further message
//! forms and wrong formats here, the libxc layer in `libxc`, the libxl layer
//! and the xl header in `libxl`; the valid streams are in `valid`, and all are
//! built from the pieces in `stream`.

mod libxc;
mod libxl;
mod stream;
mod valid;

use crate::GeneratedFile;
use migration_stream::types::{
    HvmSaveCode, LibxlRecordType as L, RecordType as T, XlMandatoryFlags,
};
use migration_stream::wire::HvmSaveHeader;
use std::path::Path;
use stream::{
    Item, encode, hvm, hvm_context_with, hvm3, inserted, le32s, libxl, replaced, xl_header, xl_rec,
};
use zerocopy::IntoBytes;

/// A stream case: file stem, format argument, expected rule (None = valid), bytes.
struct Case {
    name: String,
    format: &'static str,
    expect: Option<&'static str>,
    bytes: Vec<u8>,
}

fn valid(name: &str, format: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        name: format!("valid-{name}"),
        format,
        expect: None,
        bytes,
    }
}

fn broken(rule: &'static str, format: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        name: rule.to_owned(),
        format,
        expect: Some(rule),
        bytes,
    }
}

/// A case for `rule` verified with `--format auto`, as most are.
fn auto(rule: &'static str, bytes: Vec<u8>) -> Case {
    broken(rule, "auto", bytes)
}

/// A case for a rule's message form other than the one its main case shows:
/// `<rule>.<form>.stream`.
fn broken_form(rule: &'static str, form: &str, format: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        name: format!("{rule}.{form}"),
        ..broken(rule, format, bytes)
    }
}

/// Every case, in the order of `testdata/verify/cases.txt`.
fn cases() -> Vec<Case> {
    [
        valid::streams(),
        framing(),
        libxl::xl_header_cases(),
        libxc::headers(),
        libxc::upstream_memory_and_pv_checks(),
        libxc::upstream_hvm_and_policy_checks(),
        libxc::static_data_and_policy_checks(),
        libxc::pv_layout_checks(),
        libxc::hvm_state_checks(),
        libxl::header_and_record_checks(),
        libxl::xenstore_and_checkpoint_checks(),
        other_message_forms(),
        wrong_format_given(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Input and framing: what is wrong before any record's meaning matters.
fn framing() -> Vec<Case> {
    vec![
        auto("stream.truncated", {
            let bytes = encode(&hvm3());
            bytes[..bytes.len() - 3000].to_vec()
        }),
        auto(
            "stream.format",
            b"This is not a migration stream at all.\n".to_vec(),
        ),
        auto("stream.trailing-data", {
            let mut bytes = encode(&hvm3());
            bytes.extend_from_slice(&[0u8; 16]);
            bytes
        }),
        auto("record.padding", {
            let mut bytes = encode(&hvm3());
            let end = bytes.len() - 8;
            let mut optional = encode(&[Item::Rec(0x8000_0002, b"abc".to_vec())]);
            let last = optional.len() - 1;
            optional[last] = 0xee;
            bytes.splice(end..end, optional);
            bytes
        }),
        auto("record.length-max", {
            let mut bytes = encode(&hvm3());
            let end = bytes.len() - 8;
            let mut header = T::HVM_CONTEXT.0.to_le_bytes().to_vec();
            header.extend_from_slice(&((128u32 << 20) + 8).to_le_bytes());
            bytes.splice(end..end, header);
            bytes
        }),
        auto(
            "record.unknown",
            inserted(hvm3(), T::END, Item::Rec(0x13, vec![])),
        ),
    ]
}

/// One case per further message form of the rules that have several, so
/// that every message in `docs/verify-rules.md` is shown to be the tool's.
fn other_message_forms() -> Vec<Case> {
    let good_header = HvmSaveHeader::new(0x0004_0011, 0, 0);
    let context = |entries: &[(HvmSaveCode, u16, &[u8])]| {
        replaced(hvm3(), T::HVM_CONTEXT, hvm_context_with(entries))
    };
    let mut xl_short = xl_header(XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2);
    xl_short.truncate(44);
    xl_short.extend(le32s(&[3]));
    xl_short.extend([0; 3]);
    xl_short.extend(encode(&libxl(hvm3(), true)));
    vec![
        broken_form("xl.config-length", "no-length-word", "auto", xl_short),
        broken_form(
            "libxl.libxc-context-once",
            "repeated",
            "auto",
            inserted(
                libxl(hvm3(), true),
                L::END,
                xl_rec(L::LIBXC_CONTEXT, vec![]),
            ),
        ),
        broken_form(
            "hvm-context.header",
            "not-first",
            "auto",
            context(&[
                (HvmSaveCode::CPU, 0, &[0; 16]),
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode::END, 0, &[]),
            ]),
        ),
        broken_form("hvm-context.descriptor", "cut", "auto", {
            let mut body = hvm_context_with(&[(HvmSaveCode::HEADER, 0, good_header.as_bytes())]);
            body.extend([0; 4]);
            replaced(hvm3(), T::HVM_CONTEXT, body)
        }),
        broken_form(
            "hvm-context.descriptor",
            "typecode",
            "auto",
            context(&[
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode(21), 0, &[0; 8]),
                (HvmSaveCode::END, 0, &[]),
            ]),
        ),
        broken_form(
            "hvm-context.end",
            "data-after",
            "auto",
            context(&[
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode::END, 0, &[]),
                (HvmSaveCode::CPU, 0, &[0; 16]),
            ]),
        ),
    ]
}

/// A valid stream verified as a format it is not: the message says what the
/// bytes are (`-f libxc` on an xl file says they are an xl header).
fn wrong_format_given() -> Vec<Case> {
    let libxc = encode(&hvm(3));
    let libxl_stream = encode(&libxl(hvm(3), true));
    let mut xl = xl_header(XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2);
    xl.extend(&libxl_stream);
    vec![
        broken_form("image-header.marker", "xl-file", "libxc", xl.clone()),
        broken_form(
            "image-header.marker",
            "libxl-stream",
            "libxc",
            libxl_stream.clone(),
        ),
        broken_form("libxl-header.ident", "libxc-stream", "libxl", libxc.clone()),
        broken_form("libxl-header.ident", "xl-file", "libxl", xl),
        broken_form("xl.magic", "libxc-stream", "xl", libxc),
        broken_form("xl.magic", "libxl-stream", "xl", libxl_stream),
    ]
}

/// The files of the `verify-cases` generator.
pub fn generate(_root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let mut files = Vec::new();
    let mut manifest = String::from(
        "# Generated by `cargo xtask gen-testdata` (xtask/src/verify_cases.rs); do not edit.\n\
         # <file> <format> <expected rule id | valid>\n",
    );
    for case in cases() {
        let file = format!("{}.stream", case.name);
        manifest.push_str(&format!(
            "{file} {} {}\n",
            case.format,
            case.expect.unwrap_or("valid")
        ));
        files.push(GeneratedFile::new(
            format!("testdata/verify/{file}"),
            case.bytes,
        ));
    }
    files.push(GeneratedFile::new("testdata/verify/cases.txt", manifest));
    files.push(GeneratedFile::new(
        "docs/verify-rules.md",
        stream_verify::rules::catalogue_markdown(),
    ));
    Ok(files)
}
