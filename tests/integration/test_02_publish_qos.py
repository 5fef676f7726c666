"""02 - PUBLISH at QoS 0/1/2: delivery, downgrade, ordering, size, volume, exactly-once."""

import time

import pytest

import mqttraw as R
from conftest import xfail_mosquitto
from helpers import uniq


@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_qos_matrix(broker, clients, version, pub_qos, sub_qos):
    """Delivered QoS is min(publish QoS, granted QoS) [MQTT-3.8.4-8]; the message
    arrives once, intact, with retain 0."""
    topic = uniq("qos")
    sub = clients.connected(broker, version=version)
    assert sub.subscribe(topic, sub_qos) == [sub_qos]
    pub = clients.connected(broker, version=version)
    pub.publish(topic, b"pq%d-sq%d" % (pub_qos, sub_qos), pub_qos)
    msgs = sub.wait_messages(1)
    time.sleep(0.2)
    assert len(sub.messages) == 1, sub.messages
    m = msgs[0]
    assert m.topic == topic
    assert m.payload == b"pq%d-sq%d" % (pub_qos, sub_qos)
    assert m.qos == min(pub_qos, sub_qos)
    assert not m.retain


def test_basic_self_publish(broker, clients, version):
    """Paho interop test_basic: connect, disconnect, connect again (no session),
    subscribe at QoS 2 and publish to yourself at QoS 0, 1 and 2 -> three messages."""
    cid = "basic-" + uniq("x").split("/")[1]
    c = clients.paho(broker, client_id=cid, version=version)
    c.connect()
    c.disconnect()
    ca = c.connect()
    assert not ca.session_present
    topic = uniq("TopicA")
    c.subscribe(topic, 2)
    for q in range(3):
        c.publish(topic, b"qos %d" % q, q)
    msgs = c.wait_messages(3)
    assert sorted(m.qos for m in msgs) == [0, 1, 2]
    assert sorted(m.payload for m in msgs) == [b"qos 0", b"qos 1", b"qos 2"]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_ordering_preserved(make_broker, clients, version, qos):
    """Messages from one publisher on one topic arrive in order [MQTT-4.6.0-6].
    (A larger queue: a burst must not hit the per-client queue bound.)"""
    broker = make_broker(max_queued_messages=10000)
    topic = uniq("order")
    sub = clients.connected(broker, version=version)
    sub.subscribe(topic, 2)
    pub = clients.connected(broker, version=version)
    n = 300
    infos = [pub.publish(topic, b"%d" % i, qos, wait=False) for i in range(n)]
    msgs = sub.wait_messages(n, timeout=20)
    got = [int(m.payload) for m in msgs]
    assert got == list(range(n)), "out of order or lost: first diffs %r" % [
        (i, g) for i, g in enumerate(got) if g != i][:5]
    for info in infos:
        info.wait_for_publish(5)


@pytest.mark.parametrize("size", [65 * 1024, 300 * 1024, 1000 * 1024])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_large_message(broker, clients, version, qos, size):
    """Messages larger than 64 KiB (up to just below max_packet_size) pass intact."""
    topic = uniq("big")
    payload = bytes((i * 7 + 3) % 256 for i in range(size))
    sub = clients.connected(broker, version=version)
    sub.subscribe(topic, 2)
    pub = clients.connected(broker, version=version)
    pub.publish(topic, payload, qos, timeout=15)
    m = sub.wait_messages(1, timeout=15)[0]
    assert len(m.payload) == size and m.payload == payload


