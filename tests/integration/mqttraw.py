"""mqttraw.py - a small MQTT 3.1.1 / 5.0 packet codec and raw-socket client for tests.

Tests that need byte-level control (unacknowledged QoS, DUP flags, flow control,
malformed input, exact reason codes) build packets here and read the broker's
replies one packet at a time. It is written from the OASIS specifications, not
from the broker under test, so that a broker bug cannot hide behind a shared
codec. Every read has a deadline; nothing here blocks forever.
"""

import socket
import struct
import time

# Packet types (MQTT 5.0 section 2.1.2; the same numbers in 3.1.1).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT, AUTH = 12, 13, 14, 15

TYPE_NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
    7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
    12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH",
}

# MQTT 5 property identifiers: id -> (name, kind). kind is one of
# byte, u16, u32, varint, str, bin, pair.
PROPS = {
    0x01: ("PayloadFormatIndicator", "byte"),
    0x02: ("MessageExpiryInterval", "u32"),
    0x03: ("ContentType", "str"),
    0x08: ("ResponseTopic", "str"),
    0x09: ("CorrelationData", "bin"),
    0x0B: ("SubscriptionIdentifier", "varint"),
    0x11: ("SessionExpiryInterval", "u32"),
    0x12: ("AssignedClientIdentifier", "str"),
    0x13: ("ServerKeepAlive", "u16"),
    0x15: ("AuthenticationMethod", "str"),
    0x16: ("AuthenticationData", "bin"),
    0x17: ("RequestProblemInformation", "byte"),
    0x18: ("WillDelayInterval", "u32"),
    0x19: ("RequestResponseInformation", "byte"),
    0x1A: ("ResponseInformation", "str"),
    0x1C: ("ServerReference", "str"),
    0x1F: ("ReasonString", "str"),
    0x21: ("ReceiveMaximum", "u16"),
    0x22: ("TopicAliasMaximum", "u16"),
    0x23: ("TopicAlias", "u16"),
    0x24: ("MaximumQoS", "byte"),
    0x25: ("RetainAvailable", "byte"),
    0x26: ("UserProperty", "pair"),
    0x27: ("MaximumPacketSize", "u32"),
    0x28: ("WildcardSubscriptionAvailable", "byte"),
    0x29: ("SubscriptionIdentifierAvailable", "byte"),
    0x2A: ("SharedSubscriptionAvailable", "byte"),
}
PROP_IDS = {name: pid for pid, (name, _) in PROPS.items()}
MULTI = ("UserProperty", "SubscriptionIdentifier")


class ConnectionClosed(Exception):
    """The broker closed (or reset) the connection."""


class MalformedReply(Exception):
    """The broker sent bytes this codec cannot decode."""


# ---------------------------------------------------------------- primitives

def varint(n):
    """Variable byte integer (MQTT 5.0 section 1.5.5)."""
    assert 0 <= n <= 268435455
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def read_varint(buf, pos):
    """Returns (value, new_pos); raises MalformedReply."""
    mult, value = 1, 0
    for i in range(4):
        if pos >= len(buf):
            raise MalformedReply("truncated varint")
        b = buf[pos]
        pos += 1
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos
        mult *= 128
    raise MalformedReply("varint longer than 4 bytes")


