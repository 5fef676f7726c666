"""10 - bad input on raw sockets. Every case must:
  * end with the connection closed (recv gets EOF or a reset) within a few seconds,
    with at most a protocol-correct refusal (CONNACK with an error, or an MQTT 5
    DISCONNECT with a fitting reason code) sent before the close;
  * leave a second, normal paho client connected and working (publish/receive);
  * on iotgate, write a warning log line naming the peer (127.0.0.1:<port>) and
    increase the matching $SYS error counter (DESIGN.md "Reliability semantics").
"""

import random
import select
import socket
import struct
import time

import pytest

import mqttraw as R
from conftest import xfail_mosquitto
from helpers import PahoClient, uniq, wait_until

MALFORMED = "$SYS/broker/errors/malformed"
PROTOCOL = "$SYS/broker/errors/protocol"
TOO_LARGE = "$SYS/broker/errors/too_large"
TIMEOUT = "$SYS/broker/connections/timeout"


class Witness:
    """A normal client that must not notice anything."""

    def __init__(self, clients, broker):
        self.topic = uniq("witness")
        self.c = clients.connected(broker, version=5)
        self.c.subscribe(self.topic, 1)
        self.n = 0

    def check(self):
        self.n += 1
        self.c.publish(self.topic, b"alive %d" % self.n, 1)
        self.c.wait_messages(self.n, timeout=5)
        assert self.c.c.is_connected() and not self.c.disconnects, "witness was disconnected"


def counter_sum_at_least(broker, topics, n, timeout=5.0):
    """Waits until the sum of the latest values of the $SYS counters reaches n."""
    c = PahoClient(broker, version=4)
    try:
        c.connect()
        for t in topics:
            c.subscribe(t, 0)

        def total():
            last = {}
            with c.cond:
                for m in c.messages:
                    last[m.topic] = m.payload
            try:
                return sum(int(v.split()[0]) for v in last.values())
            except ValueError:
                return -1
        try:
            wait_until(lambda: total() >= n, timeout, what="counter(s) %s >= %d" % (topics, n))
        except AssertionError:
            raise AssertionError("counters %s never reached %d (values %r)" % (
                topics, n, [(m.topic, m.payload) for m in c.messages][-6:]))
    finally:
        c.disconnect()
        c.close()


def send_quietly(raw, data):
    try:
        raw.send(data)
    except OSError:
        pass  # the broker may close before we finish writing


def run_bad(broker, clients, version, data, counters, connect_first=True, v5_codes=(),
            connack_ok=False, timeout=5.0):
    """Sends data (after a good CONNECT when connect_first) and applies the checks
    described at the top of this file."""
    w = Witness(clients, broker)
    raw = clients.raw(broker, version=version)
    if connect_first:
        assert raw.connect("bad-" + uniq("x").split("/")[1]).rc == 0
    send_quietly(raw, data)
    got = raw.wait_closed(timeout)
    for p in got:
        if p.type == R.CONNACK and not connect_first:
            assert connack_ok and p.rc != 0, "bad CONNECT was accepted: %r" % got
        elif p.type == R.DISCONNECT:
            assert version == 5 and p.rc in v5_codes, "unexpected DISCONNECT: %r" % got
        else:
            raise AssertionError("unexpected reply to bad input: %r" % got)
    w.check()
    if broker.kind == "iotgate":
        broker.wait_peer_warning(raw.local_port)
        counter_sum_at_least(broker, counters, 1)
    assert broker.alive()
    return got


# ----------------------------------------------------------------- truncation

