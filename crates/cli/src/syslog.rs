//! The `--syslog` option of Xen's scripts: messages go to the local syslog
//! daemon as `ident[pid]: message` (facility user), info lines at LOG_INFO and
//! errors at LOG_ERR. When no daemon listens on `/dev/log` the messages are
//! dropped, as syslog(3) does.

use std::os::unix::net::UnixDatagram;

/// Syslog severity of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// LOG_ERR (3).
    Error = 3,
    /// LOG_INFO (6).
    Info = 6,
}

/// A connection to the local syslog daemon.
#[derive(Debug)]
pub struct Syslog {
    ident: String,
    socket: Option<UnixDatagram>,
}

/// Facility LOG_USER (1), shifted into place.
const FACILITY_USER: u8 = 1 << 3;

impl Syslog {
    /// Connects to `/dev/log`; failing that, messages are silently dropped.
    pub fn open(ident: &str) -> Syslog {
        let socket = UnixDatagram::unbound()
            .ok()
            .filter(|s| s.connect("/dev/log").is_ok());
        Syslog {
            ident: ident.to_owned(),
            socket,
        }
    }

    /// Sends one message (one datagram per line of `message`).
    pub fn log(&self, severity: Severity, message: &str) {
        let Some(socket) = &self.socket else { return };
        let priority = FACILITY_USER | severity as u8;
        for line in message.lines() {
            let datagram = format_message(priority, &self.ident, std::process::id(), line);
            let _ = socket.send(datagram.as_bytes());
        }
    }
}

fn format_message(priority: u8, ident: &str, pid: u32, line: &str) -> String {
    format!("<{priority}>{ident}[{pid}]: {line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_priority_ident_and_pid() {
        let msg = format_message(
            FACILITY_USER | Severity::Error as u8,
            "verify-stream-v2",
            42,
            "x",
        );
        assert_eq!(msg, "<11>verify-stream-v2[42]: x");
    }
}
