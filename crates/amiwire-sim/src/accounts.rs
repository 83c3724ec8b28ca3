//! Accounts from a `manager.conf`-style file, read the way Asterisk 22 reads it.
//!
//! ```
//! use amiwire_sim::accounts::{Accounts, Privileges};
//! use std::net::IpAddr;
//!
//! let accounts = Accounts::default(); // the built-in etc/manager.conf
//! let c2call = accounts.get("C2CALL").unwrap(); // user names are case-insensitive
//! assert!(c2call.permits("127.0.0.1".parse::<IpAddr>().unwrap()));
//! assert!(!c2call.permits("10.1.2.3".parse::<IpAddr>().unwrap()));
//! let limited = accounts.get("limited").unwrap();
//! assert_eq!(limited.read, Privileges::CALL);
//! assert_eq!(Privileges::CALL.to_string(), "call,all"); // the `Privilege:` header of events
//! ```
//!
//! # What Asterisk does, and what this module does (`main/manager.c`, `__init_manager`)
//!
//! * The file syntax is Asterisk's config syntax ([`conf`]): `[section]` headers (with the
//!   template options `(!)`, `(+)` and `(base,...)`), `key = value` and `key => value`, `+=`,
//!   `;` comments with `\;` for a literal `;`, `;-- ... --;` comment blocks, blank lines.
//! * The first non-template section named `general` (any case) holds the global options
//!   ([`General`]); Asterisk ignores any later `[general]`. Every other non-template section is
//!   a user; two sections with the same name (any case) are the same user: the later one sets
//!   its keys again, and its `permit`/`deny`, `eventfilter` and `setvar` lines replace the
//!   earlier ones, as in Asterisk.
//! * User keys are compared case-insensitively, except `eventfilter`, which Asterisk matches
//!   with the case-sensitive `ast_begins_with(name, "eventfilter")`. Unknown keys are kept
//!   ([`Account::other`], [`General::other`]).
//! * **Strictness.** Where Asterisk refuses the file (a section header without `]`, a line
//!   before any section, ...), parsing fails as it would. Where Asterisk only logs a warning
//!   and carries on (an invalid ACL, which deletes the user; an invalid `eventfilter`, which is
//!   skipped; `writetimeout` below 100; `authtimeout` below 1; a port outside 1024-65535; a
//!   line without `=`; an unknown `#directive`), this parser fails with the line number
//!   instead, so that a typo in a test fixture cannot go unnoticed. `#include`, `#tryinclude`
//!   and `#exec` are not supported, nor are named ACLs (`acl = name`, which need `acl.conf`).
//! * Read and write classes are parsed by [`Privileges::parse`] (Asterisk's `get_perm`, which
//!   is case-sensitive and has surprising prefix matching; see there).
//! * ACL lines ([`AclRule`]) are evaluated in order and the **last** matching rule wins; with
//!   no rule everything is permitted ([`Account::permits`]; `ast_apply_ha`).
//! * `eventfilter` lines in both syntaxes become [`amiwire::filter::ManagerFilter`]s in the
//!   user's [`FilterSet`], copied into every session of the user at login.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign};
use std::time::Duration;

use amiwire::filter::{FilterError, FilterSet, ManagerFilter};

use crate::conf::{ConfError, ConfFile, Entry};

/// The built-in `manager.conf`: a copy of the configuration the corpus was recorded with
/// (users `admin`, `c2call`, `limited` and `filtered`). [`Accounts::default`] parses it.
pub const DEFAULT_MANAGER_CONF: &str = include_str!("../etc/manager.conf");

/// The config lexer, at its old path (it is [`crate::conf`]).
pub use crate::conf;

// =============================================================================================
// Privileges
// =============================================================================================

