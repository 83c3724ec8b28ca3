//! GetConfig, ModuleCheck and Reload beyond what recording 05 shows.
use amiwire::Message;
use amiwire_sim::server::{SimConfig, Simulator};
use support::{by_id, has_id, Client};

mod support;

/// Logs in, sends `actions`, and returns the answers to the ActionIDs `ids`, in order.
async fn ask(actions: &str, ids: &[&str]) -> Vec<Message> {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut c = Client::connect(sim.addr()).await;
    c.send(format!(
        "Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n{actions}"
    ))
    .await;
    let last = ids[ids.len() - 1];
    c.read_until(|m| has_id(m, last)).await;
    sim.stop().await;
    ids.iter().map(|id| by_id(&c.got, id).clone()).collect()
}

#[tokio::test]
async fn getconfig_modulecheck_reload() {
    let got = ask(
        "Action: GetConfig\r\nActionID: a\r\n\r\n\
         Action: GetConfig\r\nActionID: b\r\nFilename: nosuch.conf\r\n\r\n\
         Action: GetConfig\r\nActionID: c\r\nFilename: queues.conf\r\nCategory: support\r\n\r\n\
         Action: GetConfig\r\nActionID: d\r\nFilename: queues.conf\r\nCategory: nosuch\r\n\r\n\
         Action: ModuleCheck\r\nActionID: e\r\nModule: app_queue.so\r\n\r\n\
         Action: ModuleCheck\r\nActionID: f\r\nModule: chan_sip\r\n\r\n\
         Action: Reload\r\nActionID: g\r\n\r\n\
         Action: Reload\r\nActionID: h\r\nModule: app_queue\r\n\r\n",
        &["a", "b", "c", "d", "e", "f", "g", "h"],
    )
    .await;
    let msg = |i: usize| got[i].get_str("Message").map(str::to_owned);
    assert_eq!(msg(0).as_deref(), Some("Filename not specified"));
    assert_eq!(msg(1).as_deref(), Some("Config file not found"));
    assert_eq!(got[2].get_str("Category-000000"), Some("support"));
    assert_eq!(
        got[2].get_str("Line-000000-000000"),
        Some("strategy=ringall")
    );
    assert!(got[2].get("Category-000001").is_none());
    // "No categories found" is a line without a colon.
    assert_eq!(
        got[3].as_bytes(),
        b"Response: Success\r\nActionID: d\r\nNo categories found\r\n\r\n"
    );
    assert_eq!(got[4].get_str("Version"), Some(""));
    assert_eq!(msg(5).as_deref(), Some("Module not loaded"));
    assert_eq!(msg(6).as_deref(), Some("Module Reloaded"));
    assert_eq!(msg(7).as_deref(), Some("Module Reloaded"));
}
