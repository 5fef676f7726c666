"""03 - SUBSCRIBE / UNSUBSCRIBE: wildcards, $-topics, overlaps, SUBACK/UNSUBACK codes."""

import time

import pytest

import mqttraw as R
from conftest import xfail_mosquitto
from helpers import uniq


def matches(flt, topic):
    """Reference topic matcher, written from MQTT 5.0 section 4.7."""
    if topic.startswith("$") and flt[:1] in ("+", "#"):
        return False
    f, t = flt.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t):
            return False
        if part != "+" and part != t[i]:
            return False
    return len(f) == len(t)


def test_reference_matcher_sanity():
    assert matches("a/#", "a") and matches("#", "a/b") and matches("+/+", "/x")
    assert not matches("a/+", "a/b/c") and not matches("+", "$SYS") and matches("+/+", "a/")


# The Paho interop topics and wildcard filters, plus edge cases.
TOPICS = ["TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA", "TopicA/B/C", "a//b",
          "a/", "topica", "ä/€"]
FILTERS = ["TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#", "TopicA", "+",
           "a/+/b", "a/+", "+/+/+", "ä/#", "TopicA/B/#", "+/#"]


def test_wildcard_matching(broker, clients, version):
    """Each filter (one subscriber each) receives exactly the matching topics
    [MQTT-4.7.1-1..3]. A fresh broker, so that root-level filters see nothing else."""
    subs = {}
    for f in FILTERS:
        s = clients.connected(broker, version=version)
        assert s.subscribe(f, 1) == [1]
        subs[f] = s
    pub = clients.connected(broker, version=version)
    for t in TOPICS:
        pub.publish(t, t.encode(), 1)
    for f, s in subs.items():
        want = sorted(t for t in TOPICS if matches(f, t))
        if want:
            s.wait_messages(len(want), timeout=5)
    time.sleep(0.3)
    for f, s in subs.items():
        want = sorted(t for t in TOPICS if matches(f, t))
        got = sorted(m.topic for m in s.messages)
        assert got == want, "filter %r: got %r want %r" % (f, got, want)


def test_dollar_topics_not_matched_by_leading_wildcards(broker, clients, version):
    """Paho interop test_dollar_topics: filters starting with a wildcard do not match
    topic names starting with $ [MQTT-4.7.2-1]; an explicit $ filter does."""
    wild = clients.connected(broker, version=version)
    for f in ("#", "+/+", "+/B", "+"):
        wild.subscribe(f, 2)
    explicit = clients.connected(broker, version=version)
    explicit.subscribe("$TopicA/#", 2)
    pub = clients.connected(broker, version=version)
    pub.publish("$TopicA/B", b"dollar", 1)
    pub.publish("$TopicA", b"dollar2", 1)
    pub.publish("TopicA/B", b"normal", 1)
    got = explicit.wait_messages(2)
    assert sorted(m.payload for m in got) == [b"dollar", b"dollar2"]
    wild.wait_messages(1)  # "normal" (once or once per matching filter)
    time.sleep(0.3)
    assert all(not m.topic.startswith("$") for m in wild.messages), wild.messages


def test_sys_not_matched_by_hash(broker, clients, version):
    """$SYS topics (published every second here) never reach a "#" subscriber."""
    c = clients.connected(broker, version=version)
    c.subscribe("#", 0)
    c.subscribe("+/broker/#", 0)
    sys_sub = clients.connected(broker, version=version)
    sys_sub.subscribe("$SYS/#", 0)
    sys_sub.wait_messages(1, timeout=4)
    time.sleep(1.2)
    assert not [m for m in c.messages if m.topic.startswith("$")], c.messages[:5]


@pytest.mark.parametrize("version", [
    pytest.param(4, id="v311", marks=xfail_mosquitto(
        "2.0.11 sends one copy at the lower QoS (1) to a 3.1.1 client [MQTT-3.3.5-1]")),
    pytest.param(5, id="v5")])
def test_overlapping_subscriptions(broker, clients, version):
    """Paho interop test_overlapping_subscriptions: TopicA/# at QoS 2 and TopicA/+ at
    QoS 1; a QoS 2 publish to TopicA/C arrives either once at QoS 2 or once per
    subscription at QoS 2 and 1 [MQTT-3.3.4-2]."""
    p = uniq("ov")
    c = clients.connected(broker, version=version)
    assert c.subscribe([(p + "/TopicA/#", 2), (p + "/TopicA/+", 1)]) == [2, 1]
    c.publish(p + "/TopicA/C", b"overlapping topic filters", 2)
    c.wait_messages(1)
    time.sleep(0.5)
    qos = sorted(m.qos for m in c.messages)
    assert qos in ([2], [1, 2]), c.messages


