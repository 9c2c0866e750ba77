//! Looking into JetStream directly (async-nats, a client nobody here wrote), for checks the
//! services' own APIs do not answer: what a stream holds, and publishing hostile input.

use anyhow::{Context, Result};
use async_nats::HeaderMap;
use futures::StreamExt;
use std::time::Duration;

/// One stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    pub seq: u64,
    pub subject: String,
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

/// Connects to `url` (one server, or a cluster's nodes separated by commas) as the
/// operator (the admin key of [`crate::nats::keys`]), who may look at and publish anything.
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    connect_as(url, "admin").await
}

/// Connects to `url` as `component`, with its key and inbox prefix, as the component itself
/// would (without TLS).
pub async fn connect_as(url: &str, component: &str) -> Result<async_nats::Client> {
    let servers: Vec<&str> = url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    let seed = crate::nats::seed_file(component)?;
    let access = proto::connect::NatsAccess { nkey_file: Some(&seed), tls_ca_file: None };
    Ok(proto::connect::options(component, access)?.connection_timeout(Duration::from_secs(5)).connect(servers).await?)
}

/// Where a stream lives in a cluster.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The server name of the node that leads it.
    pub leader: Option<String>,
    /// Its configured replica count.
    pub replicas: usize,
    /// Whether every follower is current (online and caught up with the leader).
    pub all_current: bool,
}

/// Where `stream` lives: its leader, replica count, and whether its followers are current.
pub fn placement(url: &str, stream: &str) -> Result<Placement> {
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let mut handle = js.get_stream(stream).await.with_context(|| format!("stream {stream}"))?;
        let info = handle.info().await?;
        let cluster = info.cluster.clone().unwrap_or_default();
        Ok(Placement {
            leader: cluster.leader.clone(),
            replicas: info.config.num_replicas,
            all_current: cluster.replicas.iter().all(|r| r.current && !r.offline),
        })
    })
}

/// Whether JetStream answers an account-info request through `url` (in a cluster: the
/// meta leader is elected and reachable from that node).
pub fn account_ready(url: &str) -> Result<bool> {
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        Ok(tokio::time::timeout(Duration::from_secs(2), js.query_account()).await.is_ok_and(|r| r.is_ok()))
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Publishes `payload` to `subject` with headers and waits for the PubAck.
pub fn publish(url: &str, subject: &str, headers: &[(&str, &str)], payload: &[u8]) -> Result<u64> {
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, *v);
        }
        let ack = js.publish_with_headers(subject.to_owned(), map, payload.to_vec().into()).await?.await?;
        Ok(ack.sequence)
    })
}

/// Every object of an Object Store bucket: (name, bytes), in listing order.
pub fn objects(url: &str, bucket: &str) -> Result<Vec<(String, Vec<u8>)>> {
    use tokio::io::AsyncReadExt;
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let store = js.get_object_store(bucket).await.with_context(|| format!("bucket {bucket}"))?;
        let mut names = Vec::new();
        let mut list = store.list().await?;
        while let Some(info) = list.next().await {
            names.push(info?.name);
        }
        let mut out = Vec::new();
        for name in names {
            let mut object = store.get(&name).await?;
            let mut bytes = Vec::new();
            object.read_to_end(&mut bytes).await?;
            out.push((name, bytes));
        }
        Ok(out)
    })
}

/// How many messages `stream` holds and its last sequence.
pub fn stream_counts(url: &str, stream: &str) -> Result<(u64, u64)> {
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let mut handle = js.get_stream(stream).await.with_context(|| format!("stream {stream}"))?;
        let state = &handle.info().await?.state;
        Ok((state.messages, state.last_sequence))
    })
}

/// Every message of `stream` (read with an ordered consumer from sequence 1), up to the
/// stream's last sequence at the time of the call.
pub fn read_stream(url: &str, stream: &str) -> Result<Vec<Stored>> {
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let mut handle = js.get_stream(stream).await.with_context(|| format!("stream {stream}"))?;
        let last = handle.info().await?.state.last_sequence;
        let mut out = Vec::new();
        if last == 0 {
            return Ok(out);
        }
        let consumer = handle.create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default()).await?;
        let mut messages = consumer.messages().await?;
        while let Some(m) = tokio::time::timeout(Duration::from_secs(10), messages.next()).await? {
            let m = m?;
            let seq = m.info().map_err(|e| anyhow::anyhow!("{e}"))?.stream_sequence;
            let headers = m
                .headers
                .iter()
                .flat_map(|h| h.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.to_string()))))
                .collect();
            out.push(Stored { seq, subject: m.subject.to_string(), headers, payload: m.payload.to_vec() });
            if seq >= last {
                break;
            }
        }
        Ok(out)
    })
}

/// How many times each Postern id is stored in `stream` (retried while the server is still
/// coming back after a restart).
pub fn stored_per_message(url: &str, stream: &str) -> Result<std::collections::HashMap<String, usize>> {
    let events = crate::eventually(std::time::Duration::from_secs(30), &format!("{stream} readable"), || {
        Ok(read_stream(url, stream).ok())
    })?;
    let mut stored = std::collections::HashMap::new();
    for m in &events {
        let (_, id) = postern_id_of(&m.payload).context("an event that is not a Postern event")?;
        *stored.entry(id).or_default() += 1;
    }
    Ok(stored)
}

/// The tenant and Postern id of a raw Postern event, read from its envelope header (see
/// proto's codec: "PSTN", version 1, then postcard: 16 id bytes, two small varints, then
/// tenant and Postern id as length-prefixed strings). None for anything else.
pub fn postern_id_of(payload: &[u8]) -> Option<(String, String)> {
    let rest = payload.strip_prefix(b"PSTN\x01")?;
    let rest = rest.get(16..)?;
    // event type and schema: single-byte varints for the codes in use.
    let rest = rest.get(2..)?;
    let (tenant, rest) = postcard_str(rest)?;
    let (id, _) = postcard_str(rest)?;
    Some((tenant, id))
}

fn postcard_str(bytes: &[u8]) -> Option<(String, &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    // Tenants and ids are shorter than 128 bytes: one-byte length.
    if len >= 0x80 {
        return None;
    }
    let (s, rest) = (rest.get(..len as usize)?, rest.get(len as usize..)?);
    Some((String::from_utf8(s.to_vec()).ok()?, rest))
}

/// Changes a stream's settings in place (a test that makes a stream refuse what is
/// published to it, as a full one does, and then lets it accept again).
pub fn update_stream(
    url: &str,
    stream: &str,
    change: impl FnOnce(&mut async_nats::jetstream::stream::Config),
) -> Result<()> {
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let mut handle = js.get_stream(stream).await.with_context(|| format!("stream {stream}"))?;
        let mut config = handle.info().await?.config.clone();
        change(&mut config);
        js.update_stream(&config).await.with_context(|| format!("updating stream {stream}"))?;
        Ok(())
    })
}

/// Deletes a durable consumer (a test that makes a component read its stream again from
/// the start, as after an operator removed its consumer).
pub fn delete_consumer(url: &str, stream: &str, consumer: &str) -> Result<()> {
    runtime()?.block_on(async {
        let client = connect(url).await?;
        let js = async_nats::jetstream::new(client);
        let handle = js.get_stream(stream).await.with_context(|| format!("stream {stream}"))?;
        handle.delete_consumer(consumer).await.with_context(|| format!("deleting consumer {consumer} of {stream}"))?;
        Ok(())
    })
}
