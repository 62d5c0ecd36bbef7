#!/usr/bin/env python3
"""Seeds the fuzz corpora from the cross-language vectors and the captures.

Writes one file per seed into core/fuzz/corpus/<target>/ (not committed; libFuzzer adds
what it finds next to them). Idempotent: a seed's file name is the hash of its bytes.
Each target's input layout is described at the top of its fuzz_targets/<target>.rs.

usage: python3 core/fuzz/seed.py [corpus-dir]
"""

import gzip
import hashlib
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VECTORS = ROOT / "tests" / "vectors"
CAPTURES = ROOT / "tests" / "captures"


def cases(name):
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))["cases"]


def compact(text):
    """One line: the server target sends one frame per line."""
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return text.replace("\n", " ")


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"
    seeds = {t: set() for t in (
        "frame_decoder", "envelope", "text_parsers", "gzip_stream", "client_connection",
        "server_session")}

    valid = [c["input"] for c in cases("envelopes")]
    invalid = [c["input"] for c in cases("invalid_envelopes")]
    streams = ["".join(c["chunks"]) for c in cases("framing")]
    captures = [p.read_text(encoding="utf-8") for p in sorted(CAPTURES.glob("*.lime"))]
    streams += captures + ["".join(valid[:20])]

    for text in valid + invalid:
        seeds["envelope"].add(text.encode())
    for i, stream in enumerate(streams):
        # byte 0: size limit; bytes 1..4: chunk sizes.
        for prefix in (bytes([3, 255, 255, 255]), bytes([i % 4, 1, 7, 64])):
            seeds["frame_decoder"].add(prefix + stream.encode())
    for which, name in ((0, "nodes"), (1, "nodes"), (2, "uris"), (3, "media_types")):
        for c in cases(name):
            seeds["text_parsers"].add(bytes([which]) + c["input"].encode())

    # What a server may send, for the client connection at each stage (byte 0).
    server_streams = [s.encode() for s in streams] + [t.encode() for t in valid[:40]]
    server_streams.append(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Protocol: lime\r\n\r\n")
    for stage in range(6):
        for s in server_streams:
            seeds["client_connection"].add(bytes([stage, 64, 64, 64]) + s)
    for text in valid[:60] + streams[:10]:
        raw = text.encode()
        seeds["gzip_stream"].add(bytes([1, 64, 3, 200]) + raw)   # compressed by the target
        seeds["gzip_stream"].add(bytes([3, 64, 3, 200]) + raw)   # same, 512-byte limit
        seeds["gzip_stream"].add(bytes([0, 255, 255, 255]) + gzip.compress(raw))  # raw gzip

    # Whole connections for the server: handshakes, then traffic from the vectors.
    new = '{"state":"new"}'
    guest = ('{"id":"$ID","from":"%s","state":"authenticating","scheme":"guest",'
             '"authentication":{}}')
    plain = ('{"id":"$ID","from":"alice@localhost/x","state":"authenticating","scheme":"plain",'
             '"authentication":{"password":"d29uZGVybGFuZA=="}}')
    finishing = '{"id":"$ID","state":"finishing"}'
    handshakes = [
        [new, guest % "carol@localhost/x"],
        [new, plain],
        [new, guest % "alice@localhost/x"],
        [new, guest % "postmaster@localhost/server"],
        [new, '{"id":"$ID","state":"negotiating","encryption":"none","compression":"none"}'],
    ]
    traffic = [compact(t) for t in valid]
    to_bob = []
    for t in valid:
        try:
            env = json.loads(t)
        except ValueError:
            continue
        env.pop("from", None)
        env["to"] = "bob@localhost/peer"
        to_bob.append(json.dumps(env, separators=(",", ":")))
    ping = '{"id":"p1","to":"postmaster@localhost/server","method":"get","uri":"/ping"}'
    for h in handshakes:
        seeds["server_session"].add("\n".join(h).encode())
        seeds["server_session"].add("\n".join(h + [ping, finishing]).encode())
    for i in range(0, len(traffic), 4):
        h = handshakes[i // 4 % 2]
        seeds["server_session"].add("\n".join(h + traffic[i:i + 4] + [finishing]).encode())
        seeds["server_session"].add("\n".join(h + to_bob[i:i + 4]).encode())
    for t in invalid[:30]:
        seeds["server_session"].add("\n".join(handshakes[0] + [compact(t)]).encode())
        seeds["server_session"].add((new + "\n" + compact(t)).encode())

    total = 0
    for target, items in seeds.items():
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for item in items:
            (d / hashlib.sha1(item).hexdigest()).write_bytes(item)
        total += len(items)
        print(f"{target}: {len(items)} seeds", file=sys.stderr)
    print(f"seeded {total} inputs into {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
