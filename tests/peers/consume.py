#!/usr/bin/env python3
"""Reference consumer peer (librdkafka via confluent-kafka, no consumer group: assign()).

Reads partitions of a topic until each has reached its end (librdkafka's partition EOF) and
prints to stdout one JSON line per message in the shape `rkc consume` prints (rkcjson.py), and
one line per event: {"event":"partition_eof","topic","partition","offset"} and
{"event":"error","code":NAME,"error":TEXT,"topic"?,"partition"?}.

  consume.py BOOTSTRAP TOPIC [options]
    --partition P        only partition P (default: all partitions of the topic)
    --offset O           beginning|end|N (default beginning)
    --isolation L        read_committed|read_uncommitted (default read_committed)
    --check-crcs         check.crcs=true
    --stop-on-error      stop at the first error event
    --timeout S          give up after S seconds: prints {"event":"timeout"} and exits 1 (default 30)
    -X key=value         any other librdkafka property
"""
import argparse
import json
import sys

sys.dont_write_bytecode = True  # the sibling modules imported below leave no __pycache__
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

import rkcjson


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("--partition", type=int)
    ap.add_argument("--offset", default="beginning")
    ap.add_argument("--isolation", default="read_committed")
    ap.add_argument("--check-crcs", action="store_true")
    ap.add_argument("--stop-on-error", action="store_true")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("-X", action="append", default=[])
    args = ap.parse_args()

    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": "peer-consume-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": args.isolation,
        "check.crcs": args.check_crcs,
        "auto.offset.reset": "error",
    }
    for kv in args.X:
        k, v = kv.split("=", 1)
        conf[k] = v
    consumer = Consumer(conf)
    md = consumer.list_topics(args.topic, timeout=15)
    t = md.topics[args.topic]
    if t.error is not None:
        print(json.dumps({"event": "error", "code": t.error.name(), "error": t.error.str()}))
        return 1
    partitions = [args.partition] if args.partition is not None else sorted(t.partitions)
    start = {"beginning": OFFSET_BEGINNING, "end": OFFSET_END}.get(args.offset)
    if start is None:
        start = int(args.offset)
    consumer.assign([TopicPartition(args.topic, p, start) for p in partitions])

    pending = set(partitions)
    deadline = time.time() + args.timeout
    status = 0
    while pending:
        if time.time() > deadline:
            print(json.dumps({"event": "timeout", "pending": sorted(pending)}))
            status = 1
            break
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        err = msg.error()
        if err is None:
            print(json.dumps(rkcjson.from_confluent(msg)))
        elif err.code() == KafkaError._PARTITION_EOF:
            print(
                json.dumps(
                    {
                        "event": "partition_eof",
                        "topic": msg.topic(),
                        "partition": msg.partition(),
                        "offset": msg.offset(),
                    }
                )
            )
            pending.discard(msg.partition())
        else:
            ev = {"event": "error", "code": err.name(), "error": err.str()}
            if msg.topic() is not None:
                ev.update(topic=msg.topic(), partition=msg.partition(), offset=msg.offset())
            print(json.dumps(ev))
            if args.stop_on_error:
                break
        sys.stdout.flush()
    consumer.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
