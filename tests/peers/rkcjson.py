"""Shared by the peers: the JSON shape `rkc consume` prints for one message, so that what a peer
produced (or read with librdkafka) compares directly with rkc's stdout.

  {"topic","partition","offset","timestamp","key"|"key_b64","value"|"value_b64","headers"}

key/value: UTF-8 text, null when absent, else standard base64 under `key_b64`/`value_b64`.
Header values: text, null when absent, else {"b64": "..."}. Order and duplicates kept.
"""
import base64


def _text_or_b64(data):
    """(is_text, encoded) for bytes that are not None."""
    try:
        return True, data.decode("utf-8")
    except UnicodeDecodeError:
        return False, base64.b64encode(data).decode("ascii")


def put_bytes(obj, field, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data is None:
        obj[field] = None
        return
    is_text, enc = _text_or_b64(data)
    obj[field if is_text else field + "_b64"] = enc


def header_value(data):
    if data is None:
        return None
    if isinstance(data, str):
        data = data.encode("utf-8")
    is_text, enc = _text_or_b64(data)
    return enc if is_text else {"b64": enc}


def message(topic, partition, offset, timestamp, key, value, headers):
    obj = {"topic": topic, "partition": partition, "offset": offset, "timestamp": timestamp}
    put_bytes(obj, "key", key)
    put_bytes(obj, "value", value)
    obj["headers"] = [[k, header_value(v)] for k, v in (headers or [])]
    return obj


def from_confluent(msg):
    """The rkc shape of a confluent_kafka.Message."""
    _ts_type, ts = msg.timestamp()
    return message(
        msg.topic(), msg.partition(), msg.offset(), ts, msg.key(), msg.value(), msg.headers()
    )
