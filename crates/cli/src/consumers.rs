//! Which consumer releases an output is written for: `--xen-version`,
//! `--qemu-version`, `--libvirt-version` and `--cpu-mode`, shared by
//! `xen-maskcalc` and `cpu-profile export`. Without a version flag, the
//! consumer installed on this machine when it can be found (libxenlight's
//! and libvirt's shared library names carry their release;
//! `qemu-system-x86_64 --version` tells QEMU's), else the newest release the
//! tables know. The installed libvirt's own cpu_map is read when the target
//! is that release.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use maskcalc::consumer::{
    self, Consumer, CpuMode, ModelTable, NameTable, Release, Targets, Version, cpu_map,
};

use crate::Failure;

/// Where shared libraries are looked for.
const LIBRARY_DIRS: [&str; 6] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/usr/local/lib64",
    "/lib/x86_64-linux-gnu",
];

/// libvirt's installed CPU model tables.
const CPU_MAP_DIR: &str = "/usr/share/libvirt/cpu_map";

/// How long `qemu-system-x86_64 --version` may take before it is given up.
const QEMU_VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// `--cpu-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CpuModeArg {
    /// a named CPU model every host supports, plus features to add and remove
    Model,
    /// the host's CPU with the masked features turned off (host-passthrough)
    Passthrough,
}

/// The consumer flags.
#[derive(Debug, Clone, Args)]
pub struct ConsumerArgs {
    /// Write `--format xl` for this Xen release's libxl (default: the installed one, else the newest known)
    #[arg(long, value_name = "X.Y")]
    pub xen_version: Option<Version>,

    /// Write `--format qemu` (and libvirt's QEMU) for this QEMU release (default: installed, else newest known)
    #[arg(long, value_name = "X.Y")]
    pub qemu_version: Option<Version>,

    /// Write `--format libvirt` for this libvirt release (default: installed, else newest known)
    #[arg(long, value_name = "X.Y")]
    pub libvirt_version: Option<Version>,

    /// For QEMU and libvirt: a named CPU model (what migrates), or host passthrough
    #[arg(long, value_enum, default_value_t = CpuModeArg::Model)]
    pub cpu_mode: CpuModeArg,
}

/// One chosen release and how it was chosen, for `-v`.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The release.
    pub version: Version,
    /// `--qemu-version`, `installed (…)`, `newest known`.
    pub how: String,
}

/// The releases chosen for one run, and the installed cpu_map if it is used.
#[derive(Debug)]
pub struct ConsumerSetup {
    xen: Chosen,
    qemu: Chosen,
    libvirt: Chosen,
    installed_cpu_map: Option<(NameTable, ModelTable)>,
    mode: CpuMode,
}

impl ConsumerSetup {
    /// Chooses the releases; only the consumers in `needed` are looked for on
    /// this machine (finding QEMU runs it). A release older than the tables
    /// is a usage error.
    pub fn new(args: &ConsumerArgs, needed: &[Consumer]) -> Result<Self, Failure> {
        let choose = |consumer: Consumer, flag: Option<Version>| -> Result<Chosen, Failure> {
            let chosen = match flag {
                Some(version) => Chosen {
                    version,
                    how: version_flag(consumer).to_owned(),
                },
                None => needed
                    .contains(&consumer)
                    .then(|| installed(consumer))
                    .flatten()
                    .unwrap_or_else(|| Chosen {
                        version: NameTable::builtin(consumer)
                            .newest()
                            .unwrap_or(Version::new(0, 0)),
                        how: "the newest release xenmig knows".to_owned(),
                    }),
            };
            consumer::check_supported(consumer, chosen.version)
                .map_err(|e| Failure::usage_or_io(unsupported(&e)))?;
            Ok(chosen)
        };
        let xen = choose(Consumer::Xl, args.xen_version)?;
        let qemu = choose(Consumer::Qemu, args.qemu_version)?;
        let libvirt = choose(Consumer::Libvirt, args.libvirt_version)?;
        let installed_cpu_map = (needed.contains(&Consumer::Libvirt)
            && libvirt.how.starts_with("installed"))
        .then(|| read_cpu_map(Path::new(CPU_MAP_DIR), libvirt.version))
        .flatten();
        Ok(ConsumerSetup {
            xen,
            qemu,
            libvirt,
            installed_cpu_map,
            mode: match args.cpu_mode {
                CpuModeArg::Model => CpuMode::Model,
                CpuModeArg::Passthrough => CpuMode::Passthrough,
            },
        })
    }

