"""MQTT 5 reason strings: iotgate names the cause of a refusal or a disconnect in a
Reason String (property 0x1F) on CONNACK and DISCONNECT [MQTT-3.2.2-19, MQTT-3.14.2-3]."""

import pytest

import mqttraw as R
from conftest import IS_MOSQUITTO

pytestmark = pytest.mark.skipif(IS_MOSQUITTO, reason="iotgate's reason strings")


def test_protocol_error_disconnect_has_reason_string(broker, clients):
    c = clients.raw(broker, version=5)
    assert c.connect("rs-proto").rc == 0
    c.send(R.connect("rs-proto", version=5))  # a second CONNECT [MQTT-3.1.0-2]
    got = c.wait_closed(5)
    d = [p for p in got if p.type == R.DISCONNECT]
    assert d and d[0].rc == 0x82, got
    assert "CONNECT" in d[0].props.get("ReasonString", ""), d[0].props


def test_refused_connack_has_reason_string(make_broker, clients):
    broker = make_broker(allow_anonymous="false")
    c = clients.raw(broker, version=5)
    ca = c.connect("rs-anon")
    assert ca.rc == 0x87
    assert "allow_anonymous" in ca.props.get("ReasonString", ""), ca.props
    c.wait_closed(5)


def test_v311_refusal_has_return_code_only(make_broker, clients):
    broker = make_broker(allow_anonymous="false")
    c = clients.raw(broker, version=4)
    ca = c.connect("rs-anon3")
    assert ca.rc == 5 and ca.props == {}
    c.wait_closed(5)
