//! Shared plumbing for the xenmig command-line tools.
//!
//! Every binary in `src/bin/` is thin: it parses its arguments (defined in
//! [`args`]) with [`parse_args`], calls one library crate, and turns the
//! outcome into an exit code through [`finish`]. What the tools have in
//! common lives here, once:
//!
//! * [`args`]: every tool's command line, as clap definitions;
//! * [`convert`]: `convert-legacy-stream`'s work between its opened input
//!   and output, which libxenmig shares;
//! * [`exit`]: the exit-code contract (0 ok, 1 bad input, 2 usage, I/O or
//!   unsupported content) and how an error reaches the user;
//! * [`fdio`]: upstream's "FD or FILE" arguments (a decimal string is an
//!   inherited file descriptor, anything else a path);
//! * [`manual`]: man pages and shell completions from the clap
//!   definitions (`TOOL --generate ...`);
//! * [`consumers`]: which xl, QEMU and libvirt releases an output is written
//!   for (`--xen-version` …), found on this machine or given;
//! * [`hosts`]: for the tools that compare hosts, dumps and profiles read
//!   within a size limit, hosts named from their paths, and the CPU the tool
//!   runs on (`--local`);
//! * [`syslog`]: the `--syslog` option of Xen's scripts;
//! * [`pool_masks`]: `xen-maskcalc`'s work once the hosts are loaded (the
//!   rendered masks and warnings), which libxenmig shares;
//! * [`verify`]: `verify-stream-v2`'s work (report, JSON, verdict), which
//!   libxenmig shares;
//! * [`term`]: whether colour and progress bars are wanted, and
//!   [`term::printable`], the one escaping of untrusted text before it is printed.

pub mod args;
pub mod consumers;
pub mod convert;
pub mod exit;
pub mod fdio;
pub mod hosts;
pub mod manual;
pub mod pool_masks;
pub mod syslog;
pub mod term;
pub mod verify;

pub use args::parse_args;
pub use exit::{Failure, finish, write_stdout};
