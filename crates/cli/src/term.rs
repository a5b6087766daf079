//! Terminal decisions: colour and progress bars appear only on a terminal.

use std::io::IsTerminal;

/// True when standard error is a terminal and progress bars may be drawn there.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// True when colour should be written to standard output: it is a terminal
/// and `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn stdout_wants_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
