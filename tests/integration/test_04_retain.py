"""04 - retained messages: set, replace, clear, retain flags, MQTT 5 retain handling."""

import time

import pytest

from helpers import PacketTypes, SubscribeOptions, props, uniq

INTEROP_TOPICS = ["TopicA/B", "Topic/C", "TopicA/C"]


def test_retained_set_and_clear(broker, clients, version):
    """Paho interop test_retained_messages: retained at QoS 0/1/2 arrive on a later
    "+/+" subscription with retain 1 and their own QoS; empty retained payloads
    clear them [MQTT-3.3.1-6, -10]. MQTT 5: user properties are kept, in order."""
    up = [("a", "2"), ("c", "3")]
    a = clients.connected(broker, version=version)
    for q, t in enumerate(INTEROP_TOPICS):
        pp = props(PacketTypes.PUBLISH, UserProperty=up) if version == 5 else None
        a.publish(t, b"qos %d" % q, q, retain=True, props=pp)
    a.subscribe("+/+", 2)
    msgs = a.wait_messages(3)
    time.sleep(0.3)
    assert len(a.messages) == 3, a.messages
    assert sorted((m.topic, m.qos) for m in msgs) == sorted(
        (t, q) for q, t in enumerate(INTEROP_TOPICS))
    assert all(m.retain for m in msgs)
    if version == 5:
        for m in msgs:
            assert m.props.get("UserProperty") == up, m.props
    a.disconnect()

    b = clients.connected(broker, version=version)
    for q, t in enumerate(INTEROP_TOPICS):
        b.publish(t, b"", q, retain=True)
    b.disconnect()
    c = clients.connected(broker, version=version)
    c.subscribe("+/+", 2)
    c.subscribe("sentinel", 0)
    c.publish("sentinel", b"s", 0)
    c.wait_messages(1, topic="sentinel")
    time.sleep(0.3)
    assert [m for m in c.messages if m.topic != "sentinel"] == [], "retained not cleared"


def test_retained_replace(broker, clients, version):
    t = uniq("rep")
    a = clients.connected(broker, version=version)
    a.publish(t, b"first", 1, retain=True)
    a.publish(t, b"second", 1, retain=True)
    s = clients.connected(broker, version=version)
    s.subscribe(t, 1)
    s.wait_messages(1)
    time.sleep(0.3)
    assert [(m.payload, m.retain) for m in s.messages] == [(b"second", True)]


def test_retained_qos0_replaces_too(broker, clients, version):
    """A QoS 0 retained message also replaces the stored one [MQTT-3.3.1-7]."""
    t = uniq("rep0")
    a = clients.connected(broker, version=version)
    a.publish(t, b"q1", 1, retain=True)
    a.publish(t, b"q0", 0, retain=True)
    time.sleep(0.2)
    s = clients.connected(broker, version=version)
    s.subscribe(t, 2)
    s.wait_messages(1)
    time.sleep(0.2)
    assert [(m.payload, m.qos) for m in s.messages] == [(b"q0", 0)]


def test_live_retained_publish_has_retain_0(broker, clients, version):
    """To existing subscribers a retained publish goes out with retain 0
    [MQTT-3.3.1-9] (MQTT 5 default Retain As Published = 0 [MQTT-3.3.1-12])."""
    t = uniq("live")
    s = clients.connected(broker, version=version)
    s.subscribe(t, 1)
    p = clients.connected(broker, version=version)
    p.publish(t, b"live", 1, retain=True)
    m = s.wait_messages(1)[0]
    assert m.payload == b"live" and not m.retain


def test_empty_retained_delivered_to_existing_subscribers(broker, clients, version):
    """A zero-byte retained PUBLISH is still delivered to current subscribers
    [MQTT-3.3.1-10 note]; it is not stored."""
    t = uniq("emptyr")
    s = clients.connected(broker, version=version)
    s.subscribe(t, 1)
    p = clients.connected(broker, version=version)
    p.publish(t, b"v", 1, retain=True)
    p.publish(t, b"", 1, retain=True)
    msgs = s.wait_messages(2)
    assert [m.payload for m in msgs] == [b"v", b""]
    late = clients.connected(broker, version=version)
    late.subscribe(t, 1)
    late.subscribe(t + "/s", 1)
    p.publish(t + "/s", b"s", 1)
    late.wait_messages(1)
    time.sleep(0.2)
    assert [m.topic for m in late.messages] == [t + "/s"]


