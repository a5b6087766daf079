//! Typed views of record bodies, borrowing from the body buffer.
//!
//! Each view has `parse(body) -> Result<View, PayloadError>` which checks
//! only what it needs to present the body safely (the fixed header is there,
//! arrays fit); the stricter rules of the specification (reserved fields zero,
//! exact lengths for some records, known type codes) are left to the verifier,
//! which can read every field through the view. Each also has an `encode`
//! that builds a body for the [`Writer`](crate::Writer).
//!
//! ```
//! use migration_stream::payload::HvmParams;
//! use migration_stream::types::HvmParam;
//!
//! let body = HvmParams::encode(&[(HvmParam::STORE_PFN, 0xfeffc), (HvmParam::VIRIDIAN, 1)]);
//! let params = HvmParams::parse(&body)?;
//! let names: Vec<_> = params.iter().map(|(p, v)| (p.name(), v)).collect();
//! assert_eq!(names, [(Some("STORE_PFN"), 0xfeffc), (Some("VIRIDIAN"), 1)]);
//! # Ok::<(), migration_stream::PayloadError>(())
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub use crate::error::PayloadError;
pub use crate::types::PfnEntry;
use crate::types::{CheckpointControlId, EmulatorId, HvmParam, PAGE_SIZE};
use crate::wire::{
    self, CpuidPolicyLeaf, EmulatorHeader, HvmParamsEntry, Le32, Le64, MsrPolicyEntry,
    PageDataHeader, VcpuHeader, VcpuMsrEntry,
};

mod hvm_context;

pub use hvm_context::{HvmContext, HvmContextEntry, HvmContextIter};

/// Splits `body` into a `T` header and the rest.
fn header<'a, T: FromBytes + KnownLayout + Immutable>(
    body: &'a [u8],
    what: &'static str,
) -> Result<(&'a T, &'a [u8]), PayloadError> {
    T::ref_from_prefix(body).map_err(|_| PayloadError::TooShort {
        what,
        expected: size_of::<T>(),
        found: body.len(),
    })
}

/// Views `bytes` as a slice of `T`, which must fit exactly.
fn entries<'a, T: FromBytes + KnownLayout + Immutable>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<&'a [T], PayloadError> {
    <[T]>::ref_from_bytes(bytes).map_err(|_| PayloadError::NotMultiple {
        what,
        unit: size_of::<T>(),
        found: bytes.len(),
    })
}

/// A PAGE_DATA body: pfn entries, then 4096 bytes per entry whose type carries data.
///
/// ```
/// use migration_stream::payload::PageData;
/// use migration_stream::types::{PageType, PfnEntry};
///
/// let entries = [PfnEntry::new(0x100, PageType::NOTAB), PfnEntry::new(0x101, PageType::XTAB)];
/// let body = PageData::encode(&entries, &[0x11; 4096]);
/// let pages = PageData::parse(&body)?;
/// assert_eq!(pages.data_page_count(), 1);
/// assert_eq!(pages.expected_len(), body.len() as u64);
/// let (first, data) = pages.pages().next().unwrap();
/// assert_eq!((first.pfn, data.map(|d| d[0])), (0x100, Some(0x11)));
/// assert_eq!((pages.count(), pages.reserved()), (2, 0));
/// let types: Vec<_> = pages.entries().map(|e| e.page_type).collect();
/// assert_eq!(types, [PageType::NOTAB, PageType::XTAB]);
/// let raw: Vec<u64> = pages.raw_entries().collect();
/// assert_eq!(raw, [0x100, 0xf000_0000_0000_0101]); // the type in the top nibble
/// assert_eq!(pages.page_data().len(), 4096);
/// assert_eq!(PageData::body_len(&entries), body.len() as u64);
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PageData<'a> {
    header: &'a PageDataHeader,
    pfns: &'a [Le64],
    data: &'a [u8],
}

