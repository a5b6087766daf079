//! `cpu-profile`: CPU profiles for migration pools (the CPUID a guest may
//! see on every host), and compatibility checks that say by feature name why
//! a host cannot run a profile's guests or restore a saved domain.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cpu_profile::check::{self, HostReport};
use cpu_profile::export;
use cpu_profile::stream::{self as policy_stream, GuestPolicy, PolicyErrorKind};
use cpu_profile::{Profile, diff, generate, json, show};
use maskcalc::consumer::Consumer;
use maskcalc::dump;
use maskcalc::model::Host;
use migration_stream::StreamReader;
use xenmig_cli::args::cpu_profile::{Args, Command, ExportFormat, NAME as TOOL, ShowFormat};
use xenmig_cli::consumers::{ConsumerArgs, ConsumerSetup};
use xenmig_cli::exit::warn;
use xenmig_cli::fdio::{self, Target};
use xenmig_cli::hosts::{
    distinct_files, distinguishing_names, dump_failure, load_dump, local_host, read_input, repaired,
};
use xenmig_cli::{Failure, exit, finish, parse_args, write_stdout};

fn main() -> ExitCode {
    match parse_args::<Args>() {
        Ok(args) => finish(TOOL, false, run(args)),
        Err(code) => code,
    }
}

fn run(args: Args) -> Result<u8, Failure> {
    match args.command {
        Command::Generate {
            dumps,
            local,
            name,
            output,
            input_format,
        } => generate_cmd(&dumps, input_format.format(), local, &name, &output),
        Command::Show {
            format,
            consumers,
            profile,
        } => show_cmd(&profile, format, &consumers),
        Command::Export {
            format,
            verbose,
            consumers,
            profile,
        } => export_cmd(&profile, format, verbose, &consumers),
        Command::Check {
            profile,
            stream,
            json,
            local,
            dumps,
            input_format,
        } => check_cmd(
            profile.as_deref(),
            stream.as_deref(),
            json,
            local,
            &dumps,
            input_format.format(),
        ),
        Command::Diff {
            json,
            a,
            b,
            input_format,
        } => diff_cmd(&a, &b, input_format.format(), json),
    }
}

/// `show`: the profile as text, or as one HTML page.
fn show_cmd(profile: &Path, format: ShowFormat, consumers: &ConsumerArgs) -> Result<u8, Failure> {
    let profile = load_profile(profile)?;
    match format {
        ShowFormat::Text => print(&show::show(&profile)),
        ShowFormat::Html => {
            let setup = ConsumerSetup::new(
                consumers,
                &[Consumer::Xl, Consumer::Libvirt, Consumer::Qemu],
            )?;
            let generator = format!("{TOOL} {}", env!("CARGO_PKG_VERSION"));
            print(&cpu_profile::html::page(
                &profile,
                &generator,
                &setup.targets(),
            ))
        }
    }
}

/// `export`: the profile as another toolstack's configuration, with its
/// notes and what it leaves out on standard error.
fn export_cmd(
    profile: &Path,
    format: ExportFormat,
    verbose: bool,
    consumers: &ConsumerArgs,
) -> Result<u8, Failure> {
    let profile = load_profile(profile)?;
    let needed: &[Consumer] = match format {
        ExportFormat::Xl => &[Consumer::Xl],
        ExportFormat::Qemu => &[Consumer::Qemu],
        ExportFormat::Libvirt => &[Consumer::Libvirt, Consumer::Qemu],
        _ => &[],
    };
    let setup = ConsumerSetup::new(consumers, needed)?;
    if verbose {
        for consumer in needed {
            exit::write_stderr(&format!("{TOOL}: {}\n", setup.describe(*consumer)));
        }
    }
    let rendered = export::render(&profile, format.into(), &setup.targets());
    // An exported configuration is data: a closed pipe is a failure.
    exit::write_stdout_data(&rendered.text)?;
    for note in &rendered.notes {
        exit::write_stderr(&format!("{TOOL}: note: {note}\n"));
    }
    for line in &rendered.omitted {
        warn(TOOL, &format!("not in the output: {line}"));
    }
    Ok(exit::OK)
}

fn print(text: &str) -> Result<u8, Failure> {
    write_stdout(text)?;
    Ok(exit::OK)
}

