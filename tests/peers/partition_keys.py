#!/usr/bin/env python3
"""Partitioner judge (librdkafka via confluent-kafka): produces one record per key with
`partitioner=murmur2_random` (Java's default partitioner for keyed records) and prints, one JSON
line per key in input order, the partition librdkafka chose: {"key": KEY, "partition": P}.

  partition_keys.py BOOTSTRAP TOPIC KEY [KEY...]
"""
import json
import sys

from confluent_kafka import Producer


def main():
    bootstrap, topic, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    chosen = {}
    failures = []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(str(err))
        else:
            chosen[msg.key().decode()] = msg.partition()

    for key in keys:
        producer.produce(topic, key=key.encode(), value=b"v", on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(30)
    if remaining or failures or len(chosen) != len(set(keys)):
        print(f"delivery failed: {failures} remaining={remaining}", file=sys.stderr)
        return 1
    for key in keys:
        print(json.dumps({"key": key, "partition": chosen[key]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