def test_retained_qos_downgraded_to_subscription(broker, clients, version):
    t = uniq("rdown")
    p = clients.connected(broker, version=version)
    p.publish(t, b"q2", 2, retain=True)
    s = clients.connected(broker, version=version)
    s.subscribe(t, 1)
    m = s.wait_messages(1)[0]
    assert m.qos == 1 and m.retain


def test_retained_many_on_wildcard(broker, clients, version):
    pfx = uniq("rmany")
    p = clients.connected(broker, version=version)
    for i in range(50):
        p.publish("%s/%d" % (pfx, i), b"%d" % i, 1, retain=True)
    s = clients.connected(broker, version=version)
    s.subscribe(pfx + "/#", 1)
    msgs = s.wait_messages(50)
    time.sleep(0.2)
    assert sorted(int(m.payload) for m in s.messages) == list(range(50))
    assert all(m.retain for m in msgs)


def test_retained_resent_on_resubscribe(broker, clients, version):
    """With the default retain handling (0), every SUBSCRIBE sends the retained
    message again [MQTT-3.3.1-9]."""
    t = uniq("rresub")
    p = clients.connected(broker, version=version)
    p.publish(t, b"r", 1, retain=True)
    s = clients.connected(broker, version=version)
    s.subscribe(t, 1)
    s.wait_messages(1)
    s.subscribe(t, 1)
    msgs = s.wait_messages(2)
    assert [m.retain for m in msgs] == [True, True]


@pytest.mark.parametrize("rh,first,second", [(0, 3, 3), (1, 3, 0), (2, 0, 0)])
def test_v5_retain_handling(broker, clients, rh, first, second):
    """MQTT 5 Retain Handling [MQTT-3.3.1-9..11], as in Paho interop
    test_subscribe_options: 0 = send on every subscribe, 1 = only if the
    subscription is new, 2 = never."""
    pfx = uniq("rh")
    p = clients.connected(broker, version=5)
    for q in range(3):
        p.publish("%s/%d" % (pfx, q), b"qos %d" % q, q, retain=True)
    s = clients.connected(broker, version=5)
    flt = pfx + "/+"
    opts = SubscribeOptions(qos=2, retainHandling=rh)
    sentinel = pfx + "-s"
    s.subscribe(sentinel, 1)

    def count_after_subscribe():
        s.take_messages()
        s.subscribe(flt, options=opts)
        p.publish(sentinel, b"s", 1)
        s.wait_messages(1, topic=sentinel)
        time.sleep(0.3)
        got = [m for m in s.messages if m.topic != sentinel]
        assert all(m.retain for m in got), got
        return got

    got1 = count_after_subscribe()
    assert len(got1) == first, got1
    if first:
        assert sorted(m.qos for m in got1) == [0, 1, 2]
    got2 = count_after_subscribe()
    assert len(got2) == second, got2


def test_v5_retain_as_published(broker, clients):
    """Retain As Published = 1: live messages keep their retain flag [MQTT-3.3.1-13];
    with 0 they have retain 0."""
    t = uniq("rap")
    rap = clients.connected(broker, version=5)
    rap.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=True))
    norap = clients.connected(broker, version=5)
    norap.subscribe(t, options=SubscribeOptions(qos=1, retainAsPublished=False))
    p = clients.connected(broker, version=5)
    p.publish(t, b"retain as published false", 1, retain=False)
    p.publish(t, b"retain as published true", 1, retain=True)
    got = rap.wait_messages(2)
    assert [(m.payload, m.retain) for m in got] == [
        (b"retain as published false", False), (b"retain as published true", True)]
    got = norap.wait_messages(2)
    assert [m.retain for m in got] == [False, False]
