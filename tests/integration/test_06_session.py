"""06 - persistent sessions: offline queueing, session expiry, queue bound, redelivery
with DUP, QoS 2 state across reconnects."""

import time

import pytest

import mqttraw as R
from helpers import PacketTypes, props, uniq


def _persist(version, expiry=300):
    return props(PacketTypes.CONNECT, SessionExpiryInterval=expiry) if version == 5 else None


def _raw_persist(version, expiry=300):
    return {"SessionExpiryInterval": expiry} if version == 5 else None


def _fresh(version):
    """Clean flag for the first connection of a persistent client: MQTT 5 starts
    clean and keeps the session by its expiry; 3.1.1 needs CleanSession 0."""
    return version == 5


def test_offline_message_queueing(broker, clients, version):
    """Paho interop test_offline_message_queueing: messages published at QoS 1 and 2
    while a persistent subscriber is offline are delivered when it returns (session
    present = 1); the QoS 0 one may be dropped [MQTT-3.1.2-5]."""
    pfx = uniq("offq")
    cid = "offq-" + pfx.split("/")[1]
    a = clients.paho(broker, client_id=cid, version=version, clean=False)
    a.connect(clean=True, props=_persist(version))
    a.subscribe(pfx + "/+/+", 2)
    a.disconnect()

    b = clients.connected(broker, version=version)
    b.publish(pfx + "/TopicA/B", b"qos 0", 0)
    b.publish(pfx + "/Topic/C", b"qos 1", 1)
    b.publish(pfx + "/TopicA/C", b"qos 2", 2)
    b.disconnect()

    a2 = clients.paho(broker, client_id=cid, version=version, clean=False)
    ca = a2.connect(clean=False, props=_persist(version))
    assert ca.session_present, ca
    a2.wait_messages(2)
    time.sleep(0.5)
    got = sorted((m.payload, m.qos) for m in a2.messages)
    assert got in ([(b"qos 1", 1), (b"qos 2", 2)],
                   [(b"qos 0", 0), (b"qos 1", 1), (b"qos 2", 2)]), got


@pytest.mark.parametrize("qos", [1, 2])
def test_offline_messages_all_delivered_in_order(broker, clients, version, qos):
    t = uniq("offo")
    cid = "offo-" + t.split("/")[1]
    raw = clients.raw(broker, version=version)
    assert raw.connect(cid, clean=_fresh(version), props=_raw_persist(version)).rc == 0
    raw.subscribe([(t, qos)])
    raw.disconnect()
    pub = clients.connected(broker, version=version)
    for i in range(20):
        pub.publish(t, b"%d" % i, qos, wait=False)
    pub.publish(t + "/done", b"", 1)
    time.sleep(0.3)
    s = clients.paho(broker, client_id=cid, version=version, clean=False)
    assert s.connect(clean=False, props=_persist(version)).session_present
    msgs = s.wait_messages(20)
    assert [int(m.payload) for m in msgs] == list(range(20))
    assert all(m.qos == qos for m in msgs)


def test_subscription_survives_reconnect(broker, clients, version):
    t = uniq("subsurv")
    cid = "subsurv-" + t.split("/")[1]
    a = clients.paho(broker, client_id=cid, version=version, clean=False)
    a.connect(clean=True, props=_persist(version))
    a.subscribe(t, 1)
    a.disconnect()
    a2 = clients.paho(broker, client_id=cid, version=version, clean=False)
    assert a2.connect(clean=False, props=_persist(version)).session_present
    pub = clients.connected(broker, version=version)
    pub.publish(t, b"live", 1)
    assert a2.wait_messages(1)[0].payload == b"live"


def test_v5_session_expiry_0_means_no_session(broker, clients):
    """Paho interop test_session_expiry (first part): Session Expiry 0 ends the
    session at disconnect [MQTT-3.1.2-23]."""
    raw = clients.raw(broker, version=5)
    ca = raw.connect("sx0", clean=True, props={"SessionExpiryInterval": 0})
    assert ca.rc == 0 and not ca.session_present
    raw.subscribe([("sx0/t", 2)])
    raw.disconnect()
    raw2 = clients.raw(broker, version=5)
    ca = raw2.connect("sx0", clean=False, props={"SessionExpiryInterval": 0})
    assert ca.rc == 0 and not ca.session_present, ca


