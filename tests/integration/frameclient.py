"""frameclient.py - an independent client of the iotgate frame protocol, version 1.

Written from docs/frame-protocol.md alone (section numbers below refer to it),
not from the C codec, so that a bug in one cannot hide behind the other. It has
an encoder and a decoder for every message type, a stream decoder for partial
and coalesced reads, a small blocking socket client for integration tests, and
the JSON a CMD_ACK turns into (section 10.3). Pure python3 standard library.

Run it as a script for a self-test: a round trip of every message type, the
annotated example of section 14 byte for byte, and the decoder's error rules.
"""

import base64
import json
import socket
import struct
import time

MAGIC = b"\xab\xcd\xef\x99"
HEADER_SIZE = 9
VERSION = 1
DEFAULT_MAX_PAYLOAD = 65536
PORT = 7100

# Message types (section 5).
HELLO, HELLO_ACK, DATA, DATA_ACK, PING, PONG, CMD, CMD_ACK, ERROR, BYE = range(1, 11)
TYPE_NAMES = {
    HELLO: "HELLO", HELLO_ACK: "HELLO_ACK", DATA: "DATA", DATA_ACK: "DATA_ACK",
    PING: "PING", PONG: "PONG", CMD: "CMD", CMD_ACK: "CMD_ACK", ERROR: "ERROR", BYE: "BYE",
}
# Types whose payload ends with a body, and the attribute that holds it (section 4).
BODY_FIELD = {DATA: "payload", CMD: "payload", CMD_ACK: "body", ERROR: "text"}

# ERROR codes, also the result of a refused HELLO_ACK (section 13.1).
E_MALFORMED, E_BAD_MAGIC, E_TOO_LARGE, E_UNKNOWN_TYPE, E_PROTOCOL = 0x01, 0x02, 0x03, 0x04, 0x05
E_UNSUPPORTED_VERSION, E_BAD_DEVICE_ID, E_BAD_CREDENTIALS, E_NOT_AUTHORISED = 0x06, 0x07, 0x08, 0x09
E_BAD_STREAM, E_UNKNOWN_STREAM, E_HELLO_TIMEOUT, E_KEEPALIVE_TIMEOUT = 0x0A, 0x0B, 0x0C, 0x0D
E_LIMIT, E_SERVER_UNAVAILABLE = 0x0E, 0x0F
ERROR_NAMES = {
    0x01: "MALFORMED", 0x02: "BAD_MAGIC", 0x03: "TOO_LARGE", 0x04: "UNKNOWN_TYPE",
    0x05: "PROTOCOL", 0x06: "UNSUPPORTED_VERSION", 0x07: "BAD_DEVICE_ID",
    0x08: "BAD_CREDENTIALS", 0x09: "NOT_AUTHORISED", 0x0A: "BAD_STREAM",
    0x0B: "UNKNOWN_STREAM", 0x0C: "HELLO_TIMEOUT", 0x0D: "KEEPALIVE_TIMEOUT",
    0x0E: "LIMIT", 0x0F: "SERVER_UNAVAILABLE",
}

# CMD_ACK results and their JSON names (section 10.2).
CMD_RESULT_NAMES = {
    0x00: "ok", 0x01: "accepted", 0x02: "rejected", 0x03: "unknown_command",
    0x04: "bad_arguments", 0x05: "busy", 0x06: "failed", 0x07: "timeout", 0x08: "too_large",
}

# BYE reasons (section 6.9).
BYE_NORMAL, BYE_SESSION_END, BYE_SHUTDOWN, BYE_TAKEN_OVER, BYE_ADMIN = range(5)

# TLVs of version 1 (section 4.2): type -> (attribute, message type, kind).
# kind: "u16", "u32", "u64" (exact sizes) or (min_len, max_len) for bytes.
TLVS = {
    0x01: ("token", HELLO, (1, 4096)),
    0x02: ("password", HELLO, (1, 256)),
    0x03: ("session_expiry", HELLO, "u32"),
    0x04: ("device_max", HELLO, "u32"),
    0x10: ("server_max", HELLO_ACK, "u32"),
    0x11: ("ack_seq", HELLO_ACK, "u32"),
    0x12: ("ack_every", HELLO_ACK, "u16"),
    0x13: ("ack_delay", HELLO_ACK, "u16"),
    0x20: ("stream_name", DATA, (0, 65535)),
    0x21: ("stream_id", DATA, "u16"),
    0x22: ("timestamp", DATA, "u64"),
}
INT_FMT = {"u16": ">H", "u32": ">I", "u64": ">Q"}

