//! Call files: Asterisk's own samples, the parse rules of `pbx_spool.c`'s `apply_outgoing()`,
//! every error with its line number, injection attempts, and round trips (proptest).
use amiwire::callfile::{
    fuzz_callfile, CallFile, CallFileError, CallStatus, Destination, RetryStamp, SpoolRecord,
    SpoolRecordKind, MAX_LINE_LEN,
};
use proptest::prelude::*;

/// `sample.call` as shipped in Asterisk's source tree (recent releases).
const SAMPLE_CALL: &str = r#"#
# This is a sample file that can be dumped in /var/spool/asterisk/outgoing
# to generate a call.  For Asterisk to read call files, you must have the
# pbx_spool.so module loaded.
#
# Comments are indicated by a '#' character that begins a line, or follows
# a space or tab character.  To be consistent with the configuration files
# in Asterisk, comments can also be indicated by a semicolon.  However, the
# multiline comments (;-- --;) used in Asterisk configuration files are not
# supported.  Semicolons can be escaped by a backslash.
#

# Obviously, you MUST specify at least a channel in the same format as you
# would for the "Dial" application.  Only one channel name is permitted.
#
Channel: DAHDI/1
#
# You can specify codecs for the call
Codecs: alaw, speex, h264
#
# You may also specify a wait time (default is 45 seconds) for how long to
# wait for the channel to be answered, a retry time (default is 5 mins)
# for how soon to retry this call, and a maximum number of retries (default
# is 0) for how many times to retry this call.
#
MaxRetries: 2
RetryTime: 60
WaitTime: 30

#
# Once the call is answered, you must provide either an application/data
# combination, or a context/extension/priority in which to start the PBX.
#
Context: default
Extension: s
Priority: 1

#
# Alternatively you can specify just an application
# and its arguments to be run, instead of a context
# extension and priority
#
#Application: VoiceMailMain
#Data: 1234

#
# You can set the callerid that will be used for the outgoing call
#
#Callerid: Wakeup Call Service <(555) 555-5555>

#
# An account code can be specified the following way:
#
#Account: mysuperfunaccountcode

#
# Normally, a call file is always deleted after the call is successful
# or the maximum number of tries is reached even if the modification
# time of the call file was changed during the call to be in the
# future.  By Setting AlwaysDelete to No the modification time of the
# call file will be checked after the call is completed or the maximum
# number of retries is reached.  If the modification time is in the
# future, the call file will not be deleted.
#
#AlwaysDelete: Yes

#
# You can set channel variables that will be passed to the channel.
# This includes writable dialplan functions. To set a writable dialplan
# function, the module containing this function *must* be loaded.
#
#Set: file1=/tmp/to
#Set: file2=/tmp/msg
#Set: timestamp=20021023104500
#Set: CDR(userfield,r)=42

#
# Setting Archive to yes the call file is never deleted, but is moved
# in the subdir "outgoing_done" of the spool directory. In this case
# will be appended a line with "Status: value", where value can be
# Completed, Expired or Failed.
#
#Archive: yes
"#;

/// `sample.call` from Asterisk 1.4 (Zap channels, no Codecs).
const SAMPLE_CALL_1_4: &str = r#"#
# This is a sample file that can be dumped in /var/spool/asterisk/outgoing
# to generate a call.  
#
# Comments are indicated by a '#' character that begins a line, or follows
# a space or tab character.  To be consistent with the configuration files
# in Asterisk, comments can also be indicated by a semicolon.  However, the
# multiline comments (;-- --;) used in Asterisk configuration files are not 
# supported.  Semicolons can be escaped by a backslash.
#

# Obviously, you MUST specify at least a channel in the same format as you
# would for the "Dial" application.  Only one channel name is permitted.
#
Channel: Zap/1
#
# You may also specify a wait time (default is 45 seconds) for how long to
# wait for the channel to be answered, a retry time (default is 5 mins)
# for how soon to retry this call, and a maximum number of retries (default
# is 0) for how many times to retry this call.
#
MaxRetries: 2
RetryTime: 60
WaitTime: 30

#
# Once the call is answered, you must provide either an application/data
# combination, or a context/extension/priority in which to start the PBX.
#
Context: default
Extension: s
Priority: 1

#
# Alternatively you can specify just an application
# and its arguments to be run, instead of a context
# extension and priority
#
#Application: VoiceMailMain
#Data: 1234

#
# You can set the callerid that will be used for the outgoing call
#
#Callerid: Wakeup Call Service <(555) 555-5555>

#
# An account code can be specified the following way:
#
#Account: mysuperfunaccountcode

#
# You can set channel variables that will be passed to the channel.
# This includes writable dialplan functions. To set a writable dialplan
# function, the module containing this function *must* be loaded.
#
#Set: file1=/tmp/to
#Set: file2=/tmp/msg
#Set: timestamp=20021023104500
#Set: CDR(userfield|r)=42
"#;