/// A set of AMI privilege classes: a bitmask with Asterisk's own `EVENT_FLAG_*` values
/// (`include/asterisk/manager.h`), used for a user's `read` and `write` rights, an event's
/// class, an action's required classes and a session's event mask.
///
/// The bits are those of Asterisk: `system` 1<<0, `call` 1<<1, `log` 1<<2, `verbose` 1<<3,
/// `command` 1<<4, `agent` 1<<5, `user` 1<<6, `config` 1<<7, `dtmf` 1<<8, `reporting` 1<<9,
/// `cdr` 1<<10, `dialplan` 1<<11, `originate` 1<<12, `agi` 1<<13, `hookresponse` 1<<14 (no
/// name), `cc` 1<<15, `aoc` 1<<16, `test` 1<<17, `security` 1<<18 and `message` **1<<30**
/// (sic: manager.h has `/*XXX Why shifted by 30? XXX */`). `all` is `INT_MAX` (0x7fffffff),
/// so it also holds the unnamed bits; `none` is 0.
///
/// # The `Privilege:` header
///
/// `__manager_event_sessions_va` writes `Privilege: <authority_to_str(category)>` into every
/// event. `authority_to_str` walks Asterisk's `perms[]` table (system … message, then `all`,
/// leaving out only `none`) and lists every entry whose bits *intersect* the category. Since
/// `all` is `INT_MAX`, it intersects every non-empty category, so an event of class `call`
/// says `Privilege: call,all`, and one of class `system` says `system,all`: the `,all` is not
/// a class of the event but an artefact of that loop. That is [`Privileges`]'s `Display`. An
/// empty category gives `<none>` (and so does Asterisk's fake `EVENT_FLAG_SHUTDOWN`, -1,
/// which is `u32::MAX` here). The `Privilege: Call` seen in `Status` list items is not from
/// this function: `action_status` writes that text itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Privileges(pub u32);

/// Asterisk's `perms[]` table, in its order.
const PERMS: [(&str, u32); 21] = [
    ("system", 1 << 0),
    ("call", 1 << 1),
    ("log", 1 << 2),
    ("verbose", 1 << 3),
    ("command", 1 << 4),
    ("agent", 1 << 5),
    ("user", 1 << 6),
    ("config", 1 << 7),
    ("dtmf", 1 << 8),
    ("reporting", 1 << 9),
    ("cdr", 1 << 10),
    ("dialplan", 1 << 11),
    ("originate", 1 << 12),
    ("agi", 1 << 13),
    ("cc", 1 << 15),
    ("aoc", 1 << 16),
    ("test", 1 << 17),
    ("security", 1 << 18),
    ("message", 1 << 30),
    ("all", 0x7fff_ffff),
    ("none", 0),
];

impl Privileges {
    /// No class (`none`).
    pub const NONE: Privileges = Privileges(0);
    /// `EVENT_FLAG_SYSTEM` (`system`).
    pub const SYSTEM: Privileges = Privileges(1 << 0);
    /// `EVENT_FLAG_CALL` (`call`).
    pub const CALL: Privileges = Privileges(1 << 1);
    /// `EVENT_FLAG_LOG` (`log`).
    pub const LOG: Privileges = Privileges(1 << 2);
    /// `EVENT_FLAG_VERBOSE` (`verbose`).
    pub const VERBOSE: Privileges = Privileges(1 << 3);
    /// `EVENT_FLAG_COMMAND` (`command`).
    pub const COMMAND: Privileges = Privileges(1 << 4);
    /// `EVENT_FLAG_AGENT` (`agent`).
    pub const AGENT: Privileges = Privileges(1 << 5);
    /// `EVENT_FLAG_USER` (`user`).
    pub const USER: Privileges = Privileges(1 << 6);
    /// `EVENT_FLAG_CONFIG` (`config`).
    pub const CONFIG: Privileges = Privileges(1 << 7);
    /// `EVENT_FLAG_DTMF` (`dtmf`).
    pub const DTMF: Privileges = Privileges(1 << 8);
    /// `EVENT_FLAG_REPORTING` (`reporting`).
    pub const REPORTING: Privileges = Privileges(1 << 9);
    /// `EVENT_FLAG_CDR` (`cdr`).
    pub const CDR: Privileges = Privileges(1 << 10);
    /// `EVENT_FLAG_DIALPLAN` (`dialplan`).
    pub const DIALPLAN: Privileges = Privileges(1 << 11);
    /// `EVENT_FLAG_ORIGINATE` (`originate`).
    pub const ORIGINATE: Privileges = Privileges(1 << 12);
    /// `EVENT_FLAG_AGI` (`agi`).
    pub const AGI: Privileges = Privileges(1 << 13);
    /// `EVENT_FLAG_HOOKRESPONSE`: has no name in `perms[]`, so it cannot be written in
    /// `manager.conf` (only `all` holds it).
    pub const HOOKRESPONSE: Privileges = Privileges(1 << 14);
    /// `EVENT_FLAG_CC` (`cc`).
    pub const CC: Privileges = Privileges(1 << 15);
    /// `EVENT_FLAG_AOC` (`aoc`).
    pub const AOC: Privileges = Privileges(1 << 16);
    /// `EVENT_FLAG_TEST` (`test`).
    pub const TEST: Privileges = Privileges(1 << 17);
    /// `EVENT_FLAG_SECURITY` (`security`).
    pub const SECURITY: Privileges = Privileges(1 << 18);
    /// `EVENT_FLAG_MESSAGE` (`message`): bit 30, as in Asterisk.
    pub const MESSAGE: Privileges = Privileges(1 << 30);
    /// `all`: `INT_MAX`, every bit but the sign bit.
    pub const ALL: Privileges = Privileges(0x7fff_ffff);

