//! `amiwire demo`: the simulator on a free loopback port, a client, a click-to-call, its
//! events live, a channel list and a CLI command, then a summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use amiwire::action::Originate;
use amiwire::filter::Filter;
use amiwire::{Action, Message};
use amiwire_sim::server::{SimConfig, Simulator};
use amiwire_tokio::{Client, ClientConfig, ClientEvent};

use crate::{out, render, Exit, Failure};

/// The events a person watching a call wants to see.
const SHOWN: &[&str] = &[
    "Newchannel",
    "Newstate",
    "DialBegin",
    "DialEnd",
    "BridgeCreate",
    "BridgeEnter",
    "BridgeLeave",
    "BridgeDestroy",
    "Hangup",
];

struct Printer {
    json: bool,
    start: Instant,
}

impl Printer {
    fn line(&self, text: &str) -> Result<(), Failure> {
        if !self.json {
            out(&format!("{text}\n"))?;
        }
        Ok(())
    }

    fn json(&self, key: &str, value: &str) -> Result<(), Failure> {
        if self.json {
            out(&format!("{{\"{key}\": {value}}}\n"))?;
        }
        Ok(())
    }

    fn event(&self, m: &Message) -> Result<(), Failure> {
        if self.json {
            return self.json("event", &render::json(&m.as_ref()));
        }
        let name = m.get_str("Event").unwrap_or("?");
        // The Originate's own dial has no calling channel.
        let channel = match (m.get_str("Channel"), name) {
            (Some(c), _) => c,
            (None, "DialBegin" | "DialEnd") => "(Originate)",
            (None, _) => "",
        };
        let detail = match name {
            "Newchannel" => format!(
                "{},{}",
                m.get_str("Context").unwrap_or(""),
                m.get_str("Exten").unwrap_or("")
            ),
            "Newstate" => format!("state {}", m.get_str("ChannelStateDesc").unwrap_or("?")),
            "DialBegin" => format!("dialling {}", m.get_str("DestChannel").unwrap_or("?")),
            "DialEnd" => format!(
                "{} {}",
                m.get_str("DestChannel").unwrap_or("?"),
                m.get_str("DialStatus").unwrap_or("?")
            ),
            "BridgeCreate" | "BridgeDestroy" => format!(
                "bridge {}",
                short(m.get_str("BridgeUniqueid").unwrap_or("?"))
            ),
            "BridgeEnter" | "BridgeLeave" => format!(
                "bridge {} ({} in it)",
                short(m.get_str("BridgeUniqueid").unwrap_or("?")),
                m.get_str("BridgeNumChannels").unwrap_or("?")
            ),
            "Hangup" => format!(
                "cause {} ({})",
                m.get_str("Cause").unwrap_or("?"),
                m.get_str("Cause-txt").unwrap_or("")
            ),
            _ => String::new(),
        };
        self.line(&format!(
            "  {:>7.3}s  {:<14} {:<30} {}",
            self.start.elapsed().as_secs_f64(),
            name,
            channel,
            detail
        ))
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub(crate) async fn run(json: bool) -> Result<(), Failure> {
    let p = Printer {
        json,
        start: Instant::now(),
    };
    let sim = Simulator::start(SimConfig::default())
        .await
        .map_err(|e| Failure::new(Exit::Connect, format!("cannot start the simulator: {e}")))?;
    let result = session(&p, &sim).await;
    sim.stop().await;
    result
}

async fn session(p: &Printer, sim: &Simulator) -> Result<(), Failure> {
    let addr = sim.addr();
    p.line("amiwire demo: a click-to-call on the built-in AMI simulator (it behaves like Asterisk 22)\n")?;
    p.line(&format!("  simulator   listening on {addr}"))?;
    let cfg = ClientConfig::new("127.0.0.1", addr.port(), "admin", "amp111");
    let client = Client::connect(cfg).await?;
    let banner = match client.status() {
        amiwire_tokio::Status::Connected { banner } => banner,
        other => format!("{other:?}"),
    };
    p.line(&format!("  connected   {banner}, logged in as admin"))?;
    p.json("connected", &{
        let mut s = String::new();
        render::json_str(&banner, &mut s);
        s
    })?;

    // Subscribe before the call, so that nothing is missed.
    let mut shown = client.events(Filter::events(SHOWN));
    let mut all = client.events_with(Filter::all(), 100_000, amiwire_tokio::Overflow::DropOldest);

    // Click-to-call: ring the agent's phone (Local/200@test, which dials Local/100@test), and
    // once it answers, connect it to the customer's number (extension 100 in context test).
    let call = Originate::to_exten("Local/200@test", "test", "100", 1)
        .caller_id("Click to call <100>")
        .variable("CAMPAIGN", "demo")
        .asynchronous(true)
        .build();
    p.line(
        "  originate   Local/200@test -> test,100,1 (async, CallerID \"Click to call\" <100>)\n",
    )?;
    p.line(&format!(
        "  {:>8}  {:<14} {:<30} {}",
        "time", "event", "channel", "detail"
    ))?;
    let c2 = client.clone();
    let mut originate = tokio::spawn(async move { c2.send(call).await });

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (mut channels, mut hangups, mut shown_n) = (0usize, 0usize, 0usize);
    let mut originated = false;
    let mut call_start: Option<Instant> = None;
    let mut call_end: Option<Instant> = None;
    loop {
        if originated && channels > 0 && hangups >= channels {
            break;
        }
        tokio::select! {
            // Events first: those that came before the result are shown before it.
            biased;
            item = shown.recv() => match item {
                Some(ClientEvent::Event(m)) => {
                    shown_n += 1;
                    match m.get_str("Event") {
                        Some("Newchannel") => {
                            channels += 1;
                            call_start.get_or_insert_with(Instant::now);
                        }
                        Some("Hangup") => {
                            hangups += 1;
                            call_end = Some(Instant::now());
                        }
                        _ => {}
                    }
                    p.event(&m)?;
                }
                Some(_) => {}
                None => return Err(Failure::new(Exit::NoResult, "the connection ended during the call")),
            },
            r = &mut originate, if !originated => {
                originated = true;
                let r = r.map_err(|e| Failure::new(Exit::NoResult, format!("originate task: {e}")))??;
                show_originate(p, &r)?;
                if !r.is_success() {
                    return Err(Failure::new(Exit::Refused, "the call failed"));
                }
                // While the call is up: the channel list, and the CLI's view of it.
                show_channels(p, &client).await?;
                show_command(p, &client).await?;
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(Failure::new(Exit::NoResult, "the call did not end within 20 s"));
            }
        }
    }

    // Everything else the session received, by name.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(item) = all.try_recv() {
        if let ClientEvent::Event(m) = item {
            *counts
                .entry(m.get_str("Event").unwrap_or("?").to_owned())
                .or_default() += 1;
        }
    }
    let total: usize = counts.values().sum();
    let lasted = match (call_start, call_end) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    client.close().await;
    if p.json {
        let mut s = format!("{{\"channels\": {channels}, \"seconds\": {lasted:.3}, \"events\": {total}, \"by_name\": {{");
        for (i, (k, v)) in counts.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            render::json_str(k, &mut s);
            let _ = write!(s, ": {v}");
        }
        s.push_str("}}");
        return p.json("summary", &s);
    }
    let by_name: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    p.line(&format!(
        "\n  summary     {channels} channels, call lasted {lasted:.1} s; {shown_n} of the {total} events received are shown above\n              all events: {}\n              logged off.",
        by_name.join(", ")
    ))
}

