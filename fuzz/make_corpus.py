#!/usr/bin/env python3
# edgecoap fuzz: writes the seed corpora of fuzz/corpus/<harness>/ (valid documents, their CBOR forms, hostile cases, raw CoAP datagrams).
# SPDX-License-Identifier: Apache-2.0
"""Regenerate the seed corpora deterministically.

Only the Python standard library is used: the CBOR writer and the CoAP
datagram builder below are a few dozen lines each, and writing the hostile
cases by hand (wrong heads, lying lengths) needs byte-level control that a
CBOR library would refuse to give anyway.

Files are named after what they hold; the request corpus carries a numeric
prefix because its harness keeps server state between inputs and the replay
runs files in name order (a report is posted before it is read).
Entries that libFuzzer adds with -merge=1 are named by their SHA-1 and are
left alone; every other file is this script's, rewritten or, when no longer
named here, removed.
"""
import json
import os
import re
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")

# ---- CBOR ----------------------------------------------------------------


def head(major, n):
    """The shortest head of major type @major with argument @n."""
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 0x100000000:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def cbor(v):
    """RFC 8949 encoding of a JSON-shaped value; dict order is kept."""
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return head(3, len(b)) + b
    if isinstance(v, bytes):
        return head(2, len(v)) + v
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        out = head(5, len(v))
        for k, x in v.items():
            out += cbor(k) + cbor(x)
        return out
    if isinstance(v, Raw):
        return v.b
    raise TypeError(v)


class Raw:
    """Bytes spliced into a CBOR document as they are."""

    def __init__(self, b):
        self.b = b