    /// Asterisk's `perms[]` table in its order: the 19 named classes, then `all` and `none`.
    pub fn names() -> impl Iterator<Item = (&'static str, Privileges)> {
        PERMS.iter().map(|&(n, v)| (n, Privileges(v)))
    }

    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// No bit set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every bit of `other` is set here (`(self & other) == other`; true for an empty
    /// `other`).
    pub fn contains(self, other: Privileges) -> bool {
        self.0 & other.0 == other.0
    }

    /// Some bit of `other` is set here.
    pub fn intersects(self, other: Privileges) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether a session with these `read` rights (or this event mask) gets an event of
    /// class `category`: Asterisk delivers an event when `(readperm & category) == category`
    /// and `(send_events & category) == category`, so call it on both, or on their
    /// intersection. The same as [`contains`](Privileges::contains).
    pub fn allows_event(self, category: Privileges) -> bool {
        self.contains(category)
    }

    /// Whether a user with these `write` rights may run an action registered with
    /// `authority`: `process_message` allows it when `(writeperm & authority) != 0` or
    /// `authority == 0`, so **any one** of the action's classes is enough (e.g. `Status`,
    /// registered with `system,call,reporting`, runs for a user with `call` only).
    pub fn permits_action(self, authority: Privileges) -> bool {
        self.intersects(authority) || authority.is_empty()
    }

    /// Asterisk's `get_perm`, used for `read` and `write` in `manager.conf` (and for the
    /// list form of an event mask): for each entry of `perms[]`, `ast_instring(text, label,
    /// ',')` decides whether its bits are added. Unknown words are ignored. Beware of what
    /// `ast_instring` really does:
    ///
    /// * it is **case-sensitive** (`System` is not `system`) and does not skip blanks
    ///   (`call, system` gives `call` only);
    /// * every item but the last is compared with `strncmp(item, label, strlen(item))`, so it
    ///   matches each label it is a **prefix** of (`sys,call` gives `system,call`, and an
    ///   empty item, as in `call,,x`, matches every label, `all` included);
    /// * the last item must equal the label; a trailing `,` ends the list.
    pub fn parse(text: &str) -> Privileges {
        let text = c_str(text);
        let mut ret = 0;
        for &(label, num) in PERMS.iter() {
            if instring(text, label) {
                ret |= num;
            }
        }
        Privileges(ret)
    }

    /// Asterisk's `strings_to_mask`, which reads the Login `Events:` header and the `Events`
    /// action's `EventMask:` (values as `astman_get_header` gives them: leading blanks
    /// skipped, trailing ones kept). `None` stands for Asterisk's -1: the mask is left as it
    /// was, and the `Events` action answers `Error` / `Invalid event mask`.
    ///
    /// * empty: `None`;
    /// * only digits: the raw mask, read with `atoi` (so `1` means `system`, not "on"); a
    ///   value that does not fit a positive `int` gives `None`;
    /// * a false value ([`conf::is_false`]: `off`, `no`, ...): [`Privileges::NONE`];
    /// * a true value ([`conf::is_true`]: `on`, `yes`, ...): every class ([`Privileges::ALL`]);
    /// * anything else: [`Privileges::parse`] (so an unknown word gives an empty mask: events
    ///   off).
    ///
    /// The `Events` action answers `Events: On` when the result is not empty and
    /// `Events: Off` when it is, whatever the user's read rights.
    pub fn parse_event_mask(value: &str) -> Option<Privileges> {
        let v = c_str(value);
        if v.is_empty() {
            return None;
        }
        if v.bytes().all(|b| b.is_ascii_digit()) {
            let n = conf::atoi(v);
            return u32::try_from(n).ok().map(Privileges);
        }
        if conf::is_false(v) {
            return Some(Privileges::NONE);
        }
        if conf::is_true(v) {
            return Some(Privileges::ALL);
        }
        Some(Privileges::parse(v))
    }

    /// The events a session gets after Login with `Events: <value>`, or after an `Events`
    /// action with `EventMask: <value>` (`set_eventmask`), for a user with `read` rights:
    /// [`parse_event_mask`](Privileges::parse_event_mask) ANDed with `read`. `None`: the
    /// session keeps its mask (a new session starts with every event: `send_events = -1`).
    ///
    /// Asterisk stores the mask unmasked and checks both `(readperm & category) == category`
    /// and `(send_events & category) == category` when it delivers an event, which is the
    /// same as checking the intersection returned here.
    pub fn event_mask_from_events_header(value: &str, read: Privileges) -> Option<Privileges> {
        Privileges::parse_event_mask(value).map(|m| m & read)
    }

