//! The Asterisk CLI, as the Command action reaches it: [`run`] takes a command line and
//! answers its output lines (`core show version|uptime|channels|help`, `manager show
//! connected`, `dialplan show`), in main/cli.c's, main/manager.c's and pbx_config's layouts.

use crate::pbx::Shared;
use crate::wire::{plural, unix_now};

/// CLI commands as `core show help` lists them: the full command (with its optional words)
/// and the summary, in the CLI's order. The `core show …` entries are those recording
/// 04-command shows (Asterisk 22.10.1, `core show help core show`); `dialplan show` and
/// `manager show …` are from pbx/pbx_config.c and main/manager.c (`AST_CLI_DEFINE`). Only
/// some of them run (see [`run`]); the rest answer "No such command".
pub(crate) const HELP: &[(&str, &str)] = &[
    (
        "core show applications [like|describing]",
        "Shows registered dialplan applications",
    ),
    (
        "core show application",
        "Describe a specific dialplan application",
    ),
    ("core show calls [uptime]", "Display information on calls"),
    (
        "core show channels [concise|verbose|count]",
        "Display information on channels",
    ),
    ("core show channeltypes", "List available channel types"),
    (
        "core show channeltype",
        "Give more details on that channel type",
    ),
    (
        "core show channel",
        "Display information on a specific channel",
    ),
    (
        "core show codecs [audio|video|image|text]",
        "Displays a list of registered codecs",
    ),
    ("core show codec", "Shows a specific codec"),
    (
        "core show config mappings",
        "Display config mappings (file names to config engines)",
    ),
    ("core show file formats", "Displays file formats"),
    (
        "core show functions [like]",
        "Shows registered dialplan functions",
    ),
    (
        "core show function",
        "Describe a specific dialplan function",
    ),
    (
        "core show hanguphandlers all",
        "Show hangup handlers of all channels",
    ),
    (
        "core show hanguphandlers",
        "Show hangup handlers of a specified channel",
    ),
    (
        "core show help",
        "Display help list, or specific help on a command",
    ),
    ("core show hints", "Show dialplan hints"),
    ("core show hint", "Show dialplan hint"),
    ("core show image formats", "Displays image formats"),
    (
        "core show license",
        "Show the license(s) for this copy of Asterisk",
    ),
    ("core show profile", "Display profiling info"),
    ("core show settings", "Show some core settings"),
    ("core show sounds", "Shows available sounds"),
    ("core show sound", "Shows details about a specific sound"),
    ("core show switches", "Show alternative switches"),
    ("core show sysinfo", "Show System Information"),
    (
        "core show taskprocessor alerted subsystems",
        "List task processor subsystems in alert",
    ),
    (
        "core show taskprocessor name",
        "Display detailed info about a taskprocessor",
    ),
    (
        "core show taskprocessors [like]",
        "List instantiated task processors and statistics",
    ),
    ("core show threads", "Show running threads"),
    ("core show translation", "Display translation matrix"),
    ("core show uptime [seconds]", "Show uptime information"),
    ("core show version", "Display version info"),
    (
        "core show warranty",
        "Show the warranty (if any) for this copy of Asterisk",
    ),
    ("dialplan show", "Show dialplan"),
    ("manager show commands", "List manager interface commands"),
    (
        "manager show connected",
        "List connected manager interface users",
    ),
];

/// Usage texts, for `core show help <command>` (from main/cli.c and main/manager.c).
const USAGE: &[(&str, &str)] = &[
    (
        "core show help",
        "Usage: core show help [topic]\n       When called with a topic as an argument, displays usage\n       information on the given command. If called without a\n       topic, it provides a list of commands.\n",
    ),
    (
        "core show uptime [seconds]",
        "Usage: core show uptime [seconds]\n       Shows Asterisk uptime information.\n       The seconds word returns the uptime in seconds only.\n",
    ),
    (
        "core show channels [concise|verbose|count]",
        "Usage: core show channels [concise|verbose|count]\n       Lists currently defined channels and some information about them. If\n       'concise' is specified, the format is abridged and in a more easily\n       machine parsable format. If 'verbose' is specified, the output includes\n       more and longer fields. If 'count' is specified only the channel and call\n       count is output.\n\tThe 'concise' option is deprecated and will be removed from future versions\n\tof Asterisk.\n",
    ),
    (
        "manager show connected",
        "Usage: manager show connected\n\tPrints a listing of the users that are currently connected to the\nAsterisk manager interface.\n",
    ),
];

