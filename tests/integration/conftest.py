"""conftest.py - starts a real broker per test on a free loopback port.

The broker is iotgate when IOTGATE_BIN is set (and BROKER is not "mosquitto"),
else Mosquitto (/usr/sbin/mosquitto, or MOSQUITTO_BIN), so every test is first
proven against a reference broker and then judges iotgate.

Fixtures:
  broker        function-scoped Broker with the default config
  make_broker   factory: make_broker(max_queued_messages=5, ...) -> Broker
  clients       factory for clients that are closed at teardown:
                clients.paho(broker, version=5, ...) / clients.raw(broker, version=4)
  version       parametrized 4 (MQTT 3.1.1) and 5 (MQTT 5.0) for tests that take it

Markers:
  iotgate_only  behaviour only iotgate promises (its log lines, $SYS names,
                connect_timeout): skipped on Mosquitto.

At teardown the broker gets SIGTERM; it must exit with status 0 within 10 s,
and its log must not contain sanitizer reports.
"""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

import helpers
import mqttraw

IOTGATE_BIN = os.environ.get("IOTGATE_BIN", "")
MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
IS_MOSQUITTO = not IOTGATE_BIN or os.environ.get("BROKER", "") == "mosquitto"
BROKER_KIND = "mosquitto" if IS_MOSQUITTO else "iotgate"

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "UndefinedBehaviorSanitizer")

# Defaults of the [general] and [mqtt] sections; a test overrides any key.
GENERAL_DEFAULTS = {"workers": 2, "log_level": "debug", "sys_interval": 1}
MQTT_DEFAULTS = {
    "ws_listen": "",  # off unless a test asks: parallel brokers must not share a port
    "allow_anonymous": "true",
    "max_connections": 1000,
    "max_packet_size": 1048576,
    "max_inflight": 20,
    "max_queued_messages": 100,
    "connect_timeout": 2,
    "topic_alias_max": 10,
}

