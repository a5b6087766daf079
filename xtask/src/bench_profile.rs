//! `cargo xtask bench cpu-profile`: `cpu-profile check --stream` on 1 GiB
//! streams, from a file (against `cat FILE`) and from a pipe (against
//! `cat FILE | cat`), with peak RSS from `/usr/bin/time -f %M`.
//!
//! Two streams, both xl save files around a libxc v3 HVM stream:
//!
//! * `pages-after`: the policy records, STATIC_DATA_END, then 1 GiB of
//!   PAGE_DATA. The checker stops at STATIC_DATA_END, so its cost must not
//!   depend on the memory behind it.
//! * `records-before`: 1 GiB of optional records of an unknown type before
//!   the policy (legal framing, however unusual). From a file they are
//!   skipped by seeking; from a pipe they must be read, and this is where the
//!   ratio against `cat` means something.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use migration_stream::payload::{MsrPolicy, PageData};
use migration_stream::types::{
    DomainType, LibxlRecordType, PAGE_SIZE, PageType, PfnEntry, RecordType, XEN_CPUID_NO_SUBLEAF,
    XlMandatoryFlags,
};
use migration_stream::wire::{
    CpuidPolicyLeaf, DomainHeader, ImageHeader, LibxlHeader, MsrPolicyEntry,
};
use migration_stream::{Writer, XlHeader};
use zerocopy::IntoBytes;

use crate::bench_util::{Profile, best_shell, build_cli, mib, peak_rss_of_shell, ratio, rss_cell};

const RUNS: usize = 5;
/// 1 GiB in 4 MiB records.
const RECORDS: u64 = 256;
const PAGES_PER_RECORD: u64 = 1024;
/// An optional record type no Xen defines (bit 31: optional).
const UNKNOWN_OPTIONAL: u32 = 0x8000_0123;

fn io_err(what: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", what.display())
}

/// Writes an xl save file; `before` and `after` write the bulk around the static data.
fn write_stream(
    path: &Path,
    before: impl Fn(&mut Writer<BufWriter<File>>) -> std::io::Result<()>,
    after: impl Fn(&mut Writer<BufWriter<File>>) -> std::io::Result<()>,
) -> Result<(), String> {
    let file = File::create(path).map_err(io_err(path))?;
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, file));
    let result = (|| {
        w.write_xl_header(&XlHeader::new(
            XlMandatoryFlags::STREAM_V2 | XlMandatoryFlags::JSON,
            b"{}\0",
        ))?;
        w.write_libxl_header(&LibxlHeader::new(0))?;
        w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
        w.write_image_header(&ImageHeader::new(3))?;
        w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
        before(&mut w)?;
        let none = XEN_CPUID_NO_SUBLEAF;
        let leaves = [
            CpuidPolicyLeaf::new(0, none, [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]),
            CpuidPolicyLeaf::new(1, none, [0x0005_0654, 0, 0x0000_0201, 0x0000_0001]),
            // FDP_EXCP_ONLY and NO_FPU_SEL, as on the Skylake-SP host the check runs against.
            CpuidPolicyLeaf::new(7, 0, [0, 1 << 6 | 1 << 13, 0, 0]),
        ];
        w.write_record(RecordType::X86_CPUID_POLICY.0, leaves.as_bytes())?;
        w.write_record(
            RecordType::X86_MSR_POLICY.0,
            &MsrPolicy::encode(&[MsrPolicyEntry::new(0xce, 0)]),
        )?;
        w.write_record(RecordType::STATIC_DATA_END.0, &[])?;
        after(&mut w)?;
        w.write_record(RecordType::END.0, &[])?;
        w.write_record(LibxlRecordType::END.0, &[])?;
        w.into_inner().flush()
    })();
    result.map_err(io_err(path))
}

fn pages(w: &mut Writer<BufWriter<File>>) -> std::io::Result<()> {
    let data = vec![0x5a; (PAGES_PER_RECORD as usize) * PAGE_SIZE];
    for r in 0..RECORDS {
        let entries: Vec<PfnEntry> = (0..PAGES_PER_RECORD)
            .map(|i| PfnEntry::new(r * PAGES_PER_RECORD + i, PageType::NOTAB))
            .collect();
        w.write_record(RecordType::PAGE_DATA.0, &PageData::encode(&entries, &data))?;
    }
    Ok(())
}

fn unknown_records(w: &mut Writer<BufWriter<File>>) -> std::io::Result<()> {
    let body = vec![0xa5; (PAGES_PER_RECORD as usize) * PAGE_SIZE];
    for _ in 0..RECORDS {
        w.write_record(UNKNOWN_OPTIONAL, &body)?;
    }
    Ok(())
}

fn nothing(_: &mut Writer<BufWriter<File>>) -> std::io::Result<()> {
    Ok(())
}

/// Runs the benchmark and prints a table.
pub fn run(root: &Path) -> Result<(), String> {
    let tool = build_cli(root, "cpu-profile", Profile::Release)?;
    let dump = root.join("testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt");
    let dir = root.join("target/bench/cpu-profile");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let streams: [(&str, PathBuf); 2] = [
        ("pages-after", dir.join("pages-after.bin")),
        ("records-before", dir.join("records-before.bin")),
    ];
    write_stream(&streams[0].1, nothing, pages)?;
    write_stream(&streams[1].1, unknown_records, nothing)?;
    println!("cpu-profile check --stream, best of {RUNS} runs, release build");
    println!(
        "{:<16} {:>9} {:<6} {:>12} {:>10} {:>8} {:>10}",
        "stream", "MiB", "input", "cpu-profile", "cat", "ratio", "peak RSS"
    );
    for (name, path) in &streams {
        let size = std::fs::metadata(path).map_err(io_err(path))?.len();
        let file = path.display();
        let check = format!("{} check --stream", tool.display());
        // From a file the baseline is `cat FILE`; through a pipe, `cat FILE | cat`.
        let (cat_file, _) = best_shell(&format!("cat {file} > /dev/null"), RUNS)?;
        let (cat_pipe, _) = best_shell(&format!("cat {file} | cat > /dev/null"), RUNS)?;
        for (input, command, cat) in [
            (
                "file",
                format!("{check} {file} {}", dump.display()),
                cat_file,
            ),
            (
                "pipe",
                format!("cat {file} | {check} - {}", dump.display()),
                cat_pipe,
            ),
        ] {
            let (ours, code) = best_shell(&command, RUNS)?;
            if code != Some(0) {
                let code = code.unwrap_or(-1);
                return Err(format!("{command}: exit {code}, expected 0"));
            }
            let rss = peak_rss_of_shell(&command, &dir);
            println!(
                "{name:<16} {:>9.0} {input:<6} {:>10.2}ms {:>8.1}ms {:>7.3}x {:>10}",
                mib(size),
                ours.as_secs_f64() * 1e3,
                cat.as_secs_f64() * 1e3,
                ratio(ours, cat),
                rss_cell(rss),
            );
        }
    }
    for (_, path) in &streams {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
