//! Submitting a deploy request: upload the code package (unless the store has it), the spec,
//! and `request.json` LAST; then wait for `result.json` (a spinner on stderr when it is a
//! terminal) up to a timeout.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferry_deploy::keys::{code_package_key, request_key, result_key, sha256_hex, spec_key};
use ferry_deploy::{BlobRef, DeployRequest, DeployResult};
use ferry_store::Blobs;

use crate::context::{Context, Target};
use crate::package::Package;

/// Upload the package if it is not stored yet; returns its reference.
pub async fn upload_package(blobs: &dyn Blobs, package: &Package) -> anyhow::Result<BlobRef> {
    let key = code_package_key(&package.sha256);
    if !blobs.exists(&key).await? {
        blobs
            .put(&key, package.bytes.clone())
            .await
            .with_context(|| format!("uploading {}", blobs.url(&key)))?;
    }
    Ok(BlobRef {
        key,
        sha256: package.sha256.clone(),
    })
}

/// Upload the spec of request `request` (its `spec` is set to the uploaded blob).
pub async fn upload_spec(
    blobs: &dyn Blobs,
    request: &mut DeployRequest,
    spec_json: Vec<u8>,
) -> anyhow::Result<()> {
    let key = spec_key(&request.deployment, &request.request_id);
    let sha256 = sha256_hex(&spec_json);
    blobs
        .put(&key, spec_json)
        .await
        .with_context(|| format!("uploading {}", blobs.url(&key)))?;
    request.spec = Some(BlobRef { key, sha256 });
    Ok(())
}

/// Write `request.json` (last: its creation triggers the handler) and wait for the result.
pub async fn submit_and_wait(
    ctx: &Context,
    blobs: &dyn Blobs,
    request: &DeployRequest,
    timeout: Duration,
    verb: &str,
) -> anyhow::Result<DeployResult> {
    request
        .validate()
        .context("the deploy request is invalid")?;
    let rkey = request_key(&request.deployment, &request.request_id);
    blobs
        .put(&rkey, request.to_json())
        .await
        .with_context(|| format!("uploading {}", blobs.url(&rkey)))?;
    let result_key = result_key(&request.deployment, &request.request_id);
    let poll = match ctx.target {
        Target::Local => Duration::from_millis(100),
        Target::Aws(_) => Duration::from_millis(1000),
    };
    let spinner = (std::io::stderr().is_terminal() && !ctx.json).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!(
            "{verb} {} (request {})",
            request.deployment, request.request_id
        ));
        s.enable_steady_tick(Duration::from_millis(120));
        s
    });
    let started = Instant::now();
    let outcome = loop {
        if let Some(bytes) = blobs.get(&result_key).await? {
            break DeployResult::from_json(&bytes).context("reading the deploy result");
        }
        if started.elapsed() >= timeout {
            let hint = match &ctx.target {
                Target::Local => format!(
                    "Is the embedded stack running? Start it with `ferry up --home {}`.",
                    ctx.home.display()
                ),
                Target::Aws(_) => "Check the deploy function's logs in CloudWatch.".to_string(),
            };
            break Err(anyhow::anyhow!(
                "no answer from the deploy handler after {} s. {hint} The request {} stays in place and is handled when the handler comes up; run the command again to make a new one.",
                timeout.as_secs(),
                blobs.url(&rkey)
            ));
        }
        tokio::time::sleep(poll).await;
    };
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    outcome
}
