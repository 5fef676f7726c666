"""12 - MQTT.js (npm "mqtt" v5) against the broker: runs js/mqttjs.test.mjs with node's
own test runner, once per protocol version, so that one pytest run covers it.

The JS dependencies come from js/package-lock.json (`npm ci`, done by
scripts/install-deps.sh test)."""

import os
import re
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js")
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_mqttjs(make_broker, version):
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "mqtt")):
        pytest.fail("MQTT.js is not installed: run `scripts/install-deps.sh test` "
                    "(or `npm ci` in tests/integration/js)", pytrace=False)
    # A roomy queue: the JS volume test is about the client, not the queue bound.
    broker = make_broker(max_queued_messages=10000)
    env = dict(os.environ, MQTT_URL="mqtt://%s:%d" % (broker.host, broker.port),
               MQTT_VERSION=str(version), NO_COLOR="1")
    r = subprocess.run([NODE, "--test", "--test-reporter=spec", "mqttjs.test.mjs"],
                       cwd=JS_DIR, env=env, capture_output=True, timeout=180)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 0, "MQTT.js tests failed (MQTT %s):\n%s" % (
        "5.0" if version == 5 else "3.1.1", out[-6000:])
    counts = dict(re.findall(r"^\S*\s*(tests|pass|fail) (\d+)\s*$", out, re.M))
    assert counts.get("fail") == "0" and counts.get("pass") == counts.get("tests"), out[-3000:]
    assert int(counts["tests"]) >= 10, "too few MQTT.js tests ran: %r" % counts