    /// Asterisk's `user_authority_to_str` (used by `manager show user`): the labels whose
    /// bits are *all* set, `all` only when every bit of `INT_MAX` is; `<none>` when none is.
    pub fn to_user_string(self) -> String {
        let mut out = String::new();
        for &(label, num) in PERMS[..PERMS.len() - 1].iter() {
            if self.0 & num == num {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(label);
            }
        }
        if out.is_empty() {
            out.push_str("<none>");
        }
        out
    }
}

impl fmt::Display for Privileges {
    /// Asterisk's `authority_to_str`: the text of an event's `Privilege:` header (see the
    /// type's documentation): `call,all` for [`Privileges::CALL`], `<none>` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        if self.0 != u32::MAX {
            for &(label, num) in PERMS[..PERMS.len() - 1].iter() {
                if self.0 & num != 0 {
                    if !first {
                        f.write_str(",")?;
                    }
                    f.write_str(label)?;
                    first = false;
                }
            }
        }
        if first {
            f.write_str("<none>")?;
        }
        Ok(())
    }
}

impl BitOr for Privileges {
    type Output = Privileges;
    fn bitor(self, rhs: Privileges) -> Privileges {
        Privileges(self.0 | rhs.0)
    }
}

impl BitOrAssign for Privileges {
    fn bitor_assign(&mut self, rhs: Privileges) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Privileges {
    type Output = Privileges;
    fn bitand(self, rhs: Privileges) -> Privileges {
        Privileges(self.0 & rhs.0)
    }
}

impl BitAndAssign for Privileges {
    fn bitand_assign(&mut self, rhs: Privileges) {
        self.0 &= rhs.0;
    }
}

/// The text up to the first NUL, as C sees it.
fn c_str(s: &str) -> &str {
    match s.find('\0') {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Asterisk's `ast_instring(bigstr, smallstr, ',')` from `main/manager.c`.
fn instring(big: &str, small: &str) -> bool {
    let big = big.as_bytes();
    let small = small.as_bytes();
    let mut val = 0;
    loop {
        match big[val..].iter().position(|&c| c == b',') {
            Some(off) => {
                // strncmp(val, smallstr, next - val): the item is a prefix of the label.
                if small.starts_with(&big[val..val + off]) {
                    return true;
                }
                val += off + 1;
                if val >= big.len() {
                    return false;
                }
            }
            None => return &big[val..] == small,
        }
    }
}

// =============================================================================================
// ACL
// =============================================================================================

/// What an ACL rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AclSense {
    /// `permit`.
    Permit,
    /// `deny`.
    Deny,
}

/// Why a `permit` or `deny` value could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {entry:?}")]
pub struct AclError {
    /// The comma-separated item that is wrong.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One `permit` or `deny` rule: an address and a mask (`ast_append_ha` in `main/acl.c`).
///
/// The network is stored already masked, as Asterisk stores it. An IPv4-mapped IPv6 address or
/// mask is converted to IPv4, as Asterisk converts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AclRule {
    /// What the rule does when it matches.
    pub sense: AclSense,
    /// The network address (address AND mask).
    pub network: IpAddr,
    /// The mask, of the same family as `network`.
    pub mask: IpAddr,
}

impl AclRule {
    /// Reads the value of a `permit` or `deny` line (`ast_append_ha`): a comma-separated
    /// list of `address[/mask]` items, where the mask is dotted (`255.255.255.0`, or an IPv6
    /// address) or a prefix length (`24`, read with `sscanf("%d")`, 0-32 for IPv4 and 0-128
    /// for IPv6), a missing mask meaning the whole address, and a leading `!` on the address
    /// inverting the rule's sense. Addresses are numeric (IPv6 with or without brackets); a
    /// port is refused. Unlike Asterisk, blanks around items are allowed.
    pub fn parse(sense: AclSense, value: &str) -> Result<Vec<AclRule>, AclError> {
        value
            .split(',')
            .map(|item| AclRule::parse_one(sense, item))
            .collect()
    }

    fn parse_one(sense: AclSense, item: &str) -> Result<AclRule, AclError> {
        let err = |reason| AclError {
            entry: item.to_owned(),
            reason,
        };
        let t = conf::strip(item);
        let (addr, mask) = match t.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (t, None),
        };
        let (sense, addr) = match addr.strip_prefix('!') {
            Some(a) => (
                match sense {
                    AclSense::Permit => AclSense::Deny,
                    AclSense::Deny => AclSense::Permit,
                },
                a,
            ),
            None => (sense, addr),
        };
        let addr = unmap(parse_ip(conf::strip(addr)).ok_or(err("invalid IP address"))?);
        let mask = match mask {
            None => full_mask(addr.is_ipv4(), if addr.is_ipv4() { 32 } else { 128 }),
            Some(m) if m.contains('.') || m.contains(':') => {
                let m = unmap(parse_ip(conf::strip(m)).ok_or(err("invalid netmask"))?);
                if m.is_ipv4() != addr.is_ipv4() {
                    return Err(err("address and mask are not of the same address family"));
                }
                m
            }
            Some(m) => {
                let bits = conf::scan_int(m).ok_or(err("invalid CIDR netmask"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if !(0..=max).contains(&bits) {
                    return Err(err("invalid CIDR netmask"));
                }
                full_mask(addr.is_ipv4(), bits as u32)
            }
        };
        Ok(AclRule {
            sense,
            network: apply_mask(addr, mask),
            mask,
        })
    }

    /// Whether the rule applies to a client address (`ast_apply_ha`): an IPv4 rule applies to
    /// IPv4 addresses and IPv4-mapped IPv6 addresses, an IPv6 rule to other IPv6 addresses;
    /// then the rule matches when the address AND the mask equals the network.
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        if ip.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        apply_mask(ip, self.mask) == self.network
    }
}

impl fmt::Display for AclRule {
    /// `permit = 127.0.0.1/255.255.255.255` style, as a `manager.conf` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sense = match self.sense {
            AclSense::Permit => "permit",
            AclSense::Deny => "deny",
        };
        write!(f, "{sense} = {}/{}", self.network, self.mask)
    }
}