@pytest.mark.parametrize("qos", [1, 2])
def test_many_messages_none_lost(make_broker, clients, version, qos):
    """2000 messages at QoS 1/2 from one publisher: every one arrives; at QoS 2,
    exactly once. The queue bound is raised so that the burst is not (legitimately)
    trimmed by max_queued_messages; test_06 covers the bound itself."""
    broker = make_broker(max_queued_messages=10000)
    topic = uniq("many")
    n = 2000
    sub = clients.connected(broker, version=version)
    sub.subscribe(topic, qos)
    pub = clients.connected(broker, version=version)
    infos = [pub.publish(topic, b"%d" % i, qos, wait=False) for i in range(n)]
    sub.wait_messages(n, timeout=60)
    for info in infos:
        info.wait_for_publish(10)
    time.sleep(0.3)
    got = [int(m.payload) for m in sub.messages]
    assert set(got) == set(range(n)), "lost %d messages" % (n - len(set(got)))
    if qos == 2:
        assert len(got) == n, "duplicates at QoS 2: %d extra" % (len(got) - n)
    assert all(m.qos == qos for m in sub.messages)


def test_fan_out_to_many_subscribers(broker, clients, version):
    topic = uniq("fan")
    subs = []
    for _ in range(8):
        s = clients.connected(broker, version=version)
        s.subscribe(topic, 1)
        subs.append(s)
    pub = clients.connected(broker, version=version)
    for i in range(20):
        pub.publish(topic, b"%d" % i, 1, wait=False)
    for s in subs:
        msgs = s.wait_messages(20, timeout=10)
        assert [int(m.payload) for m in msgs] == list(range(20))


def test_empty_payload_delivered(broker, clients, version):
    topic = uniq("empty")
    sub = clients.connected(broker, version=version)
    sub.subscribe(topic, 1)
    pub = clients.connected(broker, version=version)
    pub.publish(topic, b"", 1)
    assert sub.wait_messages(1)[0].payload == b""


def test_qos2_duplicate_publish_delivered_once(broker, clients, version):
    """A QoS 2 PUBLISH resent with DUP before PUBREL must not be delivered twice
    [MQTT-4.3.3-9]: the receiver must not deliver a second time."""
    topic = uniq("q2dup")
    sub = clients.connected(broker, version=version)
    sub.subscribe(topic, 2)
    raw = clients.raw(broker, version=version)
    assert raw.connect("q2dup-pub").rc == 0
    raw.send(R.publish(topic, b"once", 2, mid=7, version=version))
    assert raw.expect(R.PUBREC).mid == 7
    raw.send(R.publish(topic, b"once", 2, mid=7, dup=True, version=version))
    assert raw.expect(R.PUBREC).mid == 7
    raw.send(R.ack(R.PUBREL, 7, version))
    assert raw.expect(R.PUBCOMP).mid == 7
    # A sentinel from the same publisher, then count.
    raw.publish(topic, b"sentinel", 1)
    sub.wait_messages(2)
    time.sleep(0.3)
    # QoS 2 and QoS 1 deliveries may complete in either order at the subscriber.
    assert sorted(m.payload for m in sub.messages) == [b"once", b"sentinel"], sub.messages


def test_qos1_raw_handshake(broker, clients, version):
    """PUBACK carries the PUBLISH's packet identifier [MQTT-2.2.1-5]; MQTT 5 reason
    code 0x00 or 0x10 (no matching subscribers)."""
    raw = clients.raw(broker, version=version)
    assert raw.connect("q1raw").rc == 0
    raw.send(R.publish(uniq("nobody"), b"x", 1, mid=4242, version=version))
    p = raw.expect(R.PUBACK)
    assert p.mid == 4242
    assert p.rc in (0x00, 0x10), p


def test_pubrel_unknown_id_gets_pubcomp(broker, clients, version):
    """PUBREL for an identifier the server does not hold still gets PUBCOMP
    (MQTT 5: reason 0x92 Packet Identifier not found, or 0x00)."""
    raw = clients.raw(broker, version=version)
    assert raw.connect("pubrel-unknown").rc == 0
    raw.send(R.ack(R.PUBREL, 999, version))
    p = raw.expect(R.PUBCOMP)
    assert p.mid == 999
    assert p.rc in (0x00, 0x92), p
    assert raw.ping().type == R.PINGRESP


def test_publisher_receives_own_message_without_no_local(broker, clients, version):
    topic = uniq("self")
    c = clients.connected(broker, version=version)
    c.subscribe(topic, 1)
    c.publish(topic, b"me", 1)
    assert c.wait_messages(1)[0].payload == b"me"


