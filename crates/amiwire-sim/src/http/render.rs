//! Answers over HTTP: an AMI answer translated to `/rawman` text, `/mxml` XML or the
//! `/manager` HTML page (main/manager.c `xml_translate`), and the HTTP head.

use super::*;

/// `Mon, 23 Nov 2026 17:08:27 GMT`.
pub(super) fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (date, time) = crate::wire::civil(secs);
    let (y, rest) = date.split_once('-').unwrap_or(("1970", "01-01"));
    let (m, d) = rest.split_once('-').unwrap_or(("01", "01"));
    let month = MONTHS[m.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    let wd = DAYS[((secs / 86_400) % 7) as usize];
    format!("{wd}, {d} {month} {y} {time} GMT")
}

/// How the answer is rendered.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Raw,
    Xml,
    Html,
}

/// `mode & 1`: lower case; `mode & 2`: characters other than letters and digits as `_`, and a
/// leading digit after a `_` (main/manager.c `xml_copy_escape`).
pub(super) fn xml_copy_escape(out: &mut String, s: &str, mode: u8) {
    for (i, c) in s.chars().enumerate() {
        if mode & 2 != 0 {
            if i == 0 && c.is_ascii_digit() {
                out.push('_');
                out.push(c);
                continue;
            } else if !c.is_ascii_alphanumeric() {
                out.push('_');
                continue;
            }
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '&' => out.push_str("&amp;"),
            c if mode != 0 => out.push(c.to_ascii_lowercase()),
            c => out.push(c),
        }
    }
}

/// main/manager.c `xml_translate`, for `/mxml` and `/manager`: each message (block of
/// `Name: value` lines) becomes `<response type='object' id='<ajaxdest>'><<ajaxobjtype> name='value' …
/// /></response>` (names lower-cased, `unknown` and `generic` by default) or two-column table
/// rows closed by a `<hr>` row; a name repeated in a block gets `-2`, `-3`…; a line without a
/// colon starts `Opaque-data`, which takes every line up to the blank one.
pub(super) fn translate(body: &[u8], format: Format, params: &[(String, String)]) -> String {
    let xml = format == Format::Xml;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let dest = param("ajaxdest").unwrap_or("unknown");
    let objtype = param("ajaxobjtype").unwrap_or("generic");
    let text = String::from_utf8_lossy(body);
    // strsep at '\r' or '\n', a '\n' right after a separator skipped.
    let mut lines = Vec::new();
    let mut rest: &str = &text;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                lines.push(&rest[..i]);
                rest = &rest[i + 1..];
                rest = rest.strip_prefix('\n').unwrap_or(rest);
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    let mut out = String::new();
    let mut in_data = false;
    let mut counts: Option<HashMap<String, usize>> = None;
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let last = i + 1 == n;
        let val = line.trim_end_matches([' ', '\t']);
        if val.is_empty() {
            if in_data {
                out.push_str(if xml { "'" } else { "</td></tr>\n" });
                in_data = false;
            }
            if counts.take().is_some() {
                out.push_str(if xml {
                    " /></response>\n"
                } else {
                    "<tr><td colspan=\"2\"><hr></td></tr>\r\n"
                });
            }
            continue;
        }
        let counts = counts.get_or_insert_with(|| {
            if xml {
                out.push_str(&format!("<response type='object' id='{dest}'><{objtype}"));
            }
            HashMap::new()
        });
        if in_data {
            out.push_str(if xml { "\n" } else { "<br>\n" });
            xml_copy_escape(&mut out, val, 0);
            continue;
        }
        let (var, val) = match val.split_once(':') {
            Some((k, v)) => (
                k.trim_end_matches([' ', '\t']),
                v.trim_start_matches([' ', '\t']),
            ),
            None => {
                in_data = true;
                ("Opaque-data", val)
            }
        };
        out.push_str(if xml { " " } else { "<tr><td>" });
        let count = counts.entry(var.to_owned()).or_insert(0);
        *count += 1;
        xml_copy_escape(&mut out, var, if xml { 3 } else { 0 });
        if *count > 1 {
            out.push_str(&format!("-{count}"));
        }
        out.push_str(if xml { "='" } else { "</td><td>" });
        xml_copy_escape(&mut out, val, 0);
        if !in_data || last {
            out.push_str(if xml { "'" } else { "</td></tr>\n" });
        }
    }
    if counts.is_some() {
        out.push_str(if xml {
            " /></response>\n"
        } else {
            "<tr><td colspan=\"2\"><hr></td></tr>\r\n"
        });
    }
    out
}

