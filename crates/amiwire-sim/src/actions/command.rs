//! Command: the Asterisk CLI commands the simulator knows.
use std::fmt::Write as _;

use amiwire::MessageRef;

use super::{Reply, SessionState};
use crate::wire::{error, plural, unix_now, Out};

impl SessionState {
    pub(super) fn command(&mut self, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
        let Some(cmd) = m.get_str("Command") else {
            return Reply::new(error(id, "No command provided"));
        };
        let uptime = self.shared.started.elapsed().as_secs();
        // main/cli.c parse_args: words split at blanks; commands match case-insensitively.
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let lower = words.join(" ").to_ascii_lowercase();
        let (ok, lines): (bool, Vec<String>) = match lower.as_str() {
            "core show version" => (
                true,
                vec![format!(
                    "Asterisk {} {}",
                    self.shared.identity.asterisk_version, self.shared.identity.build
                )],
            ),
            "core show uptime" => (
                true,
                vec![
                    format!("System uptime: {}", plural(uptime, "second")),
                    format!("Last reload: {}", plural(uptime, "second")),
                ],
            ),
            "core show channels" => (
                true,
                {
                    let mut lines = vec![format!(
                        "{:<64} {:<32} {:<7} {:<30}",
                        "Channel", "Location", "State", "Application(Data)"
                    )];
                    lines.extend(self.cli_channel_rows());
                    lines
                }
                .into_iter()
                .chain([{
                    let n = self
                        .shared
                        .counters
                        .processed
                        .load(std::sync::atomic::Ordering::Relaxed);
                    format!("{} processed", plural(n, "call"))
                }])
                .collect(),
            ),
            "manager show connected" => {
                let list = self.shared.connected().clone();
                (true, crate::cli::manager_show_connected(&list, unix_now()))
            }
            c if c == "core show help" || c.starts_with("core show help ") => {
                (true, crate::cli::help(&words[3..]))
            }
            c if c == "dialplan show" || c.starts_with("dialplan show ") => {
                let wanted = words.get(2).copied().unwrap_or("");
                self.dialplan_show(wanted)
            }
            _ => {
                let first: Vec<&str> = words.iter().copied().take(2).collect();
                (
                    false,
                    vec![format!(
                        "No such command '{cmd}' (type 'core show help {}' for other possible commands)",
                        first.join(" ")
                    )],
                )
            }
        };
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

    /// `dialplan show [context]`, in the CLI's layout (pbx_config's `show_dialplan_helper`).
    fn dialplan_show(&self, wanted: &str) -> (bool, Vec<String>) {
        let dp = &self.shared.dialplan;
        let mut lines = Vec::new();
        let (mut contexts, mut extens, mut prios) = (0, 0, 0);
        for ctx in dp.contexts() {
            if !wanted.is_empty() && ctx.name != wanted {
                continue;
            }
            contexts += 1;
            lines.push(format!(
                "[ Context '{}' created by 'pbx_config' ]",
                ctx.name
            ));
            let mut exts: Vec<_> = ctx.extensions().iter().collect();
            exts.sort_by(|a, b| a.name.cmp(&b.name));
            for e in exts {
                extens += 1;
                for (i, st) in e.steps().iter().enumerate() {
                    prios += 1;
                    let head = if i == 0 {
                        format!("'{}' =>", e.name)
                    } else {
                        String::new()
                    };
                    let app = format!("{}. {}({})", st.priority, st.app, st.args);
                    lines.push(format!(
                        "  {head:<17} {app:<45} [extensions.conf:{}]",
                        st.line
                    ));
                }
            }
        }
        if contexts == 0 {
            return (
                false,
                vec![format!("There is no existence of '{wanted}' context")],
            );
        }
        let plural = |n: usize, w: &str| {
            if n == 1 {
                format!("{n} {w}")
            } else {
                format!("{n} {w}s")
            }
        };
        lines.push(String::new());
        lines.push(format!(
            "-= {} ({}) in {}. =-",
            plural(extens, "extension"),
            plural(prios, "priority").replace("prioritys", "priorities"),
            plural(contexts, "context")
        ));
        (true, lines)
    }

    /// main/cli.c `handle_chanlist` without options: a row per live channel
    /// (`%-64.64s %-32.32s %-7.7s %-30.30s`, location `exten@context:priority` and
    /// `app(data)` each cut to their column, `(None)` when unknown), then the counts. Active
    /// calls are the channels running the dialplan (a PBX thread in Asterisk), so not the
    /// outgoing legs of a Dial, which only sit in its bridge.
    fn cli_channel_rows(&self) -> Vec<String> {
        fn cut(s: &str, n: usize) -> &str {
            let mut end = s.len().min(n);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            &s[..end]
        }
        let chans = self.shared.channels.list();
        let mut rows = Vec::with_capacity(chans.len() + 2);
        let mut calls = 0usize;
        for (_, live) in &chans {
            let get = |k: &str| {
                live.snapshot
                    .iter()
                    .find(|(key, _)| key.as_str() == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            let (context, exten) = (get("Context"), get("Exten"));
            let loc = if context.is_empty() || exten.is_empty() {
                "(None)".to_owned()
            } else {
                format!("{exten}@{context}:{}", get("Priority"))
            };
            let app = if live.app.is_empty() {
                "(None)".to_owned()
            } else {
                format!("{}({})", live.app, live.data)
            };
            if !live.app.starts_with("AppDial") {
                calls += 1;
            }
            rows.push(format!(
                "{:<64} {:<32} {:<7} {:<30}",
                cut(get("Channel"), 64),
                cut(&loc, 32),
                cut(get("ChannelStateDesc"), 7),
                cut(&app, 30)
            ));
        }
        let ess = |n: usize| if n == 1 { "" } else { "s" };
        rows.push(format!(
            "{} active channel{}",
            chans.len(),
            ess(chans.len())
        ));
        rows.push(format!("{calls} active call{}", ess(calls)));
        rows
    }
}
