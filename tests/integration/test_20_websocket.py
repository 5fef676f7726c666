"""20 - MQTT over WebSocket (RFC 6455): `ws_listen = 127.0.0.1:<port>` in [mqtt], path
/mqtt, subprotocol "mqtt" (or "mqttv3.1").

Three kinds of client:
  * paho-mqtt 1.6.1 with transport="websockets" (3.1.1 and 5.0), also talking to TCP
    clients of the same broker (both directions, retained messages, sessions);
  * WsRaw below: a hand-written RFC 6455 client (opening handshake, masked frames,
    fragmentation, control frames) that speaks the MQTT of mqttraw.py, so every byte
    and every frame boundary is under the test's control. It checks each frame the
    broker sends: unmasked, RSV bits clear, a known opcode, the minimal length
    encoding, control frames FIN and <= 125 bytes (RFC 6455 5.1, 5.2, 5.5);
  * MQTT.js 5 over ws:// (js/mqttjs_ws.test.mjs, run once per protocol version).

Mosquitto's test config has no websocket listener, so the module is skipped there.
"""

import base64
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

import mqttraw as R
from conftest import IS_MOSQUITTO, free_port
from helpers import PahoClient, mqtt, uniq, wait_until

pytestmark = pytest.mark.skipif(
    IS_MOSQUITTO, reason="the mosquitto test config has no websocket listener")

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js")
NODE = shutil.which("node")

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3 / 4.2.2
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OP_NAMES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}


# --------------------------------------------------------------------- RFC 6455

def accept_for(key):
    """Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 section 4.2.2 5.4)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode()


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None):
    """One frame (RFC 6455 section 5.2). Client frames are masked (5.3) with a fresh
    key unless mask=False; the length uses the minimal encoding."""
    payload = bytes(payload)
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if mask else 0
    n = len(payload)
    if n <= 125:
        head = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    # XOR with the key repeated (5.3): via int arithmetic, fast for big payloads.
    rep = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(rep, "big")).to_bytes(n, "big") \
        if n else b""
    return head + key + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    @property
    def close_code(self):
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    def __repr__(self):
        pl = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return "<Frame %s fin=%d rsv=%d %r>" % (OP_NAMES.get(self.opcode, self.opcode),
                                                 self.fin, self.rsv, pl)


class WsViolation(AssertionError):
    """The broker sent a frame RFC 6455 forbids a server to send."""


def http_request(path="/mqtt", key=None, protocols="mqtt", version="13", upgrade=True,
                 extra=(), host="127.0.0.1"):
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade"]
    if key is not None:
        lines.append("Sec-WebSocket-Key: %s" % key)
    if version is not None:
        lines.append("Sec-WebSocket-Version: %s" % version)
    if protocols is not None:
        lines.append("Sec-WebSocket-Protocol: %s" % protocols)
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def recv_before(sock, deadline, late_msg):
    """The next bytes from sock, or b"" on EOF or reset. At the deadline raises
    AssertionError(late_msg())."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(late_msg())
        sock.settimeout(left)
        try:
            return sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return b""


def read_http_head(sock, timeout=5.0):
    """Reads an HTTP response head. Returns (status, reason, headers, rest, closed):
    headers maps lower-cased names to values (repeated ones joined by ", "), rest holds
    the bytes after the head, closed tells whether EOF came. status is None when the
    connection closed before a full head arrived."""
    deadline = time.monotonic() + timeout
    buf = b""
    closed = False
    while b"\r\n\r\n" not in buf:
        data = recv_before(sock, deadline, lambda: "no complete HTTP response head within "
                           "%.1fs (got %r)" % (timeout, buf[:300]))
        if not data:
            closed = True
            break
        buf += data
    if b"\r\n\r\n" not in buf:
        return None, "", {}, buf, closed
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3})(?: (.*))?$", lines[0])
    assert m, "bad HTTP status line %r" % lines[0]
    headers = {}
    for ln in lines[1:]:
        name, sep, value = ln.partition(":")
        assert sep, "bad header line %r in %r" % (ln, head)
        k = name.strip().lower()
        headers[k] = (headers[k] + ", " if k in headers else "") + value.strip()
    return int(m.group(1)), m.group(2) or "", headers, rest, closed


def wait_eof(sock, timeout=5.0):
    """Reads until EOF (or reset); returns the bytes that came first. Fails at the
    deadline."""
    deadline = time.monotonic() + timeout
    got = b""
    while True:
        data = recv_before(sock, deadline, lambda: "TCP connection still open after %.1fs "
                           "(then got %r)" % (timeout, got[:200]))
        if not data:
            return got
        got += data


