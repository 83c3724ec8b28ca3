//! `amiwire callfile`: a `.call` file written atomically into the spool directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amiwire::callfile::CallFile;

use crate::{out, parse_var, CallfileArgs, Failure};

pub(crate) fn run(a: CallfileArgs) -> Result<(), Failure> {
    let t = &a.target;
    let mut cf = match (&t.application, &t.exten) {
        (Some(app), _) => {
            CallFile::to_application(&a.channel, app, t.data.clone().unwrap_or_default())
        }
        (None, Some(exten)) => CallFile::to_extension(&a.channel, &t.context, exten, t.priority),
        (None, None) => return Err(Failure::usage("give --exten or --application")),
    };
    if let Some(c) = &t.callerid {
        cf = cf.caller_id(c);
    }
    if let Some(acc) = &t.account {
        cf = cf.account(acc);
    }
    for v in &t.vars {
        let (k, val) = parse_var(v)?;
        cf = cf.variable(k, val);
    }
    if let Some(n) = a.max_retries {
        cf = cf.max_retries(n);
    }
    if let Some(n) = a.retry_time {
        cf = cf.retry_time(n);
    }
    if let Some(n) = a.wait_time {
        cf = cf.wait_time(n);
    }
    if a.archive {
        cf = cf.archive(true);
    }
    let text = cf
        .to_text()
        .map_err(|e| Failure::usage(format!("invalid call file: {e}")))?;
    if a.print {
        return out(&text);
    }
    let at = a.delay.map(|s| SystemTime::now() + Duration::from_secs(s));
    let path = write_atomically(&a.spool, &text, at)?;
    out(&format!("{}\n", path.display()))
}

/// A name no other writer uses: time, process, and a counter.
fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "amiwire-{}-{}-{}.call",
        t.as_millis(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `text` to a temporary file beside `spool` (same filesystem), flushes it to disk,
/// sets its modification time (Asterisk places the call then), and renames it into `spool`.
/// Returns the final path.
pub(crate) fn write_atomically(
    spool: &Path,
    text: &str,
    at: Option<SystemTime>,
) -> Result<PathBuf, Failure> {
    let meta = std::fs::metadata(spool)
        .map_err(|e| Failure::io(format!("spool directory {}: {e}", spool.display())))?;
    if !meta.is_dir() {
        return Err(Failure::io(format!(
            "{} is not a directory",
            spool.display()
        )));
    }
    // Asterisk reads every file in the spool directory: the temporary file lives outside it,
    // in its parent, which is on the same filesystem in any sane layout (a rename across
    // filesystems fails below and says so).
    let parent = spool
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .ok_or_else(|| Failure::io(format!("{} has no parent directory", spool.display())))?;
    let name = unique_name();
    let tmp = parent.join(format!(".{name}.tmp"));
    let dest = spool.join(&name);
    let result = (|| -> std::io::Result<()> {
        let mut f: File = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Some(t) = at {
            f.set_modified(t)?;
        }
        drop(f);
        std::fs::rename(&tmp, &dest)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        let hint = if e.raw_os_error() == Some(18) {
            " (the spool directory is on another filesystem than its parent)"
        } else {
            ""
        };
        return Err(Failure::io(format!(
            "cannot write {} via {}: {e}{hint}",
            dest.display(),
            tmp.display()
        )));
    }
    Ok(dest)
}