def test_truncated_packet_then_close(broker, clients, version):
    """Half a CONNECT, then the client goes away: nothing breaks."""
    w = Witness(clients, broker)
    full = R.connect("trunc", version=version)
    for cut in (1, 2, len(full) // 2, len(full) - 1):
        raw = clients.raw(broker, version=version)
        raw.send(full[:cut])
        time.sleep(0.05)
        raw.sock.shutdown(socket.SHUT_WR)
        raw.wait_closed(5)
    w.check()
    raw = clients.raw(broker, version=version)
    assert raw.connect("trunc-pub").rc == 0
    raw.send(R.publish("a/b", b"x" * 100, 0, version=version)[:20])
    raw.abort()
    w.check()
    assert broker.alive()


def test_truncated_field_inside_packet(broker, clients, version):
    """A CONNECT whose client-id length runs past the end of the packet is malformed."""
    body = R.mqtt_str("MQTT") + bytes([version, 0x02]) + struct.pack("!H", 60)
    if version == 5:
        body += b"\x00"
    body += struct.pack("!H", 50) + b"short"
    run_bad(broker, clients, version, R.fixed(R.CONNECT, 0, body), [MALFORMED],
            connect_first=False, connack_ok=True)


# ----------------------------------------------------------------------- size

@pytest.mark.parametrize("connect_first", [True, False], ids=["after-connect", "as-connect"])
def test_remaining_length_over_max_packet_size(broker, clients, version, connect_first):
    """Remaining length 2,000,000 > max_packet_size (1 MiB): closed without reading it
    all (MQTT 5: DISCONNECT 0x95 may precede the close) [MQTT-3.2.2-15 / 4.13]."""
    ptype = R.PUBLISH if connect_first else R.CONNECT
    data = bytes([ptype << 4]) + R.varint(2_000_000) + b"\x00\x03a/b" + b"x" * 1000
    run_bad(broker, clients, version, data, [TOO_LARGE], connect_first=connect_first,
            v5_codes=(0x95,), connack_ok=True)


def test_remaining_length_varint_too_long(broker, clients, version):
    """A five-byte remaining length is malformed [MQTT-1.5.5-1]."""
    run_bad(broker, clients, version, b"\x30\xff\xff\xff\xff\x7f" + b"x" * 16,
            [MALFORMED, TOO_LARGE], v5_codes=(0x81, 0x95))


# ----------------------------------------------------------------------- UTF-8

@pytest.mark.parametrize("topic", [b"a/\xff\xfe", b"a/\xc0\xaf", b"a/\xed\xa0\x80", b"a/\x00b"],
                         ids=["invalid-bytes", "overlong", "surrogate", "nul"])
def test_invalid_utf8_topic(broker, clients, version, topic):
    """Topic names must be well-formed UTF-8 without U+0000 or surrogates
    [MQTT-1.5.4-1, -2]: malformed, the connection is closed."""
    body = struct.pack("!H", len(topic)) + topic + (b"\x00" if version == 5 else b"") + b"p"
    run_bad(broker, clients, version, R.fixed(R.PUBLISH, 0, body), [MALFORMED],
            v5_codes=(0x81, 0x90, 0x82))


def test_invalid_utf8_subscribe_filter(broker, clients, version):
    flt = b"a/\xff"
    body = b"\x00\x01" + (b"\x00" if version == 5 else b"") + struct.pack("!H", len(flt)) + flt + b"\x01"
    run_bad(broker, clients, version, R.fixed(R.SUBSCRIBE, 2, body), [MALFORMED],
            v5_codes=(0x81, 0x8F, 0x82))


def test_invalid_utf8_client_id(broker, clients, version):
    data = R.connect(b"id\xff\xfe", version=version)
    run_bad(broker, clients, version, data, [MALFORMED], connect_first=False,
            connack_ok=True)


# -------------------------------------------------------------- reserved flags

FLAG_CASES = {
    "subscribe-flags-0": lambda v: R.subscribe(1, [("a", 0)], v, flags=0),
    "unsubscribe-flags-0": lambda v: R.fixed(R.UNSUBSCRIBE, 0, b"\x00\x01" + (
        b"\x00" if v == 5 else b"") + R.mqtt_str("a")),
    "pubrel-flags-0": lambda v: R.fixed(R.PUBREL, 0, b"\x00\x01"),
    "publish-qos-3": lambda v: R.fixed(R.PUBLISH, 0x06, R.mqtt_str("a") + b"\x00\x01" + (
        b"\x00" if v == 5 else b"") + b"p"),
    "pingreq-flags-1": lambda v: b"\xc1\x00",
}


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=xfail_mosquitto("2.0.11 ignores reserved PINGREQ flags "
                                          "[MQTT-2.1.3-1]")) if c == "pingreq-flags-1" else c
    for c in sorted(FLAG_CASES)])
def test_reserved_flags_wrong(broker, clients, version, case):
    """Fixed-header flags that the spec reserves must be exactly as specified
    [MQTT-2.2.2-1, -2, MQTT-3.3.1-2, -4, MQTT-3.8.1-1]: malformed, close."""
    run_bad(broker, clients, version, FLAG_CASES[case](version), [MALFORMED, PROTOCOL],
            v5_codes=(0x81, 0x82))


def test_connect_reserved_flag_bit(broker, clients, version):
    """CONNECT flag bit 0 is reserved and must be 0 [MQTT-3.1.2-3]."""
    run_bad(broker, clients, version, R.connect("rsv", version=version, flags_override=0x03),
            [MALFORMED], connect_first=False, connack_ok=True)


