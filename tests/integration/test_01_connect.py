"""01 - CONNECT / CONNACK: sessions, client identifiers, takeover, keepalive, versions."""

import time

import pytest

import mqttraw as R
from conftest import xfail_mosquitto
from helpers import PacketTypes, props, uniq


def _persist_props(version, expiry=60):
    return props(PacketTypes.CONNECT, SessionExpiryInterval=expiry) if version == 5 else None


def test_session_present_flag(broker, clients, version):
    """Clean session / clean start controls the session, and CONNACK says whether
    one was resumed [MQTT-3.2.2-1..3]; clean start discards the old subscription."""
    cid = "sp-" + uniq("x").split("/")[1]
    topic = uniq("sp")

    a = clients.paho(broker, client_id=cid, version=version, clean=True)
    ca = a.connect(props=_persist_props(version))
    assert not ca.session_present, "fresh clean connect reported a session: %r" % ca
    a.disconnect()

    b = clients.paho(broker, client_id=cid, version=version, clean=False)
    cb = b.connect(props=_persist_props(version))
    assert not cb.session_present or version == 5, cb
    b.subscribe(topic, 1)
    b.disconnect()

    c = clients.paho(broker, client_id=cid, version=version, clean=False)
    cc = c.connect(props=_persist_props(version))
    assert cc.session_present, "persistent session not resumed: %r" % cc
    c.disconnect()

    # Clean again: the stored subscription must be gone.
    d = clients.paho(broker, client_id=cid, version=version, clean=True)
    cd = d.connect(props=_persist_props(version))
    assert not cd.session_present, cd
    d.disconnect()

    e = clients.paho(broker, client_id=cid, version=version, clean=False)
    ce = e.connect(props=_persist_props(version))
    if version == 4:
        assert not ce.session_present, "clean session 1 must not leave a session: %r" % ce
    pub = clients.connected(broker, version=version)
    pub.publish(topic, b"should not arrive", 1)
    sentinel = topic + "/s"
    e.subscribe(sentinel, 1)
    pub.publish(sentinel, b"s", 1)
    e.wait_messages(1, topic=sentinel)
    assert [m for m in e.messages if m.topic == topic] == [], \
        "subscription survived a clean start/clean session"


def test_v5_empty_client_id_gets_assigned_id(broker, clients):
    """MQTT 5: a zero-length ClientID gets an Assigned Client Identifier [MQTT-3.2.2-16];
    two such clients get different identifiers."""
    ids = []
    for _ in range(2):
        c = clients.paho(broker, client_id="", version=5)
        ca = c.connect()
        assigned = ca.props.get("AssignedClientIdentifier")
        assert assigned, "no Assigned Client Identifier in CONNACK: %r" % ca
        ids.append(assigned)
    assert ids[0] != ids[1]


def test_v5_empty_client_id_with_clean_start_0_accepted(broker, clients):
    """MQTT 5 allows a zero-length ClientID with Clean Start 0 (the server assigns one);
    the Paho interop test_zero_length_clientid connects this way."""
    raw = clients.raw(broker, version=5)
    ca = raw.connect("", clean=False)
    assert ca.rc == 0, ca
    assert ca.props.get("AssignedClientIdentifier"), ca
    assert raw.ping().type == R.PINGRESP


def test_v311_empty_client_id_clean_session_accepted(broker, clients):
    raw = clients.raw(broker, version=4)
    ca = raw.connect("", clean=True)
    assert ca.rc == 0 and not ca.session_present, ca
    raw.subscribe([("e/x", 1)])
    raw.publish("e/x", b"hi", 1)
    p = raw.expect(R.PUBLISH)
    assert p.payload == b"hi"


def test_v311_empty_client_id_persistent_rejected(broker, clients):
    """[MQTT-3.1.3-8]: zero-length ClientId with CleanSession 0 -> CONNACK return code 2
    (identifier rejected), then the server closes the connection."""
    raw = clients.raw(broker, version=4)
    ca = raw.connect("", clean=False)
    assert ca.rc == 2, ca
    assert not ca.session_present
    raw.wait_closed(5)


