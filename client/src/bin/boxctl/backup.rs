//! The backup subcommands of boxctl: `backup` (every group from its leader into a directory, see
//! `boxoffice_client::backup`) and `check-restore` (a restored cluster's replicas against it).

use std::path::PathBuf;

use anyhow::Context;
use boxoffice_client::backup::{self, Taken};
use serde_json::json;

use crate::{Exit, Global};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The backup directory: created if missing; it must be empty, or hold a complete backup
    /// (then nothing is done).
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CheckRestoreArgs {
    /// The backup directory the cluster was restored from.
    dir: PathBuf,
}

pub async fn take(global: &Global, args: BackupArgs) -> anyhow::Result<Exit> {
    let client = global.client()?;
    let taken = backup::take(&client, &args.dir, |line| eprintln!("backup: {line}"))
        .await
        .with_context(|| format!("backup into {}", args.dir.display()))?;
    let (manifest, new) = match taken {
        Taken::New(manifest) => (manifest, true),
        Taken::AlreadyComplete(manifest) => {
            eprintln!(
                "backup: {} already holds a complete backup (taken at {} ms since the epoch): nothing to do",
                args.dir.display(),
                manifest.taken_at_ms
            );
            (manifest, false)
        }
    };
    if global.json {
        let groups: Vec<_> = manifest
            .groups
            .iter()
            .map(|g| {
                json!({
                    "group": g.group, "applied_index": g.applied_index, "data_hash": g.data_hash,
                    "entries": g.entries, "bytes": g.bytes, "exported_by": g.exported_by,
                    "took_ms": g.took_ms,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "result": if new { "taken" } else { "already_complete" },
                "dir": args.dir.display().to_string(),
                "taken_at_ms": manifest.taken_at_ms,
                "took_ms": manifest.took_ms,
                "bytes": manifest.bytes(),
                "groups": groups,
            })
        );
    } else {
        println!(
            "{} backup in {}: {} group(s), {} bytes, took {} ms",
            if new { "new" } else { "existing" },
            args.dir.display(),
            manifest.groups.len(),
            manifest.bytes(),
            manifest.took_ms
        );
    }
    Ok(Exit::Ok)
}

pub async fn check_restore(global: &Global, args: CheckRestoreArgs) -> anyhow::Result<Exit> {
    let client = global.client()?;
    let checks = backup::check_restore(&client, &args.dir)
        .await
        .with_context(|| format!("check against {}", args.dir.display()))?;
    let ok = checks.iter().all(backup::ReplicaCheck::matches);
    if global.json {
        let rows: Vec<_> = checks
            .iter()
            .map(|c| {
                let (applied, hash, error) = match &c.audited {
                    Ok((applied, hash)) => (Some(*applied), Some(hash.clone()), None),
                    Err(error) => (None, None, Some(error.clone())),
                };
                json!({
                    "group": c.group, "node_id": c.node_id, "applied_index": applied,
                    "data_hash": hash, "expected": c.expected, "violation": c.violation,
                    "error": error, "matches": c.matches(),
                })
            })
            .collect();
        println!("{}", json!({ "ok": ok, "replicas": rows }));
    } else {
        println!(
            "{:<6} {:<5} {:>9} {:<34} RESULT",
            "GROUP", "NODE", "APPLIED", "DATA HASH"
        );
        for c in &checks {
            match &c.audited {
                Ok((applied, hash)) => println!(
                    "{:<6} {:<5} {:>9} {:<34} {}",
                    c.group,
                    c.node_id,
                    applied,
                    hash,
                    if !c.violation.is_empty() {
                        format!("VIOLATION: {}", c.violation)
                    } else if c.matches() {
                        "same as the backup".to_string()
                    } else {
                        format!("DIFFERS from the backup's {}", c.expected)
                    }
                ),
                Err(error) => println!("{:<6} {:<5} unreachable: {error}", c.group, c.node_id),
            }
        }
        if ok {
            println!(
                "restore check OK: {} replica(s) hold the backup's data and pass the audit",
                checks.len()
            );
        } else {
            println!(
                "restore check FAILED: a replica differs from the backup, fails the audit or did \
                 not answer (a group that applied commands since the restore, such as expiry \
                 sweeps, differs too: check before the cluster takes traffic)"
            );
        }
    }
    Ok(if ok { Exit::Ok } else { Exit::Failed })
}
