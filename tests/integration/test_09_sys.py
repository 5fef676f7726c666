"""09 - $SYS topics (sys_interval = 1 s in the test config)."""

import re

import pytest

from helpers import uniq, wait_until


def _int(s):
    m = re.match(r"^\s*(\d+)", s)
    return int(m.group(1)) if m else None


def test_sys_basic_topics_visible(broker, clients, version):
    """$SYS/broker/version, uptime and clients/connected arrive within ~2 s."""
    c = clients.connected(broker, version=version)
    c.subscribe("$SYS/broker/version", 0)
    c.subscribe("$SYS/broker/uptime", 0)
    c.subscribe("$SYS/broker/clients/connected", 0)
    for t in ("$SYS/broker/version", "$SYS/broker/uptime", "$SYS/broker/clients/connected"):
        c.wait_messages(1, timeout=3, topic=t)
    by = {m.topic: m.payload.decode() for m in c.messages}
    assert by["$SYS/broker/version"].strip(), by
    if broker.kind == "iotgate":
        assert "iotgate" in by["$SYS/broker/version"].lower(), by
    assert re.match(r"^\d+( seconds)?$", by["$SYS/broker/uptime"]), by
    # The retained value may predate this client; the next update must count it.
    wait_until(lambda: any(_int(m.payload.decode()) >= 1 for m in c.messages
                           if m.topic == "$SYS/broker/clients/connected"),
               timeout=3, what="clients/connected >= 1")


def test_sys_version_is_retained(broker, clients):
    c = clients.connected(broker, version=5)
    c.subscribe("$SYS/broker/version", 0)
    m = c.wait_messages(1, timeout=3)[0]
    assert m.retain, "a new subscriber should get the retained value first: %r" % m


def test_sys_uptime_advances(broker):
    first = _int(broker.sys_value("$SYS/broker/uptime"))
    later = broker.sys_value("$SYS/broker/uptime", lambda v: (_int(v) or 0) > first,
                             timeout=4)
    assert _int(later) > first


def test_sys_clients_connected_counts(broker, clients):
    extra = [clients.connected(broker, version=4) for _ in range(4)]
    v = broker.wait_counter_at_least("$SYS/broker/clients/connected", 5, timeout=4)
    assert v >= 5
    for c in extra:
        c.disconnect()
    # Only the probe client itself (and nothing else) is connected now.
    v = broker.sys_value("$SYS/broker/clients/connected", lambda s: _int(s) == 1, timeout=4)
    assert _int(v) == 1


def test_sys_message_counters_increase(broker, clients):
    t = uniq("sysmsg")
    s = clients.connected(broker, version=4)
    s.subscribe(t, 1)
    p = clients.connected(broker, version=4)
    for i in range(20):
        p.publish(t, b"x", 1)
    s.wait_messages(20)
    assert broker.wait_counter_at_least("$SYS/broker/messages/received", 20, timeout=4) >= 20
    assert broker.wait_counter_at_least("$SYS/broker/messages/sent", 20, timeout=4) >= 20


@pytest.mark.iotgate_only
@pytest.mark.parametrize("topic", [
    "$SYS/broker/errors/malformed", "$SYS/broker/errors/protocol",
    "$SYS/broker/errors/too_large", "$SYS/broker/connections/timeout",
    "$SYS/broker/queue/dropped"])
def test_iotgate_error_counters_present(broker, topic):
    """iotgate publishes its error counters from the start (0 on a fresh broker)."""
    v = broker.sys_value(topic, timeout=3)
    assert _int(v) == 0, "%s = %r on a fresh broker" % (topic, v)