def test_connect_will_qos_without_will_flag(broker, clients, version):
    """Will QoS must be 0 when the will flag is 0 [MQTT-3.1.2-13 / -11]."""
    run_bad(broker, clients, version, R.connect("wq", version=version, flags_override=0x0A),
            [MALFORMED, PROTOCOL], connect_first=False, connack_ok=True)


# ---------------------------------------------------------- protocol violations

@pytest.mark.parametrize("first", ["pingreq", "publish", "subscribe", "disconnect"])
def test_first_packet_not_connect(broker, clients, version, first):
    """The first packet from a client must be CONNECT [MQTT-3.1.0-1]."""
    data = {"pingreq": R.pingreq(),
            "publish": R.publish("a/b", b"x", 0, version=version),
            "subscribe": R.subscribe(1, [("a/b", 0)], version),
            "disconnect": R.disconnect(version)}[first]
    run_bad(broker, clients, version, data, [PROTOCOL], connect_first=False)


def test_second_connect(broker, clients, version):
    """A second CONNECT on a connection is a protocol violation [MQTT-3.1.0-2]."""
    run_bad(broker, clients, version, R.connect("again", version=version), [PROTOCOL],
            v5_codes=(0x82,))


def test_packet_id_zero(broker, clients, version):
    """QoS > 0 PUBLISH / SUBSCRIBE need a non-zero packet identifier [MQTT-2.2.1-3]."""
    run_bad(broker, clients, version, R.publish("a/b", b"x", 1, mid=0, version=version),
            [MALFORMED, PROTOCOL], v5_codes=(0x81, 0x82))


def test_subscribe_without_filters(broker, clients, version):
    """A SUBSCRIBE must contain at least one filter [MQTT-3.8.3-3]."""
    body = b"\x00\x05" + (b"\x00" if version == 5 else b"")
    run_bad(broker, clients, version, R.fixed(R.SUBSCRIBE, 2, body), [MALFORMED, PROTOCOL],
            v5_codes=(0x81, 0x82))


def test_empty_topic_name_v311(broker, clients):
    """A zero-length topic name (without a topic alias) is a protocol error
    [MQTT-4.7.3-1]."""
    run_bad(broker, clients, 4, R.publish("", b"x", 0, version=4), [MALFORMED, PROTOCOL])


def test_v5_empty_topic_without_alias(broker, clients):
    run_bad(broker, clients, 5, R.publish("", b"x", 0, version=5), [MALFORMED, PROTOCOL],
            v5_codes=(0x82, 0x81))


def test_v311_password_without_username(broker, clients):
    """3.1.1: password flag without user name flag is not allowed [MQTT-3.1.2-22]."""
    data = R.connect("pw", version=4, password=b"secret")
    run_bad(broker, clients, 4, data, [MALFORMED, PROTOCOL], connect_first=False,
            connack_ok=True)


V5_PROP_CASES = {
    "duplicate-session-expiry": [("SessionExpiryInterval", 5), ("SessionExpiryInterval", 6)],
    "topic-alias-in-connect": [("TopicAlias", 1)],
    "receive-maximum-0": [("ReceiveMaximum", 0)],
    "max-packet-size-0": [("MaximumPacketSize", 0)],
}


@pytest.mark.parametrize("case", sorted(V5_PROP_CASES) + ["unknown-property"])
def test_v5_bad_connect_properties(broker, clients, case):
    """Duplicate, misplaced, out-of-range or unknown properties in CONNECT: CONNACK
    0x81/0x82 then close, or just close [MQTT-2.2.2-2, MQTT-3.1.2-*]."""
    if case == "unknown-property":
        body = R.mqtt_str("MQTT") + bytes([5, 0x02]) + b"\x00\x3c" + b"\x02\x7f\x00"
        body += R.mqtt_str("unk")
        data = R.fixed(R.CONNECT, 0, body)
    else:
        data = R.connect("props", version=5, props=V5_PROP_CASES[case])
    got = run_bad(broker, clients, 5, data, [MALFORMED, PROTOCOL], connect_first=False,
                  connack_ok=True)
    for p in got:
        assert p.rc in (0x81, 0x82), got


# -------------------------------------------------------------------- volume

