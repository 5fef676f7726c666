"""Back-pressure: a connected subscriber that reads slowly does not lose
acknowledged QoS 1/2 messages. Past max_queued_messages its publishers are
throttled (iotgate stops reading their sockets for a moment) instead of the
queue dropping what the publisher was already told was received."""

import time

import pytest

import mqttraw as R
from conftest import IS_MOSQUITTO

pytestmark = pytest.mark.skipif(
    IS_MOSQUITTO, reason="iotgate's back-pressure; Mosquitto drops past max_queued_messages")


def _drain(sub, n, pub=None, want=None):
    """Reads and acknowledges PUBLISHes on sub until n arrived (30 s at most),
    reading pub's acknowledgements meanwhile. Returns the payloads as ints."""
    got = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        try:
            p = sub.recv_packet(timeout=0.2)
        except TimeoutError:
            p = None
        if p is not None and p.type == R.PUBLISH:
            got.append(int(p.payload))
            sub.ack_publish(p)
        if pub is not None:
            try:
                while True:
                    pub.recv_packet(timeout=0.01)
            except TimeoutError:
                pass
    return got


def test_slow_subscriber_loses_nothing_qos1(make_broker, clients):
    """120 QoS 1 messages sent back to back at a subscriber that reads nothing
    for a while: with max_queued_messages=5 all 120 still arrive, in order."""
    broker = make_broker(max_queued_messages=5, max_inflight=2)
    sub = clients.raw(broker, version=4)
    assert sub.connect("bp-sub").rc == 0
    sub.subscribe([("bp/t", 1)])
    pub = clients.raw(broker, version=4)
    assert pub.connect("bp-pub").rc == 0
    n = 120
    for i in range(n):
        pub.publish("bp/t", b"%d" % i, 1, wait_ack=False)
    time.sleep(0.5)  # the subscriber is not reading: its queue passes the limit
    got = _drain(sub, n, pub)
    assert got == list(range(n)), "lost or reordered: %d of %d" % (len(got), n)
    assert broker.sys_value("$SYS/broker/queue/dropped", lambda v: v.strip() == "0")


def test_slow_subscriber_loses_nothing_qos2(make_broker, clients):
    """The same at QoS 2, with a publisher that keeps within the Receive Maximum
    (one exchange at a time)."""
    broker = make_broker(max_queued_messages=5, max_inflight=2)
    sub = clients.raw(broker, version=5)
    assert sub.connect("bp-sub2").rc == 0
    sub.subscribe([("bp/t2", 2)])
    pub = clients.raw(broker, version=5)
    assert pub.connect("bp-pub2").rc == 0
    n = 60
    t0 = time.monotonic()
    for i in range(n):
        pub.publish("bp/t2", b"%d" % i, 2)  # waits for PUBREC and PUBCOMP
    # Past the queue limit every message waited for a throttle period.
    assert time.monotonic() - t0 > 0.1
    got = _drain(sub, n)
    assert got == list(range(n)), "lost or reordered: %d of %d" % (len(got), n)
    assert broker.sys_value("$SYS/broker/queue/dropped", lambda v: v.strip() == "0")


def test_offline_queue_still_bounded(make_broker, clients):
    """Back-pressure is for connected subscribers; an offline session's queue keeps
    its max_queued_messages bound (overflow counted)."""
    broker = make_broker(max_queued_messages=5)
    sub = clients.raw(broker, version=4)
    assert sub.connect("bp-off", clean=False).rc == 0
    sub.subscribe([("bp/off", 1)])
    sub.disconnect()
    pub = clients.raw(broker, version=4)
    assert pub.connect("bp-off-pub").rc == 0
    for i in range(12):
        pub.publish("bp/off", b"%d" % i, 1)
    sub = clients.raw(broker, version=4)
    assert sub.connect("bp-off", clean=False).session_present
    got = []
    try:
        while True:
            p = sub.expect(R.PUBLISH, timeout=1.0)
            got.append(int(p.payload))
            sub.ack_publish(p)
    except TimeoutError:
        pass
    assert got == list(range(5)), got
    broker.wait_counter_at_least("$SYS/broker/queue/dropped", 7)


def test_v311_qos2_window_is_not_cut_by_receive_maximum(make_broker, clients):
    """A 3.1.1 client is never told the server's Receive Maximum (that is a 5.0
    CONNACK property), so more QoS 2 exchanges in flight than max_inflight are
    served, not treated as a protocol error."""
    broker = make_broker(max_inflight=5)
    pub = clients.raw(broker, version=4)
    assert pub.connect("rm-v3").rc == 0
    mids = [pub.publish("rm/t", b"%d" % i, 2, wait_ack=False) for i in range(30)]
    recs = [pub.expect(R.PUBREC).mid for _ in mids]
    assert sorted(recs) == sorted(mids)
    for m in mids:
        pub.send(R.ack(R.PUBREL, m, 4))
    comps = [pub.expect(R.PUBCOMP).mid for _ in mids]
    assert sorted(comps) == sorted(mids)
    assert pub.is_open_for(0.3)
