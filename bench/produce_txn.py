#!/usr/bin/env python3
"""Fills the transactional topic of bench/consume: TRANSACTIONS transactions of PER_TXN records
each, every 10th one aborted, with confluent-kafka's transactional producer.

    produce_txn.py BOOTSTRAP TOPIC PARTITIONS TRANSACTIONS PER_TXN VALUE_SIZE

Record i of a transaction goes to partition i % PARTITIONS, so every transaction writes to every
partition and ends with one marker per partition: the log then holds exactly
TRANSACTIONS * PER_TXN data records (10% of them aborted) plus TRANSACTIONS * PARTITIONS control
records. Each transaction is flushed before it is committed or aborted, so aborted records really
reach the log (abort_transaction would otherwise purge what is still queued). Values are random
capital letters like kafka-producer-perf-test's; keys are null. Prints one JSON summary line.
"""

import json
import os
import random
import sys
import time

from confluent_kafka import Producer


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    partitions, transactions, per_txn, size = (int(a) for a in sys.argv[3:7])
    rng = random.Random(5)
    values = [bytes(rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(size))
              for _ in range(64)]
    p = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": f"bench-txn-{topic}-{os.getpid()}",
        "linger.ms": 5,
        "batch.size": 262144,
        "compression.type": "none",
        "queue.buffering.max.messages": max(100000, per_txn * 2),
    })
    p.init_transactions(60)
    t0 = time.monotonic()
    aborted = 0
    for t in range(transactions):
        p.begin_transaction()
        for i in range(per_txn):
            p.produce(topic, values[i & 63], partition=i % partitions)
            if i % 10000 == 9999:
                p.poll(0)
        if p.flush(60) != 0:
            raise SystemExit("flush did not complete within 60 s")
        if t % 10 == 9:
            p.abort_transaction(60)
            aborted += 1
        else:
            p.commit_transaction(60)
    elapsed = time.monotonic() - t0
    print(json.dumps({
        "transactions": transactions, "aborted_transactions": aborted,
        "records": transactions * per_txn, "committed_records": (transactions - aborted) * per_txn,
        "seconds": round(elapsed, 2),
    }))


if __name__ == "__main__":
    main()
