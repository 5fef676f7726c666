"""05 - will messages: abrupt close, clean DISCONNECT, QoS/retain, MQTT 5 will delay,
DISCONNECT 0x04, properties."""

import time

import pytest

import mqttraw as R
from conftest import xfail_mosquitto
from helpers import uniq


def _watch(clients, broker, topic, version=5, qos=2):
    s = clients.connected(broker, version=version)
    s.subscribe(topic, qos)
    return s


def test_will_sent_on_abrupt_close(broker, clients, version):
    """A connection that ends without DISCONNECT publishes the will [MQTT-3.1.2-8]."""
    t = uniq("will")
    s = _watch(clients, broker, t, version)
    raw = clients.raw(broker, version=version)
    assert raw.connect("w1", will={"topic": t, "payload": b"gone", "qos": 1}).rc == 0
    raw.ping()
    raw.abort()
    m = s.wait_messages(1)[0]
    assert (m.topic, m.payload, m.qos, m.retain) == (t, b"gone", 1, False)


def test_will_sent_when_paho_socket_dies(broker, clients, version):
    t = uniq("willp")
    s = _watch(clients, broker, t, version)
    w = clients.paho(broker, version=version, will={"topic": t, "payload": b"paho gone"})
    w.connect()
    w.kill()
    assert s.wait_messages(1)[0].payload == b"paho gone"


def test_will_not_sent_on_clean_disconnect(broker, clients, version):
    """DISCONNECT (reason 0x00) deletes the will [MQTT-3.1.2-10]."""
    t = uniq("nowill")
    s = _watch(clients, broker, t, version)
    raw = clients.raw(broker, version=version)
    assert raw.connect("w2", will={"topic": t, "payload": b"should not"}).rc == 0
    raw.disconnect()
    time.sleep(1.0)
    assert s.messages == []


def test_will_retained_and_qos2(broker, clients, version):
    """Will retain and QoS are honoured: a later subscriber gets the retained will."""
    t = uniq("willr")
    live = _watch(clients, broker, t, version, qos=2)
    raw = clients.raw(broker, version=version)
    will = {"topic": t, "payload": b"ret", "qos": 2, "retain": True}
    assert raw.connect("w3", will=will).rc == 0
    raw.abort()
    m = live.wait_messages(1)[0]
    assert m.qos == 2 and m.payload == b"ret"
    later = _watch(clients, broker, t, version)
    m = later.wait_messages(1)[0]
    assert m.retain and m.payload == b"ret"


@pytest.mark.parametrize("error", [
    "subscribe_flags_0",
    pytest.param("second_connect", marks=xfail_mosquitto(
        "2.0.11 drops the will when it rejects a second CONNECT [MQTT-3.1.2-8]")),
])
def test_will_sent_on_protocol_error(broker, clients, version, error):
    """A server that closes the connection for a protocol error or a malformed
    packet publishes the will [MQTT-3.1.2-8] (MQTT 5 section 3.1.2.5). Repeated ten
    times: the will must come every time, promptly, with nothing else going on."""
    pfx = uniq("willpe")
    s = _watch(clients, broker, pfx + "/#", version)
    for i in range(10):
        raw = clients.raw(broker, version=version)
        will = {"topic": "%s/%d" % (pfx, i), "payload": b"pe %d" % i, "qos": i % 2}
        assert raw.connect("w4-%d" % i, will=will).rc == 0
        if error == "second_connect":
            raw.send(R.connect("again", version=version))
        else:
            raw.send(R.subscribe(1, [("a", 0)], version, flags=0))
        raw.wait_closed(5)
        got = s.wait_messages(i + 1, timeout=3)
        assert got[i].payload == b"pe %d" % i, got


def test_will_sent_on_session_takeover(broker, clients, version):
    """The replaced connection did not DISCONNECT, so its will is published."""
    t = uniq("willto")
    s = _watch(clients, broker, t, version)
    first = clients.raw(broker, version=version)
    assert first.connect("w5", will={"topic": t, "payload": b"taken"}).rc == 0
    second = clients.raw(broker, version=version)
    assert second.connect("w5").rc == 0
    assert s.wait_messages(1)[0].payload == b"taken"