/// A numeric address, IPv6 possibly in brackets.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// IPv4-mapped IPv6 to IPv4.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn full_mask(v4: bool, bits: u32) -> IpAddr {
    if v4 {
        let m = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits.min(32))
        };
        IpAddr::V4(Ipv4Addr::from(m))
    } else {
        let m = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits.min(128))
        };
        IpAddr::V6(Ipv6Addr::from(m))
    }
}

fn apply_mask(ip: IpAddr, mask: IpAddr) -> IpAddr {
    match (ip, mask) {
        (IpAddr::V4(a), IpAddr::V4(m)) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(m))),
        (IpAddr::V6(a), IpAddr::V6(m)) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & u128::from(m))),
        // Never built: rules always have a mask of their own family.
        (ip, _) => ip,
    }
}

// =============================================================================================
// General options, accounts
// =============================================================================================

/// The `[general]` section of `manager.conf`, with Asterisk's defaults (`manager_set_defaults`
/// and the static initialisers of `main/manager.c`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct General {
    /// `enabled` (default no).
    pub enabled: bool,
    /// `webenabled`: AMI over HTTP (default no).
    pub webenabled: bool,
    /// `port` (default 5038; Asterisk accepts 1024-65535).
    pub port: u16,
    /// `bindaddr` (default `::`, all addresses; a port in the value is ignored).
    pub bindaddr: IpAddr,
    /// `timestampevents`: a `Timestamp:` header in every event (default no).
    pub timestampevents: bool,
    /// `displayconnects`: log connections; also the default of each user's (default yes).
    pub displayconnects: bool,
    /// `allowmultiplelogin`: the default of each user's (default yes).
    pub allowmultiplelogin: bool,
    /// `authtimeout`: how long an unauthenticated connection may stay (default 30 s).
    pub authtimeout: Duration,
    /// `authlimit`: how many unauthenticated connections at once (default 50).
    pub authlimit: u32,
    /// `httptimeout`: lifetime of an HTTP session (default 60 s).
    pub httptimeout: Duration,
    /// `writetimeout`: the default of each user's write timeout (default 100 ms). A simulator
    /// extension: Asterisk reads `writetimeout` per user only, and logs "Invalid keyword" for
    /// it in `[general]`.
    pub writetimeout: Duration,
    /// `brokeneventsaction`: the `Events` action sends no response for an "all" mask or an
    /// error (default no).
    pub brokeneventsaction: bool,
    /// `debug`: `SequenceNumber`, `File`, `Line` and `Func` headers in events (default no).
    pub debug: bool,
    /// `channelvars`: channel variables appended to events (comma list).
    pub channelvars: Vec<String>,
    /// `disabledevents`: events never sent (comma list).
    pub disabledevents: Vec<String>,
    /// Every other key (`tls*` options, unknown keys), in file order.
    pub other: Vec<(String, String)>,
}

