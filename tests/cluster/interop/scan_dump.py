"""Scan a plain-format pg_dump file for anything a signer could use (tests/cluster/tests/sealing.rs).

  scan_dump.py <dump.sql> <hints.json>

hints.json: {"secrets": [hex, ...], "hs_tokens": [compact JWS, ...]}
  secrets:   byte strings that must not appear in the dump in any common encoding
             (raw, hex, base64, base64url);
  hs_tokens: HS256 tokens; no bytea value, nor any 32 to 64-byte window of one, may be a key
             that verifies one.

Every bytea value in the COPY data of every table is decoded and, at every offset where a DER
SEQUENCE starts, loaded with the `cryptography` package as a private key (PKCS#8, PKCS#1 RSA,
SEC1 EC). Prints one JSON object: what was scanned and everything found.
"""
import base64
import hashlib
import hmac
import json
import re
import sys

from cryptography.hazmat.primitives import serialization

COPY = re.compile(r"^COPY ([^ ]+) \(([^)]*)\) FROM stdin;$")


def der_length(value, i):
    """Length of the DER TLV at value[i] (tag at i), or None."""
    if i + 2 > len(value):
        return None
    first = value[i + 1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or i + 2 + n > len(value):
        return None
    return 2 + n + int.from_bytes(value[i + 2 : i + 2 + n], "big")


def loadable_keys(value):
    found = []
    for i, b in enumerate(value):
        if b != 0x30:
            continue
        n = der_length(value, i)
        if n is None or i + n > len(value):
            continue
        try:
            key = serialization.load_der_private_key(value[i : i + n], password=None)
        except Exception:
            continue
        found.append({"offset": i, "type": type(key).__name__})
    return found


def hmac_keys(value, tokens):
    found = []
    for token in tokens:
        head, payload, sig = token.split(".")
        signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        signing_input = f"{head}.{payload}".encode()
        # The whole value, and every window of 32 to 64 bytes (the secrets the test makes).
        windows = {(0, len(value))}
        for n in range(32, 65):
            windows.update((s, s + n) for s in range(len(value) - n + 1))
        for start, end in sorted(windows):
            mac = hmac.new(value[start:end], signing_input, hashlib.sha256).digest()
            if hmac.compare_digest(mac, signature):
                found.append({"start": start, "end": end})
    return found


def encodings(secret):
    yield "raw", secret.decode("latin-1")
    yield "hex", secret.hex()
    yield "base64", base64.b64encode(secret).decode().rstrip("=")
    yield "base64url", base64.urlsafe_b64encode(secret).decode().rstrip("=")


def main(dump_path, hints_path):
    dump = open(dump_path, encoding="utf-8").read()
    hints = json.load(open(hints_path))
    secrets = [bytes.fromhex(s) for s in hints.get("secrets", [])]
    tokens = hints.get("hs_tokens", [])
    report = {"tables": {}, "bytea_values": 0, "loadable": [], "hmac_keys": [], "secrets": []}
    table = None
    for line in dump.splitlines():
        if table is None:
            m = COPY.match(line)
            if m:
                table = m.group(1)
                report["tables"].setdefault(table, 0)
            continue
        if line == "\\.":
            table = None
            continue
        report["tables"][table] += 1
        for column, field in enumerate(line.split("\t")):
            if not field.startswith("\\\\x"):
                continue
            value = bytes.fromhex(field[3:])
            report["bytea_values"] += 1
            where = {"table": table, "column": column, "length": len(value)}
            for hit in loadable_keys(value):
                report["loadable"].append({**where, **hit})
            for hit in hmac_keys(value, tokens):
                report["hmac_keys"].append({**where, **hit})
    if "PRIVATE KEY-----" in dump:
        report["loadable"].append({"pem": True})
    for i, secret in enumerate(secrets):
        for name, text in encodings(secret):
            if text and text in dump:
                report["secrets"].append({"secret": i, "encoding": name})
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
