//! `ferry env`: the shell lines that point the `metaflow` client (a notebook, a script) at the
//! stack `ferry` targets, for `eval "$(ferry env)"`.
//!
//! - Embedded stack: `export` lines of the five variables `ferry up` prints
//!   (`METAFLOW_DEFAULT_METADATA`, `METAFLOW_SERVICE_URL`, `METAFLOW_DEFAULT_DATASTORE`,
//!   `METAFLOW_DATASTORE_SYSROOT_LOCAL`, and `METAFLOW_ARGO_EVENTS_WEBHOOK_URL` so Metaflow's
//!   `ArgoEvent(...).publish()` reaches the stack's events route), from `<home>/stack.json` while the stack runs, else
//!   what `ferry up` will use on that home (the port it used last, else 8765), with a note on
//!   stderr. Environment variables win over every Metaflow config file
//!   (`metaflow/metaflow_config_funcs.py`: environment, then `config_<profile>.json`), so the
//!   user's own `~/.metaflowconfig` is neither read for these five nor changed.
//! - AWS (`ferry configure`): `export METAFLOW_PROFILE=<profile>` (the named profile
//!   `ferry configure` wrote, default `ferry`), after `unset` of the five variables above, which
//!   would override the profile.
//!
//! Nothing is written anywhere. Values are quoted for POSIX shells (sh, bash, zsh).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use crate::context::{Context, Target};
use crate::failure::{ErrorKind, Failure};

/// Arguments of `ferry env`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  eval \"$(ferry env)\"                    # this shell's metaflow reads the stack's runs\n  eval \"$(ferry env)\"; jupyter lab       # and so do the notebooks started from it\n  ferry env --home /tmp/ferry-demo       # the stack of another home\n  ferry env --json                       # {\"target\", \"env\", \"unset\", \"stack_running\"}"
)]
pub struct EnvArgs {}

/// The Metaflow profile `ferry configure` writes unless told another name.
pub const DEFAULT_PROFILE: &str = "ferry";

/// The client environment variables of the embedded stack (what `ferry env` unsets for AWS).
const LOCAL_VARIABLES: [&str; 5] = [
    "METAFLOW_DEFAULT_METADATA",
    "METAFLOW_SERVICE_URL",
    "METAFLOW_DEFAULT_DATASTORE",
    "METAFLOW_DATASTORE_SYSROOT_LOCAL",
    "METAFLOW_ARGO_EVENTS_WEBHOOK_URL",
];

/// Run `ferry env`.
pub async fn run(ctx: &Context, _args: EnvArgs) -> anyhow::Result<ExitCode> {
    let (env, unset, running) = match &ctx.target {
        Target::Local => {
            let (env, running) = local_env(&ctx.home)?;
            (env, Vec::new(), Some(running))
        }
        Target::Aws(aws) => {
            let profile = aws
                .extra
                .get("metaflow_profile")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_PROFILE)
                .to_string();
            let dir = crate::cmd::configure::metaflow_home()?;
            let file = dir.join(format!("config_{profile}.json"));
            if !file.is_file() {
                return Err(Failure::new(
                    ErrorKind::NotFound,
                    format!(
                        "there is no Metaflow profile {profile} ({} is missing): run `ferry configure --from-stack FILE` again (with the METAFLOW_HOME you use now)",
                        file.display()
                    ),
                ));
            }
            let unset = LOCAL_VARIABLES.iter().map(|v| v.to_string()).collect();
            (vec![("METAFLOW_PROFILE".to_string(), profile)], unset, None)
        }
    };
    if ctx.json {
        let obj: Map<String, Value> = env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let target = match ctx.target {
            Target::Local => "local",
            Target::Aws(_) => "aws",
        };
        println!(
            "{}",
            json!({"target": target, "env": obj, "unset": unset, "stack_running": running})
        );
        return Ok(ExitCode::SUCCESS);
    }
    if running == Some(false) {
        eprintln!(
            "ferry: no stack is running on {}; these are the values `ferry up --home {}` will use",
            ctx.home.display(),
            ctx.home.display()
        );
    }
    for name in &unset {
        println!("unset {name}");
    }
    for (k, v) in &env {
        println!("export {k}={}", shell_quote(v));
    }
    Ok(ExitCode::SUCCESS)
}

/// The client environment of the embedded stack of `home`, and whether it runs now.
fn local_env(home: &Path) -> anyhow::Result<(Vec<(String, String)>, bool)> {
    if let Some(info) = ferry_local::stack::read_stack_file(home) {
        return Ok((ferry_local::stack::client_env(&info), true));
    }
    if !home.is_dir() {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!(
                "{} is not a Ferry home (no such folder): check --home / FERRY_HOME, or start a stack there with `ferry up --home {}`",
                home.display(),
                home.display()
            ),
        ));
    }
    let home = home
        .canonicalize()
        .with_context(|| format!("resolving {}", home.display()))?;
    let port = ferry_local::stack::last_port(&home).unwrap_or(ferry_local::stack::DEFAULT_PORT);
    let env = ferry_local::stack::client_env_at(
        &format!("http://127.0.0.1:{port}"),
        &ferry_local::home::Home::new(&home).datastore(),
    );
    Ok((env, false))
}

/// `value` as one word of a POSIX shell: as is when it has only safe characters, else in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_values_one_word() {
        assert_eq!(
            shell_quote("http://127.0.0.1:8765"),
            "http://127.0.0.1:8765"
        );
        assert_eq!(shell_quote("/home/a b/datastore"), "'/home/a b/datastore'");
        assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
        assert_eq!(shell_quote(""), "''");
    }
}
