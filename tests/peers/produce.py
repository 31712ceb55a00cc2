#!/usr/bin/env python3
"""Producer peer (librdkafka via confluent-kafka): writes records with known content and prints,
one JSON line per record in offset order, exactly what `rkc consume` should print for it
(see rkcjson.py), with the partition and offset from the delivery report.

  produce.py BOOTSTRAP TOPIC [options]
    --partition P           partition to write to (default 0)
    --count N               number of records (default 10)
    --start I               index of the first record (default 0); record i is described below
    --compression C         compression.type: none|gzip|snappy|lz4|zstd (default none)
    --linger-ms MS          linger.ms (default 5)
    --batch-num-messages N  batch.num.messages (default 10000): records per batch at most
    --flush-every N         flush (wait for delivery) after every N records: separate batches
    --pause-ms MS           sleep after each such flush (e.g. to let segment.ms roll segments)
    --prefix S              value prefix (default "value")
    --value S               use S as every record's value (overrides --prefix and --rich)
    --key-mod N             for compaction: key "u<i>" (never overwritten) when i % 4 == 0, else
                            "k<i % N>" (overwritten again and again), so that compaction leaves
                            survivors with gaps all through the log
    --rich                  vary the records (for codec/format tests), by i % 10:
                              0: key and value null          1: empty value, empty key
                              2: binary (non-UTF-8) value    3: binary key
                              4: duplicate header keys + a null header value + a binary header
                              5: a larger value (~2 KiB)     6: non-ASCII UTF-8 text
                              else: key "key-i", value "<prefix>-i", header ("i", "<i>")
    --timestamps            give each record an explicit CreateTime (now - count + i ms)

Without --rich: key "key-<i>", value "<prefix>-<i>", no headers.
Exit status non-zero if any delivery failed.
"""
import argparse
import json
import sys

sys.dont_write_bytecode = True  # the sibling modules imported below leave no __pycache__
import time

from confluent_kafka import Producer

import rkcjson


def record(i, args):
    """(key, value, headers) of record i."""
    key = f"key-{i}".encode()
    value = f"{args.prefix}-{i}".encode()
    headers = []
    if args.key_mod:
        key = (f"u{i}" if i % 4 == 0 else f"k{i % args.key_mod}").encode()
    if args.value is not None:
        return key, args.value.encode(), headers
    if not args.rich:
        return key, value, headers
    kind = i % 10
    if kind == 0:
        return None, None, headers
    if kind == 1:
        return b"", b"", [("empty", b"")]
    if kind == 2:
        return key, b"\xff\xfe\x00bin" + i.to_bytes(4, "big") + b"\xc3", [("k", b"v")]
    if kind == 3:
        return b"\x80\x81key" + i.to_bytes(2, "big"), value, []
    if kind == 4:
        return key, value, [
            ("dup", b"first"),
            ("null", None),
            ("dup", b"second"),
            ("bin", b"\xff\x00\xfe"),
            ("dup", b"third"),
        ]
    if kind == 5:
        return key, (f"{args.prefix}-{i}-" * 200).encode(), [("size", b"large")]
    if kind == 6:
        return "schlüssel-ключ-🔑".encode() + str(i).encode(), f"wert-значение-✓-{i}".encode(), [
            ("ünïcode", "ü✓".encode())
        ]
    return key, value, [("i", str(i).encode())]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("--partition", type=int, default=0)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--compression", default="none")
    ap.add_argument("--linger-ms", type=int, default=5)
    ap.add_argument("--batch-num-messages", type=int, default=10000)
    ap.add_argument("--flush-every", type=int, default=0)
    ap.add_argument("--pause-ms", type=int, default=0)
    ap.add_argument("--prefix", default="value")
    ap.add_argument("--value")
    ap.add_argument("--key-mod", type=int, default=0)
    ap.add_argument("--rich", action="store_true")
    ap.add_argument("--timestamps", action="store_true")
    args = ap.parse_args()

    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "compression.type": args.compression,
            "linger.ms": args.linger_ms,
            "batch.num.messages": args.batch_num_messages,
            "enable.idempotence": False,
            "acks": "all",
        }
    )
    out = []
    failures = []
    now = int(time.time() * 1000)

    for n in range(args.count):
        i = args.start + n
        key, value, headers = record(i, args)
        ts = now - args.count + n if args.timestamps else 0
        entry = {"i": i, "key": key, "value": value, "headers": headers}

        def on_delivery(err, msg, entry=entry):
            if err is not None:
                failures.append(str(err))
                return
            entry["partition"] = msg.partition()
            entry["offset"] = msg.offset()
            entry["timestamp"] = msg.timestamp()[1]
            out.append(entry)

        kwargs = {"partition": args.partition, "on_delivery": on_delivery}
        if key is not None:
            kwargs["key"] = key
        if value is not None:
            kwargs["value"] = value
        if headers:
            kwargs["headers"] = headers
        if ts:
            kwargs["timestamp"] = ts
        producer.produce(args.topic, **kwargs)
        producer.poll(0)
        if args.flush_every and (n + 1) % args.flush_every == 0:
            producer.flush(30)
            if args.pause_ms:
                time.sleep(args.pause_ms / 1000)
    remaining = producer.flush(30)
    if remaining or failures or len(out) != args.count:
        print(f"delivery failed: {failures} remaining={remaining}", file=sys.stderr)
        return 1
    for e in sorted(out, key=lambda e: e["offset"]):
        print(
            json.dumps(
                rkcjson.message(
                    args.topic, e["partition"], e["offset"], e["timestamp"], e["key"],
                    e["value"], e["headers"],
                )
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
