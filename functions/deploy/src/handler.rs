//! One Lambda invocation: every deploy request an S3 event announces, handled in order by the
//! deploy use case.

use aws_lambda_events::event::s3::S3Event;
use ferry_deploy::{DeployContext, DeployError};
use serde_json::{Value, json};

/// Handle the requests of `event` (keys under `blob_prefix`). Returns a summary
/// `{"handled": [{"key", "status"}], "busy": [keys another delivery holds], "skipped": n}`.
/// An error (a store that cannot be reached) makes Lambda retry the whole event; requests
/// already handled answer from their stored result then.
pub async fn handle_event(
    ctx: &DeployContext,
    blob_prefix: &str,
    event: &S3Event,
) -> Result<Value, DeployError> {
    let (keys, skipped) = crate::event::request_keys(event, blob_prefix);
    for (key, why) in &skipped {
        tracing::info!(key = %key, reason = %why, "skipped");
    }
    let mut handled = Vec::new();
    let mut busy = Vec::new();
    for key in keys {
        let k = key.key();
        match ferry_deploy::handle_request_key(ctx, &k).await? {
            Some(result) => {
                tracing::info!(key = %k, status = ?result.status, "handled");
                handled.push(json!({"key": k, "status": result.status}));
            }
            None => {
                tracing::info!(key = %k, "another delivery is handling it");
                busy.push(k);
            }
        }
    }
    Ok(json!({"handled": handled, "busy": busy, "skipped": skipped.len()}))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use ferry_deploy::keys::{code_package_key, request_key, result_key, sha256_hex, spec_key};
    use ferry_deploy::{
        BlobRef, DeployOptions, DeployRequest, DeployResult, DeploySettings, DeployStatus,
        DeploymentStore, NoJobDefinitions, RequestAction, RequestId,
    };
    use ferry_local::executor::{Executor, Resources};
    use ferry_local::orchestrator::LocalOrchestrator;
    use ferry_local::schedules::LocalSchedules;
    use ferry_store::{Blobs, DirBlobs, SqliteTable, Table};

    use super::*;

    /// The deploy use case over real local adapters, with blobs under `ferry/` like the bucket.
    fn context(home: &std::path::Path) -> (DeployContext, Arc<dyn Blobs>) {
        let table: Arc<dyn Table> =
            Arc::new(SqliteTable::open(home.join("ferry.db"), "default").unwrap());
        let bucket: Arc<dyn Blobs> = Arc::new(DirBlobs::open(home.join("bucket")).unwrap());
        let blobs: Arc<dyn Blobs> = Arc::new(DirBlobs::open(home.join("bucket/ferry")).unwrap());
        let orchestrator = LocalOrchestrator::new(
            table.clone(),
            Executor::new(Arc::new(Resources::new())),
            None,
        );
        let ctx = DeployContext {
            table: table.clone(),
            blobs,
            state_machines: Arc::new(orchestrator),
            schedules: Arc::new(LocalSchedules::new(table)),
            job_definitions: Arc::new(NoJobDefinitions),
            secrets: Arc::new(ferry_local::secrets::DirSecrets::for_home(home)),
            event_rules: Arc::new(ferry_deploy::NoEventRules),
            settings: DeploySettings {
                event_rules: None,
                platform: ferry_deploy::PLATFORM_AWS.to_string(),
                state_machine_prefix: None,
                claim_stale_after_secs: 150,
                compile: ferry_local::stack::compile_environment(
                    home,
                    "http://127.0.0.1:1",
                    "python3",
                ),
            },
        };
        (ctx, bucket)
    }

    #[tokio::test]
    async fn an_s3_event_deploys_once_even_when_delivered_twice() {
        let home = tempfile::tempdir().unwrap();
        let (ctx, bucket) = context(home.path());
        let id = RequestId::new();
        let spec = serde_json::json!({
            "spec_version": 1, "flow": "HelloFlow", "file": "hello.py",
            "steps": [{"name": "start", "type": "start", "next": ["end"]}, {"name": "end", "type": "end", "next": []}]
        });
        let spec_bytes = serde_json::to_vec(&spec).unwrap();
        let pkg = b"package bytes".to_vec();
        let pkg_ref = BlobRef {
            key: code_package_key(&sha256_hex(&pkg)),
            sha256: sha256_hex(&pkg),
        };
        bucket
            .put(&format!("ferry/{}", pkg_ref.key), pkg)
            .await
            .unwrap();
        let spec_ref = BlobRef {
            key: spec_key("HelloFlow", &id),
            sha256: sha256_hex(&spec_bytes),
        };
        bucket
            .put(&format!("ferry/{}", spec_ref.key), spec_bytes)
            .await
            .unwrap();
        let request = DeployRequest {
            version: 1,
            request_id: id.clone(),
            action: RequestAction::Deploy,
            deployment: "HelloFlow".into(),
            flow: "HelloFlow".into(),
            spec: Some(spec_ref),
            package: Some(pkg_ref),
            user: "alice".into(),
            requested_at: Utc::now(),
            options: DeployOptions::default(),
        };
        let key = format!("ferry/{}", request_key("HelloFlow", &id));
        bucket.put(&key, request.to_json()).await.unwrap();

        // The notification S3 sends for that object (fixture with the key swapped in).
        let fixture = std::fs::read_to_string(format!(
            "{}/tests/data/s3-put-request.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut event: S3Event = serde_json::from_str(&fixture).unwrap();
        event.records.truncate(2); // the request and a spec.json notification
        event.records[0].s3.object.key = Some(key.clone());

        let summary = handle_event(&ctx, "ferry/", &event).await.unwrap();
        assert_eq!(
            summary["handled"],
            json!([{"key": request_key("HelloFlow", &id), "status": "ok"}])
        );
        assert_eq!(summary["skipped"], 1);
        let result_bytes = bucket
            .get(&format!("ferry/{}", result_key("HelloFlow", &id)))
            .await
            .unwrap()
            .unwrap();
        let result = DeployResult::from_json(&result_bytes).unwrap();
        assert_eq!(result.status, DeployStatus::Ok, "{:?}", result.messages);
        assert!(result.messages.iter().any(|m| m == "State Machine HelloFlow for flow HelloFlow pushed to AWS Step Functions successfully."));

        // S3 delivers the same event again: same answer, nothing deployed twice.
        let again = handle_event(&ctx, "ferry/", &event).await.unwrap();
        assert_eq!(again["handled"], summary["handled"]);
        let record = DeploymentStore::new(ctx.table.clone())
            .get("HelloFlow")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.version, 1);
        assert_eq!(record.request_id, id);
    }
}
