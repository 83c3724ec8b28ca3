//! Command: a CLI command ([`crate::cli`]) and its output in the framing of the Asterisk
//! version simulated.

use std::fmt::Write as _;

use amiwire::MessageRef;

use super::{Reply, SessionState};
use crate::wire::{error, Out};

impl SessionState {
    pub(super) fn command(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(cmd) = m.get_str("Command") else {
            return Reply::new(error(id, "No command provided"));
        };
        let (ok, lines) = crate::cli::run(&self.shared, cmd);
        if self.shared.identity.old_command_framing {
            // Asterisk 13 (manager.c action_command): Follows even for unknown commands, the
            // CLI's own text with bare LF, and the marker appended directly.
            let mut t = String::from("Response: Follows\r\nPrivilege: Command\r\n");
            if let Some(id) = id {
                let _ = write!(t, "ActionID: {id}\r\n");
            }
            for l in lines {
                t.push_str(&l);
                t.push('\n');
            }
            t.push_str("--END COMMAND--\r\n\r\n");
            return Reply::new(t.into_bytes());
        }
        let mut out = Out::response(if ok { "Success" } else { "Error" }, id)
            .h("Message", "Command output follows");
        for l in lines {
            out = out.h("Output", l);
        }
        Reply::new(out.done())
    }
}