# Fixed fields per type (section 6): (attribute, struct format) in wire order.
# HELLO's device id (u8 length + bytes) is handled apart.
FIXED = {
    HELLO: [("version", "B"), ("flags", "B"), ("keepalive", ">H")],
    HELLO_ACK: [("result", "B"), ("flags", "B"), ("keepalive", ">H")],
    DATA: [("seq", ">I")],
    DATA_ACK: [("ack_seq", ">I")],
    PING: [],
    PONG: [],
    CMD: [("cmd_id", ">I"), ("flags", "B")],
    CMD_ACK: [("cmd_id", ">I"), ("result", "B")],
    ERROR: [("code", "B")],
    BYE: [("reason", "B")],
}
# Flag bit 0 per type; the other bits are reserved (section 1).
FLAG_NAME = {HELLO: "clean", HELLO_ACK: "session_present", CMD: "dup"}

_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")


class FrameError(Exception):
    """A frame breaks the protocol; code is the ERROR code to send (section 13.1)."""

    def __init__(self, code, message, ftype=None):
        super().__init__("%s: %s" % (ERROR_NAMES.get(code, "0x%02x" % code), message))
        self.code = code
        self.ftype = ftype


class ConnectionClosed(Exception):
    pass


def device_id_valid(dev):
    """Section 7: 1..64 bytes of A-Z a-z 0-9 - _ . :"""
    return 1 <= len(dev) <= 64 and all(c in _NAME_CHARS for c in dev)


def stream_name_valid(name):
    """Section 7: 1..64 bytes, '/'-separated non-empty levels, not under cmd or status."""
    if not 1 <= len(name) <= 64:
        return False
    levels = name.split(b"/")
    if any(not lv or not all(c in _NAME_CHARS for c in lv) for lv in levels):
        return False
    return levels[0] not in (b"cmd", b"status")


def seq_before(a, b):
    """Section 9.1: True when sequence number a comes before b (mod 2^32)."""
    return 1 <= ((b - a) & 0xFFFFFFFF) <= 0x7FFFFFFF


def _b(v):
    return v.encode("ascii") if isinstance(v, str) else bytes(v)


class Frame:
    """One message: .type plus the attributes of its section-6 table.

    Optional TLV attributes are None when absent. Flag bit 0 is a bool
    (clean, session_present, dup). device_id and stream_name are str; bodies,
    tokens and passwords are bytes. .extra lists (type, value) TLVs to send
    beyond the known ones (e.g. ignorable 0x80-0xFF); .ignored counts the
    unknown ignorable TLVs a decode skipped.
    """

    DEFAULTS = {
        HELLO: dict(version=VERSION, clean=False, keepalive=60, device_id="", token=None,
                    password=None, session_expiry=None, device_max=None),
        HELLO_ACK: dict(result=0, session_present=False, keepalive=0, server_max=None,
                        ack_seq=None, ack_every=None, ack_delay=None),
        DATA: dict(seq=0, stream_name=None, stream_id=None, timestamp=None, payload=b""),
        DATA_ACK: dict(ack_seq=0),
        PING: {},
        PONG: {},
        CMD: dict(cmd_id=1, dup=False, payload=b""),
        CMD_ACK: dict(cmd_id=1, result=0, body=b""),
        ERROR: dict(code=E_PROTOCOL, text=b""),
        BYE: dict(reason=BYE_NORMAL),
    }

    def __init__(self, ftype, **fields):
        if ftype not in self.DEFAULTS:
            raise ValueError("unknown frame type %r" % ftype)
        self.type = ftype
        for k, v in self.DEFAULTS[ftype].items():
            setattr(self, k, v)
        self.extra = []
        self.ignored = 0
        for k, v in fields.items():
            if k not in self.DEFAULTS[ftype] and k != "extra":
                raise TypeError("%s has no field %r" % (TYPE_NAMES[ftype], k))
            setattr(self, k, v)

    def fields(self):
        return {k: getattr(self, k) for k in self.DEFAULTS[self.type]}

    def __eq__(self, other):
        return isinstance(other, Frame) and self.type == other.type and \
            self.fields() == other.fields()

    def __repr__(self):
        return "Frame(%s, %s)" % (TYPE_NAMES[self.type], ", ".join(
            "%s=%r" % kv for kv in self.fields().items()))