def test_many_publishers_many_subscribers_keep_order(make_broker, clients, version):
    """12 publishers x 12 subscribers (spread over the broker's workers): every
    subscriber gets every message, and each publisher's messages in order."""
    broker = make_broker(max_queued_messages=10000)
    t = uniq("mxn")
    subs = []
    for _ in range(12):
        s = clients.connected(broker, version=version)
        s.subscribe(t + "/#", 1)
        subs.append(s)
    pubs = [clients.connected(broker, version=version) for _ in range(12)]
    n = 40
    infos = []
    for i in range(n):
        for p, pub in enumerate(pubs):
            infos.append(pub.publish("%s/%d" % (t, p), b"%d" % i, 1, wait=False))
    for s in subs:
        s.wait_messages(n * len(pubs), timeout=30)
    for info in infos:
        info.wait_for_publish(10)
    for s in subs:
        per_pub = {}
        for m in s.messages:
            per_pub.setdefault(m.topic, []).append(int(m.payload))
        assert len(per_pub) == len(pubs)
        for topic, seq in per_pub.items():
            assert seq == list(range(n)), "%s: %r" % (topic, seq[:10])


@pytest.mark.parametrize("extra", [
    pytest.param(0, id="at-limit"),
    pytest.param(1, id="one-over", marks=xfail_mosquitto(
        "2.0.11 leaves the remaining-length bytes out of the size (accepts 4098)"))])
def test_max_packet_size_boundary(make_broker, clients, version, extra):
    """max_packet_size counts the whole packet: a PUBLISH of exactly 4096 bytes passes,
    4097 bytes closes the connection (MQTT 5: DISCONNECT 0x95 may come first)."""
    broker = make_broker(max_packet_size=4096)
    t = "mps/b"
    sub = clients.connected(broker, version=version)
    sub.subscribe(t, 0)
    raw = clients.raw(broker, version=version)
    assert raw.connect("mps-edge").rc == 0
    # total = 1 (type) + 2 (remaining length < 16384) + remaining
    remaining = 4096 + extra - 3
    overhead = 2 + len(t) + (1 if version == 5 else 0)
    pkt = R.publish(t, b"z" * (remaining - overhead), 0, version=version)
    assert len(pkt) == 4096 + extra
    raw.send(pkt)
    if extra == 0:
        m = sub.wait_messages(1)[0]
        assert len(m.payload) == remaining - overhead
        assert raw.ping().type == R.PINGRESP
    else:
        got = raw.wait_closed(5)
        assert [(p.type, p.rc) for p in got] in ([], [(R.DISCONNECT, 0x95)]), got
        time.sleep(0.2)
        assert sub.messages == []


@pytest.mark.parametrize("extra", [
    pytest.param(0, id="at-limit"),
    pytest.param(1, id="one-over", marks=xfail_mosquitto(
        "2.0.11 sends a 201-byte packet to a client whose maximum is 200 [MQTT-3.1.2-24]"))])
def test_client_max_packet_size_boundary(broker, clients, extra):
    """MQTT 5 client Maximum Packet Size 200: an outgoing PUBLISH of exactly 200 bytes
    is sent, one of 201 bytes is not (and the connection stays up)
    [MQTT-3.1.2-24, -25]."""
    t = "cmps/b"
    c = clients.raw(broker, version=5)
    assert c.connect("cmps", props={"MaximumPacketSize": 200}).rc == 0
    c.subscribe([(t, 0)])
    pub = clients.connected(broker, version=5)
    # Outgoing: 1 + 2 (remaining length > 127) + topic (2+6) + props length (1) + payload
    payload = b"q" * (200 + extra - 3 - 2 - len(t) - 1)
    pub.publish(t, payload, 0)
    pub.publish(t, b"after", 0)
    p = c.expect(R.PUBLISH)
    if extra == 0:
        assert p.payload == payload
        p = c.expect(R.PUBLISH)
    assert p.payload == b"after", p