def http_exchange(port, request, timeout=5.0, chunks=1):
    """Sends request (optionally in pieces) on a fresh connection; returns
    (status, reason, headers, rest, closed, sock)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if chunks == 1:
            s.sendall(request)
        else:
            step = len(request) // chunks + 1
            for i in range(0, len(request), step):
                s.sendall(request[i:i + step])
                time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = read_http_head(s, timeout)
    return r + (s,)


class WsRaw(R.RawClient):
    """RawClient over a WebSocket: send() wraps bytes in one masked binary frame,
    reads unwrap binary/continuation frames into the MQTT byte stream. Control
    frames are recorded: pongs in .pongs, the broker's close frame in .close_frame
    (a close frame ends the MQTT stream with ConnectionClosed). Pings from the
    broker are answered."""

    def __init__(self, host, port, version=4, timeout=5.0, path="/mqtt", protocols="mqtt",
                 key=None, extra=(), handshake=True):
        super().__init__(host, port, version, timeout)
        self.wbuf = bytearray()
        self.pongs = []
        self.frames = []  # every frame the broker sent, in order
        self.close_frame = None
        self.key = key or new_key()
        self.status = None
        self.headers = {}
        if handshake:
            self.handshake(path, protocols, extra, timeout)

    def handshake(self, path="/mqtt", protocols="mqtt", extra=(), timeout=5.0):
        self.sock.sendall(http_request(path, self.key, protocols, extra=extra))
        status, reason, headers, rest, closed = read_http_head(self.sock, timeout)
        self.status, self.headers = status, headers
        assert status == 101, "handshake: want 101, got %r %r %r (closed=%s)" % (
            status, reason, headers, closed)
        assert headers.get("upgrade", "").lower() == "websocket", headers
        assert "upgrade" in [t.strip().lower() for t in headers.get("connection", "").split(",")], \
            headers
        assert headers.get("sec-websocket-accept") == accept_for(self.key), (
            "Sec-WebSocket-Accept %r, want %r for key %r" % (
                headers.get("sec-websocket-accept"), accept_for(self.key), self.key))
        self.wbuf += rest
        return headers

    # -- frames out

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.sock.sendall(encode_frame(opcode, payload, fin, mask, rsv))

    def send(self, data):
        """MQTT bytes in one masked binary frame."""
        self.sock.sendall(encode_frame(OP_BIN, data))

    def send_fragmented(self, data, cuts, gap=0.0):
        """One binary message split into frames at the offsets in cuts: the first
        frame BINARY with FIN clear, the rest CONTINUATION, the last with FIN."""
        parts = _split(data, cuts)
        for i, p in enumerate(parts):
            op = OP_BIN if i == 0 else OP_CONT
            self.sock.sendall(encode_frame(op, p, fin=(i == len(parts) - 1)))
            if gap:
                time.sleep(gap)

    def send_messages(self, data, cuts, gap=0.0):
        """data split at cuts, each piece its own complete binary message."""
        for p in _split(data, cuts):
            self.sock.sendall(encode_frame(OP_BIN, p))
            if gap:
                time.sleep(gap)

    # -- frames in

    def _raw_fill(self, deadline):
        self.wbuf += self._recv_some(deadline, "EOF (no WebSocket close frame)")

    def _need(self, n, deadline):
        while len(self.wbuf) < n:
            self._raw_fill(deadline)

    def read_frame(self, timeout=5.0, deadline=None):
        """The next frame from the broker, checked against RFC 6455 5.2."""
        if deadline is None:
            deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.wbuf[0], self.wbuf[1]
        fin, rsv, op = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack_from("!H", self.wbuf, 2)[0]
            pos = 4
            if n <= 125:
                raise WsViolation("16-bit length %d where 7 bits suffice (5.2)" % n)
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack_from("!Q", self.wbuf, 2)[0]
            pos = 10
            if n >> 63:
                raise WsViolation("64-bit length with the top bit set (5.2)")
            if n <= 0xFFFF:
                raise WsViolation("64-bit length %d where 16 bits suffice (5.2)" % n)
        if masked:
            raise WsViolation("server frame is masked (5.1): %r" % bytes(self.wbuf[:16]))
        if rsv:
            raise WsViolation("server frame has RSV bits %d without an extension" % rsv)
        if op not in OP_NAMES:
            raise WsViolation("server frame with reserved opcode 0x%x" % op)
        if op >= 8 and (not fin or n > 125):
            raise WsViolation("control frame fin=%d len=%d (5.5)" % (fin, n))
        self._need(pos + n, deadline)
        payload = bytes(self.wbuf[pos:pos + n])
        del self.wbuf[:pos + n]
        f = Frame(fin, rsv, op, payload)
        self.frames.append(f)
        return f

    def _fill(self, deadline):
        """RawClient hook: one frame's worth of MQTT bytes (or a control frame)."""
        if self.close_frame is not None:
            raise R.ConnectionClosed("after WebSocket close %r" % self.close_frame)
        f = self.read_frame(deadline=deadline)
        if f.opcode in (OP_BIN, OP_CONT):
            self.buf += f.payload
        elif f.opcode == OP_TEXT:
            raise WsViolation("broker sent a text frame: %r" % f)
        elif f.opcode == OP_PING:
            self.send_frame(OP_PONG, f.payload)
        elif f.opcode == OP_PONG:
            self.pongs.append(f.payload)
        elif f.opcode == OP_CLOSE:
            self.close_frame = f
            raise R.ConnectionClosed("WebSocket close %r" % f)

    def wait_pong(self, n=1, timeout=5.0):
        """Reads (queuing MQTT packets) until n pongs came; returns the pongs."""
        deadline = time.monotonic() + timeout
        while len(self.pongs) < n:
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError("no pong within %.1fs (frames %r)" % (timeout,
                                                                            self.frames[-5:]))
        return self.pongs

    def wait_ws_close(self, timeout=5.0):
        """Reads until the broker's close frame, then until TCP EOF. Returns the close
        frame. Fails if no close frame comes, if anything follows it, or if TCP stays
        open."""
        deadline = time.monotonic() + timeout
        while self.close_frame is None:
            try:
                self._fill(deadline)
            except R.ConnectionClosed:
                if self.close_frame is None:
                    raise AssertionError("TCP closed without a WebSocket close frame "
                                         "(frames %r, MQTT bytes %r)"
                                         % (self.frames[-5:], bytes(self.buf[:40])))
            except TimeoutError:
                raise AssertionError("no WebSocket close frame within %.1fs (frames %r)"
                                     % (timeout, self.frames[-5:]))
        after = bytes(self.wbuf) + wait_eof(self.sock, max(0.1, deadline - time.monotonic()))
        assert after == b"", "bytes after the close frame: %r" % after[:100]
        return self.close_frame