/// Whether the words `args` name the command `full` exactly (its optional `[…]` words may be
/// left out or given), as main/cli.c `find_cli(…, 1)` decides.
fn names_exactly(full: &str, args: &[&str]) -> bool {
    let mut words = full.split_whitespace().peekable();
    let mut given = args.iter();
    loop {
        match (words.next(), given.next()) {
            (None, None) => return true,
            (None, Some(_)) => return false,
            (Some(w), None) => {
                return w.starts_with('[') && words.all(|w| w.starts_with('['));
            }
            (Some(w), Some(a)) => {
                let ok = match w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
                    Some(alts) => alts.split('|').any(|x| x.eq_ignore_ascii_case(a)),
                    None => w.eq_ignore_ascii_case(a),
                };
                if !ok {
                    return false;
                }
            }
        }
    }
}

/// main/cli.c `handle_help`: `core show help` lists every command; with a topic that names a
/// command exactly, its usage; otherwise the commands whose full text starts with the topic
/// (`help1`: `"%-30s -- %s"`), or `No such command '<topic>'.`
pub(crate) fn help(topic: &[&str]) -> Vec<String> {
    let list = |prefix: &str| -> Vec<String> {
        HELP.iter()
            .filter(|(cmd, _)| {
                cmd.len() >= prefix.len()
                    && cmd.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
            })
            .map(|(cmd, summary)| format!("{cmd:<30} -- {summary}"))
            .collect()
    };
    if topic.is_empty() {
        return list("");
    }
    if let Some((cmd, _)) = HELP.iter().find(|(cmd, _)| names_exactly(cmd, topic)) {
        if let Some((_, usage)) = USAGE.iter().find(|(c, _)| c == cmd) {
            return usage.lines().map(str::to_owned).collect();
        }
        // The usage text of this command is not in the simulator: its help line instead.
        return list(cmd);
    }
    // ast_join into an 80-byte buffer.
    let mut matchstr = topic.join(" ");
    if matchstr.len() > 79 {
        let mut end = 79;
        while !matchstr.is_char_boundary(end) {
            end -= 1;
        }
        matchstr.truncate(end);
    }
    let found = list(&matchstr);
    if found.is_empty() {
        vec![format!("No such command '{matchstr}'.")]
    } else {
        found
    }
}

/// main/manager.c `handle_showmanconn` (Asterisk 22): `HSMCONN_FORMAT1` / `HSMCONN_FORMAT2`,
/// then `%d users connected.`. The permissions are printed with `%-10.10d` (at least ten
/// digits, zero-padded).
pub(crate) fn manager_show_connected(sessions: &[crate::pbx::Connected], now: u64) -> Vec<String> {
    let mut out = vec![format!(
        "  {:<15.15}  {:<55.55}  {:<10.10}  {:<10.10}  {:<8.8}  {:<8.8}  {:<10.10}  {:<10.10}",
        "Username",
        "IP Address",
        "Start",
        "Elapsed",
        "FileDes",
        "HttpCnt",
        "ReadPerms",
        "WritePerms"
    )];
    for s in sessions {
        let ip = match s.ip {
            std::net::IpAddr::V4(a) => a.to_string(),
            std::net::IpAddr::V6(a) => format!("[{a}]"),
        };
        let user: String = s.username.chars().take(15).collect();
        let ip: String = ip.chars().take(55).collect();
        out.push(format!(
            "  {user:<15}  {ip:<55}  {:<10}  {:<10}  {:<8}  {:<8}  {:010}  {:010}",
            s.start as i64 as i32,
            now.saturating_sub(s.start) as i64 as i32,
            s.fd,
            0,
            s.read as i32,
            s.write as i32,
        ));
    }
    out.push(format!("{} users connected.", sessions.len()));
    out
}

