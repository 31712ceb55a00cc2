//! The reference confluent-kafka program, ported line by line onto the bare [`Consumer`]
//! (no runner): the same loop, with explicit polling and commits. See `runner_reference.rs`
//! for the same program on the runner, which adds retries, the DLQ path, ordering and
//! graceful shutdown.
//!
//! ```sh
//! cargo run --example consumer_reference -- 127.0.0.1:9092 orders-service orders
//! ```

use std::{process::ExitCode, time::Duration};

use rskafka_consumer::{Consumer, ConsumerConfig, Event, Message};

fn process_message(msg: &Message) -> Result<(), String> {
    let value = msg.value.as_deref().unwrap_or_default();
    match std::str::from_utf8(value) {
        Ok(v) if !v.contains("poison") => {
            println!(
                "processed {}[{}]@{}: {v}",
                msg.topic, msg.partition, msg.offset
            );
            Ok(())
        }
        _ => Err("rejected order".into()),
    }
}

async fn run(bootstrap: &str, group: &str, topic: &str) -> Result<(), rskafka_consumer::Error> {
    // conf = {...}
    let mut conf = ConsumerConfig::new(bootstrap)?;
    conf.set("group.id", group)?;
    conf.set("enable.auto.commit", "false")?;
    conf.set("isolation.level", "read_committed")?;
    conf.set("auto.offset.reset", "earliest")?;
    // consumer = Consumer(conf); consumer.subscribe([topic])
    let consumer = Consumer::new(conf).await?;
    consumer.subscribe(&[topic])?;
    let result = async {
        loop {
            // msg = consumer.poll(1.0); if msg is None: continue
            let Some(event) = consumer.poll_event(Duration::from_secs(1)).await else {
                continue;
            };
            // if msg.error(): partition EOF is normal (an event here), anything else raises
            let msg = match event? {
                Event::Message(m) => m,
                _ => continue,
            };
            match process_message(&msg) {
                // consumer.commit(msg): the next offset to read
                Ok(()) => {
                    consumer
                        .commit_offsets(&[(msg.topic_partition(), msg.offset + 1)], None)
                        .await?
                }
                // send_to_dlq(msg, err); log_error(err) — here only logged: the runner has
                // the real DLQ path
                Err(err) => eprintln!("failed {}@{}: {err}", msg.partition, msg.offset),
            }
        }
    }
    .await;
    // finally: consumer.close()
    consumer.close().await;
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, group, topic] = args.as_slice() else {
        eprintln!("usage: consumer_reference BOOTSTRAP GROUP TOPIC");
        return ExitCode::from(2);
    };
    match run(bootstrap, group, topic).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