def _split(data, cuts):
    cuts = [0] + list(cuts) + [len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:])]


# --------------------------------------------------------------------- fixtures

class _Endpoint:
    def __init__(self, host, port):
        self.host, self.port = host, port


def _wait_port(port, timeout=5.0):
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
    wait_until(up, timeout, what="websocket listener on port %d" % port)


def _start_ws_broker(make_broker, nports=1, **overrides):
    last = None
    for _ in range(3):
        ports = [free_port() for _ in range(nports)]
        try:
            b = make_broker(ws_listen=",".join("127.0.0.1:%d" % p for p in ports), **overrides)
        except RuntimeError as e:  # a port taken meanwhile: try other ones
            last = e
            continue
        for p in ports:
            _wait_port(p)
        b.ws_ports = ports
        b.ws_port = ports[0]
        return b
    raise last


@pytest.fixture
def wsb(make_broker):
    """A broker with a TCP listener (broker.port) and a WebSocket one (broker.ws_port)."""
    return _start_ws_broker(make_broker)


class WsPaho(PahoClient):
    """PahoClient whose paho client uses transport="websockets" on path /mqtt."""

    def __init__(self, broker, port=None, path="/mqtt", **kw):
        super().__init__(_Endpoint(broker.host, port or broker.ws_port), **kw)
        if self.version == 5:
            c = mqtt.Client(self.client_id, protocol=mqtt.MQTTv5, transport="websockets",
                            reconnect_on_failure=False)
        else:
            c = mqtt.Client(self.client_id, clean_session=self.clean, protocol=mqtt.MQTTv311,
                            transport="websockets", reconnect_on_failure=False)
        c.ws_set_options(path=path)
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(20)
        will = kw.get("will")
        if will:
            c.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                       will.get("retain", False), will.get("props"))
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_unsubscribe
        c.on_publish = self._on_publish
        self.c = c