impl Default for General {
    fn default() -> General {
        General {
            enabled: false,
            webenabled: false,
            port: 5038,
            bindaddr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            timestampevents: false,
            displayconnects: true,
            allowmultiplelogin: true,
            authtimeout: Duration::from_secs(30),
            authlimit: 50,
            httptimeout: Duration::from_secs(60),
            writetimeout: Duration::from_millis(100),
            brokeneventsaction: false,
            debug: false,
            channelvars: Vec::new(),
            disabledevents: Vec::new(),
            other: Vec::new(),
        }
    }
}

impl General {
    fn apply(&mut self, e: &Entry) -> Result<(), AccountsError> {
        let v = e.value.as_str();
        let invalid = |reason| AccountsError::InvalidValue {
            line: e.line,
            key: e.name.clone(),
            value: e.value.clone(),
            reason,
        };
        match e.name.to_ascii_lowercase().as_str() {
            "enabled" => self.enabled = conf::is_true(v),
            "webenabled" => self.webenabled = conf::is_true(v),
            "timestampevents" => self.timestampevents = conf::is_true(v),
            "displayconnects" => self.displayconnects = conf::is_true(v),
            "allowmultiplelogin" => self.allowmultiplelogin = conf::is_true(v),
            "brokeneventsaction" => self.brokeneventsaction = conf::is_true(v),
            "debug" => self.debug = conf::is_true(v),
            "port" => {
                let p: u32 = v.parse().map_err(|_| invalid("not a port number"))?;
                if !(1024..=65535).contains(&p) {
                    return Err(invalid("Asterisk accepts ports 1024-65535 only"));
                }
                self.port = p as u16;
            }
            "bindaddr" => {
                self.bindaddr = parse_bindaddr(v).ok_or(invalid("not a numeric IP address"))?;
            }
            "httptimeout" => {
                let n = conf::atoi(v);
                if n <= 0 {
                    return Err(invalid("must be a positive number of seconds"));
                }
                self.httptimeout = Duration::from_secs(n as u64);
            }
            "authtimeout" => {
                let n = conf::atoi(v);
                if n < 1 {
                    return Err(invalid("must be a positive number of seconds"));
                }
                self.authtimeout = Duration::from_secs(n as u64);
            }
            "authlimit" => {
                let n = conf::atoi(v);
                if n < 1 {
                    return Err(invalid("must be a positive number"));
                }
                self.authlimit = n as u32;
            }
            "writetimeout" => {
                let n = conf::atoi(v);
                if n < 100 {
                    return Err(invalid("Asterisk refuses a writetimeout below 100 ms"));
                }
                self.writetimeout = Duration::from_millis(n as u64);
            }
            "channelvars" => self.channelvars = comma_list(v),
            "disabledevents" => self.disabledevents = comma_list(v),
            _ => self.other.push((e.name.clone(), e.value.clone())),
        }
        Ok(())
    }
}

fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(conf::strip)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `bindaddr`: a numeric address, IPv6 possibly in brackets, a port allowed and ignored.
fn parse_bindaddr(v: &str) -> Option<IpAddr> {
    if let Some(ip) = parse_ip(v) {
        return Some(ip);
    }
    if let Ok(sa) = v.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    None
}

/// One `manager.conf` user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The section name (Asterisk compares user names case-insensitively).
    pub username: String,
    /// `secret`: the plain-text secret, needed for plain and MD5 login. `None`: no login is
    /// possible.
    pub secret: Option<String>,
    /// `read`: the classes of events the user may receive (default none).
    pub read: Privileges,
    /// `write`: the classes of actions the user may run (default none).
    pub write: Privileges,
    /// `permit` and `deny` rules in file order (the last matching one wins).
    pub acl: Vec<AclRule>,
    /// `eventfilter` lines, copied into each session at login.
    pub filters: FilterSet,
    /// `writetimeout`: how long a write to the client may block before the session is dropped
    /// (default 100 ms, or `[general]`'s in this simulator).
    pub writetimeout: Duration,
    /// `displayconnects` (default from `[general]`).
    pub displayconnects: bool,
    /// `allowmultiplelogin` (default from `[general]`): with `false` a second login while a
    /// session of the user exists gets `Login Already In Use`.
    pub allowmultiplelogin: bool,
    /// `setvar = NAME=value` lines, in file order, split at the first `=` with nothing
    /// stripped. Asterisk keeps them in reverse order (it prepends each one) and sets them on
    /// the channels of `Originate` before the action's own `Variable:`s.
    pub setvars: Vec<(String, String)>,
    /// Every other key, in file order.
    pub other: Vec<(String, String)>,
}