/// Runs a CLI command as main/cli.c would for the Command action: whether the command exists,
/// and its output lines. Known: `core show version`, `core show uptime`, `core show
/// channels`, `core show help [topic]`, `manager show connected` and `dialplan show
/// [context]`; anything else gets the CLI's `No such command`.
pub(crate) fn run(shared: &Shared, cmd: &str) -> (bool, Vec<String>) {
    let uptime = shared.started.elapsed().as_secs();
    // main/cli.c parse_args: words split at blanks; commands match case-insensitively.
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let lower = words.join(" ").to_ascii_lowercase();
    match lower.as_str() {
        "core show version" => (
            true,
            vec![format!(
                "Asterisk {} {}",
                shared.identity.asterisk_version, shared.identity.build
            )],
        ),
        "core show uptime" => (
            true,
            vec![
                format!("System uptime: {}", plural(uptime, "second")),
                format!("Last reload: {}", plural(uptime, "second")),
            ],
        ),
        "core show channels" => (true, core_show_channels(shared)),
        "manager show connected" => {
            let list = shared.connected().clone();
            (true, manager_show_connected(&list, unix_now()))
        }
        c if c == "core show help" || c.starts_with("core show help ") => (true, help(&words[3..])),
        c if c == "dialplan show" || c.starts_with("dialplan show ") => {
            let wanted = words.get(2).copied().unwrap_or("");
            dialplan_show(shared, wanted)
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
    }
}

/// main/cli.c `handle_chanlist`: the header, a row per channel, the counts and the calls
/// processed.
fn core_show_channels(shared: &Shared) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<64} {:<32} {:<7} {:<30}",
        "Channel", "Location", "State", "Application(Data)"
    )];
    lines.extend(channel_rows(shared));
    let n = shared
        .counters
        .processed
        .load(std::sync::atomic::Ordering::Relaxed);
    lines.push(format!("{} processed", plural(n, "call")));
    lines
}

/// `dialplan show [context]`, in the CLI's layout (pbx_config's `show_dialplan_helper`).
fn dialplan_show(shared: &Shared, wanted: &str) -> (bool, Vec<String>) {
    let dp = &shared.dialplan;
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
fn channel_rows(shared: &Shared) -> Vec<String> {
    fn cut(s: &str, n: usize) -> &str {
        let mut end = s.len().min(n);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        &s[..end]
    }
    let chans = shared.channels.list();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_with_optional_words() {
        assert!(names_exactly(
            "core show uptime [seconds]",
            &["core", "show", "uptime"]
        ));
        assert!(names_exactly(
            "core show uptime [seconds]",
            &["core", "show", "uptime", "seconds"]
        ));
        assert!(!names_exactly(
            "core show uptime [seconds]",
            &["core", "show"]
        ));
        assert!(names_exactly(
            "core show channels [concise|verbose|count]",
            &["CORE", "show", "channels", "count"]
        ));
        assert!(!names_exactly(
            "core show help",
            &["core", "show", "help", "x"]
        ));
    }

    #[test]
    fn help_topics() {
        assert_eq!(
            help(&["core", "show", "help"])[0],
            "Usage: core show help [topic]"
        );
        assert_eq!(
            help(&["manager", "show"]),
            [
                "manager show commands          -- List manager interface commands",
                "manager show connected         -- List connected manager interface users"
            ]
        );
        assert_eq!(
            help(&["nothing", "here"]),
            ["No such command 'nothing here'."]
        );
        assert_eq!(help(&[]).len(), HELP.len());
        let long = ["x".repeat(100)];
        let long: Vec<&str> = long.iter().map(String::as_str).collect();
        assert_eq!(help(&long)[0].len(), "No such command ''.".len() + 79);
    }
}