impl<'a> PageData<'a> {
    /// Parses the header and pfn array (the count must fit the body). The page
    /// data is not length-checked here: compare [`expected_len`](Self::expected_len)
    /// with the body length.
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        let (header, rest): (&PageDataHeader, _) = header(body, "PAGE_DATA")?;
        let count = header.count.get() as usize;
        let pfn_bytes = count.saturating_mul(8);
        let Some(pfn_area) = rest.get(..pfn_bytes) else {
            return Err(PayloadError::LengthMismatch {
                what: "PAGE_DATA pfn array",
                expected: 8 + 8 * u64::from(header.count.get()),
                found: body.len(),
            });
        };
        let pfns = entries(pfn_area, "PAGE_DATA pfn array")?;
        Ok(PageData {
            header,
            pfns,
            data: rest.get(pfn_bytes..).unwrap_or_default(),
        })
    }

    /// Number of pfn entries.
    pub fn count(&self) -> u32 {
        self.header.count.get()
    }

    /// The reserved header field (must be zero).
    pub fn reserved(&self) -> u32 {
        self.header.reserved.get()
    }

    /// The pfn entries, decoded.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = PfnEntry> + 'a {
        self.pfns.iter().map(|raw| PfnEntry::from_raw(raw.get()))
    }

    /// The raw pfn entries as stored.
    pub fn raw_entries(&self) -> impl ExactSizeIterator<Item = u64> + 'a {
        self.pfns.iter().map(|raw| raw.get())
    }

    /// How many entries carry page data.
    pub fn data_page_count(&self) -> usize {
        self.entries().filter(|e| e.page_type.has_data()).count()
    }

    /// The bytes after the pfn array (should be `data_page_count() * 4096`).
    pub fn page_data(&self) -> &'a [u8] {
        self.data
    }

    /// The body length the entries imply: `8 + 8·count + 4096·data pages`.
    pub fn expected_len(&self) -> u64 {
        8 + 8 * u64::from(self.count()) + (PAGE_SIZE as u64) * self.data_page_count() as u64
    }

    /// Each entry with its page (`None` for types without data, or when the
    /// body has run out of page data).
    pub fn pages(&self) -> impl Iterator<Item = (PfnEntry, Option<&'a [u8]>)> + 'a {
        let mut pages = self.data.chunks_exact(PAGE_SIZE);
        self.entries().map(move |entry| {
            let page = if entry.page_type.has_data() {
                pages.next()
            } else {
                None
            };
            (entry, page)
        })
    }

    /// Encodes a body: the entries, then `page_data` (which should hold one
    /// 4096-byte page per entry whose type carries data).
    pub fn encode(entries: &[PfnEntry], page_data: &[u8]) -> Vec<u8> {
        let mut out = PageData::encode_prefix(entries);
        out.extend_from_slice(page_data);
        out
    }

    /// Encodes the header and pfn array only, for writers that stream the
    /// pages after it (see [`Writer::begin_record`](crate::Writer::begin_record)).
    ///
    /// ```
    /// use migration_stream::{Writer, payload::PageData, types::{PageType, PfnEntry, RecordType}};
    /// let entries = [PfnEntry::new(5, PageType::NOTAB), PfnEntry::new(6, PageType::XTAB)];
    /// let prefix = PageData::encode_prefix(&entries);
    /// let mut writer = Writer::new(Vec::new());
    /// writer.begin_record(RecordType::PAGE_DATA.0, PageData::body_len(&entries) as u32)?;
    /// writer.write_body(&prefix)?;
    /// writer.write_body(&[0xab; 4096])?; // only pfn 5 carries data
    /// writer.end_record()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn encode_prefix(entries: &[PfnEntry]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 8 * entries.len());
        let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for entry in entries {
            out.extend_from_slice(&entry.to_raw().to_le_bytes());
        }
        out
    }

    /// The body length for `entries`: `8 + 8·count + 4096·(entries with data)`.
    pub fn body_len(entries: &[PfnEntry]) -> u64 {
        let pages = entries.iter().filter(|e| e.page_type.has_data()).count() as u64;
        8 + 8 * entries.len() as u64 + PAGE_SIZE as u64 * pages
    }
}