def test_session_takeover(broker, clients, version):
    """A second connection with the same ClientID disconnects the first [MQTT-3.1.4-2];
    the new connection works."""
    cid = "take-" + uniq("x").split("/")[1]
    first = clients.raw(broker, version=version)
    assert first.connect(cid).rc == 0
    second = clients.raw(broker, version=version)
    assert second.connect(cid).rc == 0
    got = first.wait_closed(5)
    if version == 4:
        assert got == [], "3.1.1 server sent packets to the replaced client: %r" % got
    second.subscribe([("take/x", 1)])
    second.publish("take/x", b"ok", 1)
    assert second.expect(R.PUBLISH).payload == b"ok"


@xfail_mosquitto("2.0.11 closes the old connection without DISCONNECT 0x8E [MQTT-3.1.4-3]")
def test_v5_session_takeover_reason_0x8e(broker, clients):
    """MQTT 5: the replaced client gets DISCONNECT with reason 0x8E (Session taken
    over) before its connection is closed [MQTT-3.1.4-3]."""
    cid = "take5-" + uniq("x").split("/")[1]
    first = clients.raw(broker, version=5)
    assert first.connect(cid).rc == 0
    second = clients.raw(broker, version=5)
    assert second.connect(cid).rc == 0
    got = first.wait_closed(5)
    assert [(p.type, p.rc) for p in got] == [(R.DISCONNECT, 0x8E)], got


def test_session_takeover_paho(broker, clients, version):
    """The same through paho: the first client sees its connection dropped and the
    second stays connected."""
    cid = "takep-" + uniq("x").split("/")[1]
    a = clients.paho(broker, client_id=cid, version=version)
    a.connect()
    b = clients.paho(broker, client_id=cid, version=version)
    b.connect()
    a.wait_disconnect(5)
    time.sleep(0.2)
    assert b.c.is_connected() and not b.disconnects


@xfail_mosquitto("2.0.11 checks keepalives only every few seconds (closes after ~5 s, "
                 "not 1.5 x keepalive) [MQTT-3.1.2-24]")
def test_keepalive_silent_client_disconnected(broker, clients, version):
    """No packet within 1.5 x keepalive -> the server closes the connection [MQTT-3.1.2-24]."""
    raw = clients.raw(broker, version=version)
    t0 = time.monotonic()
    assert raw.connect("ka-silent", keepalive=1).rc == 0
    got = raw.wait_closed(8)
    dt = time.monotonic() - t0
    for p in got:
        assert p.type == R.DISCONNECT and version == 5 and p.rc == 0x8D, \
            "unexpected packet before keepalive close: %r" % p
    assert 1.0 <= dt <= 3.0, "closed after %.2fs; keepalive 1 s allows 1.5 s" % dt


def test_keepalive_pings_keep_connection_open(broker, clients, version):
    raw = clients.raw(broker, version=version)
    assert raw.connect("ka-ping", keepalive=1).rc == 0
    deadline = time.monotonic() + 2.2  # well past 1.5 x keepalive
    while time.monotonic() < deadline:
        time.sleep(0.4)
        assert raw.ping(2).type == R.PINGRESP
    assert raw.is_open_for(0.2)


def test_keepalive_expiry_sends_will(broker, clients, version):
    """Paho interop test_keepalive: a client that stops talking is cut off by the
    keepalive timer and its will is published."""
    topic = uniq("ka-will")
    sub = clients.connected(broker, version=version)
    sub.subscribe(topic, 2)
    raw = clients.raw(broker, version=version)
    will = {"topic": topic, "payload": b"keepalive expiry", "qos": 1}
    assert raw.connect("ka-will", keepalive=1, will=will).rc == 0
    msgs = sub.wait_messages(1, timeout=9)
    assert msgs[0].payload == b"keepalive expiry"