fn show_originate(p: &Printer, r: &amiwire::connection::Response) -> Result<(), Failure> {
    if p.json {
        return p.json("originate", &render::response_json(r));
    }
    let o = r.originate.as_ref();
    let get = |k: &str| o.and_then(|m| m.get_str(k)).unwrap_or("?");
    let reason = match get("Reason") {
        "4" => "4, answered",
        "0" => "0, no such extension or number",
        "1" => "1, no answer",
        "3" => "3, ringing",
        "5" => "5, busy",
        "8" => "8, congested",
        other => other,
    };
    p.line(&format!(
        "  ---------  OriginateResponse: {} (reason {reason}), channel {}, ActionID {}",
        get("Response"),
        get("Channel"),
        r.id.as_str()
    ))
}

async fn show_channels(p: &Printer, client: &Client) -> Result<(), Failure> {
    let r = client.send(Action::core_show_channels()).await?;
    if p.json {
        return p.json("coreshowchannels", &render::response_json(&r));
    }
    let mut s = format!(
        "  ---------  CoreShowChannels: {} channels up (event list of {} items)\n",
        r.events.len(),
        r.complete
            .as_ref()
            .and_then(|c| c.get_str("ListItems"))
            .unwrap_or("?")
    );
    for e in &r.events {
        let _ = writeln!(
            s,
            "             {:<30} {:<6} {}@{} {}({})",
            e.get_str("Channel").unwrap_or("?"),
            e.get_str("ChannelStateDesc").unwrap_or("?"),
            e.get_str("Exten").unwrap_or("?"),
            e.get_str("Context").unwrap_or("?"),
            e.get_str("Application").unwrap_or(""),
            e.get_str("ApplicationData").unwrap_or("")
        );
    }
    s.pop();
    p.line(&s)
}

async fn show_command(p: &Printer, client: &Client) -> Result<(), Failure> {
    let r = client.send(Action::command("core show channels")).await?;
    if p.json {
        return p.json("command", &render::response_json(&r));
    }
    let mut s = String::from("  ---------  Command 'core show channels':\n");
    for line in r.output() {
        let _ = writeln!(s, "             {}", String::from_utf8_lossy(line));
    }
    s.pop();
    p.line(&s)
}