/// An HVM_PARAMS body: `(index, value)` pairs.
///
/// ```
/// use migration_stream::payload::HvmParams;
/// use migration_stream::types::HvmParam;
///
/// let body = HvmParams::encode(&[(HvmParam::STORE_PFN, 0xfeffc), (HvmParam(99), 1)]);
/// assert_eq!(body.len(), 8 + 2 * 16);
/// let params = HvmParams::parse(&body)?;
/// assert_eq!((params.count(), params.reserved()), (2, 0));
/// let values: Vec<_> = params.iter().collect();
/// assert_eq!(values, [(HvmParam::STORE_PFN, 0xfeffc), (HvmParam(99), 1)]);
/// assert!(HvmParams::parse(&body[..20]).is_err(), "the count says 40 bytes");
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HvmParams<'a> {
    header: &'a wire::HvmParamsHeader,
    entries: &'a [HvmParamsEntry],
}

impl<'a> HvmParams<'a> {
    /// Parses the body; its length must be exactly `8 + 16·count`.
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        let (header, rest): (&wire::HvmParamsHeader, _) = header(body, "HVM_PARAMS")?;
        let expected = 8 + 16 * u64::from(header.count.get());
        if body.len() as u64 != expected {
            return Err(PayloadError::LengthMismatch {
                what: "HVM_PARAMS",
                expected,
                found: body.len(),
            });
        }
        Ok(HvmParams {
            header,
            entries: entries(rest, "HVM_PARAMS")?,
        })
    }

    /// Number of entries.
    pub fn count(&self) -> u32 {
        self.header.count.get()
    }

    /// The reserved header field (must be zero).
    pub fn reserved(&self) -> u32 {
        self.header.reserved.get()
    }

    /// The parameters in stream order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (HvmParam, u64)> + 'a {
        self.entries
            .iter()
            .map(|e| (HvmParam(e.index.get()), e.value.get()))
    }

    /// Encodes a body.
    pub fn encode(params: &[(HvmParam, u64)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 16 * params.len());
        let count = u32::try_from(params.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for (param, value) in params {
            out.extend_from_slice(&param.0.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }
}

/// An X86_PV_INFO body.
///
/// ```
/// use migration_stream::payload::X86PvInfo;
/// let body = X86PvInfo::encode(8, 4); // a 64-bit guest, 4-level page tables
/// let info = X86PvInfo::parse(&body).unwrap();
/// assert_eq!((info.guest_width, info.pt_levels), (8, 4));
/// assert!(X86PvInfo::parse(&body[..4]).is_err(), "cut short");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X86PvInfo {
    /// Guest word size in bytes (4 or 8).
    pub guest_width: u8,
    /// Page-table levels (3 or 4).
    pub pt_levels: u8,
    /// First reserved field (must be zero).
    pub reserved1: u16,
    /// Second reserved field (must be zero).
    pub reserved2: u32,
}

impl X86PvInfo {
    /// Parses the first 8 bytes of the body (the verifier wants exactly 8, the C restorer at least 8).
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let (raw, _): (&wire::X86PvInfo, _) = header(body, "X86_PV_INFO")?;
        Ok(X86PvInfo {
            guest_width: raw.guest_width,
            pt_levels: raw.pt_levels,
            reserved1: raw.reserved1.get(),
            reserved2: raw.reserved2.get(),
        })
    }

    /// Encodes an 8-byte body with reserved fields zero.
    pub fn encode(guest_width: u8, pt_levels: u8) -> Vec<u8> {
        wire::X86PvInfo {
            guest_width,
            pt_levels,
            reserved1: 0.into(),
            reserved2: 0.into(),
        }
        .as_bytes()
        .to_vec()
    }
}