/// Removes the leading `#` of the sample's commented-out keys (not of its prose), as a user
/// would to switch to the application destination.
fn uncomment(sample: &str, keys: &[&str]) -> String {
    sample
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if keys.iter().any(|k| rest.starts_with(k)) => rest.to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn round_trip(cf: &CallFile) -> String {
    let text = cf.to_text().expect("valid call file");
    assert_eq!(
        &CallFile::parse(&text).expect("canonical text parses"),
        cf,
        "{text}"
    );
    text
}

// ---------------------------------------------------------------------------------------------
// Asterisk's samples and documented examples

#[test]
fn sample_call_from_asterisk() {
    let cf = CallFile::parse(SAMPLE_CALL).unwrap();
    let expected = CallFile::to_extension("DAHDI/1", "default", "s", 1)
        .codecs("alaw, speex, h264")
        .max_retries(2)
        .retry_time(60)
        .wait_time(30);
    assert_eq!(cf, expected);
    assert_eq!(
        round_trip(&cf),
        "Channel: DAHDI/1\nMaxRetries: 2\nRetryTime: 60\nWaitTime: 30\nCodecs: alaw, speex, h264\n\
         Context: default\nExtension: s\nPriority: 1\n"
    );
}

#[test]
fn sample_call_1_4() {
    let cf = CallFile::parse(SAMPLE_CALL_1_4).unwrap();
    assert_eq!(
        cf,
        CallFile::to_extension("Zap/1", "default", "s", 1)
            .max_retries(2)
            .retry_time(60)
            .wait_time(30)
    );
    round_trip(&cf);
}

#[test]
fn sample_call_with_every_option_enabled() {
    // Uncommenting everything gives both destinations, which pbx_spool would resolve silently
    // in favour of the application: refused.
    let all = uncomment(
        SAMPLE_CALL,
        &[
            "Application",
            "Data",
            "Callerid",
            "Account",
            "AlwaysDelete",
            "Set",
            "Archive",
        ],
    );
    assert_eq!(CallFile::parse(&all), Err(CallFileError::BothDestinations));

    // Take the application instead of the extension, as the sample suggests.
    let app = all
        .lines()
        .filter(|l| {
            !l.starts_with("Context") && !l.starts_with("Extension") && !l.starts_with("Priority")
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let cf = CallFile::parse(&app).unwrap();
    let expected = CallFile::to_application("DAHDI/1", "VoiceMailMain", "1234")
        .codecs("alaw, speex, h264")
        .max_retries(2)
        .retry_time(60)
        .wait_time(30)
        .caller_id("Wakeup Call Service <(555) 555-5555>")
        .account("mysuperfunaccountcode")
        .always_delete(true)
        .variable("file1", "/tmp/to")
        .variable("file2", "/tmp/msg")
        .variable("timestamp", "20021023104500")
        .variable("CDR(userfield,r)", "42")
        .archive(true);
    assert_eq!(cf, expected);
    assert_eq!(
        round_trip(&cf),
        "Channel: DAHDI/1\n\
         Callerid: Wakeup Call Service <(555) 555-5555>\n\
         MaxRetries: 2\n\
         RetryTime: 60\n\
         WaitTime: 30\n\
         Account: mysuperfunaccountcode\n\
         Codecs: alaw, speex, h264\n\
         Application: VoiceMailMain\n\
         Data: 1234\n\
         Set: file1=/tmp/to\n\
         Set: file2=/tmp/msg\n\
         Set: timestamp=20021023104500\n\
         Set: CDR(userfield,r)=42\n\
         AlwaysDelete: yes\n\
         Archive: yes\n"
    );
}

#[test]
fn documented_examples() {
    // The typical wake-up / click-to-call files found in Asterisk's documentation.
    let exten = "Channel: SIP/100\nCallerid: 200\nMaxRetries: 5\nRetryTime: 300\nWaitTime: 45\n\
                 Context: outgoing\nExtension: 100\nPriority: 1\n";
    let cf = CallFile::parse(exten).unwrap();
    assert_eq!(
        cf,
        CallFile::to_extension("SIP/100", "outgoing", "100", 1)
            .caller_id("200")
            .max_retries(5)
            .retry_time(300)
            .wait_time(45)
    );
    assert_eq!(round_trip(&cf), exten);

    let app = "Channel: Local/2000@from-internal\nApplication: Playback\nData: hello-world\n";
    let cf = CallFile::parse(app).unwrap();
    assert_eq!(
        cf,
        CallFile::to_application("Local/2000@from-internal", "Playback", "hello-world")
    );
    assert_eq!(round_trip(&cf), app);

    // Asterisk 1.0's `Setvar`, lower-case keys, no space after the colon.
    let old = "channel:IAX2/guest@pbx/1234\nsetvar: A=1\nSETVAR:B=2=3\napplication:   Dial\ndata: SIP/5\n";
    let cf = CallFile::parse(old).unwrap();
    assert_eq!(
        cf,
        CallFile::to_application("IAX2/guest@pbx/1234", "Dial", "SIP/5")
            .variable("A", "1")
            .variable("B", "2=3")
    );
    round_trip(&cf);
}

#[test]
fn file_with_asterisk_bookkeeping_and_archive_status() {
    // What an archived file looks like after two failed attempts: pbx_spool appends
    // "\n<Key>: <pid> <retries> (<time>)\n" lines, then "Status: ..." once moved to outgoing_done.
    let text = "Channel: PJSIP/alice\nContext: wakeup\nExtension: s\nPriority: 1\nMaxRetries: 1\nArchive: yes\n\
                \nStartRetry: 4242 1 (1700000060)\n\
                \nEndRetry: 4242 1 (1700000030)\n\
                \nStartRetry: 4242 2 (1700000120)\n\
                Status: Expired\n";
    let cf = CallFile::parse(text).unwrap();
    assert_eq!(cf.history.len(), 4);
    assert_eq!(cf.history[0].kind, SpoolRecordKind::StartRetry);
    assert_eq!(
        cf.history[0].stamp(),
        Some(RetryStamp {
            pid: 4242,
            retries: 1,
            time: 1_700_000_060
        })
    );
    assert_eq!(cf.history[3].stamp(), None);
    assert_eq!(cf.retries(), 1);
    assert_eq!(cf.status(), Some(CallStatus::Expired));
    let canonical = round_trip(&cf);
    assert!(canonical.ends_with(
        "StartRetry: 4242 1 (1700000060)\nEndRetry: 4242 1 (1700000030)\nStartRetry: 4242 2 (1700000120)\nStatus: Expired\n"
    ));

    let legacy = CallFile::parse(
        "Channel: SIP/1\nApplication: Wait\nRetry: x\nAbortRetry: 1 2 (3)\nDelayedRetry: 1 2 (3)\n",
    )
    .unwrap();
    assert_eq!(legacy.retries(), 2);
    assert_eq!(legacy.status(), None);
    let bogus = SpoolRecord {
        kind: SpoolRecordKind::EndRetry,
        value: "12 x (3)".into(),
    };
    assert_eq!(bogus.stamp(), None);
}

// ---------------------------------------------------------------------------------------------
// pbx_spool's reading rules

#[test]
fn comments_as_pbx_spool_reads_them() {
    let parse_data = |line: &str| -> String {
        let cf = CallFile::parse(&format!("Channel: SIP/1\nApplication: Echo\n{line}\n")).unwrap();
        match cf.destination {
            Destination::Application { data, .. } => data,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(parse_data("Data: 1#2"), "1#2");
    assert_eq!(parse_data("Data: 1 #2"), "1");
    assert_eq!(parse_data("Data: 1\t#2"), "1");
    assert_eq!(parse_data("Data:#2"), "#2");
    assert_eq!(parse_data("Data: a;b"), "a");
    assert_eq!(parse_data("Data: a\\;b"), "a;b");
    assert_eq!(parse_data("Data: a\\\\;b"), "a\\;b");
    // The C loop skips the byte after an escaped ';', so a second ';' right behind it is data.
    assert_eq!(parse_data("Data: a\\;;b"), "a;;b");
    assert_eq!(parse_data("Data: a\\;b;c"), "a;b");
    assert_eq!(parse_data("Data: x  \t "), "x");
    assert_eq!(parse_data("Data:    "), "");
    assert_eq!(parse_data("   # indented comment"), "");
    assert_eq!(parse_data("; semicolon comment"), "");
    assert_eq!(parse_data("Data: ; nothing"), "");
}

#[test]
fn line_endings_and_case() {
    let lf = "Channel: SIP/1\nCONTEXT: c\nexten\u{73}ion: 1\nPriority: 2\n";
    let crlf = lf.replace('\n', "\r\n");
    let no_final_newline = lf.trim_end();
    let a = CallFile::parse(lf).unwrap();
    assert_eq!(a, CallFile::parse(&crlf).unwrap());
    assert_eq!(a, CallFile::parse(no_final_newline).unwrap());
    assert_eq!(a, CallFile::to_extension("SIP/1", "c", "1", 2));
    // A lone CR is not a line break for fgets(): it stays inside the value.
    let cf = CallFile::parse("Channel: SIP/1\nApplication: Echo\nData: a\rb\n").unwrap();
    assert_eq!(
        cf.destination,
        Destination::Application {
            application: "Echo".into(),
            data: "a\rb".into()
        }
    );
    // ... and to_text refuses to write it back.
    assert!(
        matches!(cf.to_text(), Err(CallFileError::InvalidValue { ref key, .. }) if key == "Data")
    );
}

#[test]
fn defaults_and_booleans() {
    let cf = CallFile::parse("Channel: SIP/1\nContext: c\nExtension: s\n").unwrap();
    assert_eq!(
        cf.destination,
        Destination::Extension {
            context: "c".into(),
            extension: "s".into(),
            priority: 1
        }
    );
    let cf = CallFile::parse("Channel: SIP/1\nApplication: Echo\n").unwrap();
    assert_eq!(
        cf.destination,
        Destination::Application {
            application: "Echo".into(),
            data: String::new()
        }
    );
    for (word, value) in [
        ("Yes", true),
        ("on", true),
        ("1", true),
        ("T", true),
        ("no", false),
        ("OFF", false),
        ("f", false),
        ("0", false),
    ] {
        let cf = CallFile::parse(&format!(
            "Channel: SIP/1\nApplication: Echo\nAlwaysDelete: {word}\nArchive: {word}\nearly_media: {word}\n"
        ))
        .unwrap();
        assert_eq!(
            (cf.always_delete, cf.archive, cf.early_media),
            (Some(value), Some(value), Some(value))
        );
        round_trip(&cf);
    }
}

#[test]
fn unknown_keys_are_kept_in_order() {
    let text = "Channel: SIP/1\nPredialCallee: handler,s,1\nApplication: Echo\nX-Mine: a:b\nEarlyMedia: yes\n";
    let cf = CallFile::parse(text).unwrap();
    assert_eq!(
        cf.extra,
        vec![
            ("PredialCallee".to_owned(), "handler,s,1".to_owned()),
            ("X-Mine".to_owned(), "a:b".to_owned()),
            ("EarlyMedia".to_owned(), "yes".to_owned()),
        ]
    );
    assert_eq!(cf.early_media, None, "pbx_spool only knows early_media");
    let out = round_trip(&cf);
    assert!(out.ends_with("PredialCallee: handler,s,1\nX-Mine: a:b\nEarlyMedia: yes\n"));
}

#[test]
fn values_needing_escapes_round_trip() {
    let cf = CallFile::to_application("PJSIP/bob", "System", "echo a;b \\; c#d")
        .variable("CDR(userfield)", "x;y=z")
        .variable("ÜNICODE", "wert;ä")
        .caller_id("\"Zoë; Q\" <100>")
        .account("");
    let text = round_trip(&cf);
    assert!(text.contains("Data: echo a\\;b \\\\; c#d\n"), "{text}");
    assert!(text.contains("Account:\n"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Every parse error, with its line number

#[test]
fn parse_errors_with_line_numbers() {
    use CallFileError::*;
    let cases: Vec<(String, CallFileError)> = vec![
        (
            "Channel: SIP/1\n\nno colon here\n".into(),
            MissingColon { line: 3 },
        ),
        (
            "Channel: SIP/1\n Context: c\n".into(),
            InvalidKey {
                line: 2,
                key: " Context".into(),
            },
        ),
        (
            "Channel: SIP/1\nContext : c\n".into(),
            InvalidKey {
                line: 2,
                key: "Context ".into(),
            },
        ),
        (
            "Channel: SIP/1\n: c\n".into(),
            InvalidKey {
                line: 2,
                key: String::new(),
            },
        ),
        (
            "Channel: SIP/1\nchannel: SIP/2\n".into(),
            DuplicateKey {
                line: 2,
                key: "channel".into(),
            },
        ),
        (
            "Channel: SIP/1\nCallerID: a\nCallerid: b\n".into(),
            DuplicateKey {
                line: 3,
                key: "Callerid".into(),
            },
        ),
        (
            "Channel: SIP/1\nApplication: Echo\nWaitTime: soon\n".into(),
            InvalidNumber {
                line: 3,
                key: "WaitTime".into(),
            },
        ),
        (
            "Channel: SIP/1\nApplication: Echo\nWaitTime: 0\n".into(),
            InvalidNumber {
                line: 3,
                key: "WaitTime".into(),
            },
        ),
        (
            "Channel: SIP/1\nApplication: Echo\nRetryTime: -5\n".into(),
            InvalidNumber {
                line: 3,
                key: "RetryTime".into(),
            },
        ),
        (
            "Channel: SIP/1\nApplication: Echo\nMaxRetries: 2147483648\n".into(),
            InvalidNumber {
                line: 3,
                key: "MaxRetries".into(),
            },
        ),
        (
            "Channel: SIP/1\nApplication: Echo\nMaxRetries: 99999999999999999999\n".into(),
            InvalidNumber {
                line: 3,
                key: "MaxRetries".into(),
            },
        ),
        (
            "Channel: SIP/1\nContext: c\nExtension: s\nPriority: start\n".into(),
            InvalidNumber {
                line: 4,
                key: "Priority".into(),
            },
        ),
        (
            "Channel: SIP/1\nContext: c\nExtension: s\nPriority: 0\n".into(),
            InvalidNumber {
                line: 4,
                key: "Priority".into(),
            },
        ),
        (
            "Channel: SIP/1\nApplication: Echo\nArchive: maybe\n".into(),
            InvalidBoolean {
                line: 3,
                key: "Archive".into(),
            },
        ),
        ("\nChannel: SIP\n".into(), InvalidChannel { line: 2 }),
        ("Channel: SIP/\n".into(), InvalidChannel { line: 1 }),
        ("Channel: /100\n".into(), InvalidChannel { line: 1 }),
        (
            "Channel: SIP/1\nSet: FOO\n".into(),
            InvalidVariable {
                line: 2,
                key: "Set".into(),
            },
        ),
        (
            "Channel: SIP/1\nSetvar: =1\n".into(),
            InvalidVariable {
                line: 2,
                key: "Setvar".into(),
            },
        ),
        (
            "Channel: SIP/1\nContext:\n".into(),
            EmptyValue {
                line: 2,
                key: "Context".into(),
            },
        ),
        (
            "Channel: SIP/1\nApplication:   \n".into(),
            EmptyValue {
                line: 2,
                key: "Application".into(),
            },
        ),
        (
            format!("# {}\nChannel: SIP/1\n", "x".repeat(300)),
            LineTooLong {
                line: 1,
                len: 302,
                limit: MAX_LINE_LEN,
            },
        ),
        ("Context: c\nExtension: s\n".into(), MissingChannel),
        ("# nothing\n\n".into(), MissingChannel),
        ("Channel: SIP/1\n".into(), MissingDestination),
        (
            "Channel: SIP/1\nContext: c\nExtension: s\nApplication: Echo\n".into(),
            BothDestinations,
        ),
        (
            "Channel: SIP/1\nPriority: 1\nData: x\n".into(),
            BothDestinations,
        ),
        (
            "Channel: SIP/1\nContext: c\n".into(),
            IncompleteDestination {
                missing: "Extension",
            },
        ),
        (
            "Channel: SIP/1\nExtension: s\nPriority: 2\n".into(),
            IncompleteDestination { missing: "Context" },
        ),
        (
            "Channel: SIP/1\nData: x\n".into(),
            IncompleteDestination {
                missing: "Application",
            },
        ),
    ];
    for (text, expected) in cases {
        let got = CallFile::parse(&text);
        assert_eq!(got, Err(expected.clone()), "input: {text:?}");
        assert!(!expected.is_validation());
        assert_eq!(got.unwrap_err().line(), expected.line());
    }
    // Byte-level errors.
    assert_eq!(
        CallFile::parse_bytes(b"Channel: SIP/1\nApplication: Echo\nData: a\0b\n"),
        Err(CallFileError::NulByte { line: 3 })
    );
    assert_eq!(
        CallFile::parse_bytes(b"Channel: SIP/1\nApplication: \xff\xfe\n"),
        Err(CallFileError::InvalidUtf8 { line: 2 })
    );
    // Invalid UTF-8 inside a comment is invisible, as it is to Asterisk.
    assert!(
        CallFile::parse_bytes(b"# caf\xe9\nChannel: SIP/1\nApplication: Echo # \xff\n").is_ok()
    );
    // A 255-byte line is read whole by fgets(buf, 256), a 256-byte one is not.
    let ok = format!(
        "Channel: SIP/1\nApplication: Echo\nData: {}\n",
        "d".repeat(MAX_LINE_LEN - 6)
    );
    assert!(CallFile::parse(&ok).is_ok());
    let long = format!(
        "Channel: SIP/1\nApplication: Echo\nData: {}\n",
        "d".repeat(MAX_LINE_LEN - 5)
    );
    assert_eq!(
        CallFile::parse(&long),
        Err(CallFileError::LineTooLong {
            line: 3,
            len: 256,
            limit: MAX_LINE_LEN
        })
    );
    // The error messages say where.
    assert_eq!(
        CallFileError::MissingColon { line: 7 }.to_string(),
        "line 7: no ':' between key and value"
    );
}

// ---------------------------------------------------------------------------------------------
// Validation on write: injection and other things pbx_spool would misread

fn refused(cf: &CallFile) -> (String, &'static str) {
    match cf.to_text() {
        Err(CallFileError::InvalidValue { key, reason }) => (key, reason),
        Err(CallFileError::InvalidExtraKey { key, reason }) => (key, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn injection_attempts_are_refused() {
    let base = || CallFile::to_extension("SIP/100", "default", "s", 1);
    let attempts = [
        CallFile::to_extension("SIP/100\nApplication: System", "default", "s", 1),
        CallFile::to_extension("SIP/100\r\nApplication: System", "default", "s", 1),
        CallFile::to_extension("SIP/100\rApplication: System", "default", "s", 1),
        CallFile::to_application(
            "SIP/100",
            "Playback",
            "x\nApplication: System\nData: rm -rf /",
        ),
        base().caller_id("me\nSet: SHELL=1"),
        base().variable("A", "1\nApplication: System"),
        base().variable("A\nApplication: System\nX", "1"),
        base().account("x\0y"),
        base().codecs("ulaw\u{1b}[2J"),
        base().extra("X-Note", "a\nChannel: DAHDI/1"),
        base().extra("X\nChannel", "DAHDI/1"),
        base().extra("Application", "System"),
        base().extra("setvar", "A=1"),
        base().extra("StartRetry", "1 1 (1)"),
        // fgets() would split this line after 255 bytes and read the rest as a new line.
        base().caller_id(format!("{}Application: System", "x".repeat(240))),
    ];
    for cf in &attempts {
        let (key, reason) = refused(cf);
        assert!(!key.is_empty() && !reason.is_empty());
    }
    assert_eq!(
        refused(&CallFile::to_extension(
            "SIP/100\nApplication: System",
            "default",
            "s",
            1
        ))
        .0,
        "Channel"
    );
}

#[test]
fn validation_errors() {
    let base = || CallFile::to_extension("PJSIP/alice", "default", "s", 1);
    let cases: Vec<(CallFile, &str)> = vec![
        (CallFile::to_extension("", "c", "s", 1), "Channel"),
        (CallFile::to_extension("PJSIP", "c", "s", 1), "Channel"),
        (CallFile::to_extension("PJSIP/", "c", "s", 1), "Channel"),
        (CallFile::to_extension("/alice", "c", "s", 1), "Channel"),
        (
            CallFile::to_extension("PJ SIP/alice", "c", "s", 1),
            "Channel",
        ),
        (
            CallFile::to_extension("PJSIP/alice bob", "c", "s", 1),
            "Channel",
        ),
        (CallFile::to_extension("PJSIP/alice", "", "s", 1), "Context"),
        (
            CallFile::to_extension("PJSIP/alice", "c", "", 1),
            "Extension",
        ),
        (
            CallFile::to_extension("PJSIP/alice", "c", "s", 0),
            "Priority",
        ),
        (
            CallFile::to_extension("PJSIP/alice", "c", "s", u32::MAX),
            "Priority",
        ),
        (
            CallFile::to_application("PJSIP/alice", "", "x"),
            "Application",
        ),
        (base().wait_time(0), "WaitTime"),
        (base().retry_time(0), "RetryTime"),
        (base().max_retries(1 << 31), "MaxRetries"),
        (base().variable("", "x"), "Set"),
        (base().variable("A=B", "x"), "Set"),
        (base().variable("A B", "x"), "Set"),
        (base().variable("#A", "x"), "Set"),
        (base().variable("A", "x "), "Set"),
        (base().caller_id(" leading"), "Callerid"),
        (base().caller_id("trailing\t"), "Callerid"),
        (base().caller_id("#100"), "Callerid"),
        (base().caller_id("Name #100"), "Callerid"),
        (base().codecs("ulaw\u{7f}"), "Codecs"),
        (base().extra("", "x"), ""),
        (base().extra("#X", "x"), "#X"),
        (base().extra("A B", "x"), "A B"),
        (base().extra("A:B", "x"), "A:B"),
        (base().extra("A;B", "x"), "A;B"),
        (base().extra("CallerID", "x"), "CallerID"),
    ];
    for (cf, key) in cases {
        let err = cf.to_text().unwrap_err();
        assert!(err.is_validation(), "{err:?}");
        assert_eq!(err.line(), None);
        assert_eq!(cf.validate(), Err(err.clone()));
        match err {
            CallFileError::InvalidValue { key: k, .. }
            | CallFileError::InvalidExtraKey { key: k, .. } => {
                assert_eq!(k, key, "{cf:?}")
            }
            other => panic!("{other:?}"),
        }
    }
    // Accepted edge cases.
    for cf in [
        base().caller_id("Name<#100>"),
        base().caller_id(""),
        base().variable("A", ""),
        base().variable("A", " x"),
        base().max_retries(0),
        base().wait_time(i32::MAX as u32),
        base().extra("X#Y", "v"),
        CallFile::to_extension("Local/100@ctx/n", "c", "_X.", 2),
        CallFile::to_application("DAHDI/g1/5551234", "Playback", ""),
        base().caller_id("y".repeat(MAX_LINE_LEN - "Callerid: ".len())),
    ] {
        round_trip(&cf);
    }
    let err = base()
        .caller_id("y".repeat(MAX_LINE_LEN - "Callerid: ".len() + 1))
        .to_text()
        .unwrap_err();
    assert!(matches!(err, CallFileError::InvalidValue { ref key, .. } if key == "Callerid"));
    // Escaping counts towards the line length.
    let err = base()
        .caller_id(";".repeat(MAX_LINE_LEN / 2))
        .to_text()
        .unwrap_err();
    assert!(err.is_validation());
}

#[test]
fn from_str_and_builder_shape() {
    let cf: CallFile = "Channel: SIP/1\nApplication: Echo\n".parse().unwrap();
    assert_eq!(cf, CallFile::to_application("SIP/1", "Echo", ""));
    assert_eq!(round_trip(&cf), "Channel: SIP/1\nApplication: Echo\n");
    let full = CallFile::to_extension("PJSIP/alice", "wakeup", "s", 3)
        .caller_id("\"Wake\" <1>")
        .max_retries(1)
        .retry_time(10)
        .wait_time(20)
        .account("acct")
        .codecs("ulaw")
        .variable("A", "1")
        .always_delete(false)
        .archive(true)
        .early_media(true)
        .extra("PredialCallee", "sub,s,1");
    assert_eq!(
        round_trip(&full),
        "Channel: PJSIP/alice\nCallerid: \"Wake\" <1>\nMaxRetries: 1\nRetryTime: 10\nWaitTime: 20\n\
         Account: acct\nCodecs: ulaw\nContext: wakeup\nExtension: s\nPriority: 3\nSet: A=1\n\
         AlwaysDelete: no\nArchive: yes\nearly_media: yes\nPredialCallee: sub,s,1\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Fuzz entry point on hostile inputs

#[test]
fn fuzz_entry_point_on_hostile_inputs() {
    let long = format!(
        "Channel: SIP/1\nApplication: Echo\nData: {}",
        "A".repeat(100_000)
    );
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\n\n\n".to_vec(),
        b"\0\0\0".to_vec(),
        b"\xff\xfe\xfd:\xff".to_vec(),
        b":::::".to_vec(),
        b"Channel: SIP/1\nApplication: Echo\nData: a\rb\n".to_vec(),
        b"Channel: SIP/1\nApplication: Echo\nData: \\;\\\\;;\\\n".to_vec(),
        b"Channel: SIP/1\nApplication: Echo\nSet: A =b\nX\x7f: \x01\n".to_vec(),
        b"Channel: SIP/1\r\r\r\nApplication: Echo\r\nStatus: \t\x0b\n".to_vec(),
        b"Channel: \xc3\xa9/\xc3\xa9\nApplication: \xe2\x80\x8b\n".to_vec(),
        b"Channel: SIP/100\nApplication: System\nData: echo #1 ;x\n#;\n;#\n".to_vec(),
        b"Channel: SIP/1\nContext: c\nExtension: s\nPriority: 0002147483647\n".to_vec(),
        b"channel:a/b\nextension:\\;\ncontext:#\n".to_vec(),
        long.into_bytes(),
        SAMPLE_CALL.as_bytes().to_vec(),
        SAMPLE_CALL_1_4.replace('\n', "\r\n").into_bytes(),
    ];
    for input in &inputs {
        fuzz_callfile(input);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests

/// Values `to_text` accepts: no control characters, no blanks at the ends, no '#' after a blank
/// or at the start; ';', '\', '=', ':', '#' inside words and non-ASCII are all allowed.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9_./@<>\"(),;:=\\\\é€-]([A-Za-z0-9 _./@<>\"(),;:=#\\\\é€-]{0,40}[A-Za-z0-9_./@<>\"(),;:=#\\\\é€-])?",
    ]
    .prop_filter("no comment", |v| !v.contains(" #"))
}

fn non_empty_value() -> impl Strategy<Value = String> {
    value().prop_filter("non-empty", |v| !v.is_empty())
}

fn channel() -> impl Strategy<Value = String> {
    (
        "(SIP|PJSIP|IAX2|DAHDI|Local|Motif|My_Tech-2)",
        "[A-Za-z0-9@._/&;=+-]{1,30}",
    )
        .prop_map(|(tech, res)| format!("{tech}/{res}"))
}

fn destination() -> impl Strategy<Value = Destination> {
    prop_oneof![
        (non_empty_value(), non_empty_value(), 1..=i32::MAX as u32).prop_map(
            |(context, extension, priority)| {
                Destination::Extension {
                    context,
                    extension,
                    priority,
                }
            }
        ),
        (non_empty_value(), value())
            .prop_map(|(application, data)| Destination::Application { application, data }),
    ]
}

fn record() -> impl Strategy<Value = SpoolRecord> {
    (
        prop_oneof![
            Just(SpoolRecordKind::Retry),
            Just(SpoolRecordKind::StartRetry),
            Just(SpoolRecordKind::EndRetry),
            Just(SpoolRecordKind::AbortRetry),
            Just(SpoolRecordKind::DelayedRetry),
            Just(SpoolRecordKind::Status),
        ],
        value(),
    )
        .prop_map(|(kind, value)| SpoolRecord { kind, value })
}

prop_compose! {
    fn valid_call_file()(
        channel in channel(),
        destination in destination(),
        caller_id in proptest::option::of(value()),
        max_retries in proptest::option::of(0..=i32::MAX as u32),
        retry_time in proptest::option::of(1..=i32::MAX as u32),
        wait_time in proptest::option::of(1..=i32::MAX as u32),
        account in proptest::option::of(value()),
        codecs in proptest::option::of(value()),
        variables in proptest::collection::vec(("[A-Za-z_][A-Za-z0-9_()|,.:;#-]{0,15}", value()), 0..5),
        always_delete in proptest::option::of(any::<bool>()),
        archive in proptest::option::of(any::<bool>()),
        early_media in proptest::option::of(any::<bool>()),
        extra in proptest::collection::vec(("X-[A-Za-z0-9_#-]{1,12}", value()), 0..4),
        history in proptest::collection::vec(record(), 0..4),
    ) -> CallFile {
        CallFile {
            channel,
            destination,
            caller_id,
            max_retries,
            retry_time,
            wait_time,
            account,
            codecs,
            // The value may start with a blank (it follows '='), but not end with one.
            variables: variables.into_iter().map(|(n, v)| (n, format!(" {v}").trim_end().to_owned())).collect(),
            always_delete,
            archive,
            early_media,
            extra,
            history,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn generated_call_files_round_trip(cf in valid_call_file()) {
        let text = cf.to_text();
        prop_assert!(text.is_ok(), "{:?} refused: {:?}", cf, text);
        let text = text.unwrap();
        prop_assert!(text.lines().all(|l| l.len() <= MAX_LINE_LEN));
        prop_assert_eq!(CallFile::parse(&text), Ok(cf.clone()));
        // CRLF files read the same.
        prop_assert_eq!(CallFile::parse(&text.replace('\n', "\r\n")), Ok(cf.clone()));
        fuzz_callfile(text.as_bytes());
    }

    #[test]
    fn parse_never_panics_on_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz_callfile(&data);
    }

    #[test]
    fn parse_never_panics_on_call_file_like_text(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("Channel: SIP/1".to_owned()),
                Just("Application: Echo".to_owned()),
                Just("Context: c".to_owned()),
                Just("Extension: s".to_owned()),
                "(Channel|Context|Extension|Priority|Application|Data|Set|Setvar|Callerid|MaxRetries|RetryTime|WaitTime|Account|Codecs|AlwaysDelete|Archive|early_media|StartRetry|Status|X-Y)[ ]?:[ \t]?[\\PC\r;#\\\\=/ ]{0,20}",
                "[\\PC\r\t ]{0,30}",
            ],
            0..12,
        ),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        fuzz_callfile(text.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary values: refused for a reason stated here, or round trip
// ---------------------------------------------------------------------------------------------

/// An independent statement of what makes a value unwritable: a control character other than
/// TAB, a blank (any byte below 33) at either end, or a `#` at the start or after a space or
/// tab.
fn value_unwritable(v: &str) -> bool {
    let b = v.as_bytes();
    b.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
        || b.first().is_some_and(|&c| c < 33)
        || b.last().is_some_and(|&c| c < 33)
        || b.iter()
            .enumerate()
            .any(|(i, &c)| c == b'#' && (i == 0 || matches!(b[i - 1], b' ' | b'\t')))
}

/// Not `Tech/Resource` (tech of letters, digits, `_`, `-`; non-empty resource; no blanks), or
/// an unwritable value.
fn channel_unwritable(c: &str) -> bool {
    let form_ok = c.split_once('/').is_some_and(|(tech, res)| {
        !tech.is_empty()
            && !res.is_empty()
            && tech
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    !form_ok || c.contains([' ', '\t']) || value_unwritable(c)
}

/// An empty name, or one with `=`, a blank or DEL.
fn var_name_unwritable(n: &str) -> bool {
    n.is_empty() || n.contains('=') || n.bytes().any(|b| b < 33 || b == 0x7f)
}

/// An empty extra key, or one starting with `#`, or with `:`, `;`, a blank or DEL.
fn extra_key_malformed(k: &str) -> bool {
    k.is_empty()
        || k.starts_with('#')
        || k.contains([':', ';'])
        || k.bytes().any(|b| b < 33 || b == 0x7f)
}

/// Whether the reader takes `key` for one of its own keys (it does not keep it as an extra).
fn pbx_spool_knows(key: &str) -> bool {
    CallFile::parse(&format!("Channel: A/b\nApplication: Echo\n{key}: 1\n"))
        .map_or(true, |cf| cf.extra.is_empty())
}

/// Mostly valid text (`valid`), sometimes with one troublesome character inserted, sometimes
/// anything from `wild`: both branches of the property below are taken often.
fn mostly(valid: &'static str, wild: &'static str) -> impl Strategy<Value = String> {
    let bad_char = prop_oneof![
        Just('\r'),
        Just('\n'),
        Just('\0'),
        Just('\x1b'),
        Just('\x7f'),
        Just('\t'),
        Just(' '),
        Just('#'),
        Just(';'),
        Just(':'),
        Just('='),
        Just('/'),
        any::<char>(),
    ];
    prop_oneof![
        4 => valid,
        1 => (valid, bad_char, any::<prop::sample::Index>()).prop_map(|(s, c, at)| {
            // Every byte index is a char boundary: the valid patterns are ASCII.
            let mut s = s;
            s.insert(at.index(s.len() + 1), c);
            s
        }),
        1 => wild,
    ]
}

#[test]
fn arbitrary_values_either_refused_or_round_trip() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;

    let strategy = (
        mostly(
            "[A-Za-z][A-Za-z0-9_-]{0,4}/[A-Za-z0-9@.;-]{1,8}",
            "\\PC{0,12}",
        ),
        mostly("[A-Za-z0-9,;\\\\]{0,20}", "[\\PC\t\r\n\0;#\\\\ ]{0,40}"),
        mostly("[A-Za-z_][A-Za-z0-9_]{0,7}", "[\\PC=\t ]{0,8}"),
        mostly("[A-Za-z0-9,;\\\\]{0,20}", "[\\PC\t\r\n;#\\\\ ]{0,20}"),
        mostly("X-[A-Za-z0-9]{1,6}", "[\\PC:;#\t ]{0,8}"),
    );
    let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(Config {
        cases: 512,
        ..Config::default()
    });
    runner
        .run(&strategy, |(channel, data, name, var, key)| {
            let cf = CallFile::to_application(channel.as_str(), "Echo", data.as_str())
                .variable(name.as_str(), var.as_str())
                .extra(key.as_str(), "v");
            match cf.to_text() {
                Ok(text) => {
                    accepted.set(accepted.get() + 1);
                    prop_assert!(!channel_unwritable(&channel), "accepted channel {channel:?}");
                    prop_assert!(!value_unwritable(&data), "accepted data {data:?}");
                    prop_assert!(!var_name_unwritable(&name), "accepted name {name:?}");
                    prop_assert!(!extra_key_malformed(&key), "accepted key {key:?}");
                    prop_assert_eq!(CallFile::parse(&text), Ok(cf));
                }
                Err(e) => {
                    refused.set(refused.get() + 1);
                    // The field the error names really is unwritable.
                    let named_field_is_bad = match &e {
                        CallFileError::InvalidValue { key: k, .. } if k == "Channel" => {
                            channel_unwritable(&channel)
                        }
                        CallFileError::InvalidValue { key: k, .. } if k == "Data" => {
                            value_unwritable(&data)
                        }
                        CallFileError::InvalidValue { key: k, .. } if k == "Set" => {
                            var_name_unwritable(&name) || value_unwritable(&format!("{name}={var}"))
                        }
                        CallFileError::InvalidExtraKey { key: k, .. } => {
                            *k == key && (extra_key_malformed(&key) || pbx_spool_knows(&key))
                        }
                        _ => false,
                    };
                    prop_assert!(
                        named_field_is_bad,
                        "{e:?} for channel {channel:?}, data {data:?}, {name:?}={var:?}, key {key:?}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    // Neither branch is vacuous.
    assert!(accepted.get() >= 50, "only {} accepted", accepted.get());
    assert!(refused.get() >= 50, "only {} refused", refused.get());
}