/// Prints `text` and returns `verdict`; a closed standard output is not an
/// error, and the exit code stays the verdict (a host that does not fit
/// still exits 1 under `| head`).
fn print_verdict(text: &str, verdict: u8) -> Result<u8, Failure> {
    match print(text) {
        Err(failure) if failure.code == exit::OK => Ok(verdict),
        Err(failure) => Err(failure),
        Ok(_) => Ok(verdict),
    }
}

fn load_profile(path: &Path) -> Result<Profile, Failure> {
    let bytes = read_input(path, json::MAX_PROFILE_BYTES, "a profile")?;
    json::from_json(&path.display().to_string(), &bytes).map_err(Failure::bad_input)
}

fn load_host(path: &Path, format: Option<dump::Format>) -> Result<Host, Failure> {
    load_dump(TOOL, path, &path.display().to_string(), format)
}

fn generate_cmd(
    dumps: &[PathBuf],
    format: Option<dump::Format>,
    local: bool,
    name: &str,
    output: &str,
) -> Result<u8, Failure> {
    let mut hosts = Vec::new();
    let dumps: Vec<PathBuf> = distinct_files(dumps).into_iter().cloned().collect();
    for (path, name) in dumps.iter().zip(distinguishing_names(&dumps)) {
        let mut host = load_host(path, format)?;
        host.name = name;
        hosts.push(host);
    }
    if local {
        hosts.push(local_host()?);
    }
    if hosts.is_empty() {
        return Err(Failure::usage_or_io(
            "expected at least one dump (or --local), found none",
        ));
    }
    let profile = generate::generate(name, &hosts).map_err(Failure::bad_input)?;
    let text = json::to_json(&profile);
    let target = Target::parse_output(output);
    // A profile is data: a closed pipe fails the command (Failure::output).
    // A dump given as the output would be replaced by the profile: refused.
    let read: Vec<PathBuf> = dumps
        .iter()
        .filter(|path| path.as_os_str() != "-")
        .cloned()
        .collect();
    let options = fdio::OutputOptions {
        new_file_mode: fdio::SHARED,
        input: None,
        read_files: &read,
    };
    let mut out = fdio::Output::create(&target, &options)
        .map_err(|e| Failure::output(target.describe(), e))?;
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::output(target.describe(), e))?;
    out.commit()
        .map_err(|e| Failure::output(target.describe(), e))?;
    Ok(exit::OK)
}

fn read_stream_policy(arg: &str) -> Result<(String, GuestPolicy), Failure> {
    let target = Target::parse_input(arg);
    let name = target.describe();
    let input = fdio::open_input(&target).map_err(|e| Failure::io(&name, e))?;
    let policy = if input.seekable {
        policy_stream::read_policy(StreamReader::seekable(std::io::BufReader::new(input.file)))
    } else {
        // Spliced, and waited for when the caller set the descriptor non-blocking.
        policy_stream::read_policy(StreamReader::pipe(input.file))
    };
    let policy = policy.map_err(|e| match e.kind {
        PolicyErrorKind::Io => Failure::usage_or_io(format!("{name}: {e}")),
        _ => Failure::bad_input(format!("{name}: {e}")),
    })?;
    Ok((name, policy))
}

fn stream_summary(name: &str, policy: &GuestPolicy) -> String {
    let format = policy.format.map_or("unknown", |f| f.name());
    let version = policy
        .libxc_version
        .map_or_else(String::new, |v| format!(", libxc v{v}"));
    let leaves = policy.cpuid.as_ref().map_or(0, |c| c.leaves.len());
    let msrs = policy.msr_count.map_or_else(
        || "no X86_MSR_POLICY".to_owned(),
        |n| format!("MSR policy of {n} entr{}", if n == 1 { "y" } else { "ies" }),
    );
    format!("{name}: {format} stream{version}, CPUID policy of {leaves} leaves, {msrs}\n")
}

