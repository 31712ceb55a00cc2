#!/usr/bin/env python3
"""Independent admin peer for integration tests: librdkafka's AdminClient (confluent-kafka).

  admin.py create BOOTSTRAP TOPIC PARTITIONS [REPLICATION_FACTOR] [KEY=VALUE...]
      creates the topic (with those topic configs, e.g. cleanup.policy=compact) and waits until
      every partition has a leader.
  admin.py describe BOOTSTRAP TOPIC [TOPIC...]
      prints, as JSON, what the AdminClient reports for the cluster and those topics, in the
      shape of `rkc metadata --json` (brokers, controller, topics with leaders/replicas/isr).
  admin.py delete-records BOOTSTRAP TOPIC PARTITION OFFSET
      deletes the records before OFFSET (AdminClient.delete_records) and prints
      {"partition":P,"low_watermark":N}.
  admin.py watermarks BOOTSTRAP TOPIC [ISOLATION]
      prints {"<partition>":[low, high], ...}; high is the high watermark under
      read_uncommitted (default), the last stable offset under read_committed.
  admin.py settle BOOTSTRAP TOPIC [TIMEOUT_S]
      waits (default 30 s) until no partition has a transaction in flight or a marker not yet
      written (last stable offset == high watermark), then prints the watermarks as above.
  admin.py exists BOOTSTRAP TOPIC
      prints true or false: whether the cluster's metadata lists the topic.
  admin.py leader BOOTSTRAP TOPIC PARTITION
      prints {"id":N,"host":H,"port":P} of the partition's leader.
"""
import base64
import json
import sys
import time

from confluent_kafka import Consumer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create(bootstrap, topic, partitions, replication=1, *configs):
    if "=" in str(replication):
        configs = (replication,) + configs
        replication = 1
    client = admin(bootstrap)
    config = dict(c.split("=", 1) for c in configs)
    futures = client.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=int(partitions),
                replication_factor=int(replication),
                config=config,
            )
        ],
        operation_timeout=30,
    )
    futures[topic].result(timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline:
        md = client.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == int(partitions) and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.2)
    raise SystemExit(f"topic {topic} did not get leaders in time")


def java_uuid_text(uuid):
    """Kafka's canonical text form of a topic id (Java's Uuid.toString: URL-safe base64, no
    padding), built from the id's bits; librdkafka's own str() uses standard base64."""
    raw = (uuid.get_most_significant_bits() & (2**64 - 1)).to_bytes(8, "big") + (
        uuid.get_least_significant_bits() & (2**64 - 1)
    ).to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def describe(bootstrap, topics):
    client = admin(bootstrap)
    cluster = client.describe_cluster(request_timeout=30).result(timeout=60)
    described = client.describe_topics(TopicCollection(topics), request_timeout=30)
    out_topics = []
    for name in topics:
        d = described[name].result(timeout=60)
        out_topics.append(
            {
                "topic": d.name,
                "topic_id": java_uuid_text(d.topic_id),
                "internal": d.is_internal,
                "partitions": [
                    {
                        "partition": p.id,
                        "leader": p.leader.id if p.leader is not None else -1,
                        "replicas": [n.id for n in p.replicas],
                        "isr": [n.id for n in p.isr],
                    }
                    for p in sorted(d.partitions, key=lambda p: p.id)
                ],
            }
        )
    print(
        json.dumps(
            {
                "cluster_id": cluster.cluster_id,
                "controller_id": cluster.controller.id if cluster.controller else -1,
                "brokers": sorted(
                    ({"id": n.id, "host": n.host, "port": n.port} for n in cluster.nodes),
                    key=lambda b: b["id"],
                ),
                "topics": out_topics,
            }
        )
    )


def delete_records(bootstrap, topic, partition, offset):
    client = admin(bootstrap)
    futures = client.delete_records(
        [TopicPartition(topic, int(partition), int(offset))], operation_timeout=30
    )
    (result,) = [f.result(timeout=60) for f in futures.values()]
    print(json.dumps({"partition": int(partition), "low_watermark": result.low_watermark}))


def watermark_map(bootstrap, topic, isolation="read_uncommitted"):
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "peer-admin-watermarks",
         "isolation.level": isolation}
    )
    try:
        md = consumer.list_topics(topic, timeout=15)
        t = md.topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            raise SystemExit(f"topic {topic}: {t.error if t is not None else 'missing'}")
        return {
            str(p): list(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15))
            for p in sorted(md.topics[topic].partitions)
        }
    finally:
        consumer.close()


def watermarks(bootstrap, topic, isolation="read_uncommitted"):
    print(json.dumps(watermark_map(bootstrap, topic, isolation)))


def wait_settled(bootstrap, topic, timeout=30):
    """Waits until LSO == high watermark on every partition; returns the watermarks."""
    deadline = time.time() + float(timeout)
    while True:
        committed = watermark_map(bootstrap, topic, "read_committed")
        uncommitted = watermark_map(bootstrap, topic, "read_uncommitted")
        if committed == uncommitted:
            return uncommitted
        if time.time() > deadline:
            raise SystemExit(f"{topic} not settled: LSO {committed} vs HW {uncommitted}")
        time.sleep(0.1)


def settle(bootstrap, topic, timeout=30):
    print(json.dumps(wait_settled(bootstrap, topic, timeout)))


def exists(bootstrap, topic):
    md = admin(bootstrap).list_topics(timeout=15)
    print(json.dumps(topic in md.topics))


def leader(bootstrap, topic, partition):
    md = admin(bootstrap).list_topics(topic, timeout=15)
    node = md.topics[topic].partitions[int(partition)].leader
    b = md.brokers[node]
    print(json.dumps({"id": b.id, "host": b.host, "port": b.port}))


def main(argv):
    if len(argv) >= 4 and argv[1] == "create":
        create(*argv[2:])
    elif len(argv) >= 4 and argv[1] == "describe":
        describe(argv[2], argv[3:])
    elif len(argv) == 6 and argv[1] == "delete-records":
        delete_records(*argv[2:])
    elif len(argv) in (4, 5) and argv[1] == "watermarks":
        watermarks(*argv[2:])
    elif len(argv) in (4, 5) and argv[1] == "settle":
        settle(*argv[2:])
    elif len(argv) == 4 and argv[1] == "exists":
        exists(*argv[2:])
    elif len(argv) == 5 and argv[1] == "leader":
        leader(*argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
