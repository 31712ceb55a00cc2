#!/usr/bin/env python3
"""Admin peer for the fault-tolerance tests (librdkafka's AdminClient via confluent-kafka).

  fault_admin.py create-partitions BOOTSTRAP TOPIC TOTAL
      raises the topic's partition count to TOTAL and waits until every partition has a leader.
  fault_admin.py delete-topic BOOTSTRAP TOPIC
      deletes the topic and waits until the metadata no longer lists it.
  fault_admin.py leaders BOOTSTRAP TOPIC
      prints {"<partition>": leader_id, ...} (-1 where there is no leader).
  fault_admin.py coordinator BOOTSTRAP GROUP
      prints {"id": N} of the group's coordinator broker.
"""
import json
import sys
import time

from confluent_kafka import ConsumerGroupTopicPartitions  # noqa: F401 (version check)
from confluent_kafka.admin import AdminClient, NewPartitions


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create_partitions(bootstrap, topic, total):
    client = admin(bootstrap)
    fs = client.create_partitions([NewPartitions(topic, int(total))], operation_timeout=30)
    fs[topic].result(timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline:
        t = client.list_topics(topic, timeout=10).topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == int(total) and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.2)
    raise SystemExit(f"topic {topic} did not get {total} partitions with leaders in time")


def delete_topic(bootstrap, topic):
    client = admin(bootstrap)
    client.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline:
        if topic not in client.list_topics(timeout=10).topics:
            return
        time.sleep(0.2)
    raise SystemExit(f"topic {topic} still listed after deletion")


def leaders(bootstrap, topic):
    t = admin(bootstrap).list_topics(topic, timeout=10).topics[topic]
    print(json.dumps({str(p): m.leader for p, m in sorted(t.partitions.items())}))


def coordinator(bootstrap, group):
    client = admin(bootstrap)
    d = client.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
    print(json.dumps({"id": d.coordinator.id}))


def main():
    cmd, *args = sys.argv[1:]
    {
        "create-partitions": create_partitions,
        "delete-topic": delete_topic,
        "leaders": leaders,
        "coordinator": coordinator,
    }[cmd](*args)


if __name__ == "__main__":
    main()