impl Account {
    /// A user with Asterisk's defaults: no rights, no ACL, no filter, 100 ms write timeout,
    /// `displayconnects` and `allowmultiplelogin` on.
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Account {
        Account {
            username: username.into(),
            secret: Some(secret.into()),
            read: Privileges::NONE,
            write: Privileges::NONE,
            acl: Vec::new(),
            filters: FilterSet::new(),
            writetimeout: Duration::from_millis(100),
            displayconnects: true,
            allowmultiplelogin: true,
            setvars: Vec::new(),
            other: Vec::new(),
        }
    }

    fn with_general(username: &str, g: &General) -> Account {
        Account {
            secret: None,
            writetimeout: g.writetimeout,
            displayconnects: g.displayconnects,
            allowmultiplelogin: g.allowmultiplelogin,
            ..Account::new(username, "")
        }
    }

    /// Whether the user may log in from `ip` (`ast_apply_ha`): permitted when there is no
    /// rule; otherwise the rules are tried in order and the **last** one that matches decides;
    /// when none matches, permitted. An IPv4 rule does not apply to an IPv6 client (unless it
    /// is IPv4-mapped) and the other way round, so a user with IPv4 rules only is permitted
    /// from `::1`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let mut res = true;
        for rule in &self.acl {
            if rule.matches(ip) {
                res = rule.sense == AclSense::Permit;
            }
        }
        res
    }

    /// Plain login (`authenticate`): the user has a secret and it equals `secret` exactly.
    pub fn check_secret(&self, secret: &str) -> bool {
        self.secret.as_deref() == Some(secret)
    }

    /// MD5 login (`authenticate` with `AuthType: MD5`): `key` must be exactly the lowercase
    /// hex MD5 of the challenge followed by the secret (compared with `strcmp`, so an
    /// uppercase key fails). False without a secret, a challenge or a key.
    pub fn check_md5_key(&self, challenge: &str, key: &str) -> bool {
        use md5::{Digest, Md5};
        let Some(secret) = self.secret.as_deref() else {
            return false;
        };
        if challenge.is_empty() || key.is_empty() {
            return false;
        }
        let digest = Md5::new()
            .chain_update(challenge.as_bytes())
            .chain_update(secret.as_bytes())
            .finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        hex == key
    }

    fn apply(&mut self, e: &Entry) -> Result<(), AccountsError> {
        let v = e.value.as_str();
        let invalid = |reason| AccountsError::InvalidValue {
            line: e.line,
            key: e.name.clone(),
            value: e.value.clone(),
            reason,
        };
        let lower = e.name.to_ascii_lowercase();
        match lower.as_str() {
            "secret" => self.secret = Some(e.value.clone()),
            "permit" | "deny" => {
                let sense = if lower == "permit" {
                    AclSense::Permit
                } else {
                    AclSense::Deny
                };
                let rules =
                    AclRule::parse(sense, v).map_err(|source| AccountsError::InvalidAcl {
                        line: e.line,
                        key: e.name.clone(),
                        value: e.value.clone(),
                        source,
                    })?;
                self.acl.extend(rules);
            }
            "acl" => {
                return Err(AccountsError::Unsupported {
                    line: e.line,
                    key: e.name.clone(),
                    reason: "named ACLs need acl.conf; use permit and deny lines",
                })
            }
            "read" => self.read = Privileges::parse(v),
            "write" => self.write = Privileges::parse(v),
            "displayconnects" => self.displayconnects = conf::is_true(v),
            "allowmultiplelogin" => self.allowmultiplelogin = conf::is_true(v),
            "writetimeout" => {
                let n = conf::atoi(v);
                if n < 100 {
                    return Err(invalid("Asterisk refuses a writetimeout below 100 ms"));
                }
                self.writetimeout = Duration::from_millis(n as u64);
            }
            "setvar" => {
                // Asterisk copies the value into a 256-byte buffer first.
                let mut cut = v.len().min(255);
                while !v.is_char_boundary(cut) {
                    cut -= 1;
                }
                let Some((name, value)) = v[..cut].split_once('=') else {
                    return Err(invalid("setvar needs NAME=value"));
                };
                self.setvars.push((name.to_owned(), value.to_owned()));
            }
            _ if e.name.starts_with("eventfilter") => {
                let f = ManagerFilter::parse_eventfilter_line(&e.name, v).map_err(|source| {
                    AccountsError::InvalidFilter {
                        line: e.line,
                        source,
                    }
                })?;
                self.filters.add(f);
            }
            _ => self.other.push((e.name.clone(), e.value.clone())),
        }
        Ok(())
    }
}