# ---- Encoding ----

def _tlv(t, value):
    if len(value) > 0xFFFF:
        raise ValueError("TLV 0x%02x value too long" % t)
    return struct.pack(">BH", t, len(value)) + value


def encode(frame):
    """Returns the bytes of frame (header included), TLVs in ascending type order."""
    t = frame.type
    fixed = b""
    for name, fmt in FIXED[t]:
        if name == "flags":
            v = 1 if getattr(frame, FLAG_NAME[t]) else 0
        else:
            v = getattr(frame, name)
        fixed += struct.pack(fmt, v)
    if t == HELLO:
        dev = _b(frame.device_id)
        fixed += struct.pack("B", len(dev)) + dev
    tlvs = []
    for tt, (name, mtype, kind) in sorted(TLVS.items()):
        v = getattr(frame, name, None) if mtype == t else None
        if v is None:
            continue
        tlvs.append((tt, struct.pack(INT_FMT[kind], v) if kind in INT_FMT else _b(v)))
    tlvs += list(frame.extra)
    block = b"".join(_tlv(tt, v) for tt, v in sorted(tlvs, key=lambda x: x[0]))
    body = _b(getattr(frame, BODY_FIELD[t])) if t in BODY_FIELD else b""
    payload = fixed + struct.pack(">H", len(block)) + block + body
    return MAGIC + struct.pack(">BI", t, len(payload)) + payload


def hello(device_id, keepalive=60, clean=False, **kw):
    return encode(Frame(HELLO, device_id=device_id, keepalive=keepalive, clean=clean, **kw))


def data(seq, payload=b"", **kw):
    return encode(Frame(DATA, seq=seq, payload=payload, **kw))


def cmd_ack(cmd_id, result=0, body=b""):
    return encode(Frame(CMD_ACK, cmd_id=cmd_id, result=result, body=body))


def ping():
    return encode(Frame(PING))


def pong():
    return encode(Frame(PONG))


def bye(reason=BYE_NORMAL):
    return encode(Frame(BYE, reason=reason))


def error(code, text=b""):
    return encode(Frame(ERROR, code=code, text=text))


# ---- Decoding ----

def decode(buf, max_payload=DEFAULT_MAX_PAYLOAD):
    """Decodes the first frame of buf (section 13.3).

    Returns (frame, size) for a whole frame, (None, 0) when more bytes are
    needed, and raises FrameError (with .code and, once known, .ftype) when
    the bytes cannot be a valid frame. Header errors are raised as soon as
    the bytes that show them are in.
    """
    buf = bytes(buf)
    n = min(len(buf), 4)
    if buf[:n] != MAGIC[:n]:
        raise FrameError(E_BAD_MAGIC, "bad magic %s" % buf[:n].hex())
    if len(buf) < 5:
        return None, 0
    t = buf[4]
    if t not in TYPE_NAMES:
        raise FrameError(E_UNKNOWN_TYPE, "type 0x%02x" % t, t)
    if len(buf) < HEADER_SIZE:
        return None, 0
    (length,) = struct.unpack_from(">I", buf, 5)
    if length > max_payload:
        raise FrameError(E_TOO_LARGE, "payload of %d bytes" % length, t)
    if len(buf) < HEADER_SIZE + length:
        return None, 0
    try:
        f = _decode_payload(t, buf[HEADER_SIZE:HEADER_SIZE + length])
    except FrameError as e:
        e.ftype = t
        raise
    return f, HEADER_SIZE + length


class _Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        if self.i + n > len(self.b):
            raise FrameError(E_MALFORMED, "field runs past the end")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def rest(self):
        return self.take(len(self.b) - self.i)


