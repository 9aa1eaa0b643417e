//! The events Lambda's context from its environment (`template.yaml`):
//!
//! | variable | use |
//! |---|---|
//! | `FERRY_DEPLOYMENTS_TABLE` | deployment records (subscriptions, notification settings) and the notifications' delivery log |
//! | `FERRY_METADATA_TABLE` | the metadata service's table: each run's execution status (`ferry_metadata::RunStatusListener`) |
//! | `FERRY_STATE_TABLE` | the engine's state: deliveries, several-event state, the recent-events log (DynamoDB TTL on `ttl`) |
//! | `FERRY_BUCKET`, `FERRY_BLOB_PREFIX` | where long parameters go (`params/`), as `ferry trigger` puts them |
//! | `FERRY_SFN_ROLE_ARN`, `FERRY_SCHEDULER_ROLE_ARN` | the account and partition of state machine ARNs (`ferry_aws::AwsConfig`) |
//! | `FERRY_SECRETS_PREFIX` | SSM prefix of notification secrets (read with decryption) |

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferry_control::Listeners;
use ferry_deploy::{DeploymentStore, Secrets};
use ferry_events::Dispatcher;
use ferry_spec::task::BlobStoreRef;
use ferry_store::Table;

/// What one warm Lambda keeps between invocations.
pub struct EventsContext {
    /// The engine, the records and Step Functions: Ferry events and `@trigger_on_finish`.
    pub dispatcher: Dispatcher,
    /// The lifecycle listeners status changes go to ([`listeners`]).
    pub listeners: Listeners,
}

/// How long one listener may take with one status change: above the notifier's longest
/// delivery (47 s with the default retry policy); the function's timeout is above it.
pub const LISTENER_TIMEOUT: Duration = Duration::from_secs(60);

/// The context of this Lambda, from the process environment.
pub async fn context_from_env() -> anyhow::Result<EventsContext> {
    context_from(|k| std::env::var(k).ok()).await
}

/// The context described by the variables `get` reads (AWS clients still take credentials,
/// region and `AWS_ENDPOINT_URL` from the process environment).
pub async fn context_from(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<EventsContext> {
    let aws = ferry_aws::AwsConfig::from_lookup(&get)?;
    let state_table_name = get("FERRY_STATE_TABLE")
        .filter(|t| !t.trim().is_empty())
        .context("the events function needs the environment variable FERRY_STATE_TABLE")?;
    let metadata_table_name = get("FERRY_METADATA_TABLE")
        .filter(|t| !t.trim().is_empty())
        .context("the events function needs the environment variable FERRY_METADATA_TABLE")?;
    let settings = ferry_store::AwsClientSettings::default();
    let records = ferry_store::open_dynamodb_table(&aws.deployments_table, &settings).await;
    let metadata = ferry_store::open_dynamodb_table(&metadata_table_name, &settings).await;
    let state = ferry_store::open_dynamodb_table(&state_table_name, &settings).await;
    let blobs = ferry_store::open_blobs(&BlobStoreRef::S3 {
        bucket: aws.bucket.clone(),
        prefix: aws.blob_prefix.clone(),
    })
    .await
    .context("opening the stack's bucket")?;
    let sdk = ferry_aws::sdk_config().await;
    let adapters = ferry_aws::Adapters::new(&sdk, &aws)?;
    let dispatcher = Dispatcher::new(records.clone(), state).with_blobs(blobs);
    dispatcher.bind(Arc::new(adapters.step_functions));
    let notifier = ferry_notify::Notifier::new(
        ferry_notify::HttpSender::new(ferry_notify::RetryPolicy::default())?,
        ferry_notify::Endpoints::from_env(),
    )
    .with_sns(ferry_aws::sns_client(&sdk))
    .with_log(ferry_notify::DeliveryLog::new(records.clone()));
    let listeners = listeners(records, metadata, Arc::new(adapters.secrets), notifier);
    Ok(EventsContext {
        dispatcher,
        listeners,
    })
}

/// The listeners a deployment's status changes go to, built in this one place: the run's
/// status in the metadata service (`metadata`, so the client and `ferry status` agree at once),
/// then the notifications of `ferry deploy --notify-*` (records and the delivery log on
/// `records`, secret values from `secrets`), delivered before the invocation answers.
///
/// `@trigger_on_finish` downstreams are not among them: each downstream's own trigger rule
/// delivers the upstream's success to it, addressed ([`crate::handler`]), so a listener here
/// would only deliver every success a second time.
pub fn listeners(
    records: Arc<dyn Table>,
    metadata: Arc<dyn Table>,
    secrets: Arc<dyn Secrets>,
    notifier: ferry_notify::Notifier,
) -> Listeners {
    Listeners::new()
        .with(Arc::new(ferry_metadata::RunStatusListener::new(
            metadata,
            DeploymentStore::new(records.clone()),
        )))
        .with(Arc::new(
            ferry_notify::NotifyListener::new(DeploymentStore::new(records), secrets, notifier)
                .waiting(),
        ))
        .with_timeout(LISTENER_TIMEOUT)
}