/// An X86_PV_P2M_FRAMES body.
///
/// ```
/// use migration_stream::payload::X86PvP2mFrames;
///
/// let body = X86PvP2mFrames::encode(0, 1023, &[0x1234, 0x1235]);
/// let p2m = X86PvP2mFrames::parse(&body)?;
/// assert_eq!((p2m.start_pfn, p2m.end_pfn), (0, 1023));
/// assert_eq!(p2m.frames().collect::<Vec<_>>(), [0x1234, 0x1235]);
/// assert!(X86PvP2mFrames::parse(&body[..12]).is_err(), "half a frame");
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct X86PvP2mFrames<'a> {
    /// First pfn covered.
    pub start_pfn: u32,
    /// Last pfn covered (inclusive).
    pub end_pfn: u32,
    frames: &'a [Le64],
}

impl<'a> X86PvP2mFrames<'a> {
    /// Parses the body: at least 8 bytes, a multiple of 8.
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        let (header, rest): (&wire::X86PvP2mFramesHeader, _) = header(body, "X86_PV_P2M_FRAMES")?;
        Ok(X86PvP2mFrames {
            start_pfn: header.p2m_start_pfn.get(),
            end_pfn: header.p2m_end_pfn.get(),
            frames: entries(rest, "X86_PV_P2M_FRAMES")?,
        })
    }

    /// The P2M frame numbers.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = u64> + 'a {
        self.frames.iter().map(|f| f.get())
    }

    /// Encodes a body.
    pub fn encode(start_pfn: u32, end_pfn: u32, frames: &[u64]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 8 * frames.len());
        out.extend_from_slice(&start_pfn.to_le_bytes());
        out.extend_from_slice(&end_pfn.to_le_bytes());
        for frame in frames {
            out.extend_from_slice(&frame.to_le_bytes());
        }
        out
    }
}

/// The body of any X86_PV_VCPU_* record.
///
/// ```
/// use migration_stream::payload::Vcpu;
///
/// let body = Vcpu::encode(3, &[0xaa; 16]);
/// let vcpu = Vcpu::parse(&body)?;
/// assert_eq!((vcpu.vcpu_id, vcpu.reserved, vcpu.context), (3, 0, &[0xaa; 16][..]));
/// // Xen 4.6–4.8 wrote records with an empty context.
/// assert!(Vcpu::parse(&Vcpu::encode(0, &[]))?.context.is_empty());
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vcpu<'a> {
    /// The vCPU.
    pub vcpu_id: u32,
    /// Reserved field (must be zero).
    pub reserved: u32,
    /// The context blob (may be empty: Xen 4.6–4.8 wrote empty records).
    pub context: &'a [u8],
}

impl<'a> Vcpu<'a> {
    /// Parses the 8-byte header and takes the rest as the context.
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        let (header, context): (&VcpuHeader, _) = header(body, "X86_PV_VCPU")?;
        Ok(Vcpu {
            vcpu_id: header.vcpu_id.get(),
            reserved: header.reserved.get(),
            context,
        })
    }

    /// The context of an X86_PV_VCPU_MSRS record as its 16-byte MSR entries
    /// (the context must be a multiple of 16 bytes).
    ///
    /// ```
    /// use migration_stream::payload::Vcpu;
    /// use migration_stream::wire::VcpuMsrEntry;
    /// use zerocopy::IntoBytes;
    ///
    /// let msrs = [VcpuMsrEntry::new(0xc000_0080, 0xd01)];
    /// let body = Vcpu::encode(0, msrs.as_bytes());
    /// let vcpu = Vcpu::parse(&body)?;
    /// assert_eq!(vcpu.msrs()?[0].value.get(), 0xd01);
    /// # Ok::<(), migration_stream::PayloadError>(())
    /// ```
    pub fn msrs(&self) -> Result<&'a [VcpuMsrEntry], PayloadError> {
        entries(self.context, "X86_PV_VCPU_MSRS")
    }

    /// Encodes a body.
    pub fn encode(vcpu_id: u32, context: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + context.len());
        out.extend_from_slice(&vcpu_id.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(context);
        out
    }
}