def mqtt_str(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return struct.pack("!H", len(s)) + s


def read_bin(buf, pos):
    if pos + 2 > len(buf):
        raise MalformedReply("truncated length")
    (n,) = struct.unpack_from("!H", buf, pos)
    pos += 2
    if pos + n > len(buf):
        raise MalformedReply("truncated string")
    return bytes(buf[pos:pos + n]), pos + n


def read_str(buf, pos):
    b, pos = read_bin(buf, pos)
    return b.decode("utf-8"), pos


def encode_props(props):
    """props: None, a dict {name: value} or a list of (name, value) pairs (order kept).
    UserProperty values are (key, value) tuples; a list value repeats the property."""
    if props is None:
        return b"\x00"
    items = props.items() if isinstance(props, dict) else props
    body = bytearray()
    for name, value in items:
        values = value if (name in MULTI and isinstance(value, list)) else [value]
        pid = PROP_IDS[name]
        kind = PROPS[pid][1]
        for v in values:
            body += bytes([pid])
            if kind == "byte":
                body += bytes([v])
            elif kind == "u16":
                body += struct.pack("!H", v)
            elif kind == "u32":
                body += struct.pack("!I", v)
            elif kind == "varint":
                body += varint(v)
            elif kind in ("str", "bin"):
                body += mqtt_str(v)
            elif kind == "pair":
                body += mqtt_str(v[0]) + mqtt_str(v[1])
    return varint(len(body)) + bytes(body)


def decode_props(buf, pos):
    """Returns (dict, new_pos). Multi-valued properties become lists, in order."""
    n, pos = read_varint(buf, pos)
    end = pos + n
    if end > len(buf):
        raise MalformedReply("properties overrun packet")
    out = {}
    while pos < end:
        pid = buf[pos]
        pos += 1
        if pid not in PROPS:
            raise MalformedReply("unknown property 0x%02x" % pid)
        name, kind = PROPS[pid]
        if kind == "byte":
            v = buf[pos]
            pos += 1
        elif kind == "u16":
            (v,) = struct.unpack_from("!H", buf, pos)
            pos += 2
        elif kind == "u32":
            (v,) = struct.unpack_from("!I", buf, pos)
            pos += 4
        elif kind == "varint":
            v, pos = read_varint(buf, pos)
        elif kind == "str":
            v, pos = read_str(buf, pos)
        elif kind == "bin":
            v, pos = read_bin(buf, pos)
        else:
            k, pos = read_str(buf, pos)
            val, pos = read_str(buf, pos)
            v = (k, val)
        if name in MULTI:
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    if pos != end:
        raise MalformedReply("property overruns its block")
    return out, end


def fixed(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


# ------------------------------------------------------------------ builders

def connect(client_id="", version=4, clean=True, keepalive=60, props=None,
            will=None, username=None, password=None, proto_name=None, level=None,
            flags_override=None):
    """CONNECT. will = dict(topic, payload, qos=0, retain=False, props=None)."""
    name = proto_name if proto_name is not None else ("MQIsdp" if version == 3 else "MQTT")
    flags = 0x02 if clean else 0
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    if flags_override is not None:
        flags = flags_override
    body = mqtt_str(name) + bytes([level if level is not None else version, flags])
    body += struct.pack("!H", keepalive)
    if version == 5:
        body += encode_props(props)
    body += mqtt_str(client_id)
    if will:
        if version == 5:
            body += encode_props(will.get("props"))
        body += mqtt_str(will["topic"]) + mqtt_str(will.get("payload", b""))
    if username is not None:
        body += mqtt_str(username)
    if password is not None:
        body += mqtt_str(password)
    return fixed(CONNECT, 0, body)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, mid=None, version=4,
            props=None):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = mqtt_str(topic)
    if qos:
        body += struct.pack("!H", mid)
    if version == 5:
        body += encode_props(props)
    return fixed(PUBLISH, flags, body + payload)


def ack(ptype, mid, version=4, rc=None, props=None):
    """PUBACK / PUBREC / PUBREL / PUBCOMP."""
    body = struct.pack("!H", mid)
    if version == 5 and (rc is not None or props is not None):
        body += bytes([rc or 0])
        if props is not None:
            body += encode_props(props)
    return fixed(ptype, 2 if ptype == PUBREL else 0, body)


def subscribe(mid, filters, version=4, props=None, flags=2):
    """filters: list of (filter, options byte); options = QoS in 3.1.1, full
    subscription options (QoS | nl<<2 | rap<<3 | rh<<4) in 5.0."""
    body = struct.pack("!H", mid)
    if version == 5:
        body += encode_props(props)
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return fixed(SUBSCRIBE, flags, body)


def unsubscribe(mid, filters, version=4, props=None):
    body = struct.pack("!H", mid)
    if version == 5:
        body += encode_props(props)
    for f in filters:
        body += mqtt_str(f)
    return fixed(UNSUBSCRIBE, 2, body)


def pingreq():
    return b"\xc0\x00"


def disconnect(version=4, rc=None, props=None):
    if version == 5 and (rc is not None or props is not None):
        body = bytes([rc or 0])
        if props is not None:
            body += encode_props(props)
        return fixed(DISCONNECT, 0, body)
    return b"\xe0\x00"


def sub_opts(qos, no_local=False, rap=False, rh=0):
    return qos | (4 if no_local else 0) | (8 if rap else 0) | (rh << 4)


# ------------------------------------------------------------------- decoder

class Packet:
    """A decoded packet. Fields present depend on the type:
    CONNACK: session_present, rc, props
    PUBLISH: topic, payload, qos, retain, dup, mid, props
    PUBACK..PUBCOMP: mid, rc, props
    SUBACK / UNSUBACK: mid, codes, props
    DISCONNECT / AUTH: rc, props
    """

    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.props = {}
        self.rc = 0

    @property
    def name(self):
        return TYPE_NAMES.get(self.type, "TYPE%d" % self.type)

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("body", "flags", "type")}
        if "payload" in fields and len(fields["payload"]) > 40:
            fields["payload"] = fields["payload"][:40] + b"..."
        return "<%s %s>" % (self.name, fields)


