"""Sessions move between worker threads: each connection lands on whichever
worker the kernel picks, and a persistent session follows its client id there.
Many reconnects and takeovers in a row must keep every queued message, in
order, and always report the session as present."""

import pytest

import mqttraw as R
from conftest import xfail_mosquitto


@pytest.mark.parametrize("version", [4, 5])
def test_reconnects_keep_queued_messages(broker, clients, version):
    pub = clients.raw(broker, version=version)
    assert pub.connect("mv-pub-%d" % version).rc == 0
    cid = "mv-sub-%d" % version
    props = {"SessionExpiryInterval": 300} if version == 5 else None
    sub = clients.raw(broker, version=version)
    # 3.1.1 keeps a session only with clean session 0; 5.0 by its expiry interval.
    assert sub.connect(cid, clean=(version == 5), props=props).rc == 0
    sub.subscribe([("mv/%d" % version, 1)])
    sub.disconnect()
    for i in range(40):
        pub.publish("mv/%d" % version, b"%d" % i, 1)
        sub = clients.raw(broker, version=version)
        ca = sub.connect(cid, clean=False, props=props)
        assert ca.rc == 0 and ca.session_present, (i, ca)
        p = sub.expect(R.PUBLISH)
        assert p.payload == b"%d" % i, (i, p)
        sub.ack_publish(p)
        sub.disconnect()


@xfail_mosquitto("2.0.11 sends no DISCONNECT 0x8E on session takeover")
def test_takeovers_in_a_row(broker, clients):
    """A new connection with the same id while the old one is open: the old one
    gets DISCONNECT 0x8E [MQTT-3.1.4-3], the session (and its queue) carries on."""
    pub = clients.raw(broker, version=5)
    assert pub.connect("tk-pub").rc == 0
    props = {"SessionExpiryInterval": 300}
    old = clients.raw(broker, version=5)
    assert old.connect("tk", clean=True, props=props).rc == 0
    old.subscribe([("tk/t", 1)])
    for i in range(30):
        new = clients.raw(broker, version=5)
        ca = new.connect("tk", clean=False, props=props)
        assert ca.rc == 0 and ca.session_present, (i, ca)
        got = old.wait_closed(5)
        assert [p.rc for p in got if p.type == R.DISCONNECT] == [0x8E], (i, got)
        pub.publish("tk/t", b"%d" % i, 1)
        p = new.expect(R.PUBLISH)
        assert p.payload == b"%d" % i, (i, p)
        new.ack_publish(p)
        old = new
