"""iotgate as a process: command line, configuration errors, the shipped example
config, SIGHUP reload without dropping connections, SIGTERM with DISCONNECT 0x8B."""

import os
import re
import signal
import subprocess
import time

import pytest

import mqttraw
from conftest import IOTGATE_BIN, IS_MOSQUITTO

pytestmark = pytest.mark.skipif(IS_MOSQUITTO, reason="iotgate process behaviour")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(*args, timeout=10):
    return subprocess.run([IOTGATE_BIN, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert re.match(r"^iotgate \d+\.\d+\.\d+$", r.stdout.strip()), r.stdout


def test_help_lists_every_option_of_the_example_config():
    """iotgate.conf at the repository root covers every option, with its default."""
    r = run("--help")
    assert r.returncode == 0
    assert "--config" in r.stdout
    opts = dict(re.findall(r"^(\w+) = (.*)$", r.stdout, re.M))
    with open(os.path.join(REPO, "iotgate.conf")) as f:
        example = dict(re.findall(r"^(\w+) = (.*)$", f.read(), re.M))
    assert opts, r.stdout
    assert example == opts


def test_unknown_argument_fails():
    r = run("--bogus")
    assert r.returncode != 0
    assert "--bogus" in r.stderr


@pytest.mark.parametrize("body,line,key", [
    ("[general]\nworkers = 1\n[mqtt]\nmax_inflght = 3\n", 4, "max_inflght"),
    ("[mqtt]\nmax_inflight = lots\n", 2, "max_inflight"),
    ("[mqtt]\nmax_packet_size = 10\n", 2, "max_packet_size"),
    ("[general]\nlog_level = loud\n", 2, "log_level"),
    ("[nosuch]\nx = 1\n", 2, "x"),
])
def test_bad_config_stops_startup(tmp_path, body, line, key):
    """An unknown key or a bad value stops start-up naming file, line and key."""
    path = tmp_path / "bad.conf"
    path.write_text(body)
    r = run("--config", str(path))
    assert r.returncode != 0
    assert "%s:%d:" % (path, line) in r.stderr, r.stderr
    assert "'%s'" % key in r.stderr, r.stderr


def test_missing_config_file_fails(tmp_path):
    r = run("--config", str(tmp_path / "none.conf"))
    assert r.returncode != 0
    assert "none.conf" in r.stderr


def _rewrite(broker, **changes):
    path = os.path.join(broker.tmpdir, "iotgate.conf")
    with open(path) as f:
        text = f.read()
    for k, v in changes.items():
        text, n = re.subn(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
        if n == 0:
            text = text.replace("[mqtt]\n", "[mqtt]\n%s = %s\n" % (k, v))
    with open(path, "w") as f:
        f.write(text)


def test_sighup_reloads_limits_without_dropping_clients(make_broker, clients):
    broker = make_broker(max_packet_size=100000)
    keep = clients.raw(broker, version=5)
    assert keep.connect("reload-keeper").rc == 0
    keep.subscribe([("reload/t", 1)])

    _rewrite(broker, max_packet_size=1000, log_level="info")
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"configuration reloaded")

    # The connection made before the reload is still served.
    assert keep.ping().type == mqttraw.PINGRESP
    # The new limit applies: a 2000-byte packet now closes its connection (0x95).
    big = clients.raw(broker, version=5)
    assert big.connect("reload-big").rc == 0
    big.send(mqttraw.publish("reload/t", b"x" * 2000, 0, version=5))
    got = big.wait_closed(5)
    assert any(p.type == mqttraw.DISCONNECT and p.rc == 0x95 for p in got), got
    # The new log level applies: debug lines stop after the reload.
    n_debug = sum(" DEBUG " in ln for ln in broker.log_lines())
    small = clients.raw(broker, version=5)
    assert small.connect("reload-small").rc == 0
    small.publish("reload/t", b"ok", 1)
    assert keep.expect(mqttraw.PUBLISH).payload == b"ok"
    assert sum(" DEBUG " in ln for ln in broker.log_lines()) == n_debug


def test_sighup_with_broken_config_keeps_running(make_broker, clients):
    broker = make_broker()
    c = clients.raw(broker, version=4)
    assert c.connect("reload-broken").rc == 0
    with open(os.path.join(broker.tmpdir, "iotgate.conf"), "a") as f:
        f.write("no_such_key = 1\n")
    broker.proc.send_signal(signal.SIGHUP)
    broker.wait_log(r"reload failed")
    assert c.ping().type == mqttraw.PINGRESP
    assert broker.alive()


def test_sigterm_sends_server_shutting_down(make_broker, clients):
    """SIGTERM: v5 clients get DISCONNECT 0x8B, then iotgate exits 0 quickly."""
    broker = make_broker()
    v5 = clients.raw(broker, version=5)
    assert v5.connect("bye-v5").rc == 0
    v3 = clients.raw(broker, version=4)
    assert v3.connect("bye-v3").rc == 0
    t0 = time.monotonic()
    broker.proc.send_signal(signal.SIGTERM)
    got = v5.wait_closed(5)
    assert [p.rc for p in got if p.type == mqttraw.DISCONNECT] == [0x8B], got
    assert v3.wait_closed(5) == []
    assert broker.proc.wait(5) == 0
    assert time.monotonic() - t0 < 5


def test_sigint_stops_too(make_broker):
    broker = make_broker()
    broker.proc.send_signal(signal.SIGINT)
    assert broker.proc.wait(5) == 0


def test_port_in_use_fails_startup(make_broker, tmp_path):
    broker = make_broker()
    path = tmp_path / "clash.conf"
    path.write_text("[mqtt]\nlisten = 127.0.0.1:%d\n" % broker.port)
    # iotgate's own listeners use SO_REUSEPORT, so occupy the port without it.
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        path.write_text("[mqtt]\nlisten = 127.0.0.1:%d\n" % s.getsockname()[1])
        r = run("--config", str(path))
    assert r.returncode != 0
    assert "listen on 127.0.0.1" in r.stderr
