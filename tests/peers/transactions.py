#!/usr/bin/env python3
"""Transactions peer (librdkafka via confluent-kafka): several transactional producers (distinct
transactional.id) write interleaved transactions across the partitions of a topic, some
committed and some aborted in a fixed pattern, with non-transactional records in between.

  transactions.py BOOTSTRAP TOPIC [--producers P] [--partitions N] [--rounds R] [--per-txn K]

Round r: every producer p opens transaction i = r*P + p; then K times, each producer writes two
records (one batch) to partition (p + j + r) % N and flushes, and a non-transactional producer
writes one record to partition j % N. Then the transactions end, in an order rotating with r:
transaction i is aborted when i % 3 == 1, committed otherwise. All transactions overlap in time,
so aborted and committed batches of different producers interleave within each partition.

Returns once every transaction marker is written (LSO == high watermark everywhere), then
prints one JSON line per record written, in write order:
  {"partition","offset","value","committed","transactional","txn"}   (txn null if plain)
committed is true for plain records and records of committed transactions.
"""
import argparse
import json
import sys

sys.dont_write_bytecode = True  # the sibling modules imported below leave no __pycache__
import uuid

from confluent_kafka import Producer

import admin


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-txn", type=int, default=3)
    args = ap.parse_args()

    run = uuid.uuid4().hex[:8]
    producers = []
    for p in range(args.producers):
        prod = Producer(
            {
                "bootstrap.servers": args.bootstrap,
                "transactional.id": f"peer-txn-{run}-{p}",
                "linger.ms": 5,
            }
        )
        prod.init_transactions(30)
        producers.append(prod)
    plain = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 0})

    records = []
    errors = []

    def delivery(rec):
        def cb(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                rec["offset"] = msg.offset()
        return cb

    def write(prod, partition, value, txn):
        rec = {
            "partition": partition,
            "offset": None,
            "value": value,
            "committed": txn is None or txn % 3 != 1,
            "transactional": txn is not None,
            "txn": txn,
        }
        records.append(rec)
        prod.produce(args.topic, value=value.encode(), key=b"k", partition=partition,
                     on_delivery=delivery(rec))

    for r in range(args.rounds):
        for p, prod in enumerate(producers):
            prod.begin_transaction()
        for j in range(args.per_txn):
            for p, prod in enumerate(producers):
                i = r * args.producers + p
                part = (p + j + r) % args.partitions
                write(prod, part, f"txn{i}-{j}a", i)
                write(prod, part, f"txn{i}-{j}b", i)
                if prod.flush(30):
                    raise SystemExit("transactional flush timed out")
            write(plain, j % args.partitions, f"plain-r{r}-{j}", None)
            if plain.flush(30):
                raise SystemExit("plain flush timed out")
        order = list(range(args.producers))
        order = order[r % args.producers:] + order[: r % args.producers]
        for p in order:
            i = r * args.producers + p
            if i % 3 == 1:
                producers[p].abort_transaction(30)
            else:
                producers[p].commit_transaction(30)
    if errors or any(rec["offset"] is None for rec in records):
        print(f"delivery failed: {errors}", file=sys.stderr)
        return 1
    # Commit/abort return before every marker is written: wait until they all are.
    admin.wait_settled(args.bootstrap, args.topic)
    for rec in records:
        print(json.dumps(rec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
