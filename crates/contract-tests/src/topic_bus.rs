//! Contract of [`TopicBus`]: the fan-out of real-time frames by topic.

use std::sync::Arc;
use std::time::Duration;

use domain_core::{TopicBus, TopicSink};
use tokio::sync::mpsc;
use uuid::Uuid;

fn collector() -> (TopicSink, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Arc::new(move |payload| {
            let _ = tx.send(payload);
        }),
        rx,
    )
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("delivered in time")
        .expect("channel open")
}

/// Nothing arrives within a short wait (the sink may also have been dropped).
async fn quiet(rx: &mut mpsc::UnboundedReceiver<String>) {
    let got = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
    assert!(!matches!(got, Ok(Some(_))), "unexpected delivery {got:?}");
}

/// Everything published after `subscribe` returns reaches every subscriber of that topic,
/// in publishing order, and nothing of other topics (another kind with the same id
/// included).
pub async fn delivers_per_topic_in_order(bus: &dyn TopicBus) {
    let id = Uuid::new_v4();
    let (room, other) = (format!("debate:{id}"), format!("user:{id}"));
    let (room, other) = (room.as_str(), other.as_str());
    let (a, mut a_rx) = collector();
    let (b, mut b_rx) = collector();
    let (c, mut c_rx) = collector();
    let _a = bus.subscribe(room, a).await.unwrap();
    let _b = bus.subscribe(room, b).await.unwrap();
    let _c = bus.subscribe(other, c).await.unwrap();
    for i in 0..20 {
        bus.publish(room, format!("m{i}")).await.unwrap();
    }
    for rx in [&mut a_rx, &mut b_rx] {
        for i in 0..20 {
            assert_eq!(next(rx).await, format!("m{i}"));
        }
    }
    quiet(&mut c_rx).await;
}

/// Dropping a subscription stops its deliveries and no other.
pub async fn dropping_unsubscribes(bus: &dyn TopicBus) {
    let room = format!("debate:{}", Uuid::new_v4());
    let room = room.as_str();
    let (a, mut a_rx) = collector();
    let (b, mut b_rx) = collector();
    let sub_a = bus.subscribe(room, a).await.unwrap();
    let _b = bus.subscribe(room, b).await.unwrap();
    drop(sub_a);
    bus.publish(room, "after".into()).await.unwrap();
    assert_eq!(next(&mut b_rx).await, "after");
    quiet(&mut a_rx).await;
    // publishing to a room nobody listens to is fine
    bus.publish(&format!("debate:{}", Uuid::new_v4()), "nobody".into())
        .await
        .unwrap();
}
