//! GetConfig, ModuleCheck and Reload (recording 05-info-actions).

use std::fmt::Write as _;

use amiwire::MessageRef;

use crate::actions::Reply;
use crate::conf::ConfFile;
use crate::pbx::Shared;
use crate::wire::{error, Out};

/// The modules the simulator says are loaded: those of the recorded server whose behaviour it
/// simulates (Local channels are part of the core in Asterisk 22).
const MODULES: &[&str] = &[
    "app_agent_pool",
    "app_confbridge",
    "app_dial",
    "app_queue",
    "app_userevent",
    "cdr_manager",
    "cel_manager",
    "pbx_config",
    "res_parking",
];

/// A module name as main/loader.c compares them: with or without `.so`, any case.
fn loaded(name: &str) -> bool {
    let name = name.trim();
    let base = name.strip_suffix(".so").unwrap_or(name);
    MODULES.iter().any(|m| m.eq_ignore_ascii_case(base))
}

/// main/manager.c `action_getconfig`: `Category-NNNNNN: name` and `Line-NNNNNN-NNNNNN:
/// name=value` lines of a configuration file, optionally of one `Category`. The simulator
/// serves the files whose text it has: queues.conf.
pub(crate) fn getconfig(shared: &Shared, m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    let Some(file) = m.get_str("Filename").filter(|f| !f.is_empty()) else {
        return Reply::new(error(id, "Filename not specified"));
    };
    let text = match file {
        "queues.conf" => shared.queues.conf(),
        _ => return Reply::new(error(id, "Config file not found")),
    };
    let Ok(conf) = ConfFile::parse(text) else {
        return Reply::new(error(id, "Config file has invalid format"));
    };
    let wanted = m.get_str("Category").filter(|c| !c.is_empty());
    // astman_start_ack: Response and ActionID, no Message.
    let mut t = String::from_utf8_lossy(&Out::response("Success", id).done()).into_owned();
    t.truncate(t.len() - 2);
    let mut n = 0;
    for sec in conf.sections() {
        if wanted.is_some_and(|w| w != sec.name) {
            continue;
        }
        let _ = write!(t, "Category-{n:06}: {}\r\n", sec.name);
        for (i, e) in sec.entries.iter().enumerate() {
            let _ = write!(t, "Line-{n:06}-{i:06}: {}={}\r\n", e.name, e.value);
        }
        n += 1;
    }
    if wanted.is_some() && n == 0 {
        t.push_str("No categories found\r\n");
    }
    t.push_str("\r\n");
    Reply::new(t.into_bytes())
}

/// main/manager.c `manager_modulecheck`: `Version:` (empty since Asterisk moved to git) for a
/// loaded module, else `Module not loaded`.
pub(crate) fn modulecheck(m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    if !m.get_str("Module").is_some_and(loaded) {
        return Reply::new(error(id, "Module not loaded"));
    }
    Reply::new(Out::response("Success", id).h("Version", "").done())
}

/// main/manager.c `action_reload`: every module (no `Module`) or a loaded one: `Module
/// Reloaded`; an unknown one: `No such module`.
pub(crate) fn reload(m: &MessageRef<'_>, id: Option<&str>) -> Reply {
    match m.get_str("Module").filter(|v| !v.is_empty()) {
        Some(name) if !loaded(name) => Reply::new(error(id, "No such module")),
        _ => Reply::new(
            Out::response("Success", id)
                .h("Message", "Module Reloaded")
                .done(),
        ),
    }
}
