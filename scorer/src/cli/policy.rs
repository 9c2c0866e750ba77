//! `scorer policy`: validate, store, show and delete a tenant's policy in the policies
//! bucket; every change is audited as a PolicyChanged event.

use super::{CliError, PolicyAction, connect, tenant_id};
use crate::config::Layered;
use std::path::Path;

/// The audit record of a policy change: a PolicyChanged event on MAIL_EVENTS.
async fn audit_policy_change(
    js: &async_nats::jetstream::Context,
    tenant: &proto::TenantId,
    revision: u64,
    json: Option<&[u8]>,
    summary: String,
    replicas: usize,
) -> Result<(), CliError> {
    use proto::{Envelope, Event, EventType, PolicyChanged, PosternId, Timestamp};
    crate::worker::ensure_events_stream(js, replicas).await?;
    let now = Timestamp::now();
    let digest = json
        .map(|j| ring::digest::digest(&ring::digest::SHA256, j).as_ref().iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default();
    let changed_by = std::env::var("USER").unwrap_or_else(|_| "scorer-cli".to_owned());
    let envelope = Envelope {
        event_id: ulid::Ulid::new(),
        event_type: EventType::PolicyChanged,
        schema: EventType::PolicyChanged.current_schema(),
        postern_id: PosternId::from_message_id(tenant, &format!("policy-change-{}-{revision}", now.millis())),
        tenant: tenant.clone(),
        causation_id: None,
        occurred_at: now,
        producer: concat!("scorer-policy/", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    let event = Event::PolicyChanged(PolicyChanged { changed_by, revision, policy_digest: digest, summary });
    proto::publish::publish(js, &envelope, &event, None).await.map_err(CliError::Audit)?;
    Ok(())
}

/// What a checked `scorer policy` command asks of the bucket.
enum Request {
    Set(proto::TenantId, Box<crate::policy::TenantPolicy>),
    Show(proto::TenantId),
    Delete(proto::TenantId),
}

/// A policy file, checked as a scorer would check it.
fn read_policy(file: &Path) -> Result<crate::policy::TenantPolicy, CliError> {
    use crate::policy::{PolicyError, PolicyFile, TenantPolicy};
    let text = std::fs::read_to_string(file).map_err(CliError::file("reading", file))?;
    let invalid = |source| CliError::Policy { file: file.to_owned(), source };
    let policy = TenantPolicy::from_toml(&text).map_err(invalid)?;
    match policy.clone().compile() {
        Ok(_) => Ok(policy),
        Err(PolicyError::Invalid(problems)) => Err(CliError::PolicyInvalid { file: file.to_owned(), problems }),
        Err(e) => Err(invalid(e)),
    }
}

pub(super) async fn run(config: Option<&Path>, action: PolicyAction) -> Result<(), CliError> {
    // The arguments and the file are checked before NATS is asked anything.
    let request = match action {
        PolicyAction::Validate { file } => {
            read_policy(&file)?;
            println!("{}: valid", file.display());
            return Ok(());
        }
        PolicyAction::Set { tenant, file } => Request::Set(tenant_id(&tenant)?, Box::new(read_policy(&file)?)),
        PolicyAction::Show { tenant } => Request::Show(tenant_id(&tenant)?),
        PolicyAction::Delete { tenant } => Request::Delete(tenant_id(&tenant)?),
    };
    let config = crate::config::Config::load(config)?;
    let client = connect(&config, "postern-scorer-policy").await?;
    let js = async_nats::jetstream::new(client);
    let kv = crate::policy::policies_bucket(&js, config.replicas).await?;
    match request {
        Request::Set(tenant, policy) => {
            let json = serde_json::to_vec(&policy)?;
            let revision = kv
                .put(tenant.as_str(), json.clone().into())
                .await
                .map_err(bucket(format!("storing the policy of {tenant}")))?;
            let summary = format!(
                "{} own domain(s), {} trusted domain(s), {} trusted / {} acceptable / {} blocked sender(s), {} exempt recipient(s), {} registry entr(ies)",
                policy.own_domains.len(),
                policy.trusted_domains.len(),
                policy.trusted_senders.len(),
                policy.acceptable_senders.len(),
                policy.blocked_senders.len(),
                policy.exempt_recipients.len(),
                policy.impersonation.len()
            );
            audit_policy_change(&js, &tenant, revision, Some(&json), summary, config.replicas).await?;
            println!("policy of {tenant} stored (revision {revision}); scorers apply it within seconds");
        }
        Request::Show(tenant) => {
            match kv.get(tenant.as_str()).await.map_err(bucket(format!("reading the policy of {tenant}")))? {
                Some(bytes) => {
                    let policy: crate::policy::TenantPolicy =
                        serde_json::from_slice(&bytes).map_err(CliError::StoredPolicy)?;
                    print!("{}", toml::to_string_pretty(&policy).map_err(CliError::PrintPolicy)?);
                }
                None => println!("# {tenant} has no policy: the defaults apply"),
            }
        }
        Request::Delete(tenant) => {
            kv.delete(tenant.as_str()).await.map_err(bucket(format!("deleting the policy of {tenant}")))?;
            audit_policy_change(
                &js,
                &tenant,
                0,
                None,
                "policy deleted; the defaults apply".to_owned(),
                config.replicas,
            )
            .await?;
            println!("policy of {tenant} deleted; the defaults apply");
        }
    }
    Ok(())
}

/// A policies bucket operation's failure, named by what it was doing.
fn bucket<E: std::error::Error + Send + Sync + 'static>(what: String) -> impl FnOnce(E) -> CliError {
    move |source| CliError::PolicyBucket { what, source: Box::new(source) }
}
