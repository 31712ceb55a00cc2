#!/usr/bin/env python3
"""Steady producer peer (librdkafka via confluent-kafka): writes to every partition of TOPIC in
turn, one record per partition every INTERVAL_MS, until stdin reads "stop" or closes; then
flushes and prints one JSON line {"produced":{"<partition>":count,...},"next":{"<partition>":
next_offset,...}} (next_offset: one past the last delivered record's offset).

Values are "p<partition>-<n>" (n counts from 0 per partition within this run).

  produce_steady.py BOOTSTRAP TOPIC PARTITIONS INTERVAL_MS
"""
import json
import sys
import threading
import time

from confluent_kafka import Producer


def main():
    bootstrap, topic, partitions, interval_ms = sys.argv[1:5]
    partitions = int(partitions)
    interval = int(interval_ms) / 1000.0
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    produced = {p: 0 for p in range(partitions)}
    next_offset = {p: 0 for p in range(partitions)}
    failed = []

    def delivered(err, msg):
        if err is not None:
            failed.append(str(err))
            return
        p = msg.partition()
        next_offset[p] = max(next_offset[p], msg.offset() + 1)

    stop = threading.Event()

    def watch_stdin():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.is_set():
        for p in range(partitions):
            producer.produce(topic, value=f"p{p}-{produced[p]}".encode(), partition=p,
                             on_delivery=delivered)
            produced[p] += 1
        producer.poll(0)
        time.sleep(interval)
    remaining = producer.flush(90)
    print(
        json.dumps(
            {
                "produced": {str(p): n for p, n in produced.items()},
                "next": {str(p): n for p, n in next_offset.items()},
                "failed": failed,
                "undelivered": remaining,
            }
        )
    )
    sys.stdout.flush()
    return 0 if not failed and remaining == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