def test_connect_flood(broker, clients):
    """200 CONNECTs on 200 sockets at once: every socket gets a CONNACK (or a clean
    refusal); the broker keeps serving."""
    w = Witness(clients, broker)
    socks = []
    try:
        for i in range(200):
            s = socket.create_connection((broker.host, broker.port), timeout=5)
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(R.connect("flood-%d" % i, version=4 if i % 2 else 5))
        accepted = refused = 0
        deadline = time.monotonic() + 15
        for s in socks:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                head = s.recv(4)
            except (ConnectionResetError, socket.timeout) as e:
                if isinstance(e, socket.timeout):
                    raise AssertionError("a flood socket got neither CONNACK nor close")
                refused += 1
                continue
            if not head:
                refused += 1
            elif head[0] == 0x20 and head[3] == 0:
                accepted += 1
            else:
                assert head[0] == 0x20, "unexpected reply %r" % head
                refused += 1
        assert accepted + refused == 200
        assert accepted >= 1
        if broker.kind == "iotgate":
            assert accepted == 200, "max_connections = 1000, yet %d refused" % refused
    finally:
        for s in socks:
            s.close()
    w.check()
    late = clients.connected(broker, version=4)
    late.subscribe("flood/after", 1)
    late.publish("flood/after", b"ok", 1)
    late.wait_messages(1)


# ------------------------------------------------------------------- timeouts

def _closed_within(sock, seconds):
    r, _, _ = select.select([sock], [], [], seconds)
    if not r:
        return False
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ConnectionAbortedError):
        return True


@pytest.mark.iotgate_only
def test_slow_writer_closed_by_connect_timeout(broker, clients):
    """A CONNECT dribbled one byte per 100 ms (7+ s in all) is cut off by
    connect_timeout = 2 s."""
    w = Witness(clients, broker)
    raw = clients.raw(broker, version=4)
    data = R.connect("s" * 60, version=4)
    t0 = time.monotonic()
    closed_at = None
    for b in data:
        try:
            raw.sock.sendall(bytes([b]))
        except OSError:
            closed_at = time.monotonic()
            break
        if _closed_within(raw.sock, 0.1):
            closed_at = time.monotonic()
            break
    assert closed_at is not None, "slow CONNECT was never cut off"
    assert 1.5 <= closed_at - t0 <= 4.0, "closed after %.2fs" % (closed_at - t0)
    w.check()
    broker.wait_peer_warning(raw.local_port)
    counter_sum_at_least(broker, [TIMEOUT], 1)


@pytest.mark.iotgate_only
def test_silent_connection_closed_by_connect_timeout(broker, clients):
    """A TCP connection that never sends CONNECT is closed after connect_timeout."""
    w = Witness(clients, broker)
    raw = clients.raw(broker, version=4)
    port = raw.local_port
    t0 = time.monotonic()
    raw.wait_closed(6)
    dt = time.monotonic() - t0
    assert 1.5 <= dt <= 4.0, "closed after %.2fs, connect_timeout = 2" % dt
    w.check()
    broker.wait_peer_warning(port)
    counter_sum_at_least(broker, [TIMEOUT], 1)


# ---------------------------------------------------------------------- garbage

GARBAGE = {
    "zeros": b"\x00" * 64,
    "ones": b"\xff" * 64,
    "http": b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n",
    "tls-hello": bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) + b"\x00" * 40,
    "random": random.Random(20240607).randbytes(512),
    "reserved-type-0": b"\x00\x02\x00\x00",
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_bytes(broker, clients, version, case):
    """Non-MQTT bytes as the first thing on a connection: closed, nothing else hurt."""
    run_bad(broker, clients, version, GARBAGE[case], [MALFORMED, PROTOCOL, TOO_LARGE],
            connect_first=False, connack_ok=True)


AFTER_CONNECT = {
    "zeros": GARBAGE["zeros"],
    "ones": GARBAGE["ones"],
    # Type 15: reserved in 3.1.1; in MQTT 5 an AUTH without an authentication method
    # in CONNECT is a protocol error [MQTT-4.12.0-1 ff].
    "auth-or-reserved-15": b"\xf0\x00",
    "connack-from-client": b"\x20\x02\x00\x00",
}


@pytest.mark.parametrize("case", sorted(AFTER_CONNECT))
def test_garbage_after_connect(broker, clients, version, case):
    """Bytes that cannot come from a client after CONNECT: closed."""
    run_bad(broker, clients, version, AFTER_CONNECT[case], [MALFORMED, PROTOCOL, TOO_LARGE],
            v5_codes=(0x81, 0x82, 0x95))
