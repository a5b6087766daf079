//! xenmig's own JSON dump format.
//!
//! ```json
//! {
//!   "format": "xenmig-cpuid-dump",
//!   "version": 1,
//!   "leaves": [
//!     { "leaf": "0x00000000", "subleaf": "0x00000000",
//!       "eax": "0x0000000d", "ebx": "0x756e6547", "ecx": "0x6c65746e", "edx": "0x49656e69" }
//!   ],
//!   "msrs": [ { "index": "0x0000010a", "value": "0x000000000c000069" } ]
//! }
//! ```
//!
//! Register values are hex strings so the file reads like the other dumps and
//! diffs well in version control. `msrs` and `comment` are optional.

use serde::{Deserialize, Serialize};

use super::text::{hex_u32_prefixed, hex_u64, quote};
use super::{LineError, MAX_LEAVES, MAX_MSRS, insert_leaf, insert_msr};
use crate::model::{CpuidInput, HostCpuid};

/// The value of the `format` member.
pub const DUMP_FORMAT_NAME: &str = "xenmig-cpuid-dump";
/// The version this library writes and reads.
pub const DUMP_FORMAT_VERSION: u32 = 1;
/// JSON dumps are small; a tighter bound keeps the parsed tree small too.
const MAX_JSON_BYTES: usize = 4 << 20;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonDump {
    pub(super) format: String,
    pub(super) version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) comment: Option<String>,
    pub(super) leaves: Vec<JsonLeaf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) msrs: Vec<JsonMsr>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonLeaf {
    pub(super) leaf: String,
    pub(super) subleaf: String,
    pub(super) eax: String,
    pub(super) ebx: String,
    pub(super) ecx: String,
    pub(super) edx: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonMsr {
    pub(super) index: String,
    pub(super) value: String,
}

/// Parses a xenmig JSON dump.
pub(super) fn parse(text: &str) -> Result<HostCpuid, LineError> {
    if text.len() > MAX_JSON_BYTES {
        return Err(LineError::whole(format!(
            "expected a JSON dump of at most {MAX_JSON_BYTES} bytes, found {} bytes",
            text.len()
        ))
        .kind(super::DumpErrorKind::TooLarge));
    }
    let dump: JsonDump = serde_json::from_str(text).map_err(|e| {
        LineError::at(
            e.line().max(1),
            format!("expected a xenmig CPUID dump ({DUMP_FORMAT_NAME}): {e}"),
        )
    })?;
    if dump.format != DUMP_FORMAT_NAME {
        return Err(LineError::whole(format!(
            "expected \"format\": \"{DUMP_FORMAT_NAME}\", found {}",
            quote(&dump.format)
        )));
    }
    if dump.version != DUMP_FORMAT_VERSION {
        return Err(LineError::whole(format!(
            "expected \"version\": {DUMP_FORMAT_VERSION}, found {}",
            dump.version
        )));
    }
    if dump.leaves.len() > MAX_LEAVES || dump.msrs.len() > MAX_MSRS {
        return Err(LineError::whole(format!(
            "expected at most {MAX_LEAVES} leaves and {MAX_MSRS} MSRs, found {} and {}",
            dump.leaves.len(),
            dump.msrs.len()
        ))
        .kind(super::DumpErrorKind::TooLarge));
    }
    let mut host = HostCpuid::default();
    for (i, entry) in dump.leaves.iter().enumerate() {
        let field = |name: &str, value: &str| {
            hex_u32_prefixed(value).ok_or_else(|| {
                LineError::whole(format!(
                    "leaves[{i}].{name}: expected `0x` and up to 8 hex digits, found {}",
                    quote(value)
                ))
            })
        };
        let input = CpuidInput::new(
            field("leaf", &entry.leaf)?,
            field("subleaf", &entry.subleaf)?,
        );
        let regs = [
            field("eax", &entry.eax)?,
            field("ebx", &entry.ebx)?,
            field("ecx", &entry.ecx)?,
            field("edx", &entry.edx)?,
        ];
        insert_leaf(&mut host, 0, input, regs, false)
            .map_err(|e| LineError::whole(format!("leaves[{i}]: {}", e.message)))?;
    }
    for (i, entry) in dump.msrs.iter().enumerate() {
        let index = hex_u32_prefixed(&entry.index).ok_or_else(|| {
            LineError::whole(format!(
                "msrs[{i}].index: expected `0x` and up to 8 hex digits, found {}",
                quote(&entry.index)
            ))
        })?;
        let value = entry
            .value
            .strip_prefix("0x")
            .and_then(hex_u64)
            .ok_or_else(|| {
                LineError::whole(format!(
                    "msrs[{i}].value: expected `0x` and up to 16 hex digits, found {}",
                    quote(&entry.value)
                ))
            })?;
        insert_msr(&mut host, 0, index, value)
            .map_err(|e| LineError::whole(format!("msrs[{i}]: {}", e.message)))?;
    }
    Ok(host)
}