def test_v5_session_expiry_interval(broker, clients):
    """Paho interop test_session_expiry: a session outlives the connection for its
    expiry interval and no longer; DISCONNECT can change the interval (1 -> 4, then
    4 -> 0 ends it at once) [MQTT-3.1.2-23, MQTT-3.14.2-2]."""
    def conn(clean, expiry):
        r = clients.raw(broker, version=5)
        ca = r.connect("sxi", clean=clean, props={"SessionExpiryInterval": expiry})
        assert ca.rc == 0
        return r, ca

    r, ca = conn(True, 2)
    assert not ca.session_present
    r.subscribe([("sxi/t", 2)])
    r.disconnect()
    time.sleep(0.5)
    r, ca = conn(False, 2)
    assert ca.session_present, "session gone before its 2 s expiry"
    r.disconnect()
    time.sleep(3.5)
    r, ca = conn(False, 2)
    assert not ca.session_present, "session still there 3.5 s after a 2 s expiry"
    r.disconnect()

    r, ca = conn(True, 1)
    assert not ca.session_present
    r.subscribe([("sxi/t", 2)])
    r.disconnect(rc=0, props={"SessionExpiryInterval": 4})
    time.sleep(2.0)
    r, ca = conn(False, 1)
    assert ca.session_present, "DISCONNECT's longer expiry (4 s) was not applied"
    r.disconnect(rc=0, props={"SessionExpiryInterval": 0})
    time.sleep(0.2)
    r, ca = conn(False, 1)
    assert not ca.session_present, "DISCONNECT with expiry 0 did not end the session"
    r.disconnect()


def test_v5_expired_session_drops_queued_messages(broker, clients):
    t = uniq("sxq")
    r = clients.raw(broker, version=5)
    r.connect("sxq", props={"SessionExpiryInterval": 1})
    r.subscribe([(t, 1)])
    r.disconnect()
    pub = clients.connected(broker, version=5)
    pub.publish(t, b"queued", 1)
    time.sleep(2.5)
    r = clients.raw(broker, version=5)
    ca = r.connect("sxq", clean=False, props={"SessionExpiryInterval": 1})
    assert not ca.session_present
    r.expect_none(R.PUBLISH, 0.5)


def test_queue_bound_limits_offline_messages(make_broker, clients, version):
    """max_queued_messages = 5: of 10 QoS 1 messages for an offline client at most 5
    are delivered (and at least one: the queue is not simply discarded)."""
    broker = make_broker(max_queued_messages=5)
    t = uniq("qbound")
    cid = "qbound-" + t.split("/")[1]
    raw = clients.raw(broker, version=version)
    assert raw.connect(cid, clean=_fresh(version), props=_raw_persist(version)).rc == 0
    raw.subscribe([(t, 1)])
    raw.disconnect()
    pub = clients.connected(broker, version=version)
    for i in range(10):
        pub.publish(t, b"%d" % i, 1)
    s = clients.paho(broker, client_id=cid, version=version, clean=False)
    assert s.connect(clean=False, props=_persist(version)).session_present
    s.wait_messages(1)
    time.sleep(1.0)
    got = [int(m.payload) for m in s.messages]
    assert 1 <= len(got) <= 5, "delivered %r with max_queued_messages = 5" % got
    assert len(set(got)) == len(got) and got == sorted(got), got


@pytest.mark.iotgate_only
def test_queue_bound_overflow_counted(make_broker, clients, version):
    """Overflow is never silent: $SYS/broker/queue/dropped counts it."""
    broker = make_broker(max_queued_messages=5)
    t = uniq("qdrop")
    raw = clients.raw(broker, version=version)
    assert raw.connect("qdrop", clean=_fresh(version), props=_raw_persist(version)).rc == 0
    raw.subscribe([(t, 1)])
    raw.disconnect()
    pub = clients.connected(broker, version=version)
    for i in range(10):
        pub.publish(t, b"%d" % i, 1)
    assert broker.wait_counter_at_least("$SYS/broker/queue/dropped", 5, timeout=5) >= 5


