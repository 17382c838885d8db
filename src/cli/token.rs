//! `gatehouse token mint`: a local test token, only from an issuer configured with a dev key.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use crate::auth::{MintRequest, mint_dev_token};
use crate::config::Config;
use crate::domain::ActorType;

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token signed by a locally configured dev issuer key (`dev_private_key_file`).
    Mint {
        /// Issuer (must be configured under [[auth.issuers]] with `dev_private_key_file`).
        #[arg(long)]
        issuer: String,
        /// Subject (actor id).
        #[arg(long)]
        sub: String,
        /// Mint a service-account token instead of a user token.
        #[arg(long)]
        service_account: bool,
        /// Project roles as `PROJECT=ROLE[,ROLE…]`; repeatable.
        #[arg(long = "project", value_name = "PROJECT=ROLES")]
        projects: Vec<String>,
        /// Platform role such as `security_admin`; repeatable.
        #[arg(long = "platform-role")]
        platform_roles: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// Audience (defaults to the issuer's configured audience).
        #[arg(long)]
        audience: Option<String>,
    },
}

fn parse_projects(raw: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in raw {
        let Some((project, roles)) = item.split_once('=') else {
            bail!("`--project {item}`: expected PROJECT=ROLE[,ROLE…]");
        };
        out.entry(project.to_owned())
            .or_default()
            .extend(roles.split(',').map(str::to_owned));
    }
    Ok(out)
}

/// Runs a token subcommand.
pub fn run(config: &Config, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let TokenCommand::Mint {
        issuer,
        sub,
        service_account,
        projects,
        platform_roles,
        ttl,
        audience,
    } = command;
    let request = MintRequest {
        issuer,
        subject: sub,
        actor_type: if service_account {
            ActorType::ServiceAccount
        } else {
            ActorType::User
        },
        projects: parse_projects(&projects)?,
        platform_roles,
        ttl_seconds: ttl,
        audience,
    };
    let token = mint_dev_token(&config.auth, Path::new("."), &request)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