/// An X86_TSC_INFO body.
///
/// ```
/// use migration_stream::payload::X86TscInfo;
///
/// let tsc = X86TscInfo { mode: 1, khz: 2_000_000, nsec: 5, incarnation: 2, reserved: 0 };
/// let body = tsc.encode();
/// assert_eq!(body.len(), 24);
/// assert_eq!(X86TscInfo::parse(&body)?, tsc);
/// assert!(X86TscInfo::parse(&body[..16]).is_err());
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X86TscInfo {
    /// TSC mode.
    pub mode: u32,
    /// Frequency in kHz.
    pub khz: u32,
    /// Elapsed nanoseconds.
    pub nsec: u64,
    /// Incarnation.
    pub incarnation: u32,
    /// Reserved (must be zero).
    pub reserved: u32,
}

impl X86TscInfo {
    /// Parses the first 24 bytes of the body (the verifier wants exactly 24).
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let (raw, _): (&wire::X86TscInfo, _) = header(body, "X86_TSC_INFO")?;
        Ok(X86TscInfo {
            mode: raw.mode.get(),
            khz: raw.khz.get(),
            nsec: raw.nsec.get(),
            incarnation: raw.incarnation.get(),
            reserved: raw.reserved.get(),
        })
    }

    /// Encodes a 24-byte body (the reserved field as given).
    pub fn encode(&self) -> Vec<u8> {
        wire::X86TscInfo {
            mode: self.mode.into(),
            khz: self.khz.into(),
            nsec: self.nsec.into(),
            incarnation: self.incarnation.into(),
            reserved: self.reserved.into(),
        }
        .as_bytes()
        .to_vec()
    }
}

/// An X86_CPUID_POLICY body: a list of leaves.
///
/// ```
/// use migration_stream::payload::CpuidPolicy;
/// use migration_stream::types::XEN_CPUID_NO_SUBLEAF;
/// use migration_stream::wire::CpuidPolicyLeaf;
/// let body = CpuidPolicy::encode(&[
///     CpuidPolicyLeaf::new(0, XEN_CPUID_NO_SUBLEAF, [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]),
///     CpuidPolicyLeaf::new(7, 0, [0, 1 << 5, 0, 0]), // AVX2
/// ]);
/// let policy = CpuidPolicy::parse(&body).unwrap();
/// let leaf7 = policy.iter().find(|l| l.leaf.get() == 7).unwrap();
/// assert_eq!(leaf7.b.get(), 1 << 5);
/// assert!(CpuidPolicy::parse(&body[..30]).is_err(), "not a whole number of leaves");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CpuidPolicy<'a> {
    leaves: &'a [CpuidPolicyLeaf],
}

impl<'a> CpuidPolicy<'a> {
    /// Parses the body: a multiple of 24 bytes (empty is accepted here).
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        Ok(CpuidPolicy {
            leaves: entries(body, "X86_CPUID_POLICY")?,
        })
    }

    /// The leaves as stored.
    pub fn leaves(&self) -> &'a [CpuidPolicyLeaf] {
        self.leaves
    }

    /// The leaves in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a CpuidPolicyLeaf> + 'a {
        self.leaves.iter()
    }

    /// Encodes a body.
    pub fn encode(leaves: &[CpuidPolicyLeaf]) -> Vec<u8> {
        leaves.as_bytes().to_vec()
    }
}

/// An X86_MSR_POLICY body: a list of MSR entries.
///
/// ```
/// use migration_stream::payload::MsrPolicy;
/// use migration_stream::wire::MsrPolicyEntry;
/// let body = MsrPolicy::encode(&[MsrPolicyEntry::new(0x10a, 0x2b)]); // ARCH_CAPABILITIES
/// let policy = MsrPolicy::parse(&body).unwrap();
/// assert_eq!(policy.entries()[0].val.get(), 0x2b);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MsrPolicy<'a> {
    entries: &'a [MsrPolicyEntry],
}