@pytest.mark.parametrize("qos", [1, 2])
def test_redelivery_with_dup_after_reconnect(broker, clients, version, qos):
    """An unacknowledged outgoing PUBLISH is re-sent on reconnect with the same packet
    identifier and DUP = 1 [MQTT-4.4.0-1, MQTT-3.3.1-1]."""
    t = uniq("redeliv")
    cid = "redeliv-" + t.split("/")[1]
    sub = clients.raw(broker, version=version)
    assert sub.connect(cid, clean=_fresh(version), props=_raw_persist(version)).rc == 0
    sub.subscribe([(t, 2)])
    pub = clients.connected(broker, version=version)
    pub.publish(t, b"unacked", qos)
    p1 = sub.expect(R.PUBLISH)
    assert p1.qos == qos and not p1.dup and p1.payload == b"unacked"
    sub.close()  # no PUBACK / PUBREC
    time.sleep(0.2)
    sub2 = clients.raw(broker, version=version)
    ca = sub2.connect(cid, clean=False, props=_raw_persist(version))
    assert ca.session_present
    p2 = sub2.expect(R.PUBLISH)
    assert (p2.mid, p2.qos, p2.payload, p2.topic) == (p1.mid, qos, b"unacked", t), p2
    assert p2.dup, "re-sent PUBLISH must have DUP = 1: %r" % p2
    sub2.ack_publish(p2)
    sub2.expect_none(R.PUBLISH, 0.5)


def test_qos2_pubrel_resent_after_reconnect(broker, clients, version):
    """If the client sent PUBREC but the server's PUBREL was not answered, the
    server re-sends PUBREL (not PUBLISH) on reconnect [MQTT-4.4.0-1]."""
    t = uniq("pubrel")
    cid = "pubrel-" + t.split("/")[1]
    sub = clients.raw(broker, version=version)
    assert sub.connect(cid, clean=_fresh(version), props=_raw_persist(version)).rc == 0
    sub.subscribe([(t, 2)])
    pub = clients.connected(broker, version=version)
    pub.publish(t, b"q2", 2)
    p = sub.expect(R.PUBLISH)
    sub.send(R.ack(R.PUBREC, p.mid, version))
    assert sub.expect(R.PUBREL).mid == p.mid
    sub.close()  # no PUBCOMP
    time.sleep(0.2)
    sub2 = clients.raw(broker, version=version)
    assert sub2.connect(cid, clean=False, props=_raw_persist(version)).session_present
    rel = sub2.recv_packet(5)
    assert rel.type == R.PUBREL and rel.mid == p.mid, rel
    sub2.send(R.ack(R.PUBCOMP, p.mid, version))
    sub2.expect_none(R.PUBLISH, 0.5)


def test_redelivery_on_reconnect_interop(broker, clients, version):
    """Paho interop test_redelivery_on_reconnect: a persistent client subscribed to
    TopicA/# publishes QoS 1 and QoS 2 to itself but does not acknowledge what it
    receives; after reconnecting it gets both messages."""
    pfx = uniq("redel")
    cid = "redel-" + pfx.split("/")[1]
    c = clients.raw(broker, version=version)
    assert c.connect(cid, clean=_fresh(version), props=_raw_persist(version)).rc == 0
    c.subscribe([(pfx + "/TopicA/#", 2)])
    c.publish(pfx + "/TopicA/B", b"", 1)
    c.publish(pfx + "/TopicA/C", b"", 2)
    c.close()
    time.sleep(0.3)
    c2 = clients.raw(broker, version=version)
    assert c2.connect(cid, clean=False, props=_raw_persist(version)).session_present
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        p = c2.expect(R.PUBLISH, deadline - time.monotonic())
        got.append(p)
        c2.ack_publish(p)
    assert sorted(p.topic for p in got) == [pfx + "/TopicA/B", pfx + "/TopicA/C"], got


def test_inbound_qos2_state_survives_reconnect(broker, clients, version):
    """A client that got PUBREC, lost the connection and sends PUBREL after
    reconnecting gets PUBCOMP; the message is delivered exactly once."""
    t = uniq("inq2")
    cid = "inq2-" + t.split("/")[1]
    sub = clients.connected(broker, version=version)
    sub.subscribe(t, 2)
    c = clients.raw(broker, version=version)
    assert c.connect(cid, clean=_fresh(version), props=_raw_persist(version)).rc == 0
    c.send(R.publish(t, b"exactly once", 2, mid=11, version=version))
    assert c.expect(R.PUBREC).mid == 11
    c.close()
    c2 = clients.raw(broker, version=version)
    assert c2.connect(cid, clean=False, props=_raw_persist(version)).session_present
    c2.send(R.publish(t, b"exactly once", 2, mid=11, dup=True, version=version))
    assert c2.expect(R.PUBREC).mid == 11
    c2.send(R.ack(R.PUBREL, 11, version))
    assert c2.expect(R.PUBCOMP).mid == 11
    sub.wait_messages(1)
    time.sleep(0.5)
    assert [m.payload for m in sub.messages] == [b"exactly once"]