def ws_paho(clients, broker, version, port=None, connect=True, **kw):
    c = WsPaho(broker, port=port, version=version, **kw)
    clients.all.append(c)
    if connect:
        c.connect()
    return c


def ws_raw(clients, broker, version=4, port=None, **kw):
    c = WsRaw(broker.host, port or broker.ws_port, version, **kw)
    clients.all.append(c)
    return c


def assert_ws_works(clients, broker, version=4):
    """A normal WebSocket client connects, subscribes and gets its own message."""
    c = ws_raw(clients, broker, version)
    ca = c.connect("ws-ok-" + os.urandom(4).hex())
    assert ca.rc == 0, ca
    t = uniq("wsok")
    assert c.subscribe([(t, 1)]).codes == [1]
    c.publish(t, b"still fine", qos=1)
    p = c.expect(R.PUBLISH)
    assert (p.topic, p.payload) == (t, b"still fine")
    c.ack_publish(p)
    c.disconnect()
    assert broker.alive()


# ============================================================== 1. paho-mqtt

def test_paho_ws_connect_and_subscribe(wsb, clients, version):
    c = ws_paho(clients, wsb, version)
    assert c.connacks[0].rc == 0 and not c.connacks[0].session_present
    t = uniq("wsp-sub")
    codes = c.subscribe([(t + "/0", 0), (t + "/1", 1), (t + "/2", 2)])
    assert codes == [0, 1, 2]
    c.disconnect()
    assert c.disconnects == [0]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_ws_round_trip(wsb, clients, version, qos):
    t = uniq("wsp-rt")
    sub = ws_paho(clients, wsb, version)
    assert sub.subscribe(t, 2) == [2]
    pub = ws_paho(clients, wsb, version)
    for i in range(5):
        pub.publish(t, b"m%d" % i, qos)
    got = sub.wait_messages(5)
    assert [m.payload for m in got] == [b"m%d" % i for i in range(5)]
    assert all((m.topic, m.qos, m.retain) == (t, qos, False) for m in got), got


def test_paho_ws_large_message(wsb, clients, version):
    """100 KB payload: the frames on both sides need the 64-bit length (RFC 6455 5.2)."""
    t = uniq("wsp-big")
    sub = ws_paho(clients, wsb, version)
    sub.subscribe(t, 1)
    pub = ws_paho(clients, wsb, version)
    body = os.urandom(100 * 1024)
    pub.publish(t, body, 1)
    assert sub.wait_messages(1)[0].payload == body


def test_paho_cross_transport_both_ways(wsb, clients, version):
    t = uniq("wsp-x")
    ws = ws_paho(clients, wsb, version)
    tcp = clients.connected(wsb, version=version)
    assert ws.subscribe(t + "/to-ws", 1) == [1]
    assert tcp.subscribe(t + "/to-tcp", 1) == [1]
    tcp.publish(t + "/to-ws", b"from tcp", 1)
    ws.publish(t + "/to-tcp", b"from ws", 2)
    m = ws.wait_messages(1)[0]
    assert (m.topic, m.payload, m.qos) == (t + "/to-ws", b"from tcp", 1)
    m = tcp.wait_messages(1)[0]
    assert (m.topic, m.payload, m.qos) == (t + "/to-tcp", b"from ws", 1)


def test_paho_retained_over_tcp_received_over_ws(wsb, clients, version):
    t = uniq("wsp-ret")
    tcp = clients.connected(wsb, version=version)
    tcp.publish(t, b"kept", 1, retain=True)
    ws = ws_paho(clients, wsb, version)
    ws.subscribe(t, 1)
    m = ws.wait_messages(1)[0]
    assert (m.topic, m.payload, m.qos, m.retain) == (t, b"kept", 1, True)
    # and the other way: retained over WS, received over TCP
    ws.publish(t + "/b", b"kept too", 1, retain=True)
    tcp2 = clients.connected(wsb, version=version)
    tcp2.subscribe(t + "/b", 1)
    m = tcp2.wait_messages(1)[0]
    assert (m.payload, m.retain) == (b"kept too", True)


def test_paho_two_ws_listeners(make_broker, clients):
    """ws_listen is a comma-separated list: both listeners serve MQTT."""
    b = _start_ws_broker(make_broker, nports=2)
    t = uniq("wsp-two")
    a = ws_paho(clients, b, 5, port=b.ws_ports[0])
    c = ws_paho(clients, b, 4, port=b.ws_ports[1])
    c.subscribe(t, 1)
    a.publish(t, b"across listeners", 1)
    assert c.wait_messages(1)[0].payload == b"across listeners"