/// Why a `manager.conf` could not be read. Every variant carries the 1-based line number
/// ([`AccountsError::line`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountsError {
    /// The file's syntax ([`conf`]).
    #[error(transparent)]
    Syntax(#[from] ConfError),
    /// A value Asterisk would refuse or ignore.
    #[error("line {line}: invalid {key} value {value:?}: {reason}")]
    InvalidValue {
        /// The line.
        line: usize,
        /// The key as written.
        key: String,
        /// The value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `permit` or `deny` value that is not an ACL (Asterisk deletes the user).
    #[error("line {line}: invalid ACL in {key} = {value}: {source}")]
    InvalidAcl {
        /// The line.
        line: usize,
        /// `permit` or `deny`, as written.
        key: String,
        /// The value.
        value: String,
        /// What is wrong.
        #[source]
        source: AclError,
    },
    /// An `eventfilter` line that does not parse (Asterisk logs a warning and skips it).
    #[error("line {line}: invalid eventfilter: {source}")]
    InvalidFilter {
        /// The line.
        line: usize,
        /// What is wrong.
        #[source]
        source: FilterError,
    },
    /// A key this simulator cannot honour.
    #[error("line {line}: {key} is not supported: {reason}")]
    Unsupported {
        /// The line.
        line: usize,
        /// The key as written.
        key: String,
        /// Why.
        reason: &'static str,
    },
}

impl AccountsError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            AccountsError::Syntax(e) => e.line(),
            AccountsError::InvalidValue { line, .. }
            | AccountsError::InvalidAcl { line, .. }
            | AccountsError::InvalidFilter { line, .. }
            | AccountsError::Unsupported { line, .. } => *line,
        }
    }
}

/// The accounts of a `manager.conf`: the `[general]` options and the users, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accounts {
    general: General,
    users: Vec<Account>,
}

impl Default for Accounts {
    /// The built-in account set: [`DEFAULT_MANAGER_CONF`] (users `admin`/`amp111` with all
    /// rights, `c2call` restricted to 127.0.0.1, `limited` with `read = call` and
    /// `write = originate`, `filtered` with three `eventfilter` lines).
    fn default() -> Accounts {
        Accounts::parse(DEFAULT_MANAGER_CONF).expect("the built-in manager.conf parses")
    }
}

impl Accounts {
    /// No user, the given general options.
    pub fn new(general: General) -> Accounts {
        Accounts {
            general,
            users: Vec::new(),
        }
    }

    /// Reads a `manager.conf` (see the [module documentation](self)).
    pub fn parse(text: &str) -> Result<Accounts, AccountsError> {
        let file = ConfFile::parse(text)?;
        let mut general = General::default();
        if let Some(sec) = file.section("general") {
            for e in &sec.entries {
                general.apply(e)?;
            }
        }
        let mut accounts = Accounts::new(general);
        for sec in file.sections() {
            if sec.name.eq_ignore_ascii_case("general") {
                continue;
            }
            let idx = match accounts.position(&sec.name) {
                Some(i) => {
                    // A user seen again: __init_manager empties these before reading it.
                    let u = &mut accounts.users[i];
                    u.filters.clear();
                    u.acl.clear();
                    u.setvars.clear();
                    i
                }
                None => {
                    let u = Account::with_general(&sec.name, &accounts.general);
                    accounts.users.push(u);
                    accounts.users.len() - 1
                }
            };
            for e in &sec.entries {
                accounts.users[idx].apply(e)?;
            }
        }
        Ok(accounts)
    }

    /// The `[general]` options.
    pub fn general(&self) -> &General {
        &self.general
    }

    /// The `[general]` options, to change.
    pub fn general_mut(&mut self) -> &mut General {
        &mut self.general
    }

    fn position(&self, username: &str) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.username.eq_ignore_ascii_case(username))
    }

    /// The user called `username`, compared ASCII case-insensitively as Asterisk's
    /// `get_manager_by_name_locked` does (`strcasecmp`).
    pub fn get(&self, username: &str) -> Option<&Account> {
        self.position(username).map(|i| &self.users[i])
    }

    /// The user called `username` (case-insensitive), to change.
    pub fn get_mut(&mut self, username: &str) -> Option<&mut Account> {
        self.position(username).map(move |i| &mut self.users[i])
    }

    /// Adds a user, or replaces the one of the same name (case-insensitive), which is
    /// returned.
    pub fn insert(&mut self, account: Account) -> Option<Account> {
        match self.position(&account.username) {
            Some(i) => Some(std::mem::replace(&mut self.users[i], account)),
            None => {
                self.users.push(account);
                None
            }
        }
    }

    /// Removes the user called `username` (case-insensitive).
    pub fn remove(&mut self, username: &str) -> Option<Account> {
        self.position(username).map(|i| self.users.remove(i))
    }

    /// The users in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Account> + '_ {
        self.users.iter()
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// No user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}
