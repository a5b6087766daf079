//! `convert-legacy-stream` writes the same bytes whatever its input and
//! output are: a file or a pipe in, a file, a descriptor on a file or a pipe
//! out. The library's conversion into memory is the reference; after an
//! error, a descriptor output holds exactly what the library had written
//! before it (and a file output does not exist).
//!
//! Besides the test images (all smaller than one output block), a generated
//! image of several 4 MiB blocks with batches of every size exercises the
//! block writer's boundaries.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use legacy_convert::format::Width;
use legacy_convert::writer::{BodyItem, LegacyImage};
use legacy_convert::{Options, OutputFormat};
use support::scratch;

const EXE: &str = env!("CARGO_BIN_EXE_convert-legacy-stream");

#[derive(Clone, Copy, Debug)]
enum Input {
    File,
    Pipe,
}

#[derive(Clone, Copy, Debug)]
enum Output {
    /// `-o PATH`: a temporary file renamed into place.
    File,
    /// `-o 1` with standard output on a regular file.
    Fd,
    /// `-o 1` with standard output a pipe.
    Pipe,
}

const INPUTS: [Input; 2] = [Input::File, Input::Pipe];
const OUTPUTS: [Output; 3] = [Output::File, Output::Fd, Output::Pipe];

/// Runs the converter on `bytes` (stored at `path` for a file input) and
/// returns its exit code and the output bytes (`None`: no output file).
fn run_converter(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    input: Input,
    output: Output,
    extra: &[&str],
) -> (i32, Option<Vec<u8>>) {
    let out_path = dir.join("out.v2");
    let _ = std::fs::remove_file(&out_path);
    let mut command = Command::new(EXE);
    command.arg("-q").args(extra);
    match input {
        Input::File => command.arg("-i").arg(path).stdin(Stdio::null()),
        Input::Pipe => command.args(["-i", "0"]).stdin(Stdio::piped()),
    };
    match output {
        Output::File => command.arg("-o").arg(&out_path).stdout(Stdio::null()),
        Output::Fd => command
            .args(["-o", "1"])
            .stdout(File::create(&out_path).unwrap()),
        Output::Pipe => command.args(["-o", "1"]).stdout(Stdio::piped()),
    };
    let mut child = command.stderr(Stdio::null()).spawn().unwrap();
    let feeder = child.stdin.take().map(|mut stdin| {
        let bytes = bytes.to_vec();
        // The converter may stop reading at an error: EPIPE here is expected.
        std::thread::spawn(move || drop(stdin.write_all(&bytes)))
    });
    let mut piped = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_end(&mut piped).unwrap();
    }
    let status = child.wait().unwrap();
    if let Some(feeder) = feeder {
        feeder.join().unwrap();
    }
    let code = status.code().expect("killed by a signal");
    let written = match output {
        Output::Pipe => Some(piped),
        _ => std::fs::read(&out_path).ok(),
    };
    (code, written)
}

/// The library's output for `bytes` (what it wrote before an error, too).
fn reference(bytes: &[u8], options: &Options) -> (bool, Vec<u8>) {
    let mut out = Vec::new();
    let ok = legacy_convert::convert(
        bytes,
        &mut out,
        options,
        &mut legacy_convert::convert::Quiet,
    )
    .is_ok();
    (ok, out)
}

/// Checks one image over every input and output, for `format`.
fn check_everywhere(dir: &Path, name: &str, bytes: &[u8], xl: bool, format: OutputFormat) {
    let path = dir.join("in.img");
    std::fs::write(&path, bytes).unwrap();
    let mut options = Options::default();
    options.format = format;
    options.xl_header = xl;
    let (ok, expected) = reference(bytes, &options);
    let mut extra = vec![
        "-f",
        if format == OutputFormat::Libxl {
            "libxl"
        } else {
            "libxc"
        },
    ];
    if xl {
        extra.push("-x");
    }
    for input in INPUTS {
        for output in OUTPUTS {
            let (code, written) = run_converter(dir, &path, bytes, input, output, &extra);
            let case = format!("{name} {format:?} from a {input:?} to a {output:?}");
            assert_eq!(code == 0, ok, "{case}: exit code {code}");
            match (ok, output) {
                (false, Output::File) => assert_eq!(written, None, "{case}: output file left"),
                _ => {
                    let written = written.unwrap_or_default();
                    assert!(
                        written == expected,
                        "{case}: {} bytes differ from the library's {} (first difference at {:?})",
                        written.len(),
                        expected.len(),
                        written.iter().zip(&expected).position(|(a, b)| a != b)
                    );
                }
            }
        }
    }
}

fn multi_block_image() -> Vec<u8> {
    let mut body = Vec::new();
    let mut pfn = 0u64;
    for (i, len) in [1u64, 1024, 7, 513, 1024, 1, 999, 64, 1024, 300]
        .iter()
        .enumerate()
    {
        let pages: Vec<(u8, u64)> = (0..*len).map(|k| (0, pfn + k)).collect();
        pfn += len;
        body.push(BodyItem::pages(&pages, i as u8));
    }
    LegacyImage::hvm(Width::W64, pfn + 16)
        .with_body(body)
        .to_bytes()
}

#[test]
fn every_test_image_converts_to_the_same_bytes_over_every_input_and_output() {
    let dir = scratch("output-paths-images");
    for (stem, bytes) in xenmig_test_support::legacy_images() {
        let xl = stem.ends_with("-xl");
        for format in [OutputFormat::Libxc, OutputFormat::Libxl] {
            check_everywhere(&dir, &stem, &bytes, xl, format);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_multi_block_image_and_its_truncations_give_the_same_bytes_everywhere() {
    let dir = scratch("output-paths-blocks");
    let bytes = multi_block_image();
    assert!(bytes.len() > 3 * (4 << 20), "spans several 4 MiB blocks");
    check_everywhere(&dir, "multi-block", &bytes, false, OutputFormat::Libxl);
    // Cut inside page data after more than one whole block, inside a batch
    // header, and in the tail: a descriptor gets what was converted.
    let tail = bytes.len() - 100;
    for cut in [(9 << 20) + 12_345, (4 << 20) + 3, tail] {
        let name = format!("multi-block cut at {cut}");
        check_everywhere(&dir, &name, &bytes[..cut], false, OutputFormat::Libxc);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
