"""07 - shared subscriptions ($share/<group>/<filter>, MQTT 5.0 section 4.8.2).

Shared subscriptions are an MQTT 5 feature; like Mosquitto, iotgate accepts them
from 3.1.1 clients too, so most tests run for both versions.
"""

import collections
import time

import pytest

import mqttraw as R
from conftest import xfail_mosquitto
from helpers import uniq


def _members(clients, broker, version, flt, n, qos=1):
    out = []
    for _ in range(n):
        c = clients.connected(broker, version=version)
        assert c.subscribe(flt, qos) == [qos]
        out.append(c)
    return out


def _total(cs):
    return sum(len(c.messages) for c in cs)


def test_shared_distribution(broker, clients, version):
    """3 members of $share/g/T and one normal subscriber; 30 messages: every member
    gets some, together exactly 30 with no duplicates; the normal subscriber gets
    all 30."""
    t = uniq("shared")
    members = _members(clients, broker, version, "$share/g/" + t, 3)
    normal = clients.connected(broker, version=version)
    normal.subscribe(t, 1)
    pub = clients.connected(broker, version=version)
    for i in range(30):
        pub.publish(t, b"%d" % i, 1)
    normal.wait_messages(30)
    deadline = time.monotonic() + 5
    while _total(members) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    got = [int(m.payload) for c in members for m in c.messages]
    assert sorted(got) == list(range(30)), "shared group got %d messages: %r" % (
        len(got), sorted(collections.Counter(got).items()))
    counts = [len(c.messages) for c in members]
    assert all(n >= 1 for n in counts), "a member got nothing: %r" % counts
    assert sorted(int(m.payload) for m in normal.messages) == list(range(30))


def test_shared_interop_shape(broker, clients, version):
    """Paho interop test_shared_subscriptions: two clients each subscribe to a shared
    filter and a normal topic in one SUBSCRIBE; a message on the normal topic reaches
    both, one on the shared topic reaches exactly one."""
    pfx = uniq("sharei")
    shared, normal_t = "$share/sharename/" + pfx + "/x", pfx + "/TopicA"
    a = clients.connected(broker, version=version)
    b = clients.connected(broker, version=version)
    for c in (a, b):
        assert c.subscribe([(shared, 2), (normal_t, 2)]) == [2, 2]
    b.publish(normal_t, b"normal", 0)
    a.wait_messages(1)
    b.wait_messages(1)
    a.take_messages()
    b.take_messages()
    b.publish(pfx + "/x", b"shared", 0)
    wait_total = time.monotonic() + 3
    while _total([a, b]) < 1 and time.monotonic() < wait_total:
        time.sleep(0.05)
    time.sleep(0.5)
    assert _total([a, b]) == 1, (a.messages, b.messages)


def test_shared_groups_are_independent(broker, clients, version):
    """Each group gets every message once."""
    t = uniq("shgrp")
    g1 = _members(clients, broker, version, "$share/g1/" + t, 2)
    g2 = _members(clients, broker, version, "$share/g2/" + t, 2)
    pub = clients.connected(broker, version=version)
    for i in range(10):
        pub.publish(t, b"%d" % i, 1)
    for g in (g1, g2):
        deadline = time.monotonic() + 5
        while _total(g) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    time.sleep(0.3)
    for g in (g1, g2):
        assert sorted(int(m.payload) for c in g for m in c.messages) == list(range(10))


def test_shared_wildcard_filter(broker, clients, version):
    pfx = uniq("shw")
    members = _members(clients, broker, version, "$share/w/" + pfx + "/+/x", 2)
    pub = clients.connected(broker, version=version)
    for i in range(6):
        pub.publish("%s/%d/x" % (pfx, i), b"%d" % i, 1)
    pub.publish(pfx + "/nomatch/y", b"no", 1)
    deadline = time.monotonic() + 5
    while _total(members) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert sorted(int(m.payload) for c in members for m in c.messages) == list(range(6))


def test_shared_member_leaves(broker, clients, version):
    """After one member unsubscribes and another disconnects, the last member gets
    every message."""
    t = uniq("shleave")
    a, b, c = _members(clients, broker, version, "$share/g/" + t, 3)
    a.unsubscribe("$share/g/" + t)
    b.disconnect()
    pub = clients.connected(broker, version=version)
    for i in range(10):
        pub.publish(t, b"%d" % i, 1)
    c.wait_messages(10)
    time.sleep(0.3)
    assert a.messages == []
    assert sorted(int(m.payload) for m in c.messages) == list(range(10))


def test_shared_qos_is_min_of_pub_and_sub(broker, clients, version):
    t = uniq("shq")
    (m0,) = _members(clients, broker, version, "$share/g/" + t, 1, qos=1)
    pub = clients.connected(broker, version=version)
    pub.publish(t, b"q2", 2)
    assert m0.wait_messages(1)[0].qos == 1


@xfail_mosquitto("2.0.11 sends retained messages on a shared subscribe (MQTT 5.0 3.3.1.3)")
def test_v5_retained_not_sent_on_shared_subscribe(broker, clients):
    """Retained messages go to new Non-shared Subscriptions only (MQTT 5.0 section
    3.3.1.3)."""
    t = uniq("shret")
    pub = clients.connected(broker, version=5)
    pub.publish(t, b"retained", 1, retain=True)
    s = clients.connected(broker, version=5)
    s.subscribe("$share/g/" + t, 1)
    s.subscribe(t + "/sentinel", 1)
    pub.publish(t + "/sentinel", b"s", 1)
    s.wait_messages(1)
    time.sleep(0.3)
    assert [m.topic for m in s.messages] == [t + "/sentinel"], s.messages


@xfail_mosquitto("2.0.11 accepts No Local on a shared subscription [MQTT-3.8.3-4]")
def test_v5_no_local_on_shared_is_protocol_error(broker, clients):
    """No Local = 1 on a Shared Subscription is a Protocol Error [MQTT-3.8.3-4]:
    the server closes the connection (DISCONNECT 0x82 may come first)."""
    raw = clients.raw(broker, version=5)
    assert raw.connect("shnl").rc == 0
    raw.send(R.subscribe(1, [("$share/g/x", R.sub_opts(1, no_local=True))], 5))
    got = raw.wait_closed(5)
    for p in got:
        assert p.type == R.DISCONNECT and p.rc == 0x82, got


@pytest.mark.parametrize("bad", [
    pytest.param("$share/g", id="no-filter", marks=xfail_mosquitto(
        "2.0.11 accepts $share/g without a filter [MQTT-4.8.2-2]")),
    pytest.param("$share//t", id="empty-name", marks=xfail_mosquitto(
        "2.0.11 accepts an empty ShareName [MQTT-4.8.2-1]")),
    pytest.param("$share/g+/t", id="plus-in-name"),
    pytest.param("$share/#/t", id="hash-in-name"),
])
def test_v5_invalid_share_name_refused(broker, clients, bad):
    """A ShareName must be non-empty without wildcards, followed by / and a filter
    [MQTT-4.8.2-1, -2]: SUBACK failure (0x8F / 0x80 / 0x9E) or connection closed."""
    raw = clients.raw(broker, version=5)
    assert raw.connect("shbad").rc == 0
    raw.send(R.subscribe(1, [(bad, 1)], 5))
    try:
        p = raw.expect(R.SUBACK)
    except R.ConnectionClosed:
        return
    assert p.codes[0] >= 0x80, "invalid shared filter %r accepted: %r" % (bad, p)
