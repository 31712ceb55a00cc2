#!/usr/bin/env python3
"""Soak producers (librdkafka via confluent-kafka), writing what the broker acknowledged to OUT,
one JSON line per record: {"p","o","v","kind","t"} where kind is "acked" (idempotent producer),
"committed" / "aborted" (transactional producer, by the outcome of its transaction) or
"unknown" (a transaction whose outcome could not be learnt: neither required nor forbidden),
and t is when the producer learnt it (epoch seconds): the delivery report of the idempotent
producer, the return of commit/abort of the transactional one. "o" is null when librdkafka
reported a success without an offset (e.g. a retried batch answered as a duplicate).

  soak_produce.py plain BOOTSTRAP TOPIC PARTITIONS RATE OUT
      idempotent, acks=all; RATE records per second spread round-robin over the partitions;
      values "s<seq>".
  soak_produce.py txn BOOTSTRAP TOPIC PARTITIONS TXN_PER_S OUT
      transactional; each transaction writes one record to every partition, every 3rd
      transaction (t % 3 == 2) is aborted; values "t<txn>-<partition>-<c|a>".

Runs until stdin reads "stop" or closes, then flushes and prints one summary JSON line.
"""
import json
import sys
import threading
import time

from confluent_kafka import KafkaException, Producer


def watch_stdin(stop):
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


def plain(bootstrap, topic, partitions, rate, out):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "message.timeout.ms": 120000})
    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    stats = {"acked": 0, "failed": 0}

    def delivered(err, msg):
        if err is not None:
            stats["failed"] += 1
            return
        stats["acked"] += 1
        out.write(json.dumps({"p": msg.partition(), "o": msg.offset(),
                              "v": msg.value().decode(), "kind": "acked",
                              "t": time.time()}) + "\n")

    seq = 0
    start = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while seq < due:
            p.produce(topic, value=f"s{seq}".encode(), partition=seq % partitions,
                      on_delivery=delivered)
            seq += 1
        p.poll(0.02)
    left = p.flush(150)
    return {"sent": seq, **stats, "undelivered": left}


def txn(bootstrap, topic, partitions, per_s, out):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": f"soak-{topic}",
            "linger.ms": 5, "transaction.timeout.ms": 60000}
    p = Producer(conf)
    p.init_transactions(60)
    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    stats = {"committed": 0, "aborted": 0, "unknown": 0, "reinit": 0}
    t = 0
    while not stop.is_set():
        abort = t % 3 == 2
        delivered = []

        def cb(err, msg):
            if err is None:
                delivered.append((msg.partition(), msg.offset(), msg.value().decode()))

        kind = "unknown"
        committing = False
        try:
            p.begin_transaction()
            for part in range(partitions):
                p.produce(topic, value=f"t{t}-{part}-{'a' if abort else 'c'}".encode(),
                          partition=part, on_delivery=cb)
            if p.flush(60) != 0:
                raise KafkaException("flush timed out")
            if abort:
                p.abort_transaction(60)
                kind = "aborted"
            else:
                committing = True
                p.commit_transaction(60)
                kind = "committed"
        except KafkaException as e:
            err = e.args[0] if e.args else None
            requires_abort = bool(err is not None and hasattr(err, "txn_requires_abort")
                                  and err.txn_requires_abort())
            try:
                if committing and not requires_abort:
                    p.commit_transaction(60)  # retriable: the commit may be retried
                    kind = "committed"
                else:
                    p.abort_transaction(60)
                    kind = "aborted"
            except KafkaException:
                # Fatal, or the retry failed: start over with a new producer (the same
                # transactional.id fences the old one and aborts its open transaction). A
                # commit that failed half-way may have been written: its outcome is unknown.
                p = Producer(conf)
                p.init_transactions(60)
                stats["reinit"] += 1
                kind = "unknown" if committing else "aborted"
        stats[kind] += 1
        done = time.time()
        for (part, off, v) in delivered:
            out.write(json.dumps({"p": part, "o": off, "v": v, "kind": kind, "t": done}) + "\n")
        out.flush()
        t += 1
        time.sleep(1.0 / per_s)
    return {"transactions": t, **stats}


def main():
    mode, bootstrap, topic, partitions, rate, path = sys.argv[1:7]
    with open(path, "w") as out:
        fn = plain if mode == "plain" else txn
        summary = fn(bootstrap, topic, int(partitions), float(rate), out)
    print(json.dumps(summary))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