@pytest.mark.parametrize("level", [0, 2, 6, 7, 255])
def test_unsupported_protocol_level(broker, clients, level):
    """Unsupported protocol level -> CONNACK 0x01 in the 3.1.1 layout, then close
    [MQTT-3.1.2-2]."""
    raw = clients.raw(broker, version=4)
    raw.send(R.connect("badlevel", version=4, level=level))
    got = raw.wait_closed(5)
    assert got, "connection closed without CONNACK"
    assert got[0].type == R.CONNACK and got[0].rc == 0x01, got
    assert len(got[0].body) == 2, "CONNACK must use the 3.1.1 layout: %r" % got[0].body


@pytest.mark.iotgate_only
def test_mqtt31_rejected_as_unsupported(broker, clients):
    """iotgate does not speak MQTT 3.1 ("MQIsdp", level 3): CONNACK 0x01 and close."""
    raw = clients.raw(broker, version=3)
    raw.send(R.connect("old", version=3))
    got = raw.wait_closed(5)
    assert got and got[0].type == R.CONNACK and got[0].rc == 0x01, got


@pytest.mark.parametrize("name", ["hj", "MQTTX", "mqtt"])
def test_wrong_protocol_name_refused(broker, clients, version, name):
    """Paho interop test_basic: protocol name other than "MQTT" must not be accepted
    [MQTT-3.1.2-1]; the connection is closed (a non-zero CONNACK may precede)."""
    raw = clients.raw(broker, version=version)
    raw.send(R.connect("badname", version=version, proto_name=name))
    got = raw.wait_closed(5)
    for p in got:
        assert p.type == R.CONNACK and p.rc != 0, "accepted bad protocol name: %r" % got


def test_connack_v5_properties_consistent_with_config(broker, clients):
    """CONNACK properties the server advertises must be sane and match the config."""
    raw = clients.raw(broker, version=5)
    ca = raw.connect("props-check")
    assert ca.rc == 0
    p = ca.props
    assert p.get("TopicAliasMaximum") == 10, "topic_alias_max = 10 configured: %r" % p
    if "MaximumPacketSize" in p:
        assert p["MaximumPacketSize"] == 1048576, p
    if "ReceiveMaximum" in p:
        assert 1 <= p["ReceiveMaximum"] <= 65535, p
    if "MaximumQoS" in p:
        assert p["MaximumQoS"] in (0, 1), "MaximumQoS 2 must not be sent: %r" % p
    for k in ("RetainAvailable", "WildcardSubscriptionAvailable",
              "SubscriptionIdentifierAvailable", "SharedSubscriptionAvailable"):
        assert p.get(k, 1) == 1, "%s advertised off, but the suite needs it: %r" % (k, p)


def test_client_id_reused_after_disconnect(broker, clients, version):
    cid = "reuse-" + uniq("x").split("/")[1]
    for _ in range(3):
        c = clients.paho(broker, client_id=cid, version=version)
        c.connect()
        c.disconnect()
        c.close()
    c = clients.connected(broker, version=version, client_id=cid)
    assert c.c.is_connected()


@pytest.mark.parametrize("length", [23, 1000, 65535])
def test_long_client_ids(broker, clients, version, length):
    """Client identifiers far beyond the 23 bytes every server must accept are either
    accepted or refused cleanly (3.1.1: rc 2; 5.0: 0x85), never a crash."""
    cid = ("c%d-" % length + "x" * length)[:length]
    raw = clients.raw(broker, version=version)
    ca = raw.connect(cid)
    if ca.rc == 0:
        assert raw.ping().type == R.PINGRESP
    else:
        assert ca.rc == (2 if version == 4 else 0x85), ca
        raw.wait_closed(5)
    other = clients.connected(broker, version=version)
    assert other.c.is_connected()