impl<'a> MsrPolicy<'a> {
    /// Parses the body: a multiple of 16 bytes (empty is accepted here).
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        Ok(MsrPolicy {
            entries: entries(body, "X86_MSR_POLICY")?,
        })
    }

    /// The entries as stored.
    pub fn entries(&self) -> &'a [MsrPolicyEntry] {
        self.entries
    }

    /// The entries in order.
    ///
    /// ```
    /// use migration_stream::payload::MsrPolicy;
    /// use migration_stream::wire::MsrPolicyEntry;
    /// let body = MsrPolicy::encode(&[MsrPolicyEntry::new(0xce, 0), MsrPolicyEntry::new(0x10a, 0xc)]);
    /// let policy = MsrPolicy::parse(&body)?;
    /// let indices: Vec<u32> = policy.iter().map(|e| e.idx.get()).collect();
    /// assert_eq!(indices, [0xce, 0x10a]);
    /// # Ok::<(), migration_stream::PayloadError>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a MsrPolicyEntry> + 'a {
        self.entries.iter()
    }

    /// The first entry whose `flags` field is set, with its index. The
    /// field is reserved and must be zero: Xen's `x86_msr_copy_from_buffer()`
    /// refuses the whole policy when it is not, so a stream carrying such an
    /// entry restores nowhere. (Reported, not refused, here: validity is the
    /// caller's question.)
    ///
    /// ```
    /// use migration_stream::payload::MsrPolicy;
    /// use migration_stream::wire::MsrPolicyEntry;
    ///
    /// let mut entries = [MsrPolicyEntry::new(0xce, 0), MsrPolicyEntry::new(0x10a, 0xc)];
    /// assert!(MsrPolicy::parse(&MsrPolicy::encode(&entries))?.first_flagged().is_none());
    /// entries[1].flags.set(1);
    /// let body = MsrPolicy::encode(&entries);
    /// let (index, entry) = MsrPolicy::parse(&body)?.first_flagged().unwrap();
    /// assert_eq!((index, entry.idx.get(), entry.flags.get()), (1, 0x10a, 1));
    /// # Ok::<(), migration_stream::PayloadError>(())
    /// ```
    pub fn first_flagged(&self) -> Option<(usize, &'a MsrPolicyEntry)> {
        self.entries
            .iter()
            .enumerate()
            .find(|(_, entry)| entry.flags.get() != 0)
    }

    /// Encodes a body.
    pub fn encode(entries: &[MsrPolicyEntry]) -> Vec<u8> {
        entries.as_bytes().to_vec()
    }
}

/// A CHECKPOINT_DIRTY_PFN_LIST body (COLO back channel): `u64` pfns.
///
/// ```
/// use migration_stream::payload::DirtyPfnList;
///
/// let body: Vec<u8> = [7u64, 3].iter().flat_map(|pfn| pfn.to_le_bytes()).collect();
/// let list = DirtyPfnList::parse(&body)?;
/// assert_eq!(list.iter().collect::<Vec<_>>(), [7, 3]);
/// assert!(DirtyPfnList::parse(&body[..12]).is_err(), "not a multiple of 8");
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DirtyPfnList<'a> {
    pfns: &'a [Le64],
}

impl<'a> DirtyPfnList<'a> {
    /// Parses the body: a multiple of 8 bytes.
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        Ok(DirtyPfnList {
            pfns: entries(body, "CHECKPOINT_DIRTY_PFN_LIST")?,
        })
    }

    /// The pfns, unordered.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u64> + 'a {
        self.pfns.iter().map(|p| p.get())
    }
}

/// The body of a libxl EMULATOR_XENSTORE_DATA or EMULATOR_CONTEXT record.
///
/// ```
/// use migration_stream::payload::{EmulatorRecord, XenstorePairs};
/// use migration_stream::types::EmulatorId;
///
/// let data = XenstorePairs::encode(&[(b"physmap/f0000000/size", b"800000")]);
/// let body = EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, &data);
/// let record = EmulatorRecord::parse(&body)?;
/// assert_eq!((record.id, record.index, record.data), (EmulatorId::QEMU_UPSTREAM, 0, &data[..]));
/// let pairs = record.xenstore_pairs()?;
/// assert_eq!(pairs.len(), 1);
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmulatorRecord<'a> {
    /// Which device model.
    pub id: EmulatorId,
    /// The emulator's index for the domain.
    pub index: u32,
    /// What follows the 8-byte sub-header.
    pub data: &'a [u8],
}

