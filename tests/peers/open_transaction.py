#!/usr/bin/env python3
"""Open-transaction peer (librdkafka via confluent-kafka): leaves a transaction open until told
to end it, so a test can observe consumers while the last stable offset is held back.

  open_transaction.py BOOTSTRAP TOPIC [--partition P] [--count M] [--prefix S]

Begins a transaction, writes M records (values "<prefix>-<i>", default prefix "open") to
partition P (default 0), flushes, then prints one JSON line
  {"state":"open","records":[{"partition","offset","value"}, ...]}
and waits for a line on stdin: "abort" aborts the transaction, anything else (or EOF) commits
it; once the marker is written (LSO == high watermark) it prints {"state":"committed"} or
{"state":"aborted"} and exits 0.
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
    ap.add_argument("--partition", type=int, default=0)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--prefix", default="open")
    args = ap.parse_args()

    prod = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "transactional.id": "peer-open-txn-" + uuid.uuid4().hex,
            "transaction.timeout.ms": 120000,
        }
    )
    prod.init_transactions(30)
    prod.begin_transaction()
    records = []
    errors = []
    for i in range(args.count):
        rec = {"partition": args.partition, "offset": None, "value": f"{args.prefix}-{i}"}
        records.append(rec)

        def cb(err, msg, rec=rec):
            if err is not None:
                errors.append(str(err))
            else:
                rec["offset"] = msg.offset()

        prod.produce(args.topic, value=rec["value"].encode(), partition=args.partition,
                     on_delivery=cb)
    if prod.flush(30) or errors:
        print(f"delivery failed: {errors}", file=sys.stderr)
        return 1
    print(json.dumps({"state": "open", "records": records}), flush=True)
    line = sys.stdin.readline().strip()
    if line == "abort":
        prod.abort_transaction(30)
        state = "aborted"
    else:
        prod.commit_transaction(30)
        state = "committed"
    # The marker is written after EndTxn returns: wait for it (LSO == high watermark).
    admin.wait_settled(args.bootstrap, args.topic)
    print(json.dumps({"state": state}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
