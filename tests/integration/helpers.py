"""helpers.py - a thin, synchronous wrapper around paho-mqtt 1.6.1 for tests.

Each PahoClient runs paho's network thread (loop_start) and turns its callbacks
into lists guarded by one condition variable, so a test can say "wait until 3
messages arrived, at most 5 s" instead of sleeping. Automatic reconnection is
off: a broker that drops us must show up as a drop.
"""

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

DEFAULT_TIMEOUT = 5.0


def wait_until(pred, timeout=DEFAULT_TIMEOUT, interval=0.02, what="condition"):
    """Polls pred() until it is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def uniq(prefix="t"):
    """A topic prefix no other test uses."""
    return "%s/%s" % (prefix, uuid.uuid4().hex[:10])


def props(ptype, **kw):
    """paho Properties for a packet type, e.g. props(PacketTypes.PUBLISH, ContentType="x").
    UserProperty takes a list of (key, value) pairs."""
    p = Properties(ptype)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def props_dict(p):
    """paho Properties -> {name: value} with only the properties present."""
    if p is None:
        return {}
    out = {}
    for name in p.names.keys():
        attr = name.replace(" ", "")
        if hasattr(p, attr):
            out[attr] = getattr(p, attr)
    return out


class Msg:
    """A received message, detached from paho's object."""

    def __init__(self, m):
        self.topic = m.topic
        self.payload = m.payload
        self.qos = m.qos
        self.retain = bool(m.retain)
        self.dup = bool(m.dup)
        self.mid = m.mid
        self.props = props_dict(getattr(m, "properties", None))
        self.t = time.monotonic()

    def __repr__(self):
        pl = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return "<Msg %s %r q%d r%d %s>" % (self.topic, pl, self.qos, self.retain, self.props or "")


class ConnackInfo:
    def __init__(self, rc, session_present, props):
        self.rc = rc  # int
        self.session_present = session_present
        self.props = props  # dict

    def __repr__(self):
        return "<CONNACK rc=0x%02x sp=%d %s>" % (self.rc, self.session_present, self.props)


def _rc_int(rc):
    if rc is None:
        return None
    if isinstance(rc, int):
        return rc
    return rc.value


