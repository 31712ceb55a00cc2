#!/usr/bin/env python3
"""Consumer-group member peer (librdkafka via confluent-kafka, subscribe()).

Joins GROUP, subscribed to TOPIC[,TOPIC...], with one assignment strategy, and prints one JSON
line per event on stdout (flushed at once); every line carries "ts", the wall-clock time in
seconds (time.time()), so a test can time rebalances without the interpreter's start-up:

  {"event":"subscribed","ts"}                                      after subscribe()
  {"event":"assigned"|"revoked"|"lost","partitions":[[topic,p],...],"ts"}
        what librdkafka's rebalance callback received: the full set under the eager
        strategies (range, roundrobin), only the change under cooperative-sticky
  {"event":"message","topic","partition","offset","value","ts"}    per consumed message
  {"event":"committed","offsets":[[topic,p,offset],...],"ts"}      after each --commit-every commit
  {"event":"error","code","error","ts"}                            consumer errors
  {"event":"closing","ts"} ... {"event":"closed","ts"}             around close()

Ends with close() (an orderly LeaveGroup, unless --instance-id) when stdin reads "stop" or
closes, or after --max-messages messages. Exit status 0 unless close() failed.

  group_member.py BOOTSTRAP GROUP TOPIC[,TOPIC...] range|roundrobin|cooperative-sticky [options]
    --commit-every N       commit synchronously after every N messages (and once more before
                           close for anything consumed since); without it nothing is committed
                           (enable.auto.commit=false)
    --auto-offset-reset R  earliest|latest (default earliest)
    --max-messages N       close after N messages
    --instance-id ID       group.instance.id (static membership)
    --session-timeout-ms MS  (default 6000)
    --heartbeat-ms MS      heartbeat.interval.ms (default 500)
    -X key=value           any other librdkafka property
"""
import argparse
import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException

_out_lock = threading.Lock()


def emit(obj):
    obj["ts"] = time.time()
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def tps(partitions):
    return [[p.topic, p.partition] for p in partitions]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("group")
    ap.add_argument("topics")
    ap.add_argument("strategy", choices=["range", "roundrobin", "cooperative-sticky"])
    ap.add_argument("--commit-every", type=int)
    ap.add_argument("--auto-offset-reset", default="earliest")
    ap.add_argument("--max-messages", type=int)
    ap.add_argument("--instance-id")
    ap.add_argument("--session-timeout-ms", type=int, default=6000)
    ap.add_argument("--heartbeat-ms", type=int, default=500)
    ap.add_argument("-X", action="append", default=[])
    args = ap.parse_args()

    cooperative = args.strategy == "cooperative-sticky"
    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "partition.assignment.strategy": args.strategy,
        "session.timeout.ms": args.session_timeout_ms,
        "heartbeat.interval.ms": args.heartbeat_ms,
        "auto.offset.reset": args.auto_offset_reset,
        "enable.auto.commit": False,
        "enable.auto.offset.store": True,
        "isolation.level": "read_committed",
        "topic.metadata.refresh.interval.ms": 5000,
    }
    if args.instance_id:
        conf["group.instance.id"] = args.instance_id
    for kv in args.X:
        k, v = kv.split("=", 1)
        conf[k] = v

    def error_cb(err):
        emit({"event": "error", "code": err.name(), "error": err.str()})

    conf["error_cb"] = error_cb
    consumer = Consumer(conf)

    # librdkafka calls these from poll(). Under cooperative-sticky the lists are the change
    # (incremental_assign / incremental_unassign); under eager ones the whole assignment.
    def on_assign(c, partitions):
        emit({"event": "assigned", "partitions": tps(partitions)})
        if cooperative:
            c.incremental_assign(partitions)
        else:
            c.assign(partitions)

    def on_revoke(c, partitions):
        emit({"event": "revoked", "partitions": tps(partitions)})
        if cooperative:
            c.incremental_unassign(partitions)
        else:
            c.unassign()

    def on_lost(c, partitions):
        emit({"event": "lost", "partitions": tps(partitions)})
        if cooperative:
            c.incremental_unassign(partitions)
        else:
            c.unassign()

    stop = threading.Event()

    def watch_stdin():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    consumer.subscribe(
        args.topics.split(","), on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost
    )
    emit({"event": "subscribed"})

    consumed = 0
    uncommitted = 0

    def commit():
        nonlocal uncommitted
        if uncommitted == 0:
            return
        try:
            result = consumer.commit(asynchronous=False)
            emit(
                {
                    "event": "committed",
                    "offsets": [[p.topic, p.partition, p.offset] for p in result or []],
                }
            )
            uncommitted = 0
        except KafkaException as e:
            err = e.args[0]
            emit({"event": "error", "code": err.name(), "error": err.str()})

    while not stop.is_set():
        if args.max_messages is not None and consumed >= args.max_messages:
            break
        msg = consumer.poll(0.1)
        if msg is None:
            continue
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                emit({"event": "error", "code": err.name(), "error": err.str()})
            continue
        value = msg.value()
        emit(
            {
                "event": "message",
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "value": None if value is None else value.decode("utf-8", "replace"),
            }
        )
        consumed += 1
        uncommitted += 1
        if args.commit_every and uncommitted >= args.commit_every:
            commit()

    if args.commit_every:
        commit()
    emit({"event": "closing"})
    consumer.close()
    emit({"event": "closed"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