# iotgate key -> (mosquitto key, global?) for the keys Mosquitto has an equivalent for.
MOSQUITTO_KEYS = {
    "allow_anonymous": ("allow_anonymous", True),
    "max_queued_messages": ("max_queued_messages", True),
    "max_inflight": ("max_inflight_messages", True),
    "max_packet_size": ("max_packet_size", True),
    "sys_interval": ("sys_interval", True),
    "max_keepalive": ("max_keepalive", True),
    "topic_alias_max": ("max_topic_alias", False),
    "max_connections": ("max_connections", False),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def xfail_mosquitto(reason, strict=True):
    """Marks a test expected to fail on Mosquitto 2.0.11 because Mosquitto deviates
    from the specification (or from what the Paho interop suite demands)."""
    return pytest.mark.xfail(IS_MOSQUITTO, reason="mosquitto: " + reason, strict=strict)


class Broker:
    """A running broker process. host/port to connect, log_path of its output."""

    def __init__(self, tmpdir, overrides):
        self.kind = BROKER_KIND
        self.host = "127.0.0.1"
        self.tmpdir = str(tmpdir)
        self.overrides = dict(overrides)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.tmpdir, "broker.log")
        self._logf = None

    # -- config

    def _iotgate_config(self):
        general = dict(GENERAL_DEFAULTS)
        general["data_dir"] = os.path.join(self.tmpdir, "data")
        os.makedirs(general["data_dir"], exist_ok=True)
        mqtt = dict(MQTT_DEFAULTS)
        mqtt["listen"] = "127.0.0.1:%d" % self.port
        for k, v in self.overrides.items():
            if k in general:
                general[k] = v
            else:
                mqtt[k] = v
        lines = ["[general]"] + ["%s = %s" % kv for kv in general.items()]
        lines += ["[mqtt]"] + ["%s = %s" % kv for kv in mqtt.items()]
        path = os.path.join(self.tmpdir, "iotgate.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return [IOTGATE_BIN, "--config", path]

    def _mosquitto_config(self):
        merged = dict(MQTT_DEFAULTS)
        merged.update({"sys_interval": GENERAL_DEFAULTS["sys_interval"]})
        merged.update(self.overrides)
        glob = ["persistence false", "log_dest stderr",
                "log_type all", "connection_messages true", "log_timestamp true"]
        per_listener = []
        for k, v in merged.items():
            if k in MOSQUITTO_KEYS:
                name, is_global = MOSQUITTO_KEYS[k]
                (glob if is_global else per_listener).append("%s %s" % (name, v))
        lines = ["per_listener_settings false"] + glob
        lines += ["listener %d 127.0.0.1" % self.port] + per_listener
        path = os.path.join(self.tmpdir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return [MOSQUITTO_BIN, "-c", path, "-v"]

    # -- lifecycle

    def start(self, attempts=3):
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            argv = self._mosquitto_config() if IS_MOSQUITTO else self._iotgate_config()
            self._logf = open(self.log_path, "ab")
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
            self.proc = subprocess.Popen(argv, stdout=self._logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.tmpdir, env=env)
            if self._wait_listening(10.0):
                return self
            last = self.log()
            self._kill()
        raise RuntimeError("broker did not start listening:\n" + last[-3000:])

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self._logf:
            self._logf.close()
            self._logf = None

    def stop(self):
        """SIGTERM, wait at most 10 s; returns the exit status (None if killed)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                rc = None
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- log

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        return self.log().splitlines()

    def wait_log(self, pattern, timeout=5.0):
        """Waits until a log line matches the regex; returns that line."""
        rx = re.compile(pattern)

        def find():
            for line in self.log_lines():
                if rx.search(line):
                    return line
            return None
        return helpers.wait_until(find, timeout, what="log line /%s/" % pattern)

    def wait_peer_warning(self, port, timeout=5.0):
        """iotgate logs a rejected connection at warning level with 127.0.0.1:<port>."""
        return self.wait_log(r"(?i)warn.*127\.0\.0\.1:%d\b" % port, timeout)

    # -- $SYS

    def sys_value(self, topic, pred=None, timeout=5.0):
        """Subscribes to a $SYS topic and returns the first payload (str) for which
        pred(payload) holds (any payload when pred is None)."""
        c = helpers.PahoClient(self, version=4)
        try:
            c.connect()
            c.subscribe(topic, 0)

            def ok():
                with c.cond:
                    for m in c.messages:
                        s = m.payload.decode("utf-8", "replace")
                        if pred is None or pred(s):
                            return s
                return None
            last = lambda: [m.payload for m in c.messages][-3:]
            try:
                return helpers.wait_until(ok, timeout, what="%s" % topic)
            except AssertionError:
                raise AssertionError("%s never satisfied the condition; last values %r"
                                     % (topic, last()))
        finally:
            c.disconnect()
            c.close()

    def wait_counter_at_least(self, topic, n, timeout=5.0):
        """Waits until the integer $SYS counter reaches n; returns its value."""
        s = self.sys_value(topic, lambda v: _int_or_none(v) is not None and _int_or_none(v) >= n,
                           timeout)
        return int(s.split()[0])


def _int_or_none(s):
    try:
        return int(s.split()[0])
    except (ValueError, IndexError):
        return None


def _check_log(b):
    bad = [ln for ln in b.log_lines() if any(m in ln for m in SANITIZER_MARKERS)]
    assert not bad, "sanitizer report in %s log:\n%s" % (b.kind, "\n".join(bad[:20]))


class _BrokerSet:
    def __init__(self, tmp_path_factory):
        self.tmp = tmp_path_factory
        self.brokers = []

    def make(self, **overrides):
        b = Broker(self.tmp.mktemp("broker"), overrides).start()
        self.brokers.append(b)
        return b

    def finish(self):
        errors = []
        for b in self.brokers:
            rc = b.stop()
            try:
                _check_log(b)
            except AssertionError as e:
                errors.append(str(e))
            if rc != 0:
                errors.append("%s exited with status %r after SIGTERM (want 0); log tail:\n%s"
                              % (b.kind, rc, b.log()[-2000:]))
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def make_broker(tmp_path_factory, request):
    s = _BrokerSet(tmp_path_factory)
    yield s.make
    s.finish()


@pytest.fixture
def broker(make_broker):
    return make_broker()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory):
    """One broker shared by a module's tests (they must use unique topics)."""
    s = _BrokerSet(tmp_path_factory)
    b = s.make()
    yield b
    s.finish()


class _Clients:
    def __init__(self):
        self.all = []

    def paho(self, broker, **kw):
        c = helpers.PahoClient(broker, **kw)
        self.all.append(c)
        return c

    def raw(self, broker, version=4, timeout=5.0):
        c = mqttraw.RawClient(broker.host, broker.port, version, timeout)
        self.all.append(c)
        return c

    def connected(self, broker, version=5, **kw):
        """A connected PahoClient (convenience)."""
        connect_kw = {k: kw.pop(k) for k in ("props",) if k in kw}
        c = self.paho(broker, version=version, **kw)
        c.connect(**connect_kw)
        return c

    def close(self):
        for c in reversed(self.all):
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture
def clients():
    cs = _Clients()
    yield cs
    cs.close()


@pytest.fixture(params=[4, 5], ids=["v311", "v5"])
def version(request):
    return request.param


def pytest_configure(config):
    config.addinivalue_line("markers", "iotgate_only: behaviour only iotgate promises")


def pytest_collection_modifyitems(config, items):
    if IS_MOSQUITTO:
        skip = pytest.mark.skip(reason="iotgate-only behaviour (running against mosquitto)")
        for item in items:
            if "iotgate_only" in item.keywords:
                item.add_marker(skip)


def pytest_report_header(config):
    return "broker under test: %s (%s)" % (
        BROKER_KIND, MOSQUITTO_BIN if IS_MOSQUITTO else IOTGATE_BIN)


# A hard per-test limit, so that no test can hang the suite.
TEST_TIME_LIMIT = int(os.environ.get("IT_TEST_TIME_LIMIT", "90"))


def _alarm(signum, frame):
    raise TimeoutError("test exceeded %d s" % TEST_TIME_LIMIT)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TEST_TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