# ============================================== same MQTT session logic as TCP

def _session_props(version):
    return {"SessionExpiryInterval": 300} if version == 5 else None


def test_session_moves_from_tcp_to_ws(wsb, clients, version):
    """A persistent session made over TCP resumes over WS with its subscription and
    the QoS 1 messages queued while offline."""
    t = uniq("ws-sess")
    cid = "sess-" + os.urandom(4).hex()
    a = clients.raw(wsb, version)
    assert a.connect(cid, clean=False, props=_session_props(version)).rc == 0
    assert a.subscribe([(t, 1)]).codes == [1]
    a.disconnect()
    pub = clients.connected(wsb, version=version)
    for i in range(3):
        pub.publish(t, b"off%d" % i, 1)
    b = ws_raw(clients, wsb, version)
    ca = b.connect(cid, clean=False, props=_session_props(version))
    assert ca.rc == 0 and ca.session_present, ca
    got = []
    for _ in range(3):
        p = b.expect(R.PUBLISH)
        got.append(p.payload)
        b.ack_publish(p)
    assert got == [b"off0", b"off1", b"off2"]


def test_ws_client_takes_over_tcp_session(wsb, clients, version):
    """A second connection with the same client id, over WS, takes over the TCP one."""
    cid = "take-" + os.urandom(4).hex()
    old = clients.raw(wsb, version)
    assert old.connect(cid).rc == 0
    new = ws_raw(clients, wsb, version)
    assert new.connect(cid).rc == 0
    got = old.wait_closed()
    assert all(p.type == R.DISCONNECT for p in got), got
    if version == 5 and got:
        assert got[0].rc == 0x8E, got  # Session taken over
    assert new.ping().type == R.PINGRESP


def test_will_on_ws_abort(wsb, clients, version):
    t = uniq("ws-will")
    watch = clients.connected(wsb, version=version)
    watch.subscribe(t, 1)
    w = ws_raw(clients, wsb, version)
    assert w.connect("w-" + os.urandom(4).hex(),
                     will={"topic": t, "payload": b"ws gone", "qos": 1}).rc == 0
    w.ping()
    w.abort()
    m = watch.wait_messages(1)[0]
    assert (m.topic, m.payload, m.qos) == (t, b"ws gone", 1)


def test_will_on_ws_close_without_mqtt_disconnect(wsb, clients):
    """A WebSocket close handshake is not an MQTT DISCONNECT: the network connection
    closes without one, so the will is published (MQTT 5.0 3.1.2.5)."""
    t = uniq("ws-will2")
    watch = clients.connected(wsb, version=5)
    watch.subscribe(t, 1)
    w = ws_raw(clients, wsb, 5)
    assert w.connect("w2-" + os.urandom(4).hex(),
                     will={"topic": t, "payload": b"closed ws", "qos": 1}).rc == 0
    w.send_frame(OP_CLOSE, close_payload(1000))
    assert w.wait_ws_close().close_code == 1000
    assert watch.wait_messages(1)[0].payload == b"closed ws"


def test_no_will_after_mqtt_disconnect_over_ws(wsb, clients):
    t = uniq("ws-nowill")
    watch = clients.connected(wsb, version=4)
    watch.subscribe([(t, 1), (t + "/sentinel", 1)])
    w = ws_raw(clients, wsb, 4)
    assert w.connect("w3-" + os.urandom(4).hex(),
                     will={"topic": t, "payload": b"should not", "qos": 1}).rc == 0
    w.send(R.disconnect(4))
    assert wait_eof(w.sock, 5.0) is not None
    time.sleep(0.5)
    watch.publish(t + "/sentinel", b"s", 1)
    msgs = watch.wait_messages(1)
    assert [m.topic for m in msgs] == [t + "/sentinel"], msgs


# ======================================================= 2. raw WebSocket: handshake