/// The form `generic_http_callback` puts at the top of `/manager` pages (`TEST_STRING`, a C
/// string whose continuation lines keep their leading tabs).
pub(super) const MANAGER_FORM: &str = "<form action=\"manager\" method=\"post\">\n\
\tAction: <select name=\"action\">\n\
\t\t<option value=\"\">-----&gt;</option>\n\
\t\t<option value=\"login\">login</option>\n\
\t\t<option value=\"command\">Command</option>\n\
\t\t<option value=\"waitevent\">waitevent</option>\n\
\t\t<option value=\"listcommands\">listcommands</option>\n\
\t</select>\n\
\tor <input name=\"action\"><br/>\n\
\tCLI Command <input name=\"command\"><br>\n\
\tuser <input name=\"username\"> pass <input type=\"password\" name=\"secret\"><br>\n\
\t<input type=\"submit\">\n</form>\n";

/// The page around the translated answer: `generic_http_callback` (`/manager`, `/mxml`) or
/// `auth_http_callback` (`/amanager`, `/amxml`; the HTML as recording 11d shows it).
pub(super) fn render(
    body: &[u8],
    format: Format,
    digest: bool,
    params: &[(String, String)],
) -> Vec<u8> {
    let mut out = String::new();
    match format {
        Format::Raw => return body.to_vec(),
        Format::Xml => {
            out.push_str("<ajax-response>\n");
            out.push_str(&translate(body, format, params));
            out.push_str("</ajax-response>\n");
        }
        Format::Html if digest => {
            out.push_str(
                "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n\
                 <title>Asterisk&trade; Manager Interface</title>\r\n\
                 </head><body style=\"background-color: #ffffff;\">\r\n<form method=\"POST\">\r\n\
                 <table align=\"center\" style=\"background-color: #f1f1f1;\" width=\"500\">\r\n\
                 <tr><th colspan=\"2\" style=\"background-color: #f1f1ff;\"><h1>Manager Tester</h1></th></tr>\r\n\
                 <tr><th colspan=\"2\" style=\"background-color: #f1f1ff;\">Action: <input name=\"action\" /> \
                 Cmd: <input name=\"command\" /><br><input type=\"submit\" value=\"Send request\" /></th></tr>\r\n",
            );
            out.push_str(&translate(body, format, params));
            out.push_str("</table></form></body></html>\r\n");
        }
        Format::Html => {
            let row =
                |s: &str| format!("<tr><td colspan=\"2\" bgcolor=\"#f1f1ff\">{s}</td></tr>\r\n");
            out.push_str("<title>Asterisk&trade; Manager Interface</title>");
            out.push_str(
                "<body bgcolor=\"#ffffff\"><table align=center bgcolor=\"#f1f1f1\" width=\"500\">\r\n",
            );
            out.push_str(&row("<h1>Manager Tester</h1>"));
            out.push_str(&row(MANAGER_FORM));
            out.push_str(&translate(body, format, params));
            out.push_str("</table></body>\r\n");
        }
    }
    out.into_bytes()
}

pub(super) async fn respond(
    stream: &mut TcpStream,
    status: &str,
    cookie: Option<(u32, Duration)>,
    body: &[u8],
) {
    respond_as(stream, status, cookie, body, "text/plain").await
}

pub(super) async fn respond_as(
    stream: &mut TcpStream,
    status: &str,
    cookie: Option<(u32, Duration)>,
    body: &[u8],
    ctype: &str,
) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nServer: Asterisk/22.10.1\r\nDate: {}\r\nConnection: close\r\n\
         Cache-Control: no-cache, no-store\r\nContent-type: {ctype}\r\n",
        http_date(SystemTime::now())
    );
    // The cookie's id and Max-Age (httptimeout).
    if let Some((id, max_age)) = cookie {
        head.push_str(&format!(
            "Set-Cookie: mansession_id=\"{id:08x}\"; Version=1; Max-Age={}\r\nPragma: SuppressEvents\r\n",
            max_age.as_secs()
        ));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// Writes an AMI answer rendered in `format`.
pub(super) async fn answer(
    stream: &mut TcpStream,
    cookie: Option<(u32, Duration)>,
    body: &[u8],
    format: Format,
    digest: bool,
    params: &[(String, String)],
) {
    let ctype = match format {
        Format::Raw => "text/plain",
        Format::Xml => "text/xml",
        Format::Html => "text/html",
    };
    let page = render(body, format, digest, params);
    respond_as(stream, "200 OK", cookie, &page, ctype).await
}