class PahoClient:
    def __init__(self, broker, client_id=None, version=5, clean=True, keepalive=60,
                 will=None):
        """will: dict(topic, payload, qos=0, retain=False, props=None)."""
        self.broker = broker
        self.version = version
        self.clean = clean
        self.keepalive = keepalive
        if client_id is None:
            client_id = "c-" + uuid.uuid4().hex[:12]
        self.client_id = client_id
        if version == 5:
            self.c = mqtt.Client(client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        else:
            self.c = mqtt.Client(client_id, clean_session=clean, protocol=mqtt.MQTTv311,
                                 reconnect_on_failure=False)
        self.c.max_queued_messages_set(0)
        # Stay within the server's Receive Maximum (max_inflight = 20 in the test config);
        # paho 1.6.1 does not read it from CONNACK.
        self.c.max_inflight_messages_set(20)
        if will:
            self.c.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                            will.get("retain", False), will.get("props"))
        self.cond = threading.Condition()
        self.messages = []
        self.connacks = []
        self.disconnects = []  # rc ints (None when paho gives none)
        self.disconnect_props = []
        self.subacks = {}
        self.unsubacks = {}
        self.published = set()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_disconnect = self._on_disconnect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_publish = self._on_publish
        self.started = False

    # -- callbacks (paho thread)

    def _on_connect(self, c, u, flags, rc, properties=None):
        with self.cond:
            self.connacks.append(ConnackInfo(_rc_int(rc), bool(flags.get("session present")),
                                             props_dict(properties)))
            self.cond.notify_all()

    def _on_message(self, c, u, m):
        with self.cond:
            self.messages.append(Msg(m))
            self.cond.notify_all()

    def _on_disconnect(self, c, u, rc, properties=None):
        with self.cond:
            self.disconnects.append(_rc_int(rc))
            self.disconnect_props.append(props_dict(properties))
            self.cond.notify_all()

    def _on_subscribe(self, c, u, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [_rc_int(g) for g in granted]
            self.cond.notify_all()

    def _on_unsubscribe(self, c, u, mid, properties=None, reasoncodes=None):
        with self.cond:
            if isinstance(reasoncodes, list):
                codes = [_rc_int(r) for r in reasoncodes]
            elif reasoncodes is not None:
                codes = [_rc_int(reasoncodes)]
            else:
                codes = []
            self.unsubacks[mid] = codes
            self.cond.notify_all()

    def _on_publish(self, c, u, mid):
        with self.cond:
            self.published.add(mid)
            self.cond.notify_all()

    # -- waiting

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: timed out after %.1fs waiting for %s"
                                         % (self.client_id, timeout, what))
                self.cond.wait(min(left, 0.1))

    # -- actions

    def connect(self, clean=None, props=None, keepalive=None, timeout=DEFAULT_TIMEOUT,
                expect_rc=0):
        """Connects and waits for CONNACK. Returns ConnackInfo. With expect_rc=None,
        returns whatever came (or None if the connection closed first)."""
        n = len(self.connacks)
        nd = len(self.disconnects)
        kw = {}
        if self.version == 5:
            kw["clean_start"] = self.clean if clean is None else clean
            kw["properties"] = props
        self.c.connect(self.broker.host, self.broker.port,
                       keepalive=self.keepalive if keepalive is None else keepalive, **kw)
        self._ensure_loop()
        self._wait(lambda: len(self.connacks) > n or len(self.disconnects) > nd, timeout,
                   "CONNACK")
        ca = self.connacks[n] if len(self.connacks) > n else None
        if expect_rc is not None:
            assert ca is not None, "%s: connection closed without CONNACK" % self.client_id
            assert ca.rc == expect_rc, "%s: CONNACK %r, expected rc %d" % (
                self.client_id, ca, expect_rc)
        return ca

    def _ensure_loop(self):
        # paho's network thread ends when the connection ends (no auto-reconnect);
        # start a new one for each connection.
        t = getattr(self.c, "_thread", None)
        if t is not None and not t.is_alive():
            self.c.loop_stop()
            t = None
        if t is None:
            self.c.loop_start()
        self.started = True

    def reconnect(self, **kw):
        """Disconnects (if connected) and connects again with the same client id."""
        return self.connect(**kw)

    def subscribe(self, topic, qos=0, options=None, props=None, timeout=DEFAULT_TIMEOUT):
        """topic: a filter or a list of (filter, qos-or-SubscribeOptions). Returns the
        list of SUBACK codes (ints)."""
        if isinstance(topic, list):
            arg = topic
        elif self.version == 5:
            arg = [(topic, options or SubscribeOptions(qos=qos))]
        else:
            arg = [(topic, qos)]
        if self.version == 5:
            rc, mid = self.c.subscribe(arg, properties=props)
        else:
            rc, mid = self.c.subscribe(arg)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "subscribe failed locally: %d" % rc
        return self._wait(lambda: self.subacks.get(mid), timeout, "SUBACK %d" % mid)

    def unsubscribe(self, topic, timeout=DEFAULT_TIMEOUT):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self._wait(lambda: mid in self.unsubacks, timeout, "UNSUBACK %d" % mid)
        return self.unsubacks[mid]

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, wait=True,
                timeout=DEFAULT_TIMEOUT):
        """Publishes; with wait, returns once the QoS handshake is complete (for QoS 0,
        once the bytes are written)."""
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish failed locally: %d" % info.rc
        if wait:
            self._wait(lambda: info.mid in self.published, timeout, "publish mid %d" % info.mid)
        return info

    def wait_messages(self, n, timeout=DEFAULT_TIMEOUT, topic=None):
        """Waits until at least n messages (on topic, if given) arrived; returns them."""
        def sel():
            return [m for m in self.messages if topic is None or m.topic == topic]
        self._wait(lambda: len(sel()) >= n, timeout, "%d messages (have %r)" % (n, sel()[:5]))
        with self.cond:
            return sel()

    def wait_disconnect(self, timeout=DEFAULT_TIMEOUT):
        self._wait(lambda: self.disconnects, timeout, "disconnect")
        return self.disconnects[0]

    def take_messages(self):
        with self.cond:
            m = self.messages
            self.messages = []
            return m

    def disconnect(self, rc=None, props=None, timeout=DEFAULT_TIMEOUT):
        """Clean DISCONNECT; waits until paho has closed the socket."""
        nd = len(self.disconnects)
        if self.version == 5 and (rc is not None or props is not None):
            from paho.mqtt.reasoncodes import ReasonCodes
            reason = ReasonCodes(PacketTypes.DISCONNECT, identifier=rc or 0)
            self.c.disconnect(reasoncode=reason, properties=props)
        else:
            self.c.disconnect()
        try:
            self._wait(lambda: len(self.disconnects) > nd, timeout, "disconnect done")
        except AssertionError:
            pass

    def kill(self):
        """Drops the TCP connection without DISCONNECT (an abrupt failure)."""
        sock = self.c.socket()
        if sock is not None:
            import socket as _s
            import struct as _st
            try:
                sock.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, _st.pack("ii", 1, 0))
                sock.shutdown(_s.SHUT_RDWR)
            except OSError:
                pass
        self._wait(lambda: self.disconnects, DEFAULT_TIMEOUT, "local close after kill")

    def close(self):
        try:
            if self.c.is_connected():
                self.c.disconnect()
        except Exception:
            pass
        if self.started:
            self.c.loop_stop()
            self.started = False