fn check_cmd(
    profile_path: Option<&Path>,
    stream: Option<&str>,
    json_out: bool,
    local: bool,
    dumps: &[PathBuf],
    format: Option<dump::Format>,
) -> Result<u8, Failure> {
    // A saved guest is checked by its own rules (check::check_guest).
    let (profile, header, saved_guest) = match (profile_path, stream) {
        (Some(path), _) => (load_profile(path)?, String::new(), false),
        (None, Some(arg)) => {
            let (name, policy) = read_stream_policy(arg)?;
            let Some(cpuid) = &policy.cpuid else {
                let version = policy
                    .libxc_version
                    .map_or_else(String::new, |v| format!(" (libxc v{v})"));
                return Err(Failure::usage_or_io(format!(
                    "{name}: the stream{version} has no X86_CPUID_POLICY record in its static data, so \
                     there is no guest CPUID to check: the destination will build the guest's policy \
                     itself at restore (v2 streams and converted legacy images never carry one)"
                )));
            };
            let profile = policy_stream::guest_profile(&name, cpuid).ok_or_else(|| {
                Failure::bad_input(format!(
                    "{name}: X86_CPUID_POLICY: expected leaf 0 (the vendor string), found a policy without it"
                ))
            })?;
            (profile, stream_summary(&name, &policy), true)
        }
        (None, None) => {
            return Err(Failure::usage_or_io(
                "expected --profile PROFILE or --stream SAVEFILE",
            ));
        }
    };
    let check_one = |host: &Host| {
        if saved_guest {
            check::check_guest(&profile, host)
        } else {
            check::check(&profile, host)
        }
    };
    let mut reports = Vec::new();
    for path in dumps {
        let host = load_host(path, format)?;
        reports.push(check_one(&host));
    }
    if local {
        reports.push(check_one(&local_host()?));
    }
    let text = if json_out {
        check::reports_json(&profile.name, &reports)
    } else {
        let mut text = header;
        for report in &reports {
            text.push_str(&report_text(report));
        }
        text
    };
    let verdict = if reports.iter().all(HostReport::is_compatible) {
        exit::OK
    } else {
        exit::BAD_INPUT
    };
    print_verdict(&text, verdict)
}

fn report_text(report: &HostReport) -> String {
    let mut text = if report.is_compatible() {
        format!("{}: compatible\n", report.host)
    } else {
        let n = report.problems.len();
        let plural = if n == 1 { "" } else { "s" };
        format!("{}: not compatible ({n} problem{plural})\n", report.host)
    };
    for problem in &report.problems {
        text.push_str(&format!("  {}\n", problem.describe(report.subject)));
    }
    for label in report.unchecked_labels() {
        text.push_str(&format!(
            "  not checked: {label} (the dump has no value for it)\n"
        ));
    }
    text
}

/// A profile file, or a dump turned into its one host's profile.
fn load_either(path: &Path, format: Option<dump::Format>) -> Result<Profile, Failure> {
    let bytes = read_input(
        path,
        dump::MAX_DUMP_BYTES.max(json::MAX_PROFILE_BYTES),
        "a profile or a CPUID dump",
    )?;
    let name = path.display().to_string();
    let looks_like_profile = bytes
        .windows(cpu_profile::FORMAT_NAME.len())
        .any(|w| w == cpu_profile::FORMAT_NAME.as_bytes());
    if looks_like_profile {
        return json::from_json(&name, &bytes).map_err(Failure::bad_input);
    }
    let cpuid = dump::parse_owned(&name, bytes, format).map_err(dump_failure)?;
    let host = repaired(
        TOOL,
        Host {
            name: name.clone(),
            cpuid,
        },
    );
    generate::generate(&name, &[host]).map_err(Failure::bad_input)
}

fn diff_cmd(
    a: &Path,
    b: &Path,
    format: Option<dump::Format>,
    json_out: bool,
) -> Result<u8, Failure> {
    let pa = load_either(a, format)?;
    let pb = load_either(b, format)?;
    let changes = diff::diff(&pa, &pb);
    let text = if json_out {
        diff::changes_json(&a.display().to_string(), &b.display().to_string(), &changes)
    } else {
        let mut text = format!("--- {}\n+++ {}\n", a.display(), b.display());
        for change in &changes {
            text.push_str(&format!("{change}\n"));
        }
        if changes.is_empty() {
            text.push_str("no differences\n");
        }
        text
    };
    let verdict = if changes.is_empty() {
        exit::OK
    } else {
        exit::BAD_INPUT
    };
    print_verdict(&text, verdict)
}