def jdump(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


# ---- CoAP ------------------------------------------------------------------

CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE, FETCH, PATCH, IPATCH = 1, 2, 3, 4, 5, 6, 7
IF_MATCH, ETAG, OBSERVE, URI_PATH, CONTENT_FORMAT = 1, 4, 6, 11, 12
URI_QUERY, ACCEPT, BLOCK2, BLOCK1, SIZE2, SIZE1, AUTH_TOKEN = 15, 17, 23, 27, 28, 60, 65000
NO_RESPONSE = 258
TOKEN = b"edgecoap-fuzz-token-0123456789ab"  # fuzz_request.c's seeded token


def uint_opt(n):
    """A CoAP uint option value: big-endian, no leading zero bytes."""
    out = b""
    while n:
        out = bytes([n & 0xFF]) + out
        n >>= 8
    return out


def block(num, more, szx):
    return uint_opt(num << 4 | (8 if more else 0) | szx)


def ext(n):
    """The 4-bit nibble and extension bytes of an option delta or length."""
    if n < 13:
        return n, b""
    if n < 269:
        return 13, bytes([n - 13])
    return 14, struct.pack(">H", n - 269)


def coap(code, mid, opts=(), payload=b"", mtype=CON, token=b"\x01\x02"):
    """A datagram; @opts is (number, value) pairs, sorted here."""
    out = bytes([0x40 | mtype << 4 | len(token), code, mid >> 8, mid & 0xFF]) + token
    last = 0
    for num, val in sorted(opts, key=lambda o: o[0]):
        if isinstance(val, str):
            val = val.encode()
        d, dx = ext(num - last)
        l, lx = ext(len(val))
        out += bytes([d << 4 | l]) + dx + lx + val
        last = num
    if payload:
        out += b"\xff" + payload
    return out


def path(p):
    return [(URI_PATH, seg) for seg in p.strip("/").split("/")]


def query(*qs):
    return [(URI_QUERY, q) for q in qs]


def cf(n):
    return (CONTENT_FORMAT, uint_opt(n))


# ---- documents ---------------------------------------------------------------

UUID = "a3e2f5dc-912e-494f-8395-52cf3769bc06"
UUID2 = "0f8fad5b-d9cb-469f-a165-70867728950e"

with open(os.path.join(DATA, "seed-deployment-status.json"), "rb") as f:
    SEED_STATUS_RAW = f.read()
SEED_STATUS = json.loads(SEED_STATUS_RAW)
with open(os.path.join(DATA, "seed-status-messages.json"), "rb") as f:
    SEED_MESSAGES_RAW = f.read()


def status(state="Installing", comps=None, **extra):
    d = {"apiVersion": "deployment.margo/v1", "kind": "DeploymentStatus",
         "deploymentId": UUID, "status": {"state": state}}
    d.update(extra)
    d["components"] = comps if comps is not None else [
        {"name": "digitron-orchestrator", "state": "Installed"},
        {"name": "database-services", "state": state}]
    return d


FAILED = status("Failed", [
    {"name": "app", "state": "Failed",
     "error": {"code": "E42", "message": "image pull failed", "source": "kubelet"}}],
    deviceId="dev-1", adoptedManifestVersion=3)
FAILED["status"]["error"] = {"code": "E42", "message": "component app failed"}

MESSAGE = {"messageDate": "2018-06-17T14:50:10.033Z", "messageCode": 101,
           "messageParameters": [{"Delivery date": "2018-06-17"}],
           "orderId": "O10000004234345", "subscriptionId": "S100943053344",
           "accessId": "A100003453455", "macAddress": ["00:1A:2b:3c:4d:5e", "001a.2b3c.4d5f"],
           "dhcpOption": {"IPv4": {"option82": {"remoteId": "KS_A001:Gi0/014",
                                                "circuitId": "A100003453455"}},
                          "IPv6": {"option18": {"interfaceId": "eth0"},
                                   "option37": {"remoteId": "r-1"}}}}
STORED = dict(MESSAGE, statusMessageID=7)


def deep(n, leaf=1):
    v = leaf
    for _ in range(n):
        v = [v]
    return v


def hostile_common():
    """Cases every document decoder must refuse calmly."""
    return {
        "empty": b"",
        "blank.json": b" \t\r\n",
        "deep-16.json": jdump(deep(16)),
        "deep-17.json": jdump(deep(17)),
        "deep-4000.json": b"[" * 4000 + b"]" * 4000,
        "deep-17.cbor": b"\x81" * 17 + b"\x01",
        "deep-indef-17.cbor": b"\x9f" * 17 + b"\xff" * 17,
        "array-claims-2e32.cbor": b"\x9a\xff\xff\xff\xff\x01",
        "map-claims-2e64.cbor": b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01",
        "text-claims-2e63.cbor": b"\x7b\x80\x00\x00\x00\x00\x00\x00\x00ab",
        "text-claims-2e32.cbor": b"\x7a\xff\xff\xff\xff" + b"a" * 8,
        "indef-map-open.cbor": b"\xbf\x61a\x01",
        "indef-map-key-only.cbor": b"\xbf\x61a\xff",
        "indef-text-bad-chunk.cbor": b"\x7f\x61a\x41b\xff",
        "indef-text-nested.cbor": b"\x7f\x7f\xff\xff",
        "break-alone.cbor": b"\xff",
        "invalid-utf8.json": b'{"apiVersion":"\xc0\xaf"}',
        "invalid-utf8-split.cbor": b"\xa1\x61a\x7f\x61\xc3\x61\xa9\xff",
        "surrogate.cbor": cbor({"a": Raw(b"\x63\xed\xa0\x80")}),
        "lone-surrogate.json": b'{"a":"\\ud800"}',
        "nul-escape.json": b'{"a":"x\\u0000y"}',
        "nul-in-text.cbor": cbor({"a": Raw(b"\x63x\x00y")}),
        "int-2e64.json": b'{"a":18446744073709551616}',
        "int-neg-2e64.cbor": b"\xa1\x61a\x3b\xff\xff\xff\xff\xff\xff\xff\xff",
        "uint-over-int64.cbor": b"\xa1\x61a\x1b\x80\x00\x00\x00\x00\x00\x00\x00",
        "float-1e400.json": b'{"a":1e400}',
        "half-nan.cbor": b"\xa1\x61a\xf9\x7e\x00",
        "half-inf.cbor": b"\xa1\x61a\xf9\x7c\x00",
        "dup-key.json": b'{"a":1,"a":2}',
        "dup-key.cbor": b"\xa2\x61a\x01\x61a\x02",
        "dup-int-text-key.cbor": b"\xa2\x01\x01\x611\x02",
        "float-key.cbor": b"\xa1\xf9\x3c\x00\x01",
        "array-key.cbor": b"\xa1\x80\x01",
        "tag.cbor": b"\xc1\x1a\x5b\x26\x5a\x92",
        "bytes.cbor": b"\xa1\x61a\x42\x00\x01",
        "undefined.cbor": b"\xa1\x61a\xf7",
        "simple.cbor": b"\xa1\x61a\xf0",
        "trailing.cbor": b"\xa0\x00",
        "trailing.json": b"{} x",
        "truncated.cbor": b"\xa2\x61a\x01\x61",
        "reserved-ai.cbor": b"\x1c",
    }


def with_forms(docs):
    """Each named document as JSON and as CBOR."""
    out = {}
    for name, d in docs.items():
        out[name + ".json"] = jdump(d)
        out[name + ".cbor"] = cbor(d)
    return out


def corpus_deployment_status():
    c = {"seed.json": SEED_STATUS_RAW, "seed-compact.json": jdump(SEED_STATUS),
         "seed.cbor": cbor(SEED_STATUS)}
    docs = {
        "installing": status(),
        "failed-with-errors": FAILED,
        "manifest-kind": dict(status("removing"), kind="DeploymentStatusManifest"),
        "states-mixed-case": status("iNsTaLlEd", [{"name": "a", "state": "REMOVED"}]),
        "no-components": status("Pending", []),
        "error-only-source": status("Failed", [{"name": "a", "state": "failed",
                                                "error": {"source": "x"}}]),
        "error-empty": status("Failed", [{"name": "a", "state": "failed",
                                          "error": {"code": "", "message": "", "source": ""}}]),
        "error-missing-message": status("Failed", [{"name": "a", "state": "failed",
                                                    "error": {"code": "E"}}]),
        "unknown-top-key": dict(status(), extra=1),
        "unknown-inner-keys": status("Pending", [{"name": "a", "state": "Pending", "x": [1]}]),
        "dup-component": status("Pending", [{"name": "a", "state": "Pending"},
                                            {"name": "a", "state": "Failed"}]),
        "bad-state": status("Running"),
        "bad-uuid": dict(status(), deploymentId="not-a-uuid"),
        "amv-zero": dict(status(), adoptedManifestVersion=0),
        "amv-float": dict(status(), adoptedManifestVersion=1.0),
        "amv-string": dict(status(), adoptedManifestVersion="3"),
        "amv-max": dict(status(), adoptedManifestVersion=2**63 - 1),
        "status-array": dict(status(), status=[{"state": "Pending"}]),
        "null-status": dict(status(), status=None),
        "components-object": dict(status(), components={"name": "a"}),
        "empty-object": {},
        "array-root": [status()],
        "long-name": status("Pending", [{"name": "n" * 1024, "state": "Pending"}]),
        "too-long-name": status("Pending", [{"name": "n" * 1025, "state": "Pending"}]),
        "unicode": status("Pending", [{"name": "\u00e9\u4e2d\U0001F600", "state": "Pending"}]),
        "many-components": status("Pending", [{"name": "c%d" % i, "state": "Pending"}
                                              for i in range(257)]),
    }
    c.update(with_forms(docs))
    c.update(hostile_common())
    return c


def history(n=2):
    return {"reports": [{"seq": i + 1, "receivedAt": "2024-01-0%dT10:00:00.%03dZ" % (i + 1, i),
                         "report": status() if i % 2 == 0 else FAILED} for i in range(n)]}


def corpus_deployment_lists():
    deps = {"deployments": [
        {"deploymentId": UUID, "state": "Installed", "updatedAt": "2024-01-01T10:00:00.000Z"},
        {"deploymentId": UUID2, "state": "failed", "updatedAt": "2024-02-29T23:59:60+01:00"}]}
    docs = {
        "history": history(),
        "history-empty": {"reports": []},
        "history-seq-zero": {"reports": [dict(history(1)["reports"][0], seq=0)]},
        "history-bad-report": {"reports": [dict(history(1)["reports"][0], report={"x": 1})]},
        "history-extra-keys": dict(history(1), next=5),
        "deployments": deps,
        "deployments-empty": {"deployments": []},
        "deployments-year0": {"deployments": [dict(deps["deployments"][0],
                                                   updatedAt="0000-01-01T00:00:00+00:01")]},
        "deployments-year9999": {"deployments": [dict(deps["deployments"][0],
                                                      updatedAt="9999-12-31T23:59:59.999-00:01")]},
        "deployments-feb29": {"deployments": [dict(deps["deployments"][0],
                                                   updatedAt="2023-02-29T00:00:00Z")]},
        "deployments-not-array": {"deployments": {}},
    }
    c = with_forms(docs)
    c.update(hostile_common())
    return c


def corpus_problem():
    c = {
        "json.json": jdump({"title": "invalid-state", "detail": "status.state must be one of ...",
                            "response-code": "4.22", "field": "status.state"}),
        "concise.cbor": cbor({-1: "invalid-state", -2: "status.state must be ...", -4: 150,
                              "field": "status.state"}),
        "concise-names.cbor": cbor({"title": "t", "response-code": "5.03"}),
        "mixed.json": jdump({"-1": "t", "title": "u", "-4": 150}),
        "code-7.31.json": jdump({"response-code": "7.31"}),
        "code-8.00.json": jdump({"response-code": "8.00"}),
        "code-4.32.json": jdump({"response-code": "4.32"}),
        "code-long.json": jdump({"response-code": "4.222"}),
        "code-255.cbor": cbor({-4: 255}),
        "code-256.cbor": cbor({-4: 256}),
        "code-neg.cbor": cbor({-4: -1}),
        "code-float.json": b'{"response-code":150.0}',
        "title-int.json": jdump({"title": 5}),
        "field-empty.json": jdump({"title": "t", "field": ""}),
        "extension.cbor": cbor({-1: "t", -3: "instance", 7: [1, 2], "x": {"y": None}}),
        "empty-object.json": b"{}",
        "string-root.json": b'"problem"',
    }
    c.update(hostile_common())
    return c


def corpus_transcode():
    docs = {
        "scalars": [0, -1, 23, 24, 255, 256, 65535, 65536, 2**32, 2**63 - 1, -2**63,
                    True, False, None, "", "x", 1.5, -0.0, 1e300, 3.4028234663852886e38],
        "nested": {"a": [{"b": {"c": [[], {}]}}], "\u00e9": "\U0001F600"},
        "escapes": {"q\"\\/\b\f\n\r\t\u0001": "\u2028"},
    }
    c = with_forms(docs)
    c.update({
        "int-keys.cbor": cbor({1: "a", -1: "b", 0: "c", 2**63 - 1: "d", -2**63: "e"}),
        "half-floats.cbor": b"\x85\xf9\x00\x01\xf9\x7b\xff\xf9\x80\x00\xf9\x3c\x00\xf9\x04\x00",
        "single-float.cbor": b"\x82\xfa\x47\xc3\x50\x00\xfa\x00\x00\x00\x01",
        "double-float.cbor": b"\x81\xfb\x3f\xb9\x99\x99\x99\x99\x99\x9a",
        "indef-all.cbor": b"\xbf\x61a\x9f\x01\x7f\x61x\x60\xff\xff\xff",
        "scalar-root.cbor": b"\x18\x2a",
        "scalar-root.json": b"42",
        "string-root.json": b'"s"',
        "big-real.json": b"[1e308,-1e-308,5e-324,0.1,1E2,-0]",
        "unicode-escapes.json": b'["\\ud83d\\ude00","\\u00e9"]',
        "int-key-looking.json": jdump({"-1": 1, "01": 2, "-0": 3, "9223372036854775808": 4}),
        "many-items.cbor": head(4, 20001) + b"\x00" * 20001,
        "max-items.cbor": head(4, 20000) + b"\x00" * 20000,
    })
    c.update(hostile_common())
    return c


def corpus_time():
    times = [
        "2018-06-17T14:50:10.033Z", "2018-06-17T14:50:10.033", "2018-06-17t14:50:10z",
        "2018-06-17T14:50:10.0339999Z", "2018-06-17T14:50:10.Z", "2018-06-17T14:50:10+05:30",
        "2018-06-17T14:50:10-23:59", "2018-06-17T14:50:10+24:00", "2016-12-31T23:59:60Z",
        "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z",
        "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999-00:01",
        "1969-12-31T23:59:59.999Z", "2018-13-01T00:00:00Z", "2018-06-17T24:00:00Z",
        "2018-06-17 14:50:10Z", "2018-6-17T14:50:10Z", "+2018-06-17T14:50:10Z", "",
        "2018-06-17T14:50:10.033Zjunk", "2018-06-17T14:50:10.0330000000000000000000001Z",
    ]
    c = {"t%02d" % i: t.encode() for i, t in enumerate(times)}
    c["ms-0"] = struct.pack("<q", 0)
    c["ms-min"] = struct.pack("<q", -62167219200000)
    c["ms-max"] = struct.pack("<q", 253402300799999)
    c["ms-int64-min"] = struct.pack("<q", -2**63)
    return c


def corpus_status_message():
    with open(os.path.join(DATA, "seed-status-messages.json"), "rb") as f:
        seed = json.load(f)
    new_batch = {"StatusMessages": [dict(m) for m in seed["StatusMessages"]]}
    for m in new_batch["StatusMessages"]:
        m.pop("statusMessageID", None)
    docs = {
        "seed-batch": seed,
        "seed-batch-new": new_batch,
        "message": MESSAGE,
        "stored": STORED,
        "stored-batch": {"StatusMessages": [STORED, dict(STORED, statusMessageID=8)]},
        "stored-batch-empty": {"StatusMessages": []},
        "strings-for-numbers": dict(MESSAGE, messageCode="101"),
        "code-99": dict(MESSAGE, messageCode=99),
        "code-1000": dict(MESSAGE, messageCode=1000),
        "code-float": dict(MESSAGE, messageCode=101.0),
        "no-identifier": {"messageCode": 101},
        "client-id": dict(MESSAGE, statusMessageID=1),
        "bad-mac": dict(MESSAGE, macAddress=["oc:be:65:40:20:de"]),
        "mac-spellings": dict(MESSAGE, macAddress=["001A2B3C4D5E", "00-1a-2b-3c-4d-5e",
                                                   "00:1a:2b:3c:4d:5e", "001a.2b3c.4d5e"]),
        "mac-mixed-separators": dict(MESSAGE, macAddress=["00:1a-2b:3c:4d:5e"]),
        "mac-17-nohex": dict(MESSAGE, macAddress=["0g:1a:2b:3c:4d:5e"]),
        "params-two-keys": dict(MESSAGE, messageParameters=[{"a": "1", "b": "2"}]),
        "params-empty-key": dict(MESSAGE, messageParameters=[{"": "1"}]),
        "params-number": dict(MESSAGE, messageParameters=[{"a": 1}]),
        "dhcp-empty": dict(MESSAGE, dhcpOption={}),
        "dhcp-empty-inner": dict(MESSAGE, dhcpOption={"IPv4": {}, "IPv6": {"option18": {}}}),
        "order-id-bad-chars": dict(MESSAGE, orderId="O/1"),
        "access-id-37": dict(MESSAGE, accessId="A" * 33),
        "date-offset": dict(MESSAGE, messageDate="2018-06-17T14:50:10.033+02:00"),
        "date-bad": dict(MESSAGE, messageDate="yesterday"),
        "id-string-huge": dict(STORED, statusMessageID="99999999999999999999"),
        "id-negative-string": dict(STORED, statusMessageID="-5"),
        "batch-not-array": {"StatusMessages": {}},
        "batch-of-one-bad": {"StatusMessages": [MESSAGE, {"messageCode": 1}]},
        "unknown-key": dict(MESSAGE, color="blue"),
    }
    c = {"seed-batch-raw.json": SEED_MESSAGES_RAW}
    c.update(with_forms(docs))
    c.update(hostile_common())
    return c


def corpus_msg_filter():
    docs = {
        "all": {"orderId": "O1", "subscriptionId": "S-1.2", "accessId": "A1",
                "macAddress": "00:1a:2b:3c:4d:5e", "fromDateTime": "2018-06-17T00:00:00Z",
                "toDateTime": "2018-06-18T00:00:00+02:00", "fromStatusMessageID": 5,
                "toStatusMessageID": "100", "limit": 10},
        "empty": {},
        "limit-0": {"limit": 0},
        "limit-10001": {"limit": 10001},
        "limit-string": {"limit": "50"},
        "id-negative": {"fromStatusMessageID": -1},
        "id-max": {"toStatusMessageID": 2**63 - 1},
        "id-float": {"fromStatusMessageID": 1.0},
        "mac-bad": {"macAddress": "zz"},
        "unknown": {"color": "blue"},
        "date-bad": {"fromDateTime": "2018-02-30T00:00:00Z"},
        "array-root": [{"limit": 1}],
    }
    c = with_forms(docs)
    c.update({
        "query-all.txt": b"orderId=O1&subscriptionId=S1&accessId=A1&macAddress=001a2b3c4d5e"
                         b"&fromDateTime=2018-06-17T00:00:00Z&toDateTime=2018-06-18T00:00:00%2B02:00"
                         b"&fromStatusMessageID=5&toStatusMessageID=100&limit=10",
        "query-dup.txt": b"limit=1&limit=2",
        "query-unknown.txt": b"foo=bar",
        "query-no-value.txt": b"orderId",
        "query-empty-value.txt": b"orderId=",
        "query-overflow.txt": b"fromStatusMessageID=9223372036854775808",
        "query-limit-sign.txt": b"limit=+5",
        "query-date-offset.txt": b"fromDateTime=2018-06-17T00:00:00+02:00",
    })
    c.update(hostile_common())
    return c


def corpus_provisioning():
    ids = [1, 2]
    docs = {
        "select": {"action": "select", "provisioning_id": 11, "limit": 5},
        "select-all-keys": {"action": "SELECT", "provisioning_component_id": [1, 2],
                            "provisioning_id": "11", "component_type": "sensor",
                            "component_id": 3, "active_status": 0, "limit": "1000"},
        "insert": {"action": "insert", "provisioning_id": 11, "component_type": 0,
                   "component_id": ids, "active_status": 1},
        "insert-type-name": {"action": "insert", "provisioning_id": 11,
                             "component_type": "Group Parameter", "component_id": 4},
        "insert-missing-id": {"action": "insert", "provisioning_id": 11, "component_type": 1},
        "update-by-pc-id": {"action": "update", "provisioning_component_id": [7],
                            "active_status": 1},
        "update-by-triple": {"action": "update", "provisioning_id": 11, "component_type": "2",
                             "component_id": [1, 2, 3], "active_status": 0},
        "update-incompatible": {"action": "update", "provisioning_component_id": 7,
                                "provisioning_id": 11, "active_status": 1},
        "update-only-action": {"action": "update"},
        "bad-action": {"action": "delete"},
        "no-action": {"provisioning_id": 11},
        "unknown-key": {"action": "select", "colour": 1},
        "type-3": {"action": "select", "component_type": 3},
        "ids-empty": {"action": "select", "component_id": []},
        "ids-negative": {"action": "select", "component_id": [-1]},
        "id-19-digits": {"action": "select", "provisioning_id": "1234567890123456789"},
        "active-2": {"action": "update", "provisioning_component_id": 1, "active_status": 2},
        "login": {"username": "admin", "password": "admin-pass-4e1f"},
        "logout": {"token": "00" * 32},
        "login-and-token": {"username": "a", "password": "b", "token": "c"},
        "login-empty-user": {"username": "", "password": "b"},
        "login-extra": {"username": "a", "password": "b", "remember": True},
        "select-answer": {"responses": {"response_0": {
            "provisioning_component_id": 1, "provisioning_id": 11, "component_type": "Sensor",
            "component_id": 3, "name": "Humidity", "active_status": 0, "last_modified_by": 1,
            "last_modified_datetime": "2021-10-12 06:35:44"}, "response_1": {
            "provisioning_component_id": "2", "provisioning_id": "11", "component_type": 2,
            "component_id": 4, "name": "x", "active_status": 5, "last_modified_by": "1",
            "last_modified_datetime": "2020-02-29 23:59:60"}}},
        "select-answer-gap": {"responses": {"response_1": {}}},
        "select-answer-empty": {"responses": {}},
        "insert-answer": {"provisioning_id": 11, "component_type": "Sensor", "component_id": [1, 2],
                          "active_status": 1, "last_modified_by": 1,
                          "last_modified_datetime": "2021-10-12 06:35:44", "error": "NO_ERROR"},
        "update-answer": {"provisioning_component_id": [7, 8], "active_status": 0,
                          "error": "NO_ERROR"},
        "update-answer-triple": {"provisioning_id": 11, "component_type": "Parameter",
                                 "component_id": [5], "active_status": 1, "error": "NO_ERROR"},
        "insert-answer-pc-id": {"provisioning_component_id": [1], "active_status": 0,
                                "last_modified_by": 1,
                                "last_modified_datetime": "2021-10-12 06:35:44",
                                "error": "NO_ERROR"},
        "error": {"error": "INVALID_INPUT_PRAM", "error_detail": "INVALID_PRAM_COLOUR"},
        "error-ids": {"error": "INVALID_COMPONENT_SENSOR_ID_PRAM", "error_detail": [9, 10]},
        "error-ids-empty": {"error": "X", "error_detail": []},
        "error-login": {"status": "FAILURE", "error": "ACCOUNT_PASSWORD_INCORRECT"},
        "login-answer": {"token": "ab" * 32, "userid": 1, "userrole": "admin",
                         "username": "admin", "status": "SUCCESS", "error": "NO_ERROR"},
        "logout-answer": {"status": "LOGGED_OUT", "error": "NO_ERROR"},
    }
    c = with_forms(docs)
    c.update({
        "token-raw.bin": bytes(range(32)),
        "token-hex.txt": b"0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789",
        "datetime.txt": b"2021-10-12 06:35:44",
        "datetime-leap.txt": b"2016-12-31 23:59:60",
        "datetime-feb31.txt": b"2021-02-31 00:00:00",
        "datetime-year0.txt": b"0000-01-01 00:00:00",
        "type-name.txt": b"group parameter",
    })
    c.update(hostile_common())
    return c


def corpus_request():
    st = "device/dev-1/deployment/%s/status" % UUID
    seed_cbor = cbor(SEED_STATUS)
    big = jdump(status("Pending", [{"name": "component-%03d" % i, "state": "Installing"}
                                   for i in range(40)]))
    login = jdump({"username": "fuzz", "password": "fuzz"})
    auth = (AUTH_TOKEN, TOKEN)
    comps = "v1/DeviceProvisioningComponents"
    msgs = "api/2.3/statusmessages"
    r = []

    def add(name, dgram):
        r.append(("%03d-%s" % (len(r), name), dgram))

    # Deployment status: write, read, observe, history, list.
    add("post-status-seed-json", coap(POST, 1, path(st), SEED_STATUS_RAW))
    add("put-status-cbor", coap(PUT, 2, path(st) + [cf(60)], cbor(status())))
    add("post-status-failed-cbor-sniffed", coap(POST, 3, path(st), cbor(FAILED)))
    add("post-status-retransmit", coap(POST, 3, path(st), cbor(FAILED)))
    add("get-status", coap(GET, 4, path(st)))
    add("get-status-accept-cbor", coap(GET, 5, path(st) + [(ACCEPT, uint_opt(60))]))
    add("get-status-uppercase-id", coap(GET, 6, path("device/dev-1/deployment/%s/status"
                                                     % UUID.upper())))
    add("observe-status", coap(GET, 7, path(st) + [(OBSERVE, b"")], token=b"obs1"))
    add("post-status-notifies", coap(POST, 8, path(st), jdump(status("Installed"))))
    add("observe-cancel", coap(GET, 9, path(st) + [(OBSERVE, b"\x01")], token=b"obs1"))
    add("get-history", coap(GET, 10, path(st + "/history") + query("since=0", "limit=10")))
    add("get-history-bad-limit", coap(GET, 11, path(st + "/history") + query("limit=0")))
    add("get-history-unknown-query", coap(GET, 12, path(st + "/history") + query("page=2")))
    add("get-history-overflow", coap(GET, 13, path(st + "/history") +
                                     query("since=99999999999999999999")))
    add("get-deployments", coap(GET, 14, path("device/dev-1/deployments")))
    add("get-deployments-unknown-device", coap(GET, 15, path("device/nobody/deployments")))
    add("post-deployments-405", coap(POST, 16, path("device/dev-1/deployments"), b"{}"))
    add("post-status-mismatch-422", coap(POST, 17, path("device/dev-1/deployment/%s/status" % UUID2),
                                         jdump(status())))
    add("post-status-bad-route", coap(POST, 18, path("device/dev 1/deployment/x/status"), b"{}"))
    add("post-status-empty-body", coap(POST, 19, path(st)))
    add("post-status-deep", coap(POST, 20, path(st) + [cf(50)], b"[" * 600 + b"]" * 600))
    add("post-status-cbor-lie", coap(POST, 21, path(st) + [cf(60)], b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff"))
    add("get-status-block2-num1", coap(GET, 22, path(st) + [(BLOCK2, block(1, False, 0))]))
    add("post-block1-first", coap(POST, 23, path(st) + [cf(50), (BLOCK1, block(0, True, 2)),
                                                         (SIZE1, uint_opt(len(big)))], big[:64]))
    add("post-block1-second", coap(POST, 24, path(st) + [cf(50), (BLOCK1, block(1, True, 2))],
                                   big[64:128]))
    add("post-block1-out-of-order", coap(POST, 25, path(st) + [cf(50), (BLOCK1, block(5, True, 2))],
                                         big[320:384]))
    add("post-size1-too-big", coap(POST, 26, path(st) + [cf(50), (BLOCK1, block(0, True, 6)),
                                                          (SIZE1, uint_opt(10**7))], big[:1024]))
    add("get-big-status-block2", coap(GET, 27, path(st) + [(BLOCK2, block(0, False, 0))]))
    # Status messages.
    add("post-message-json", coap(POST, 28, path(msgs) + [cf(50)], jdump(MESSAGE)))
    add("post-message-cbor", coap(POST, 29, path(msgs) + [cf(60)], cbor(MESSAGE)))
    add("post-message-batch", coap(POST, 30, path(msgs) + [cf(60)], cbor(
        {"StatusMessages": [MESSAGE, dict(MESSAGE, messageCode=110, macAddress=[])]})))
    add("post-message-client-id", coap(POST, 31, path(msgs), jdump(STORED)))
    add("get-messages-filtered", coap(GET, 32, path(msgs) + query("orderId=O10000004234345",
                                                                   "limit=5",
                                                                   "macAddress=00-1A-2B-3C-4D-5E")))
    add("get-messages-bad-filter", coap(GET, 33, path(msgs) + query("limit=0", "color=red")))
    add("fetch-messages", coap(FETCH, 34, path(msgs) + [cf(50)],
                               jdump({"fromStatusMessageID": 0, "limit": 2})))
    add("fetch-messages-cbor", coap(FETCH, 35, path(msgs) + [cf(60)],
                                    cbor({"accessId": "A100003453455"})))
    add("get-message-1", coap(GET, 36, path(msgs + "/1")))
    add("get-message-bad-id", coap(GET, 37, path(msgs + "/-1")))
    add("observe-latest", coap(GET, 38, path(msgs + "/latest") + query("orderId=O10000004234345") +
                               [(OBSERVE, b"")], token=b"obs2"))
    add("post-message-notifies", coap(POST, 39, path(msgs), jdump(MESSAGE)))
    # Provisioning.
    add("login", coap(POST, 40, path("v1/Login") + [cf(50)], login))
    add("login-wrong", coap(POST, 41, path("v1/Login"), jdump({"username": "fuzz", "password": "x"})))
    add("login-unknown-user", coap(POST, 42, path("v1/Login"), jdump({"username": "x", "password": "x"})))
    add("logout", coap(POST, 43, path("v1/Login"), jdump({"token": "ab" * 32})))
    add("get-components-no-token", coap(GET, 44, path(comps)))
    add("get-components", coap(GET, 45, path(comps) + [auth]))
    add("insert-components", coap(POST, 46, path(comps) + [auth, cf(50)],
                                  jdump({"action": "insert", "provisioning_id": 1,
                                         "component_type": "Sensor", "component_id": [1, 2]})))
    add("insert-unknown-component", coap(POST, 47, path(comps) + [auth, cf(60)],
                                         cbor({"action": "insert", "provisioning_id": 1,
                                               "component_type": 1, "component_id": [1, 99]})))
    add("select-components", coap(POST, 48, path(comps) + [auth],
                                  jdump({"action": "select", "provisioning_id": 1})))
    add("update-components", coap(POST, 49, path(comps) + [auth],
                                  jdump({"action": "update", "provisioning_component_id": [1],
                                         "active_status": 1})))
    add("observe-components", coap(GET, 50, path(comps) + [auth] + query("provisioning_id=1") +
                                   [(OBSERVE, b"")], token=b"obs3"))
    add("update-notifies", coap(POST, 51, path(comps) + [auth],
                                jdump({"action": "update", "provisioning_id": 1,
                                       "component_type": 0, "component_id": 2,
                                       "active_status": 0})))
    add("token-hex", coap(GET, 52, path(comps) + [(AUTH_TOKEN, TOKEN.hex())]))
    add("token-bad-length", coap(GET, 53, path(comps) + [(AUTH_TOKEN, b"short")]))
    # Transport and protocol edges.
    add("well-known-core", coap(GET, 54, path(".well-known/core")))
    add("ping", coap(0, 55, token=b""))
    add("non-get", coap(GET, 56, path(st), mtype=NON))
    add("ack-stray", coap(0, 7, mtype=ACK, token=b""))
    add("rst-stray", coap(0, 8, mtype=RST, token=b""))
    add("delete-405", coap(DELETE, 57, path(st)))
    add("patch", coap(PATCH, 58, path(st), b"{}"))
    add("accept-406", coap(GET, 59, path(st) + [(ACCEPT, uint_opt(41))]))
    add("content-format-415", coap(POST, 60, path(st) + [cf(41)], b"<x/>"))
    add("content-format-257", coap(POST, 61, path(st) + [cf(257)], b"\xa0"))
    add("unknown-critical-option", coap(GET, 62, path(st) + [(9, b"x")]))
    add("unknown-elective-option", coap(GET, 63, path(st) + [(2000, b"x")]))
    add("uri-path-nul", coap(GET, 64, [(URI_PATH, "device"), (URI_PATH, b"d\x00v"),
                                       (URI_PATH, "deployments")]))
    add("uri-path-long", coap(GET, 65, [(URI_PATH, "device"), (URI_PATH, "d" * 200),
                                        (URI_PATH, "deployments")]))
    add("uri-path-9-segments", coap(GET, 66, path("a/b/c/d/e/f/g/h/i")))
    add("uri-path-dot-dot", coap(GET, 67, path("device/../deployments")))
    add("unknown-path", coap(GET, 68, path("nothing/here")))
    add("put-unknown-path", coap(PUT, 69, path("device/dev-2/deployment/%s/status" % UUID2),
                                 jdump(dict(status(), deploymentId=UUID2))))
    add("two-content-formats", coap(POST, 70, path(st) + [cf(50), cf(60)], b"{}"))
    add("observe-too-long-value", coap(GET, 71, path(st) + [(OBSERVE, b"\x00\x00\x00\x01")]))
    add("observe-non-observable", coap(GET, 72, path("device/dev-1/deployments") + [(OBSERVE, b"")]))
    add("token-8-bytes", coap(GET, 73, path(st), token=b"12345678"))
    add("block2-szx7", coap(GET, 74, path(st) + [(BLOCK2, b"\x07")]))
    add("block1-huge-num", coap(POST, 75, path(st) + [(BLOCK1, b"\xff\xff\xfe")], b"x" * 16))
    # Finding F2: a CSM (7.01, RFC 8323 signaling) over UDP whose
    # Max-Message-Size libcoap 4.3.1 applies, then a list longer than 1152.
    add("csm-over-udp-max-message-size", coap(0xE1, 77, [(2, uint_opt(29285))],
                                              mtype=NON, token=b""))
    add("get-messages-after-csm", coap(GET, 78, path(msgs)))
    # No-Response (RFC 7967) suppressing 4.xx: a CON gets an empty ACK.
    add("no-response-4xx", coap(FETCH, 76, path(msgs) + [cf(97), (NO_RESPONSE, uint_opt(8))],
                                cbor({"accessId": "A1"})))
    r.extend([
        ("900-empty", b""),
        ("901-truncated-header", b"\x40\x01\x00"),
        ("902-version-2", b"\x80\x01\x00\x01"),
        ("903-tkl-9", b"\x49\x01\x00\x01" + b"123456789"),
        ("904-tkl-15", b"\x4f\x01\x00\x01" + b"x" * 15),
        ("905-token-truncated", b"\x44\x01\x00\x01ab"),
        ("906-option-delta-15", b"\x40\x01\x00\x01\xf0"),
        ("907-option-length-15", b"\x40\x01\x00\x01\xbf"),
        ("908-option-ext-truncated", b"\x40\x01\x00\x01\xd1"),
        ("909-option-length-overflow", b"\x40\x01\x00\x01\xbe\xff\xff" + b"x" * 8),
        ("910-payload-marker-empty", b"\x40\x02\x00\x01\xff"),
        ("911-response-code-as-request", b"\x40\x45\x00\x01"),
        ("912-empty-con-with-token", b"\x42\x00\x00\x01ab"),
        ("913-reserved-class", b"\x40\xe1\x00\x01"),
        ("914-ack-with-payload", b"\x60\x00\x00\x09\xffjunk"),
    ])
    return dict(r)


HARNESSES = {
    "deployment_status": corpus_deployment_status,
    "deployment_lists": corpus_deployment_lists,
    "problem": corpus_problem,
    "transcode": corpus_transcode,
    "time": corpus_time,
    "status_message": corpus_status_message,
    "msg_filter": corpus_msg_filter,
    "provisioning": corpus_provisioning,
    "request": corpus_request,
}


def main(argv):
    only = set(argv[1:])
    for name, make in HARNESSES.items():
        if only and name not in only:
            continue
        d = os.path.join(ROOT, name)
        os.makedirs(d, exist_ok=True)
        files = make()
        # Seeds this script no longer names go; merged SHA-1 entries stay.
        for old in os.listdir(d):
            if old not in files and not re.fullmatch(r"[0-9a-f]{40}", old):
                os.remove(os.path.join(d, old))
        for fname, data in files.items():
            with open(os.path.join(d, fname), "wb") as f:
                f.write(data)
        print("%-18s %3d seed files" % (name, len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