def test_handshake_accept_rfc_sample_key_and_subprotocol(wsb, clients):
    """RFC 6455 section 1.3's example: key dGhlIHNhbXBsZSBub25jZQ== must give
    s3pPLMBiTxaQ9kYGzzhZRbK+xOo=; the subprotocol echoed is "mqtt"."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert accept_for(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # the helper itself
    c = ws_raw(clients, wsb, 4, key=key)
    assert c.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert c.headers.get("sec-websocket-protocol") == "mqtt", c.headers
    assert c.connect("hs-1").rc == 0


@pytest.mark.parametrize("offered,want", [
    ("mqtt", "mqtt"),
    ("mqttv3.1", "mqttv3.1"),
    ("chat, mqtt", "mqtt"),
])
def test_handshake_subprotocol_echo(wsb, clients, offered, want):
    c = ws_raw(clients, wsb, 4, protocols=offered)  # random key, accept checked
    assert c.headers.get("sec-websocket-protocol") == want, (offered, c.headers)
    assert c.connect("sp-" + os.urandom(3).hex()).rc == 0
    assert c.ping().type == R.PINGRESP


def test_handshake_request_in_pieces(wsb, clients):
    """The request head arriving in several TCP segments still upgrades."""
    key = new_key()
    status, _, headers, rest, closed, s = http_exchange(
        wsb.ws_port, http_request(key=key), chunks=4)
    try:
        assert status == 101 and not closed, (status, headers)
        assert headers["sec-websocket-accept"] == accept_for(key)
        s.sendall(encode_frame(OP_BIN, R.connect("pieces", 4)))
        got = rest
        deadline = time.monotonic() + 5
        while len(got) < 6 and time.monotonic() < deadline:
            s.settimeout(deadline - time.monotonic())
            got += s.recv(100)
        # one unmasked binary frame holding CONNACK 20 02 00 00
        assert got[:6] == b"\x82\x04\x20\x02\x00\x00", got
    finally:
        s.close()


def _refused(wsb, request):
    """Sends a request that must be refused; checks the connection then closes and
    a warning names the peer. Returns (status, reason, headers)."""
    status, reason, headers, _, closed, s = http_exchange(wsb.ws_port, request)
    try:
        port = s.getsockname()[1]
        if not closed:
            wait_eof(s, 5.0)
    finally:
        s.close()
    wsb.wait_peer_warning(port)
    return status, reason, headers


def test_handshake_wrong_path_404(wsb, clients):
    status, reason, headers = _refused(wsb, http_request(path="/other", key=new_key()))
    assert status == 404, (status, reason, headers)
    assert "sec-websocket-accept" not in headers
    assert_ws_works(clients, wsb)


def test_handshake_plain_get_400(wsb, clients):
    status, reason, headers = _refused(
        wsb, http_request(upgrade=False, key=None, version=None, protocols=None))
    assert status == 400, (status, reason, headers)
    assert_ws_works(clients, wsb)


def test_handshake_missing_key_refused(wsb, clients):
    """An upgrade without Sec-WebSocket-Key is not a valid opening handshake
    (RFC 6455 4.2.1 item 5): an HTTP error, never 101."""
    status, reason, headers = _refused(wsb, http_request(key=None))
    assert status is not None and 400 <= status < 500, (status, reason, headers)
    assert_ws_works(clients, wsb)


def test_handshake_wrong_version_426(wsb, clients):
    """RFC 6455 4.4: 426 Upgrade Required naming the version the server speaks."""
    status, reason, headers = _refused(wsb, http_request(key=new_key(), version="8"))
    assert status == 426, (status, reason, headers)
    assert headers.get("sec-websocket-version") == "13", headers
    assert_ws_works(clients, wsb)


def test_handshake_head_over_8k_refused_and_closed(wsb, clients):
    pad = "X-Pad: " + "a" * 9000
    status, reason, headers, _, closed, s = http_exchange(
        wsb.ws_port, http_request(key=new_key(), extra=[pad]))
    port = s.getsockname()[1]
    try:
        assert status in (431, 400), (
            "a 9 KB request head: want HTTP 431 (or 400), got %r %r (closed before "
            "a response: %s)" % (status, reason, closed))
        if not closed:
            wait_eof(s, 5.0)
    finally:
        s.close()
    wsb.wait_peer_warning(port)
    assert_ws_works(clients, wsb)


# ===================================================== 2. raw WebSocket: framing

@pytest.mark.parametrize("gap", [0.0, 0.05], ids=["together", "apart"])
@pytest.mark.parametrize("how", ["three_messages", "one_fragmented_message"])
def test_connect_split_across_three_frames(wsb, clients, version, how, gap):
    """One CONNECT in 3 frames: 3 binary messages (an MQTT packet may span WebSocket
    messages), or one message of BINARY(FIN=0) + CONT(FIN=0) + CONT(FIN=1). The first
    cut falls right after the fixed header byte, inside the remaining length."""
    c = ws_raw(clients, wsb, version)
    pkt = R.connect("split-" + os.urandom(3).hex(), version)
    cuts = [1, len(pkt) // 2]
    if how == "three_messages":
        c.send_messages(pkt, cuts, gap)
    else:
        c.send_fragmented(pkt, cuts, gap)
    assert c.expect(R.CONNACK).rc == 0
    assert c.ping().type == R.PINGRESP
    assert all(f.opcode == OP_BIN for f in c.frames), c.frames


def test_frame_sent_byte_by_byte(wsb, clients):
    """Header, length, mask key and payload each arriving in separate TCP segments."""
    c = ws_raw(clients, wsb, 4)
    frame = encode_frame(OP_BIN, R.connect("bytewise", 4))
    for i in range(len(frame)):
        c.sock.sendall(frame[i:i + 1])
        time.sleep(0.005)
    assert c.expect(R.CONNACK).rc == 0


def test_two_packets_in_one_frame(wsb, clients, version):
    """CONNECT + SUBSCRIBE in one frame, then PUBLISH + PINGREQ in one frame."""
    c = ws_raw(clients, wsb, version)
    t = uniq("ws-two")
    c.send(R.connect("two-" + os.urandom(3).hex(), version)
           + R.subscribe(7, [(t, 1)], version))
    assert c.expect(R.CONNACK).rc == 0
    sa = c.expect(R.SUBACK)
    assert (sa.mid, sa.codes) == (7, [1])
    c.send(R.publish(t, b"self", 1, mid=9, version=version) + R.pingreq())
    assert c.expect(R.PUBACK).mid == 9
    assert c.expect(R.PINGRESP).type == R.PINGRESP
    p = c.expect(R.PUBLISH)
    assert (p.topic, p.payload, p.qos) == (t, b"self", 1)


def test_packets_spanning_and_sharing_frames(wsb, clients):
    """A stream of packets (one of 70 KB) cut into frames at arbitrary places,
    some frames of one fragmented message, others whole messages."""
    c = ws_raw(clients, wsb, 4)
    assert c.connect("span").rc == 0
    t = uniq("ws-span")
    assert c.subscribe([(t, 0)]).codes == [0]
    big = os.urandom(70000)
    stream = b"".join([R.publish(t, b"a"), R.publish(t, big), R.publish(t, b"b" * 300),
                       R.publish(t, b"c")])
    # Fragmented message of 7-byte frames for the first 200 bytes, then whole
    # messages of 1000 bytes, then the rest in one frame.
    c.send_fragmented(stream[:200], list(range(7, 200, 7)))
    c.send_messages(stream[200:20200], list(range(1000, 20000, 1000)))
    c.send(stream[20200:])
    got = [c.expect(R.PUBLISH, timeout=10).payload for _ in range(4)]
    assert got[0] == b"a" and got[1] == big and got[2] == b"b" * 300 and got[3] == b"c"
    # The broker's 70 KB frame (or frames) used the 64-bit length correctly:
    # read_frame checks minimal encodings, and the payload arrived intact.


@pytest.mark.parametrize("payload", [b"", b"hello-ping", bytes(range(125))],
                         ids=["empty", "short", "125"])
def test_ping_pong_echo(wsb, clients, payload):
    c = ws_raw(clients, wsb, 4)
    assert c.connect("pinger-" + os.urandom(3).hex()).rc == 0
    c.send_frame(OP_PING, payload)
    assert c.wait_pong() == [payload]
    assert c.ping().type == R.PINGRESP  # MQTT still flows


def test_ping_before_connect_and_between_fragments(wsb, clients):
    """Control frames may come before any MQTT and in the middle of a fragmented
    message (RFC 6455 5.4); each gets its pong and the message still assembles."""
    c = ws_raw(clients, wsb, 4)
    c.send_frame(OP_PING, b"first")
    assert c.wait_pong() == [b"first"]
    pkt = R.connect("interleave", 4)
    c.sock.sendall(encode_frame(OP_BIN, pkt[:5], fin=False))
    c.send_frame(OP_PING, b"middle")
    c.sock.sendall(encode_frame(OP_CONT, pkt[5:], fin=True))
    assert c.expect(R.CONNACK).rc == 0
    assert c.wait_pong(2) == [b"first", b"middle"]


@pytest.mark.parametrize("code", [1000, 1001])
def test_close_handshake_echoes_status(wsb, clients, code):
    c = ws_raw(clients, wsb, 4)
    assert c.connect("closer-" + os.urandom(3).hex()).rc == 0
    c.send_frame(OP_CLOSE, close_payload(code, b"bye"))
    f = c.wait_ws_close()
    assert f.close_code == code, f
    assert_ws_works(clients, wsb)


def test_unmasked_frame_closes_1002(wsb, clients):
    c = ws_raw(clients, wsb, 4)
    c.sock.sendall(encode_frame(OP_BIN, R.connect("unmasked", 4), mask=False))
    f = c.wait_ws_close()
    assert f.close_code == 1002, f
    assert not any(f.opcode == OP_BIN for f in c.frames), "MQTT reply to an unmasked frame"
    wsb.wait_peer_warning(c.local_port)
    assert_ws_works(clients, wsb)


def test_text_frame_closes_1003(wsb, clients):
    c = ws_raw(clients, wsb, 4)
    assert c.connect("texter").rc == 0
    c.send_frame(OP_TEXT, b"hello")
    f = c.wait_ws_close()
    assert f.close_code == 1003, f
    wsb.wait_peer_warning(c.local_port)
    assert_ws_works(clients, wsb)


# RFC 6455 violations that must _Fail the WebSocket Connection_ (7.1.7): a close
# frame with 1002 (protocol error), then TCP closes, and a warning names the peer.
BAD_FRAMES = {
    # RSV1 set without a negotiated extension (5.2)
    "rsv_bit": lambda pkt: encode_frame(OP_BIN, pkt, rsv=4),
    # reserved opcode 0x3 (5.2)
    "reserved_opcode": lambda pkt: encode_frame(0x3, pkt),
    # control frame with 126 bytes of payload (5.5)
    "long_ping": lambda pkt: encode_frame(OP_PING, b"p" * 126),
    # fragmented control frame (5.5)
    "fragmented_ping": lambda pkt: encode_frame(OP_PING, b"p", fin=False),
    # continuation with nothing to continue (5.4)
    "orphan_continuation": lambda pkt: encode_frame(OP_CONT, pkt),
    # a new data frame while a fragmented message is open (5.4)
    "interleaved_data": lambda pkt: encode_frame(OP_BIN, pkt[:3], fin=False)
    + encode_frame(OP_BIN, pkt[3:]),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_protocol_violation_fails_connection(wsb, clients, case):
    c = ws_raw(clients, wsb, 4)
    c.sock.sendall(BAD_FRAMES[case](R.connect("bad-" + case, 4)))
    deadline = time.monotonic() + 5
    try:
        while True:
            c._fill(deadline)
    except R.ConnectionClosed:
        pass
    except TimeoutError:
        raise AssertionError("%s: connection still open after 5 s (frames %r)"
                             % (case, c.frames))
    # iotgate always sends the close frame, with 1002.
    assert c.close_frame is not None, "%s: TCP closed without a close frame" % case
    assert c.close_frame.close_code == 1002, c.close_frame
    after = bytes(c.wbuf) + wait_eof(c.sock)
    assert after == b"", after[:100]
    assert R.CONNACK not in [p.type for p in c.queue], c.queue
    wsb.wait_peer_warning(c.local_port)
    assert_ws_works(clients, wsb)


# ====================================================== 3. MQTT.js over ws://

@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_mqttjs_over_websocket(make_broker, version):
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "mqtt")):
        pytest.fail("MQTT.js is not installed: run `scripts/install-deps.sh test` "
                    "(or `npm ci` in tests/integration/js)", pytrace=False)
    b = _start_ws_broker(make_broker)
    env = dict(os.environ, MQTT_WS_URL="ws://%s:%d/mqtt" % (b.host, b.ws_port),
               MQTT_TCP_URL="mqtt://%s:%d" % (b.host, b.port),
               MQTT_VERSION=str(version), NO_COLOR="1")
    r = subprocess.run([NODE, "--test", "--test-reporter=spec", "mqttjs_ws.test.mjs"],
                       cwd=JS_DIR, env=env, capture_output=True, timeout=80)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 0, "MQTT.js over WebSocket failed (MQTT %s):\n%s" % (
        "5.0" if version == 5 else "3.1.1", out[-6000:])
    counts = dict(re.findall(r"^\S*\s*(tests|pass|fail) (\d+)\s*$", out, re.M))
    assert counts.get("fail") == "0" and counts.get("pass") == counts.get("tests"), out[-3000:]
    assert int(counts["tests"]) >= 7, "too few MQTT.js tests ran: %r" % counts