def _decode_payload(t, payload):
    r = _Reader(payload)
    f = Frame(t)
    # Fixed fields: all are read first, then their values are checked in
    # field order (section 13.3); HELLO's version is checked on its own first.
    raw = []
    for name, fmt in FIXED[t]:
        raw.append((name, r.unpack(fmt)))
        if name == "version" and raw[-1][1] != VERSION:
            f.version = raw[-1][1]
            raise FrameError(E_UNSUPPORTED_VERSION, "version %d" % f.version)
    if t == HELLO:
        raw.append(("device_id", r.take(r.unpack("B"))))
    for name, v in raw:
        if name == "flags":
            if v & 0xFE:
                raise FrameError(E_MALFORMED, "reserved flag bits 0x%02x" % v)
            setattr(f, FLAG_NAME[t], bool(v & 1))
        elif name == "device_id":
            if not device_id_valid(v):
                raise FrameError(E_BAD_DEVICE_ID, "device id %r" % v)
            f.device_id = v.decode("ascii")
        elif name in ("cmd_id", "code") and v == 0:
            raise FrameError(E_PROTOCOL, "%s 0" % name)
        else:
            setattr(f, name, v)
    # The TLV block (section 4.1).
    blk = _Reader(r.take(r.unpack(">H")))
    seen = set()
    while blk.i < len(blk.b):
        tt = blk.unpack("B")
        value = blk.take(blk.unpack(">H"))
        spec = TLVS.get(tt)
        if spec is None or spec[1] != t:
            if tt & 0x80:
                f.ignored += 1
                continue
            raise FrameError(E_MALFORMED, "critical TLV 0x%02x in %s" % (tt, TYPE_NAMES[t]))
        if tt in seen:
            raise FrameError(E_PROTOCOL, "TLV 0x%02x twice" % tt)
        seen.add(tt)
        name, _, kind = spec
        if kind in INT_FMT:
            if len(value) != struct.calcsize(INT_FMT[kind]):
                raise FrameError(E_MALFORMED, "TLV 0x%02x of %d bytes" % (tt, len(value)))
            (v,) = struct.unpack(INT_FMT[kind], value)
            if name in ("device_max", "server_max") and v < 64:
                raise FrameError(E_PROTOCOL, "%s %d below 64" % (name, v))
            if name in ("ack_every", "stream_id") and v == 0:
                raise FrameError(E_PROTOCOL, "%s 0" % name)
            setattr(f, name, v)
        elif name == "stream_name":
            if not stream_name_valid(value):
                raise FrameError(E_BAD_STREAM, "stream name %r" % value)
            f.stream_name = value.decode("ascii")
        else:
            lo, hi = kind
            if not lo <= len(value) <= hi:
                raise FrameError(E_MALFORMED, "%s of %d bytes" % (name, len(value)))
            setattr(f, name, value)
    # The body.
    if t in BODY_FIELD:
        setattr(f, BODY_FIELD[t], r.rest())
    elif r.i != len(payload):
        raise FrameError(E_MALFORMED, "%d trailing bytes" % (len(payload) - r.i))
    if t == ERROR and len(f.text) > 1024:
        raise FrameError(E_MALFORMED, "ERROR text of %d bytes" % len(f.text))
    # Cross-field rules.
    if t == HELLO and f.token is not None and f.password is not None:
        raise FrameError(E_PROTOCOL, "TOKEN with PASSWORD")
    if t == HELLO_ACK and f.result != 0 and f.session_present:
        raise FrameError(E_PROTOCOL, "session present on a refusal")
    return f


class Decoder:
    """Reassembles frames from a byte stream fed in pieces of any size."""

    def __init__(self, max_payload=DEFAULT_MAX_PAYLOAD):
        self.buf = bytearray()
        self.max_payload = max_payload

    def feed(self, data):
        """Adds bytes and returns the list of whole frames they complete."""
        self.buf += data
        out = []
        while True:
            f, n = decode(self.buf, self.max_payload)
            if f is None:
                return out
            del self.buf[:n]
            out.append(f)


# ---- Section 10.3: the JSON a CMD_ACK becomes ----

def cmd_result_name(result):
    if result >= 0x80:
        return "app_error"
    return CMD_RESULT_NAMES.get(result, "unknown")


def cmd_ack_json(cmd_id, result, body=b""):
    """The object published to dev/<id>/cmd/ack for a CMD_ACK (parsed, as a dict)."""
    obj = {"id": cmd_id, "result": cmd_result_name(result), "code": result}
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            obj["body_b64"] = base64.b64encode(body).decode("ascii")
            return obj
        try:
            obj["body"] = json.loads(text, parse_constant=_no_constant)
        except ValueError:
            obj["body"] = text
    return obj


