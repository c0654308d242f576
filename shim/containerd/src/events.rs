//! Task events back to containerd: `containerd.services.events.ttrpc.v1.Events/Forward`
//! on containerd's ttrpc socket ($TTRPC_ADDRESS), from one thread fed by a channel so
//! that no request or exit waits on containerd.

use containerd_shim_protos::events::task as ev;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::Message;
use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use containerd_shim_protos::topics;
use containerd_shim_protos::EventsClient;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

/// How long the connection to containerd stays open after the last event.
const IDLE_DISCONNECT: Duration = Duration::from_secs(1);

pub enum Event {
    Create(ev::TaskCreate),
    Start(ev::TaskStart),
    Exit(ev::TaskExit),
    Oom(ev::TaskOOM),
    ExecAdded(ev::TaskExecAdded),
    ExecStarted(ev::TaskExecStarted),
    Paused(ev::TaskPaused),
    Resumed(ev::TaskResumed),
    Delete(ev::TaskDelete),
    /// Not an event: answered once everything sent before it was published.
    Flush(std::sync::mpsc::SyncSender<()>),
}

impl Event {
    fn topic_and_any(&self) -> (&'static str, Option<Any>) {
        // containerd resolves an event by its full protobuf name (typeurl). Spelled out
        // rather than taken from the message descriptors: reflection would bring the
        // descriptors of every generated message into the binary (and its RSS).
        fn pack<M: Message>(name: &str, m: &M) -> Option<Any> {
            Some(Any {
                type_url: format!("containerd.events.{name}"),
                value: m.write_to_bytes().ok()?,
                ..Default::default()
            })
        }
        match self {
            Event::Create(m) => (topics::TASK_CREATE_EVENT_TOPIC, pack("TaskCreate", m)),
            Event::Start(m) => (topics::TASK_START_EVENT_TOPIC, pack("TaskStart", m)),
            Event::Exit(m) => (topics::TASK_EXIT_EVENT_TOPIC, pack("TaskExit", m)),
            Event::Oom(m) => (topics::TASK_OOM_EVENT_TOPIC, pack("TaskOOM", m)),
            Event::ExecAdded(m) => (
                topics::TASK_EXEC_ADDED_EVENT_TOPIC,
                pack("TaskExecAdded", m),
            ),
            Event::ExecStarted(m) => (
                topics::TASK_EXEC_STARTED_EVENT_TOPIC,
                pack("TaskExecStarted", m),
            ),
            Event::Paused(m) => (topics::TASK_PAUSED_EVENT_TOPIC, pack("TaskPaused", m)),
            Event::Resumed(m) => (topics::TASK_RESUMED_EVENT_TOPIC, pack("TaskResumed", m)),
            Event::Delete(m) => (topics::TASK_DELETE_EVENT_TOPIC, pack("TaskDelete", m)),
            Event::Flush(_) => (topics::TASK_UNKNOWN_TOPIC, None),
        }
    }
}

#[derive(Clone)]
pub struct Publisher {
    tx: Option<Sender<Event>>,
}

pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
        ..Default::default()
    }
}

impl Publisher {
    /// A publisher to containerd's ttrpc address (None: events are dropped, e.g. when
    /// the shim runs without containerd in a unit test).
    pub fn start(ttrpc_address: Option<String>, namespace: String) -> Publisher {
        let Some(addr) = ttrpc_address.filter(|a| !a.is_empty()) else {
            return Publisher { tx: None };
        };
        let (tx, rx) = channel::<Event>();
        let spawned = std::thread::Builder::new()
            .name("events".into())
            .stack_size(256 << 10)
            .spawn(move || {
                let url = if addr.contains("://") { addr.clone() } else { format!("unix://{addr}") };
                let mut client: Option<EventsClient> = None;
                loop {
                    // Blocks for good while disconnected: no wake-ups of an idle shim.
                    let next = if client.is_some() {
                        rx.recv_timeout(IDLE_DISCONNECT)
                    } else {
                        rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                    };
                    let e = match next {
                        Ok(e) => e,
                        // Idle: drop the connection (and the client's two threads) until
                        // the next event; an idle shim keeps less memory.
                        Err(RecvTimeoutError::Timeout) => {
                            client = None;
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    if let Event::Flush(ack) = &e {
                        let _ = ack.send(());
                        continue;
                    }
                    let (topic, any) = e.topic_and_any();
                    let Some(any) = any else { continue };
                    let req = ForwardRequest {
                        envelope: Some(Envelope {
                            timestamp: Some(now()).into(),
                            namespace: namespace.clone(),
                            topic: topic.to_string(),
                            event: Some(any).into(),
                            ..Default::default()
                        })
                        .into(),
                        ..Default::default()
                    };
                    // One reconnect per event: containerd may have restarted.
                    for _ in 0..2 {
                        if client.is_none() {
                            match ttrpc::Client::connect(&url) {
                                Ok(c) => client = Some(EventsClient::new(c)),
                                Err(err) => {
                                    eprintln!("containerd-shim-berth-v2: connecting to {url} for events: {err}");
                                    break;
                                }
                            }
                        }
                        let Some(c) = &client else { break };
                        match c.forward(ttrpc::context::with_timeout(5_000_000_000), &req) {
                            Ok(_) => {
                                crate::debug!("published {topic}");
                                break;
                            }
                            Err(err) => {
                                eprintln!("containerd-shim-berth-v2: publishing {topic}: {err}");
                                client = None;
                            }
                        }
                    }
                }
            });
        match spawned {
            Ok(_) => Publisher { tx: Some(tx) },
            Err(e) => {
                eprintln!(
                    "containerd-shim-berth-v2: no event thread ({e}): events are not published"
                );
                Publisher { tx: None }
            }
        }
    }

    /// Wait (at most `timeout`) until the events published so far are sent: the shim
    /// is about to exit, and containerd still wants the TaskDelete.
    pub fn flush(&self, timeout: std::time::Duration) {
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        self.publish(Event::Flush(ack_tx));
        let _ = ack_rx.recv_timeout(timeout);
    }

    pub fn publish(&self, e: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim_protos::protobuf::MessageFull;

    #[test]
    fn type_urls_are_the_full_protobuf_names() {
        let e = Event::ExecStarted(ev::TaskExecStarted::default());
        let (topic, any) = e.topic_and_any();
        assert_eq!(topic, "/tasks/exec-started");
        assert_eq!(
            any.unwrap().type_url,
            ev::TaskExecStarted::descriptor().full_name()
        );
        let (_, any) = Event::Oom(ev::TaskOOM::default()).topic_and_any();
        assert_eq!(any.unwrap().type_url, ev::TaskOOM::descriptor().full_name());
    }
}
