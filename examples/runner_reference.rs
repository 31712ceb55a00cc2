//! The reference confluent-kafka program, ported line by line onto the runner.
//!
//! The Python original (what users port):
//!
//! ```python
//! conf = {"bootstrap.servers": B, "group.id": G, "enable.auto.commit": False,
//!         "isolation.level": "read_committed", "auto.offset.reset": "earliest"}
//! consumer = Consumer(conf)
//! consumer.subscribe(["orders"])
//! try:
//!     while True:
//!         msg = consumer.poll(1.0)
//!         if msg is None: continue
//!         if msg.error():
//!             if msg.error().code() == KafkaError._PARTITION_EOF: continue
//!             raise KafkaException(msg.error())
//!         try:
//!             process_message(msg)
//!             consumer.commit(msg)
//!         except Exception as err:
//!             send_to_dlq(msg, err)
//!             log_error(err)
//! finally:
//!     consumer.close()
//! ```
//!
//! With the runner, the loop, the commit, the DLQ path, retries and the `finally` are the
//! runner's; what is left is `process_message`. Ctrl-C (or SIGTERM) drains and closes.
//!
//! ```sh
//! cargo run --example runner_reference -- 127.0.0.1:9092 orders-service orders
//! ```

use std::{path::Path, process::ExitCode};

use rskafka_consumer::{
    Message,
    runner::{HandlerError, Runner, RunnerConfig, handler_fn},
};

/// The application's `process_message`: a retryable error is tried again with backoff, a
/// permanent one goes to the dead-letter topic (once the project's DLQ writer is wired in).
async fn process_message(msg: Message) -> Result<(), HandlerError> {
    let value = msg.value.as_deref().unwrap_or_default();
    let order = std::str::from_utf8(value)
        .map_err(|e| HandlerError::permanent(format!("not UTF-8: {e}")).with_class("BadOrder"))?;
    if order.contains("poison") {
        return Err(HandlerError::permanent("rejected order").with_class("BadOrder"));
    }
    println!(
        "processed {}[{}]@{}: {order}",
        msg.topic, msg.partition, msg.offset
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, group, topic] = args.as_slice() else {
        eprintln!("usage: runner_reference BOOTSTRAP GROUP TOPIC");
        return ExitCode::from(2);
    };
    // conf = {...}: the same properties, minus enable.auto.commit (the runner owns commits).
    let toml = format!(
        r#"
[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{group}"
"isolation.level" = "read_committed"
"auto.offset.reset" = "earliest"
[source]
topics = ["{topic}"]
"#
    );
    let config = match RunnerConfig::from_toml(&toml, Path::new("<inline>")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // consumer = Consumer(conf); subscribe; the while loop: the runner.
    let runner = match Runner::builder(config)
        .handler(handler_fn(process_message))
        // log_error(err): every failure arrives as an event.
        .on_event(|event| eprintln!("{}", event.to_json()))
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // finally: consumer.close() — on Ctrl-C, drain, commit what finished, leave the group.
    let handle = runner.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown();
    });
    match runner.run().await {
        Ok(summary) => {
            eprintln!("{summary:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