def test_v5_will_properties_passed_through(broker, clients):
    """Paho interop test_will_message: will properties (user properties in order,
    content type, ...) travel with the will; the will fires on keepalive expiry."""
    t = uniq("willprops")
    s = _watch(clients, broker, t)
    raw = clients.raw(broker, version=5)
    wp = [("UserProperty", [("a", "2"), ("c", "3")]), ("ContentType", "text/plain"),
          ("PayloadFormatIndicator", 1), ("ResponseTopic", t + "/resp"),
          ("CorrelationData", b"\x00\x01")]
    will = {"topic": t, "payload": b"will message", "qos": 1, "props": wp}
    assert raw.connect("w6", keepalive=1, will=will).rc == 0
    m = s.wait_messages(1, timeout=9)[0]
    assert m.payload == b"will message"
    assert m.props.get("UserProperty") == [("a", "2"), ("c", "3")], m.props
    assert m.props.get("ContentType") == "text/plain"
    assert m.props.get("PayloadFormatIndicator") == 1
    assert m.props.get("ResponseTopic") == t + "/resp"
    assert m.props.get("CorrelationData") == b"\x00\x01"


def test_v5_disconnect_with_will_0x04(broker, clients):
    """DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will,
    promptly, every time (ten rounds)."""
    pfx = uniq("will04")
    s = _watch(clients, broker, pfx + "/#")
    for i in range(10):
        raw = clients.raw(broker, version=5)
        will = {"topic": "%s/%d" % (pfx, i), "payload": b"asked for %d" % i}
        assert raw.connect("w7-%d" % i, will=will).rc == 0
        raw.disconnect(rc=0x04)
        got = s.wait_messages(i + 1, timeout=3)
        assert got[i].payload == b"asked for %d" % i


def _will_connect(clients, broker, cid, t, delay, expiry):
    raw = clients.raw(broker, version=5)
    will = {"topic": t, "payload": b"delayed", "props": {"WillDelayInterval": delay}}
    ca = raw.connect(cid, props={"SessionExpiryInterval": expiry}, will=will)
    assert ca.rc == 0 and not ca.session_present
    return raw


@pytest.mark.parametrize("delay,expiry,lo,hi", [
    (3, 5, 2.5, 5.0),   # will delay first
    pytest.param(5, 0, 0.0, 1.5, marks=xfail_mosquitto(
        "2.0.11 waits the will delay even when the session (expiry 0) has ended "
        "[MQTT-3.1.3-9]")),  # session ends at once -> will at once
    (5, 2, 1.5, 4.0),   # session expiry (2) before will delay (5)
])
def test_v5_will_delay(broker, clients, delay, expiry, lo, hi):
    """Paho interop test_will_delay: the will is published when the Will Delay
    Interval passes or the session ends, whichever is first [MQTT-3.1.3-9]."""
    t = uniq("wdelay")
    s = _watch(clients, broker, t)
    raw = _will_connect(clients, broker, "wd-%d-%d" % (delay, expiry), t, delay, expiry)
    t0 = time.monotonic()
    raw.abort()
    s.wait_messages(1, timeout=hi + 2)
    dt = s.messages[0].t - t0
    assert lo <= dt <= hi, "will after %.2fs, expected %.1f..%.1f" % (dt, lo, hi)


def test_v5_will_delay_cancelled_by_reconnect(broker, clients):
    """Reconnecting to the session within the will delay cancels the will
    [MQTT-3.1.3-9]."""
    t = uniq("wcancel")
    s = _watch(clients, broker, t)
    raw = _will_connect(clients, broker, "wcancel", t, 2, 30)
    raw.abort()
    time.sleep(0.5)
    back = clients.raw(broker, version=5)
    ca = back.connect("wcancel", clean=False, props={"SessionExpiryInterval": 30})
    assert ca.rc == 0 and ca.session_present
    time.sleep(3.0)
    assert s.messages == [], "will published although the client came back in time"
    back.disconnect()