def decode(ptype, flags, body, version):
    p = Packet(ptype, flags, body)
    v5 = version == 5
    if ptype == CONNACK:
        if len(body) < 2:
            raise MalformedReply("short CONNACK")
        p.session_present = bool(body[0] & 1)
        p.rc = body[1]
        if v5 and len(body) > 2:
            p.props, _ = decode_props(body, 2)
    elif ptype == PUBLISH:
        p.qos = (flags >> 1) & 3
        p.retain = bool(flags & 1)
        p.dup = bool(flags & 8)
        p.topic_bytes, pos = read_bin(body, 0)
        p.topic = p.topic_bytes.decode("utf-8", "replace")
        p.mid = None
        if p.qos:
            (p.mid,) = struct.unpack_from("!H", body, pos)
            pos += 2
        if v5:
            p.props, pos = decode_props(body, pos)
        p.payload = bytes(body[pos:])
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        (p.mid,) = struct.unpack_from("!H", body, 0)
        if v5 and len(body) > 2:
            p.rc = body[2]
            if len(body) > 3:
                p.props, _ = decode_props(body, 3)
    elif ptype in (SUBACK, UNSUBACK):
        (p.mid,) = struct.unpack_from("!H", body, 0)
        pos = 2
        if v5:
            p.props, pos = decode_props(body, pos)
        p.codes = list(body[pos:])
    elif ptype in (DISCONNECT, AUTH):
        if len(body) >= 1:
            p.rc = body[0]
        if v5 and len(body) > 1:
            p.props, _ = decode_props(body, 1)
    return p


# -------------------------------------------------------------------- client

