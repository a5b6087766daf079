//! Drives `StreamReader` over arbitrary bytes: every event, bodies read whole,
//! in pieces or skipped (chosen by the input's first byte), and every
//! fixed-layout payload parsed. Nothing may panic, hang or allocate without bound.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use migration_stream::payload::{
    CheckpointState, CpuidPolicy, DirtyPfnList, EmulatorRecord, HvmContext, HvmParams, MsrPolicy,
    PageData, Vcpu, X86PvInfo, X86PvP2mFrames, X86TscInfo,
};
use migration_stream::types::{LibxlRecordType, RecordType};
use migration_stream::{Event, Reader, StreamReader};

fn parse_libxc(raw_type: RecordType, body: &[u8]) {
    match raw_type {
        RecordType::PAGE_DATA => {
            if let Ok(p) = PageData::parse(body) {
                let _ = p.pages().count();
                let _ = p.expected_len();
            }
        }
        RecordType::X86_PV_INFO => drop(X86PvInfo::parse(body)),
        RecordType::X86_PV_P2M_FRAMES => {
            if let Ok(f) = X86PvP2mFrames::parse(body) {
                let _ = f.frames().count();
            }
        }
        RecordType::X86_TSC_INFO => drop(X86TscInfo::parse(body)),
        RecordType::HVM_PARAMS => {
            if let Ok(p) = HvmParams::parse(body) {
                let _ = p.iter().map(|(param, _)| param.name()).count();
            }
        }
        RecordType::HVM_CONTEXT => {
            if let Ok(c) = HvmContext::parse(body) {
                for entry in c.iter().flatten() {
                    let _ = entry.save_header();
                }
                let _ = c.trailing_after_end();
            }
        }
        RecordType::X86_CPUID_POLICY => drop(CpuidPolicy::parse(body)),
        RecordType::X86_MSR_POLICY => drop(MsrPolicy::parse(body)),
        RecordType::CHECKPOINT_DIRTY_PFN_LIST => {
            if let Ok(d) = DirtyPfnList::parse(body) {
                let _ = d.iter().count();
            }
        }
        RecordType::X86_PV_VCPU_MSRS => {
            if let Ok(v) = Vcpu::parse(body) {
                drop(v.msrs());
            }
        }
        _ => drop(Vcpu::parse(body)),
    }
}

fn parse_libxl(raw_type: LibxlRecordType, body: &[u8]) {
    match raw_type {
        LibxlRecordType::CHECKPOINT_STATE => drop(CheckpointState::parse(body)),
        _ => {
            if let Ok(e) = EmulatorRecord::parse(body)
                && let Ok(pairs) = e.xenstore_pairs()
            {
                let _ = pairs.iter().count();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let mut reader = if mode & 1 != 0 {
        Reader::seekable(Cursor::new(stream))
    } else {
        Reader::new(Cursor::new(stream))
    };
    if mode & 2 != 0 {
        reader.set_body_cap(4096);
    }
    let mut stream = StreamReader::from_reader(reader, None);
    let mut body = Vec::new();
    let mut chunk = [0u8; 100];
    for round in 0u32.. {
        let event = match stream.next_event() {
            Ok(event) => event,
            Err(err) => {
                let _ = err.to_string();
                break;
            }
        };
        let (libxc, info) = match event {
            Event::LibxcRecord(info) => (true, info),
            Event::LibxlRecord(info) => (false, info),
            Event::End => break,
            Event::Trailing { .. } => {
                while let Ok(n) = stream.reader_mut().read_raw(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                }
                continue;
            }
            _ => continue,
        };
        let choice = (mode >> 2).wrapping_add(round as u8) % 3;
        let result = match choice {
            0 => stream.read_body(&mut body).map(|body| {
                if libxc {
                    parse_libxc(info.libxc_type(), body);
                } else {
                    parse_libxl(info.libxl_type(), body);
                }
            }),
            1 => loop {
                match stream.read_body_chunk(&mut chunk) {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) => break Err(e),
                }
            },
            _ => stream.skip_body(),
        };
        if let Err(err) = result {
            let _ = err.to_string();
        }
    }
});