def test_unsubscribe(broker, clients, version):
    """Paho interop test_unsubscribe: after unsubscribing one of three topics only
    the other two are delivered."""
    p = uniq("unsub")
    t = [p + "/TopicA", p + "/TopicA/B", p + "/Topic/C"]
    b = clients.connected(broker, version=version)
    for x in t:
        b.subscribe(x, 2)
    b.unsubscribe(t[0])
    a = clients.connected(broker, version=version)
    for x in t:
        a.publish(x, b"", 1)
    b.wait_messages(2)
    time.sleep(0.3)
    assert sorted(m.topic for m in b.messages) == sorted(t[1:]), b.messages


def test_unsubscribe_wildcard_stops_delivery(broker, clients, version):
    p = uniq("unsubw")
    b = clients.connected(broker, version=version)
    b.subscribe(p + "/+/x", 1)
    b.subscribe(p + "/sentinel", 1)
    a = clients.connected(broker, version=version)
    a.publish(p + "/1/x", b"before", 1)
    b.wait_messages(1)
    b.unsubscribe(p + "/+/x")
    a.publish(p + "/2/x", b"after", 1)
    a.publish(p + "/sentinel", b"s", 1)
    b.wait_messages(1, topic=p + "/sentinel")
    time.sleep(0.2)
    assert [m.payload for m in b.messages if m.topic != p + "/sentinel"] == [b"before"]


def test_suback_granted_qos(broker, clients, version):
    """One SUBSCRIBE with three filters gets one SUBACK code per filter, in order
    [MQTT-3.8.4-5/6]."""
    raw = clients.raw(broker, version=version)
    assert raw.connect("suback").rc == 0
    p = uniq("sa")
    sa = raw.subscribe([(p + "/q0", 0), (p + "/q1", 1), (p + "/q2", 2)])
    assert sa.codes == [0, 1, 2], sa


@pytest.mark.parametrize("bad", ["a/#/b", "a/b#", "a+/b", "#/a", "+a"])
def test_invalid_filter_refused(broker, clients, version, bad):
    """An invalid topic filter gets a failure code in SUBACK (0x80; MQTT 5 may use
    0x8F) or the connection is closed; valid filters in the same packet still work."""
    raw = clients.raw(broker, version=version)
    assert raw.connect("badfilter").rc == 0
    mid = raw.next_mid()
    raw.send(R.subscribe(mid, [(bad, 1)], version))
    try:
        p = raw.expect(R.SUBACK)
    except R.ConnectionClosed:
        return
    assert p.codes[0] in (0x80, 0x8F), "invalid filter %r granted: %r" % (bad, p)
    assert raw.ping().type == R.PINGRESP


def test_unsuback_v5_reason_codes(broker, clients):
    """MQTT 5 UNSUBACK: 0x00 for a removed subscription, 0x11 when none existed."""
    raw = clients.raw(broker, version=5)
    assert raw.connect("unsuback5").rc == 0
    p = uniq("us")
    raw.subscribe([(p + "/a", 1)])
    mid = raw.next_mid()
    raw.send(R.unsubscribe(mid, [p + "/a", p + "/never"], 5))
    ua = raw.expect(R.UNSUBACK)
    assert ua.mid == mid
    assert ua.codes == [0x00, 0x11], ua


def test_unsuback_v311(broker, clients):
    raw = clients.raw(broker, version=4)
    assert raw.connect("unsuback3").rc == 0
    mid = raw.next_mid()
    raw.send(R.unsubscribe(mid, ["never/subscribed"], 4))
    ua = raw.expect(R.UNSUBACK)
    assert ua.mid == mid and ua.body == bytes([mid >> 8, mid & 0xFF]), ua


def test_resubscribe_replaces_qos(broker, clients, version):
    """Subscribing again to the same filter replaces the subscription (new QoS), it
    does not add a second one [MQTT-3.8.4-3]."""
    p = uniq("resub")
    c = clients.connected(broker, version=version)
    assert c.subscribe(p, 0) == [0]
    assert c.subscribe(p, 2) == [2]
    pub = clients.connected(broker, version=version)
    pub.publish(p, b"x", 2)
    c.wait_messages(1)
    time.sleep(0.3)
    assert [m.qos for m in c.messages] == [2], c.messages


