//! Tests of `amiwire_sim::dialplan`: the built-in extensions.conf, priorities and labels,
//! pattern lookup, argument splitting, errors with line numbers, robustness.

use amiwire_sim::accounts::conf::ConfError;
use amiwire_sim::dialplan::{
    split_args, split_args_limited, Dialplan, DialplanError, DEFAULT_EXTENSIONS_CONF,
};
use support::{arbitrary_texts, XorShift};

mod support;

fn parse_err(text: &str) -> DialplanError {
    match Dialplan::parse(text) {
        Ok(d) => panic!("parsed but should not: {d:?}"),
        Err(e) => e,
    }
}

/// (extension, [(priority, app, args)]) of a context, in order.
type Listing = Vec<(String, Vec<(u32, String, String)>)>;

fn listing(dp: &Dialplan, context: &str) -> Listing {
    dp.context(context)
        .unwrap()
        .extensions()
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.steps()
                    .iter()
                    .map(|s| (s.priority, s.app.clone(), s.args.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// (extension, [(priority, app, args)]) rows written in the test.
type Rows<'a> = &'a [(&'a str, &'a [(u32, &'a str, &'a str)])];

fn expect(rows: Rows<'_>) -> Listing {
    rows.iter()
        .map(|(e, steps)| {
            (
                e.to_string(),
                steps
                    .iter()
                    .map(|(p, a, d)| (*p, a.to_string(), d.to_string()))
                    .collect(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The built-in dialplan
// ---------------------------------------------------------------------------------------------

#[test]
fn default_is_etc_extensions_conf() {
    let dp = Dialplan::default();
    assert_eq!(dp, Dialplan::parse(DEFAULT_EXTENSIONS_CONF).unwrap());
    assert_eq!(
        dp.general(),
        [
            ("static".to_owned(), "yes".to_owned()),
            ("writeprotect".to_owned(), "yes".to_owned())
        ]
    );
    assert_eq!(
        dp.globals(),
        [("TESTGLOBAL".to_owned(), "initial".to_owned())]
    );
    assert_eq!(dp.global("TESTGLOBAL"), Some("initial"));
    assert_eq!(dp.global("testglobal"), None);
    let names: Vec<&str> = dp.contexts().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["test"]);
    assert!(dp.has_context("test"));
    assert!(!dp.has_context("Test"));
    assert!(!dp.has_context("general") && !dp.has_context("globals"));

    let (h, a) = (("Hangup", ""), ("Answer", ""));
    let hang = |p: u32| (p, h.0, h.1);
    let answer = (1, a.0, a.1);
    let want = expect(&[
        (
            "s",
            &[
                (1, "NoOp", "test s extension"),
                (2, "Answer", ""),
                (3, "Wait", "1"),
                hang(4),
            ],
        ),
        ("100", &[answer, (2, "Wait", "2"), hang(3)]),
        ("110", &[answer, (2, "Wait", "0.5"), hang(3)]),
        ("200", &[(1, "Dial", "Local/100@test,10"), hang(2)]),
        (
            "210",
            &[
                (1, "Set", "CALLNUM=${RAND(1,99999)}"),
                (2, "Dial", "Local/110@test,10"),
                hang(3),
            ],
        ),
        (
            "300",
            &[
                answer,
                (2, "Set", "FOO=bar"),
                (3, "UserEvent", "MyEvent,Foo: bar,Other: baz"),
                (4, "Wait", "1"),
                hang(5),
            ],
        ),
        ("400", &[answer, (2, "Queue", "support,r,,,20"), hang(3)]),
        (
            "500",
            &[
                answer,
                (2, "ConfBridge", "1234,default_bridge,quiet_user"),
                hang(3),
            ],
        ),
        ("600", &[answer, (2, "Wait", "30"), hang(3)]),
        (
            "700",
            &[
                answer,
                (2, "UserEvent", "Redirected,Where: 700"),
                (3, "Wait", "3"),
                hang(4),
            ],
        ),
        ("800", &[answer, (2, "AgentLogin", "1001,s"), hang(3)]),
    ]);
    assert_eq!(listing(&dp, "test"), want);

    // Lookups and steps.
    let e = dp.lookup("test", "300").unwrap();
    assert_eq!(e.name, "300");
    assert!(!e.is_pattern() && e.callerid.is_none() && e.hint.is_none());
    let ue = e.step(3).unwrap();
    assert_eq!(ue.split_args(), ["MyEvent", "Foo: bar", "Other: baz"]);
    assert_eq!(ue.line, 38);
    assert!(ue.label.is_none());
    assert!(e.step(0).is_none() && e.step(6).is_none());
    assert_eq!(
        dp.lookup("test", "200")
            .unwrap()
            .step(1)
            .unwrap()
            .split_args(),
        ["Local/100@test", "10"]
    );
    assert_eq!(
        dp.lookup("test", "110")
            .unwrap()
            .step(2)
            .unwrap()
            .split_args(),
        ["0.5"]
    );
    assert_eq!(
        dp.lookup("test", "300")
            .unwrap()
            .step(2)
            .unwrap()
            .split_args(),
        ["FOO=bar"]
    );
    assert_eq!(
        dp.lookup("test", "210")
            .unwrap()
            .step(1)
            .unwrap()
            .split_args(),
        ["CALLNUM=${RAND(1,99999)}"]
    );
    assert!(dp.lookup("test", "999").is_none());
    assert!(dp.lookup("nosuch", "100").is_none());
    assert!(dp.context("test").unwrap().extension("s").is_some());
}

// ---------------------------------------------------------------------------------------------
// Priorities, labels, applications
// ---------------------------------------------------------------------------------------------

#[test]
fn priorities_and_labels() {
    let text = "\
[ctx]
exten => 1,1(start),NoOp(one)
  same => n(two),NoOp(two)
same=>n,NoOp(three)
exten => 1,10,NoOp(ten)
exten => 1,start+5,NoOp(six)
exten => 1,two+2x,NoOp(four: plus read by atoi)
exten => 2,n,NoOp(priority 5: n follows the last line of the section)
exten => 2,s,NoOp(never: same priority again)
";
    // The last line reuses priority 5 of extension 2.
    let e = parse_err(text);
    assert!(
        matches!(
            e,
            DialplanError::DuplicatePriority {
                line: 9,
                priority: 5,
                first: 8,
                ..
            }
        ),
        "{e:?}"
    );
    let dp = Dialplan::parse(&text.replace("exten => 2,s,", "exten => 3,s,")).unwrap();
    let one = dp.lookup("ctx", "1").unwrap();
    let prios: Vec<(u32, Option<&str>, &str)> = one
        .steps()
        .iter()
        .map(|s| (s.priority, s.label.as_deref(), s.args.as_str()))
        .collect();
    assert_eq!(
        prios,
        [
            (1, Some("start"), "one"),
            (2, Some("two"), "two"),
            (3, None, "three"),
            (4, None, "four: plus read by atoi"),
            (6, None, "six"),
            (10, None, "ten"),
        ]
    );
    assert_eq!(one.priority_of_label("two"), Some(2));
    assert_eq!(one.priority_of_label("TWO"), None);
    assert_eq!(dp.lookup("ctx", "2").unwrap().steps()[0].priority, 5);
    assert_eq!(dp.lookup("ctx", "3").unwrap().steps()[0].priority, 5);
}

#[test]
fn applications_and_hints() {
    let text = "\
[c]
exten => 100,hint,PJSIP/100&Local/100@c
exten => 100,1,Answer
exten => 100,n,   Playback(hello)   
exten => 100,n,Dial(PJSIP/${EXTEN},,tT) ; comment
exten => 100,n,GotoIf($[${X} = 1]?yes:no)
exten => 100,n,NoOp(a(b)c) trailing
exten => 100,n,${APP}(arg)
exten => 100,n,Set(LIST=a\\;b)
exten => 100,n
exten => 101/5551234,1,NoOp(cid)
exten => _[1,2]X,1,NoOp(comma in a set)
";
    let dp = Dialplan::parse(text).unwrap();
    let e = dp.lookup("c", "100").unwrap();
    assert_eq!(e.hint.as_deref(), Some("PJSIP/100&Local/100@c"));
    let steps: Vec<(u32, &str, &str)> = e
        .steps()
        .iter()
        .map(|s| (s.priority, s.app.as_str(), s.args.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (1, "Answer", ""),
            (2, "Playback", "hello"),
            (3, "Dial", "PJSIP/${EXTEN},,tT"),
            (4, "GotoIf", "$[${X} = 1]?yes:no"),
            (5, "NoOp", "a(b)c"),
            (6, "${APP}(arg)", ""),
            (7, "Set", "LIST=a;b"),
            (8, "", ""),
        ]
    );
    assert_eq!(
        e.step(3).unwrap().split_args(),
        ["PJSIP/${EXTEN}", "", "tT"]
    );
    // Caller-ID variants are separate extensions, not found by a plain lookup.
    let ctx = dp.context("c").unwrap();
    let cid = &ctx.extensions()[1];
    assert_eq!(
        (cid.name.as_str(), cid.callerid.as_deref()),
        ("101", Some("5551234"))
    );
    assert!(dp.lookup("c", "101").is_none());
    assert!(ctx.extension("101").is_none());
    assert_eq!(ctx.extensions()[2].name, "_[1,2]X");
    assert_eq!(dp.lookup("c", "27").unwrap().name, "_[1,2]X");
    assert_eq!(dp.lookup("c", ",7").unwrap().name, "_[1,2]X");
}

#[test]
fn contexts_merge_templates_includes_globals() {
    let text = "\
[globals]
A = 1
B=2
A = 3
[tmpl](!)
exten => t,1,NoOp(from template)
[one](tmpl)
exten => 1,1,NoOp(one)
include => two
include => loop,09:00-17:00,*,*,*
ignorepat => 9
switch => IAX2/user:[key]@server/context
[two]
exten => 2,1,NoOp(two)
exten => _3X,1,NoOp(pattern in two)
[loop]
include => one
[one]
exten => 1,2,NoOp(one again)
[One]
exten => 1,1,NoOp(another context)
[GLOBALS]
C = ignored: only the first [globals] counts
";
    let dp = Dialplan::parse(text).unwrap();
    assert_eq!(
        dp.globals(),
        [
            ("A".to_owned(), "3".to_owned()),
            ("B".to_owned(), "2".to_owned())
        ]
    );
    let names: Vec<&str> = dp.contexts().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["one", "two", "loop", "One"]);
    let one = dp.context("one").unwrap();
    assert_eq!(one.line, 7);
    assert_eq!(one.includes, ["two", "loop,09:00-17:00,*,*,*"]);
    assert_eq!(one.ignorepats, ["9"]);
    assert_eq!(
        one.switches,
        [(
            "switch".to_owned(),
            "IAX2/user:[key]@server/context".to_owned()
        )]
    );
    assert_eq!(
        dp.lookup("one", "t").unwrap().step(1).unwrap().args,
        "from template"
    );
    assert_eq!(dp.lookup("one", "1").unwrap().steps().len(), 2);
    assert_eq!(dp.lookup("One", "1").unwrap().steps().len(), 1);
    // Includes, depth first, loops cut.
    assert_eq!(dp.lookup("one", "2").unwrap().name, "2");
    assert_eq!(dp.lookup("one", "35").unwrap().name, "_3X");
    assert_eq!(dp.lookup("loop", "2").unwrap().name, "2");
    assert!(dp.lookup("loop", "4").is_none());
    assert!(dp.lookup("two", "1").is_none());
}

#[test]
fn pattern_matching_and_order() {
    let text = "\
[p]
exten => _X.,1,NoOp(any)
exten => _1XX,1,NoOp(1xx)
exten => _1[0-4]X,1,NoOp(10x-14x)
exten => 123,1,NoOp(literal)
exten => _NXXNXXXXXX,1,NoOp(nanp)
exten => _9!,1,NoOp(nine and anything)
exten => _Z,1,NoOp(one digit)
exten => _55-5X,1,NoOp(dashes)
exten => _a.,1,NoOp(letters)
";
    let dp = Dialplan::parse(text).unwrap();
    let who = |e: &str| dp.lookup("p", e).map(|x| x.name.clone());
    assert_eq!(who("123").as_deref(), Some("123"));
    assert_eq!(who("124").as_deref(), Some("_1[0-4]X"));
    assert_eq!(who("154").as_deref(), Some("_1XX"));
    assert_eq!(who("2125551212").as_deref(), Some("_NXXNXXXXXX"));
    assert_eq!(who("1125551212").as_deref(), Some("_X."));
    assert_eq!(who("9").as_deref(), Some("_9!"));
    assert_eq!(who("9123").as_deref(), Some("_9!"));
    assert_eq!(who("7").as_deref(), Some("_Z"));
    assert_eq!(who("0"), None);
    assert_eq!(who("00").as_deref(), Some("_X."));
    assert_eq!(who("5551").as_deref(), Some("_55-5X"));
    assert_eq!(who("55-51").as_deref(), Some("_55-5X"));
    assert_eq!(who("ab").as_deref(), Some("_a."));
    assert_eq!(who("a"), None);
    assert_eq!(who("A1"), None);
    assert_eq!(who(""), None);
    let ctx = dp.context("p").unwrap();
    assert!(ctx.extensions()[0].matches("12"));
    assert!(!ctx.extensions()[0].matches("1"));
    assert!(ctx.extension("123").unwrap().matches("123"));
    assert!(!ctx.extension("123").unwrap().matches("1234"));
}

// ---------------------------------------------------------------------------------------------
// Argument splitting
// ---------------------------------------------------------------------------------------------

#[test]
fn split_args_like_ast_standard_app_args() {
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        ("a", &["a"]),
        ("Local/100@test,10", &["Local/100@test", "10"]),
        ("0.5", &["0.5"]),
        ("FOO=bar", &["FOO=bar"]),
        (
            "MyEvent,Foo: bar,Other: baz",
            &["MyEvent", "Foo: bar", "Other: baz"],
        ),
        ("support,r,,,20", &["support", "r", "", "", "20"]),
        (",", &["", ""]),
        ("a,", &["a", ""]),
        (",a", &["", "a"]),
        (" a , b ", &[" a ", " b "]),
        ("\"a,b\",c", &["a,b", "c"]),
        ("x\"y\"z", &["xyz"]),
        ("f(a,b),c", &["f(a,b)", "c"]),
        ("f(a,(b,c)),d", &["f(a,(b,c))", "d"]),
        ("$[1,2],3", &["$[1,2]", "3"]),
        ("a\\,b,c", &["a,b", "c"]),
        ("a\\\\,b", &["a\\", "b"]),
        ("a\\", &["a"]),
        ("a),b", &["a)", "b"]),
        ("\"(\",x", &["(,x"]),
        ("\"unclosed,x", &["unclosed,x"]),
        ("é,ü", &["é", "ü"]),
        ("a\0,b", &["a"]),
    ];
    for (input, want) in cases {
        assert_eq!(split_args(input), *want, "split_args({input:?})");
    }
    // An application declaring 2 arguments gets the rest, unprocessed, in the second.
    assert_eq!(split_args_limited("a,\"b\",c", 2), ["a", "\"b\",c"]);
    assert_eq!(split_args_limited("a,b", 2), ["a", "b"]);
    assert_eq!(split_args_limited("a,", 2), ["a", ""]);
    assert_eq!(split_args_limited("a,b,c", 1), ["a,b,c"]);
    assert!(split_args_limited("a,b", 0).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Errors, with their line numbers
// ---------------------------------------------------------------------------------------------

#[test]
fn errors_have_line_numbers() {
    type Case = (&'static str, usize, fn(&DialplanError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "[c]\nsame => n,NoOp()\n",
            2,
            |e| matches!(e, DialplanError::SameWithoutExten { context, .. } if context == "c"),
        ),
        ("[c]\nexten => ,1,NoOp()\n", 2, |e| {
            matches!(e, DialplanError::EmptyExtension { .. })
        }),
        ("[c]\nexten => 1,1(lbl,NoOp()\n", 2, |e| {
            matches!(e, DialplanError::UnclosedLabel { .. })
        }),
        (
            "[c]\n\nexten => 1,n,NoOp()\n",
            3,
            |e| matches!(e, DialplanError::NoPreviousPriority { priority, .. } if priority == "n"),
        ),
        (
            "[c]\nexten => 1,1,NoOp()\n[c]\nexten => 1,s,NoOp()\n",
            4,
            |e| matches!(e, DialplanError::NoPreviousPriority { .. }),
        ),
        ("[c]\nexten => 1,0,NoOp()\n", 2, |e| {
            matches!(e, DialplanError::InvalidPriority { .. })
        }),
        ("[c]\nexten => 1,-3,NoOp()\n", 2, |e| {
            matches!(e, DialplanError::InvalidPriority { .. })
        }),
        ("[c]\nexten => 1,nolabel,NoOp()\n", 2, |e| {
            matches!(e, DialplanError::InvalidPriority { .. })
        }),
        ("[c]\nexten => 1\n", 2, |e| {
            matches!(e, DialplanError::InvalidPriority { .. })
        }),
        ("[c]\nexten => 1,hint,X\nexten => 1,n,NoOp()\n", 3, |e| {
            matches!(e, DialplanError::InvalidPriority { .. })
        }),
        ("[c]\nexten => 1,4294967296,NoOp()\n", 2, |e| {
            matches!(e, DialplanError::InvalidPriority { .. })
        }),
        ("[c]\nexten => 1,1,NoOp(open\n", 2, |e| {
            matches!(e, DialplanError::UnclosedArguments { .. })
        }),
        (
            "[c]\nexten => 1,1,NoOp()\n\nexten => 1,1,NoOp()\n",
            4,
            |e| {
                matches!(
                    e,
                    DialplanError::DuplicatePriority {
                        first: 2,
                        priority: 1,
                        ..
                    }
                )
            },
        ),
        ("[c]\nexten => 1,hint,A\nexten => 1,hint,B\n", 3, |e| {
            matches!(e, DialplanError::DuplicateHint { .. })
        }),
        (
            "[c]\nexten => 1,1(x),NoOp()\nexten => 1,2(x),NoOp()\n",
            3,
            |e| matches!(e, DialplanError::DuplicateLabel { priority: 1, .. }),
        ),
        (
            "[c]\nexten => 1,1,NoOp()\nfoo => bar\n",
            3,
            |e| matches!(e, DialplanError::UnknownDirective { key, .. } if key == "foo"),
        ),
        ("exten => 1,1,NoOp()\n", 1, |e| {
            matches!(e, DialplanError::Syntax(ConfError::OutsideSection { .. }))
        }),
        ("[c]\n#include more.conf\n", 2, |e| {
            matches!(
                e,
                DialplanError::Syntax(ConfError::UnsupportedDirective { .. })
            )
        }),
        ("[c\n", 1, |e| {
            matches!(e, DialplanError::Syntax(ConfError::UnclosedSection { .. }))
        }),
    ];
    for (text, line, check) in cases {
        let e = parse_err(text);
        assert_eq!(e.line(), line, "{text:?}: {e}");
        assert!(check(&e), "{text:?}: {e:?}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
}

#[test]
fn empty_and_minimal_files() {
    for t in ["", "\n", "; nothing\n", "[general]\n", "[globals]\n"] {
        let dp = Dialplan::parse(t).unwrap();
        assert!(dp.contexts().is_empty());
    }
    let dp = Dialplan::parse("[empty]\n").unwrap();
    assert!(dp.has_context("empty"));
    assert!(dp.context("empty").unwrap().extensions().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

fn exercise(text: &str) {
    if let Ok(dp) = Dialplan::parse(text) {
        let names: Vec<String> = dp.contexts().iter().map(|c| c.name.clone()).collect();
        for c in &names {
            for probe in ["1", "123", "s", "", "a-b", "9999"] {
                if let Some(e) = dp.lookup(c, probe) {
                    for s in e.steps() {
                        let _ = s.split_args();
                    }
                }
            }
        }
    }
    let _ = split_args(text);
    let _ = split_args_limited(text, 3);
}

#[test]
fn arbitrary_input_never_panics() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    // Raw bytes, then config-shaped text.
    let pieces = [
        "[",
        "]",
        "(",
        ")",
        "!",
        "+",
        ",",
        "=",
        "=>",
        ";",
        "\\",
        "\"",
        "#",
        "\n",
        " ",
        "c",
        "general",
        "globals",
        "exten",
        "same",
        "include",
        "switch",
        "ignorepat",
        "hint",
        "n",
        "s",
        "1",
        "2",
        "-1",
        "0",
        "_",
        "X",
        "N",
        "Z",
        ".",
        "[1-3]",
        "-",
        "/",
        "lbl",
        "NoOp",
        "Dial",
        "${",
        "$[",
        "é",
        "\0",
    ];
    arbitrary_texts(&mut rng, &pieces, exercise);
    // Patterns against dialled numbers.
    let pat = [
        "_", "X", "Z", "N", "[", "]", "-", "0", "5", "9", ".", "!", "a", "/",
    ];
    for _ in 0..20000 {
        let mut p = String::from("_");
        for _ in 0..rng.below(8) {
            p.push_str(pat[rng.below(pat.len())]);
        }
        let text = format!("[c]\nexten => {p},1,NoOp()\n");
        if let Ok(dp) = Dialplan::parse(&text) {
            let mut d = String::new();
            for _ in 0..rng.below(6) {
                d.push_str(pat[rng.below(pat.len())]);
            }
            if let Some(e) = dp.lookup("c", &d) {
                assert!(e.matches(&d));
            }
        }
    }
}