    /// The targets for the renderers.
    pub fn targets(&self) -> Targets<'_> {
        let libvirt = match &self.installed_cpu_map {
            Some((names, models)) => Release::from_tables(names, models, self.libvirt.version),
            None => Release::builtin(Consumer::Libvirt, self.libvirt.version),
        };
        let mut targets = Targets::newest();
        targets.xen = Release::builtin(Consumer::Xl, self.xen.version);
        targets.qemu = Release::builtin(Consumer::Qemu, self.qemu.version);
        targets.libvirt = libvirt;
        targets.cpu_mode = self.mode;
        targets
    }

    /// `-v`'s line for a consumer: `writing for QEMU 7.2 (installed: …)`.
    pub fn describe(&self, consumer: Consumer) -> String {
        let chosen = match consumer {
            Consumer::Xl => &self.xen,
            Consumer::Qemu => &self.qemu,
            Consumer::Libvirt => &self.libvirt,
            // A consumer maskcalc learns later: no release of it is chosen here yet.
            _ => return format!("writing for {consumer} (no release chosen)"),
        };
        let table = match consumer {
            Consumer::Libvirt if self.installed_cpu_map.is_some() => {
                format!(", cpu_map of {CPU_MAP_DIR}")
            }
            _ => {
                let names = NameTable::builtin(consumer);
                match names.newest() {
                    Some(newest) if chosen.version > newest => {
                        format!(", names as of {consumer} {newest}, the newest xenmig knows")
                    }
                    _ => String::new(),
                }
            }
        };
        format!(
            "writing for {consumer} {} ({}{table})",
            chosen.version, chosen.how
        )
    }
}

/// The flag that chooses `consumer`'s release.
fn version_flag(consumer: Consumer) -> &'static str {
    match consumer {
        Consumer::Xl => "--xen-version",
        Consumer::Qemu => "--qemu-version",
        Consumer::Libvirt => "--libvirt-version",
        // A consumer maskcalc learns later has no flag here yet.
        _ => "a version flag",
    }
}

/// A release the tables cannot answer for, with the flag that chooses another.
fn unsupported(err: &consumer::ReleaseError) -> String {
    match err.kind {
        consumer::ReleaseErrorKind::OlderThanTables => format!(
            "{consumer} {version} is older than the oldest release xenmig knows ({consumer} {oldest}); \
             expected {flag} {oldest} or later",
            consumer = err.consumer,
            version = err.version,
            oldest = err.oldest,
            flag = version_flag(err.consumer),
        ),
        _ => err.to_string(),
    }
}

/// The installed release of a consumer, if this machine has one.
fn installed(consumer: Consumer) -> Option<Chosen> {
    match consumer {
        Consumer::Xl => library_version("libxenlight.so.", |rest| rest.parse().ok()),
        Consumer::Libvirt => library_version("libvirt.so.0.", |rest| {
            // libvirt's library is libvirt.so.0.MAJOR*1000+MINOR.MICRO.
            let number: u32 = rest.split('.').next()?.parse().ok()?;
            Some(Version::new(
                u16::try_from(number / 1000).ok()?,
                (number % 1000) as u16,
            ))
        }),
        Consumer::Qemu => qemu_version(),
        _ => None,
    }
}

fn library_version(prefix: &str, parse: impl Fn(&str) -> Option<Version>) -> Option<Chosen> {
    for dir in LIBRARY_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
                continue;
            };
            if let Some(version) = parse(rest) {
                return Some(Chosen {
                    version,
                    how: format!("installed: {dir}/{}", name.to_string_lossy()),
                });
            }
        }
    }
    None
}

fn qemu_version() -> Option<Chosen> {
    for program in ["qemu-system-x86_64", "/usr/libexec/qemu-kvm"] {
        let Ok(mut child) = Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() < QEMU_VERSION_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut text = String::new();
        if let (Some(_), Some(out)) = (status, child.stdout.as_mut()) {
            let _ = out.take(4096).read_to_string(&mut text);
        }
        // "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
        let version = text
            .split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
            .and_then(|v| v.parse().ok());
        if let Some(version) = version {
            return Some(Chosen {
                version,
                how: format!("installed: {program} --version"),
            });
        }
    }
    None
}

/// The installed cpu_map as tables, when it reads cleanly (a broken one is
/// ignored: the checked-in tables answer instead).
fn read_cpu_map(dir: &Path, version: Version) -> Option<(NameTable, ModelTable)> {
    let read = |path: &PathBuf| -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        if meta.len() > cpu_map::MAX_FILE_BYTES as u64 {
            return None;
        }
        std::fs::read_to_string(path).ok()
    };
    let features = read(&dir.join("x86_features.xml"))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(maskcalc::consumer::cpu_map::is_model_file)
        })
        .take(4096)
        .collect();
    files.sort();
    let texts: Vec<String> = files.iter().filter_map(read).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    cpu_map::tables(version, &dir.display().to_string(), &features, &texts).ok()
}