def test_wildcard_in_publish_topic_closes(broker, clients, version):
    """A PUBLISH topic name must not contain wildcards [MQTT-3.3.2-2]: protocol error,
    the connection is closed (MQTT 5 may send DISCONNECT 0x90 / 0x82 first)."""
    raw = clients.raw(broker, version=version)
    assert raw.connect("wildpub").rc == 0
    raw.send(R.publish("a/+/b", b"x", 0, version=version))
    got = raw.wait_closed(5)
    for p in got:
        assert p.type == R.DISCONNECT and version == 5 and p.rc in (0x90, 0x82, 0x81), got


def test_topics_are_case_sensitive(broker, clients, version):
    p = uniq("case")
    c = clients.connected(broker, version=version)
    c.subscribe(p + "/ABC", 1)
    pub = clients.connected(broker, version=version)
    pub.publish(p + "/abc", b"lower", 1)
    pub.publish(p + "/ABC", b"upper", 1)
    c.wait_messages(1)
    time.sleep(0.2)
    assert [m.payload for m in c.messages] == [b"upper"]


def test_many_filters_in_one_subscribe(broker, clients, version):
    """500 filters in one SUBSCRIBE, 500 codes back; all deliver; one UNSUBSCRIBE
    with all 500 removes them."""
    pfx = uniq("manyf")
    flts = ["%s/%d" % (pfx, i) for i in range(500)]
    raw = clients.raw(broker, version=version)
    assert raw.connect("manyf").rc == 0
    sa = raw.subscribe([(f, 1) for f in flts])
    assert sa.codes == [1] * 500
    pub = clients.connected(broker, version=version)
    for f in flts:
        pub.publish(f, b"x", 0, wait=False)
    pub.publish(flts[-1], b"last", 1)
    got = set()
    deadline = time.monotonic() + 10
    while len(got) < 500 and time.monotonic() < deadline:
        p = raw.expect(R.PUBLISH, max(0.1, deadline - time.monotonic()))
        if p.qos:
            raw.ack_publish(p)
        got.add(p.topic)
    assert got == set(flts)
    raw.expect(R.PUBLISH)  # the "last" one
    mid = raw.next_mid()
    raw.send(R.unsubscribe(mid, flts, version))
    ua = raw.expect(R.UNSUBACK)
    assert ua.mid == mid
    if version == 5:
        assert ua.codes == [0] * 500
    pub.publish(flts[0], b"gone", 1)
    raw.expect_none(R.PUBLISH, 0.5)


def test_deep_topics(broker, clients, version):
    """Deep topic names and filters (100 levels) work."""
    depth = 100
    topic = "/".join(["l%d" % i for i in range(depth)])
    plus = "/".join(["+"] * depth)
    c = clients.connected(broker, version=version)
    assert c.subscribe([(topic, 1), (plus, 1), ("l0/#", 1)]) == [1, 1, 1]
    pub = clients.connected(broker, version=version)
    pub.publish(topic, b"deep", 1)
    c.wait_messages(1)
    time.sleep(0.3)
    assert {m.topic for m in c.messages} == {topic}
    assert 1 <= len(c.messages) <= 3
    c.unsubscribe(plus)
    pub.publish(topic + "/more", b"deeper", 1)
    c.wait_messages(1, topic=topic + "/more")


def test_very_deep_topics_accepted_or_refused_cleanly(broker, clients, version):
    """5000-level filters and topics (a recursion hazard): served, or refused with a
    SUBACK failure code / a closed connection; the broker keeps serving others."""
    depth = 5000
    topic = "/".join(["l"] * depth)
    raw = clients.raw(broker, version=version)
    assert raw.connect("deep").rc == 0
    try:
        sa = raw.subscribe([("/".join(["+"] * depth), 1), (topic, 1), ("l/#", 1)])
        assert all(c in (1, 0x80, 0x8F, 0x97) for c in sa.codes), sa
        raw.publish(topic, b"deep", 1)
        if 1 in sa.codes:
            p = raw.expect(R.PUBLISH)
            assert p.topic == topic
    except R.ConnectionClosed:
        pass
    w = clients.connected(broker, version=version)
    w.subscribe("after/deep", 1)
    w.publish("after/deep", b"ok", 1)
    w.wait_messages(1)