def _no_constant(name):
    raise ValueError("%s is not JSON (RFC 8259)" % name)


# ---- A blocking client for tests ----

class FrameClient:
    """One device connection. Every read has a deadline; nothing blocks for ever."""

    def __init__(self, host="127.0.0.1", port=PORT, timeout=5.0, max_payload=DEFAULT_MAX_PAYLOAD):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.decoder = Decoder(max_payload)
        self.pending = []

    def send(self, frame_or_bytes):
        if not isinstance(frame_or_bytes, (bytes, bytearray)):
            frame_or_bytes = encode(frame_or_bytes)
        self.sock.sendall(frame_or_bytes)

    def recv(self, timeout=None):
        """Returns the next frame; raises ConnectionClosed, socket.timeout or FrameError."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no frame within the deadline")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("server closed the connection")
            self.pending += self.decoder.feed(chunk)
        return self.pending.pop(0)

    def expect(self, ftype, timeout=None):
        """Receives frames until one of ftype; an ERROR of another kind raises."""
        while True:
            f = self.recv(timeout)
            if f.type == ftype:
                return f
            if f.type == ERROR:
                raise FrameError(f.code, "server sent ERROR: %r" % f.text)
            if f.type == PING:
                self.send(pong())

    def hello(self, device_id, **kw):
        self.send(hello(device_id, **kw))
        return self.expect(HELLO_ACK)

    def closed(self, timeout=None):
        """True once the server has closed the connection (frames before it are kept)."""
        try:
            while True:
                self.pending.append(self.recv(timeout))
        except ConnectionClosed:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- Self-test ----

# The device-to-server vector of section 14 (HELLO, DATA, DATA, CMD_ACK, PING, BYE).
SPEC_DEVICE_VECTOR = (
    "abcdef99010000001f0101003c0873656e736f722d310010010006746f6b313233040004"
    "00000400abcdef99030000002700000001001720000474656d7021000200012200080000"
    "018bcfe568007b2274223a32312e357dabcdef9903000000150000000200052100020001"
    "7b2274223a32312e367dabcdef990800000010000000010000007b227570223a34327dab"
    "cdef9905000000020000abcdef990a00000003000000"
)
# The server's frames of the same listing (HELLO_ACK, DATA_ACK, CMD, PONG, BYE).
SPEC_SERVER_VECTOR = (
    "ab cd ef 99 02 00 00 00 17 00 00 00 3c 00 11 10 00 04 00 01 00 00 12 00 02 00 10"
    " 13 00 02 00 c8"
    " ab cd ef 99 04 00 00 00 06 00 00 00 02 00 00"
    " ab cd ef 99 07 00 00 00 0d 00 00 00 01 00 00 00 72 65 62 6f 6f 74"
    " ab cd ef 99 06 00 00 00 02 00 00"
    " ab cd ef 99 0a 00 00 00 03 00 00 00"
)


def _selftest():
    samples = [
        Frame(HELLO, device_id="sensor-1", clean=True, keepalive=60, token=b"tok123",
              device_max=1024),
        Frame(HELLO, device_id="d:1", password=b"pw", session_expiry=0xFFFFFFFF),
        Frame(HELLO_ACK, result=0, keepalive=60, server_max=65536, ack_every=16, ack_delay=200),
        Frame(HELLO_ACK, result=0, session_present=True, ack_seq=41),
        Frame(HELLO_ACK, result=E_BAD_CREDENTIALS),
        Frame(DATA, seq=1, stream_name="temp", stream_id=1, timestamp=1700000000000,
              payload=b'{"t":21.5}'),
        Frame(DATA, seq=0xFFFFFFFF, payload=b""),
        Frame(DATA_ACK, ack_seq=2),
        Frame(PING),
        Frame(PONG),
        Frame(CMD, cmd_id=7, dup=True, payload=b"reboot"),
        Frame(CMD_ACK, cmd_id=7, result=0x81, body=b"\xff"),
        Frame(ERROR, code=E_KEEPALIVE_TIMEOUT, text=b"keepalive timeout"),
        Frame(BYE, reason=BYE_TAKEN_OVER),
    ]
    stream = b""
    for f in samples:
        b = encode(f)
        g, n = decode(b)
        assert n == len(b) and g == f, (f, g)
        assert encode(g) == b
        for k in range(len(b)):
            assert decode(b[:k]) == (None, 0), (f, k)
        stream += b
    # Fed one byte at a time and all at once.
    d, got = Decoder(), []
    for i in range(len(stream)):
        got += d.feed(stream[i:i + 1])
    assert got == samples and not d.buf
    assert Decoder().feed(stream) == samples

    # Section 14, byte for byte.
    dev = bytes.fromhex(SPEC_DEVICE_VECTOR)
    assert len(dev) == 166
    want = [
        samples[0],
        samples[5],
        Frame(DATA, seq=2, stream_id=1, payload=b'{"t":21.6}'),
        Frame(CMD_ACK, cmd_id=1, result=0, body=b'{"up":42}'),
        Frame(PING),
        Frame(BYE),
    ]
    assert Decoder().feed(dev) == want
    assert b"".join(encode(f) for f in want) == dev
    srv = [
        samples[2],
        Frame(DATA_ACK, ack_seq=2),
        Frame(CMD, cmd_id=1, payload=b"reboot"),
        Frame(PONG),
        Frame(BYE),
    ]
    assert b"".join(encode(f) for f in srv) == bytes.fromhex(SPEC_SERVER_VECTOR)
    assert cmd_ack_json(1, 0, b'{"up":42}') == {"id": 1, "result": "ok", "code": 0,
                                                 "body": {"up": 42}}
    assert cmd_ack_json(2, 6, b"no led") == {"id": 2, "result": "failed", "code": 6,
                                             "body": "no led"}
    assert cmd_ack_json(3, 0x80, b"\xff") == {"id": 3, "result": "app_error", "code": 128,
                                              "body_b64": "/w=="}
    assert cmd_ack_json(4, 1) == {"id": 4, "result": "accepted", "code": 1}

    # Ignorable TLVs are skipped, critical ones refused.
    f = Frame(PING, extra=[(0x80, b"x")])
    g, _ = decode(encode(f))
    assert g.ignored == 1

    def refused(b, code, max_payload=DEFAULT_MAX_PAYLOAD):
        try:
            decode(b, max_payload)
        except FrameError as e:
            assert e.code == code, (b.hex(), e)
            return
        raise AssertionError("accepted %s" % b.hex())

    refused(b"\xab\xcd\x00", E_BAD_MAGIC)                       # Before 4 bytes are in.
    refused(b"GET / HTTP/1.1\r\n", E_BAD_MAGIC)
    refused(MAGIC + b"\x0b", E_UNKNOWN_TYPE)                    # Before the length is in.
    refused(MAGIC + b"\x03\x00\x01\x00\x01", E_TOO_LARGE)       # 65537, header only.
    refused(encode(Frame(PING)), E_TOO_LARGE, max_payload=1)
    refused(encode(Frame(PING, extra=[(0x7F, b"")])), E_MALFORMED)
    refused(MAGIC + struct.pack(">BI", PING, 5) + b"\x00\x03\x80\x00\x05", E_MALFORMED)
    refused(encode(Frame(HELLO, device_id="")), E_BAD_DEVICE_ID)
    refused(encode(Frame(HELLO, device_id="a/b")), E_BAD_DEVICE_ID)
    refused(encode(Frame(HELLO, device_id="a", version=2)), E_UNSUPPORTED_VERSION)
    refused(encode(Frame(HELLO, device_id="a", token=b"t", password=b"p")), E_PROTOCOL)
    refused(encode(Frame(DATA, stream_name="cmd")), E_BAD_STREAM)
    refused(encode(Frame(DATA, stream_id=0)), E_PROTOCOL)
    refused(encode(Frame(DATA, extra=[(0x21, b"\x00\x01")] * 2)), E_PROTOCOL)
    refused(encode(Frame(CMD, cmd_id=0)), E_PROTOCOL)
    refused(encode(Frame(HELLO_ACK, result=9, session_present=True)), E_PROTOCOL)
    refused(MAGIC + struct.pack(">BI", DATA_ACK, 7) + b"\x00\x00\x00\x01\x00\x00\x00",
            E_MALFORMED)
    assert seq_before(0xFFFFFFFF, 0) and not seq_before(0, 0xFFFFFFFF)
    print("frameclient self-test: ok (%d message samples, section 14 vector of %d bytes)"
          % (len(samples), len(dev)))


if __name__ == "__main__":
    _selftest()