class RawClient:
    """One TCP connection speaking hand-built MQTT. Not thread-safe."""

    def __init__(self, host, port, version=4, timeout=5.0):
        self.version = version
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        self._mid = 0
        self.aliases = {}  # server->client topic aliases seen on this connection
        self.queue = []  # packets read but not yet consumed

    @property
    def local_port(self):
        return self.local_addr[1]

    @property
    def local_addr(self):
        if not hasattr(self, "_laddr"):
            self._laddr = self.sock.getsockname()
        return self._laddr

    def next_mid(self):
        self._mid = self._mid % 65535 + 1
        return self._mid

    def send(self, data):
        self.sock.sendall(data)

    def _recv_some(self, deadline, eof_msg="EOF"):
        """Returns the next bytes from the socket; raises ConnectionClosed (eof_msg on
        EOF) on EOF/reset, TimeoutError at deadline. Subclasses that buffer elsewhere
        (test_20's WsRaw) read through this too."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data from broker before deadline")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from broker before deadline")
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as e:
            self.closed = True
            raise ConnectionClosed(str(e))
        if not data:
            self.closed = True
            raise ConnectionClosed(eof_msg)
        return data

    def _fill(self, deadline):
        """Reads more bytes; raises ConnectionClosed on EOF/reset, TimeoutError at deadline."""
        self.buf += self._recv_some(deadline)

    def _read_packet(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                try:
                    n, pos = read_varint(self.buf, 1)
                except MalformedReply as e:
                    if "truncated" not in str(e):
                        raise
                    n = None
                if n is not None and len(self.buf) >= pos + n:
                    first = self.buf[0]
                    body = bytes(self.buf[pos:pos + n])
                    del self.buf[:pos + n]
                    p = decode(first >> 4, first & 0x0F, body, self.version)
                    if p.type == PUBLISH and self.version == 5 and "TopicAlias" in p.props:
                        alias = p.props["TopicAlias"]
                        if p.topic:
                            self.aliases[alias] = p.topic
                        else:
                            p.topic = self.aliases.get(alias, "")
                    return p
            self._fill(deadline)

    def recv_packet(self, timeout=5.0):
        """Next packet (queued ones first), decoded. Raises TimeoutError or
        ConnectionClosed."""
        if self.queue:
            return self.queue.pop(0)
        return self._read_packet(timeout)

    def expect(self, ptype, timeout=5.0):
        """The first packet of type ptype; packets of other types that arrive first
        stay queued for later recv_packet/expect calls."""
        for i, p in enumerate(self.queue):
            if p.type == ptype:
                return self.queue.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            try:
                p = self._read_packet(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                raise TimeoutError("no %s within %.1fs (queued: %r)"
                                   % (TYPE_NAMES[ptype], timeout, self.queue[:5]))
            if p.type == ptype:
                return p
            self.queue.append(p)

    def expect_none(self, ptype, duration):
        """Asserts no packet of type ptype arrives within duration seconds."""
        assert all(p.type != ptype for p in self.queue), self.queue
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                p = self._read_packet(left)
            except TimeoutError:
                return
            assert p.type != ptype, "unexpected %r" % p
            self.queue.append(p)

    def wait_closed(self, timeout=5.0):
        """Reads until the broker closes the connection. Returns the packets it sent
        first (including queued ones). Fails the test if the connection is still
        open at the deadline."""
        deadline = time.monotonic() + timeout
        got = self.queue
        self.queue = []
        while True:
            try:
                got.append(self._read_packet(max(0.01, deadline - time.monotonic())))
            except ConnectionClosed:
                return got
            except TimeoutError:
                raise AssertionError("connection still open after %.1fs (received %r)"
                                     % (timeout, got))
            except MalformedReply:
                # The broker may close while we hold a partial packet; keep draining.
                self.buf.clear()

    def is_open_for(self, duration):
        """True if the connection stays open (no EOF) for duration seconds. Packets
        that arrive meanwhile are queued."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            try:
                self.queue.append(self._read_packet(max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                return True
            except ConnectionClosed:
                return False
        return True

    # -- conveniences

    def connect(self, client_id="", clean=True, keepalive=60, props=None, will=None,
                timeout=5.0, **kw):
        self.send(connect(client_id, self.version, clean, keepalive, props, will, **kw))
        return self.expect(CONNACK, timeout)

    def subscribe(self, filters, props=None, timeout=5.0):
        """filters: list of (filter, options). Returns the SUBACK (retained
        messages that arrive before it stay queued)."""
        mid = self.next_mid()
        self.send(subscribe(mid, filters, self.version, props))
        p = self.expect(SUBACK, timeout)
        assert p.mid == mid, p
        return p

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, mid=None,
                dup=False, wait_ack=True, timeout=5.0):
        """Publishes; for QoS 1/2 completes the handshake when wait_ack. Returns mid."""
        if qos and mid is None:
            mid = self.next_mid()
        self.send(publish(topic, payload, qos, retain, dup, mid, self.version, props))
        if qos and wait_ack:
            p = self.expect(PUBACK if qos == 1 else PUBREC, timeout)
            assert p.mid == mid
            if qos == 2:
                self.send(ack(PUBREL, mid, self.version))
                p = self.expect(PUBCOMP, timeout)
                assert p.mid == mid
        return mid

    def ack_publish(self, p):
        """Acknowledges a received PUBLISH (QoS 1 fully; QoS 2 PUBREC+PUBREL+PUBCOMP)."""
        if p.qos == 1:
            self.send(ack(PUBACK, p.mid, self.version))
        elif p.qos == 2:
            self.send(ack(PUBREC, p.mid, self.version))
            self.expect(PUBREL, 5.0)
            self.send(ack(PUBCOMP, p.mid, self.version))

    def ping(self, timeout=5.0):
        self.send(pingreq())
        return self.expect(PINGRESP, timeout)

    def disconnect(self, rc=None, props=None):
        try:
            self.send(disconnect(self.version, rc, props))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Closes with a TCP RST (SO_LINGER 0): an abrupt network failure."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()
