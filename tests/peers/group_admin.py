#!/usr/bin/env python3
"""Consumer-group admin peer (librdkafka's AdminClient via confluent-kafka).

  group_admin.py describe BOOTSTRAP GROUP
      prints {"state":"STABLE"|"EMPTY"|"PREPARING_REBALANCE"|...,"protocol":ASSIGNOR,
              "members":[{"member_id","instance_id","client_id","host",
                          "assignment":[[topic,p],...]}]}
  group_admin.py offsets BOOTSTRAP GROUP
      prints {"<topic>:<partition>": committed_offset, ...} (the group's committed offsets)
"""
import json
import sys

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient


def describe(bootstrap, group):
    client = AdminClient({"bootstrap.servers": bootstrap})
    d = client.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
    members = []
    for m in d.members:
        assignment = []
        if m.assignment is not None:
            assignment = [[tp.topic, tp.partition] for tp in m.assignment.topic_partitions]
        members.append(
            {
                "member_id": m.member_id,
                "instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignment": sorted(assignment),
            }
        )
    state = d.state.name if hasattr(d.state, "name") else str(d.state)
    print(
        json.dumps(
            {
                "state": state,
                "protocol": d.partition_assignor,
                "members": members,
            }
        )
    )


def offsets(bootstrap, group):
    client = AdminClient({"bootstrap.servers": bootstrap})
    f = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=15)
    r = f[group].result(timeout=20)
    print(
        json.dumps({f"{tp.topic}:{tp.partition}": tp.offset for tp in r.topic_partitions})
    )


def main():
    cmd, bootstrap, group = sys.argv[1:4]
    {"describe": describe, "offsets": offsets}[cmd](bootstrap, group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
