#!/usr/bin/env python3
"""Independent admin peer for integration tests: librdkafka's AdminClient (confluent-kafka).

  admin.py create BOOTSTRAP TOPIC PARTITIONS [REPLICATION_FACTOR]
      creates the topic and waits until every partition has a leader.
  admin.py describe BOOTSTRAP TOPIC [TOPIC...]
      prints, as JSON, what the AdminClient reports for the cluster and those topics, in the
      shape of `rkc metadata --json` (brokers, controller, topics with leaders/replicas/isr).
"""
import base64
import json
import sys
import time

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create(bootstrap, topic, partitions, replication=1):
    client = admin(bootstrap)
    futures = client.create_topics(
        [NewTopic(topic, num_partitions=int(partitions), replication_factor=int(replication))],
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


def main(argv):
    if len(argv) >= 4 and argv[1] == "create":
        create(*argv[2:])
    elif len(argv) >= 4 and argv[1] == "describe":
        describe(argv[2], argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