impl<'a> EmulatorRecord<'a> {
    /// Parses the 8-byte sub-header and takes the rest as data.
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        let (header, data): (&EmulatorHeader, _) = header(body, "emulator record")?;
        Ok(EmulatorRecord {
            id: EmulatorId(header.id.get()),
            index: header.index.get(),
            data,
        })
    }

    /// The data as xenstore pairs (for EMULATOR_XENSTORE_DATA).
    pub fn xenstore_pairs(&self) -> Result<XenstorePairs<'a>, PayloadError> {
        XenstorePairs::parse(self.data)
    }

    /// Encodes a body.
    pub fn encode(id: EmulatorId, index: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + data.len());
        out.extend_from_slice(&id.0.to_le_bytes());
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(data);
        out
    }
}

/// The data of EMULATOR_XENSTORE_DATA: packed `key\0value\0` pairs.
///
/// ```
/// use migration_stream::payload::XenstorePairs;
/// let data = XenstorePairs::encode(&[(b"physmap/f0000000/size", b"800000")]);
/// let pairs = XenstorePairs::parse(&data)?;
/// assert_eq!(pairs.iter().next(), Some((&b"physmap/f0000000/size"[..], &b"800000"[..])));
/// assert_eq!((pairs.len(), pairs.is_empty()), (1, false));
/// assert!(XenstorePairs::parse(&[])?.is_empty());
/// assert!(XenstorePairs::parse(b"key\0").is_err(), "a key without a value");
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct XenstorePairs<'a> {
    data: &'a [u8],
}

impl<'a> XenstorePairs<'a> {
    /// Parses the data that follows the emulator sub-header: empty, or
    /// NUL-terminated strings, an even number of them.
    pub fn parse(data: &'a [u8]) -> Result<Self, PayloadError> {
        const WHAT: &str = "EMULATOR_XENSTORE_DATA";
        if data.is_empty() {
            return Ok(XenstorePairs { data });
        }
        if data.last() != Some(&0) {
            return Err(PayloadError::NotNulTerminated { what: WHAT });
        }
        let strings = data.iter().filter(|&&b| b == 0).count();
        if strings % 2 != 0 {
            return Err(PayloadError::OddStringCount {
                what: WHAT,
                found: strings,
            });
        }
        Ok(XenstorePairs { data })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.data.iter().filter(|&&b| b == 0).count() / 2
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The `(key, value)` pairs as bytes without their NULs.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        // An empty list would split into one empty string; take none from it.
        let data: &'a [u8] = self.data.strip_suffix(&[0]).unwrap_or(self.data);
        let mut strings = data.split(|&b| b == 0).take(2 * self.len());
        std::iter::from_fn(move || Some((strings.next()?, strings.next()?)))
    }

    /// Encodes pairs as `key\0value\0…`.
    pub fn encode(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in pairs {
            out.extend_from_slice(key);
            out.push(0);
            out.extend_from_slice(value);
            out.push(0);
        }
        out
    }
}

/// A COLO CHECKPOINT_STATE body.
///
/// ```
/// use migration_stream::payload::CheckpointState;
/// use migration_stream::types::CheckpointControlId;
///
/// let state = CheckpointState { control_id: CheckpointControlId::SVM_READY };
/// assert_eq!(state.encode(), [2, 0, 0, 0]);
/// assert_eq!(CheckpointState::parse(&state.encode())?, state);
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointState {
    /// What the message means.
    pub control_id: CheckpointControlId,
}

impl CheckpointState {
    /// Parses the 4-byte control id (longer bodies are accepted here).
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let (id, _): (&Le32, _) = header(body, "CHECKPOINT_STATE")?;
        Ok(CheckpointState {
            control_id: CheckpointControlId(id.get()),
        })
    }

    /// Encodes the 4-byte body.
    pub fn encode(&self) -> Vec<u8> {
        self.control_id.0.to_le_bytes().to_vec()
    }
}
