//! Shared by the command's tests.
#![allow(dead_code, unreachable_pub)]

use std::process::{Command, Stdio};

/// Every variable the command reads from the environment, so that a developer's own
/// settings (an `AMI_URL` in the shell, say) never steer a test.
const ENV: &[&str] = &[
    "AMI_HOST",
    "AMI_PORT",
    "AMI_URL",
    "AMI_USERNAME",
    "AMI_SECRET",
    "AMI_TLS",
    "AMI_TLS_CA",
    "AMI_TLS_SERVER_NAME",
    "AMI_CONFIG",
    "AMI_TIMEOUT",
    "AMIWIRE_CLICK2CALL_TOKEN",
];

/// The `amiwire` binary with none of the command's environment variables and no stdin.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amiwire"));
    for k in ENV {
        c.env_remove(k);
    }
    c.stdin(Stdio::null());
    c
}
