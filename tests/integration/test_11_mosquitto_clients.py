"""11 - the Eclipse Mosquitto command-line clients (mosquitto_pub / mosquitto_sub)
against the broker under test."""

import os
import shutil
import signal
import subprocess
import threading

import pytest

from helpers import uniq, wait_until

PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
STDBUF = shutil.which("stdbuf")

pytestmark = pytest.mark.skipif(not os.path.exists(SUB), reason="mosquitto-clients missing")

FMT = "MSG|%t|%q|%r|%l|%p"
VERSIONS = {4: "mqttv311", 5: "mqttv5"}


class SubProc:
    """mosquitto_sub in the background; its messages parsed from -F output."""

    def __init__(self, broker, version, topics, qos=0, extra=(), count=None, wait_s=None):
        argv = [SUB, "-h", broker.host, "-p", str(broker.port), "-V", VERSIONS[version],
                "-q", str(qos), "-d", "-F", FMT]
        for t in topics:
            argv += ["-t", t]
        if count is not None:
            argv += ["-C", str(count)]
        if wait_s is not None:
            argv += ["-W", str(wait_s)]
        argv += list(extra)
        if STDBUF:
            argv = [STDBUF, "-oL"] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.lines = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_subscribed(self, timeout=5):
        wait_until(lambda: any("received SUBACK" in ln for ln in list(self.lines)), timeout,
                   what="mosquitto_sub SUBACK (output %r)" % self.lines[-5:])

    @property
    def messages(self):
        with self.lock:
            out = []
            for ln in self.lines:
                if ln.startswith("MSG|"):
                    _, t, q, r, n, p = ln.split("|", 5)
                    out.append({"topic": t, "qos": int(q), "retain": int(r), "len": int(n),
                                "payload": p})
            return out

    def wait_exit(self, timeout=15):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("mosquitto_sub did not exit; output %r" % self.lines[-10:])
        self.reader.join(5)
        return rc

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(5)
        self.reader.join(5)


@pytest.fixture
def subprocs():
    all_ = []

    def make(*a, **kw):
        s = SubProc(*a, **kw)
        all_.append(s)
        return s
    yield make
    for s in all_:
        s.kill()


def pub(broker, version, topic, message=None, qos=0, retain=False, extra=(), stdin=None,
        check=True):
    argv = [PUB, "-h", broker.host, "-p", str(broker.port), "-V", VERSIONS[version],
            "-t", topic, "-q", str(qos)]
    if message is not None:
        argv += ["-m", message]
    if retain:
        argv.append("-r")
    argv += list(extra)
    r = subprocess.run(argv, input=stdin, capture_output=True, timeout=15)
    if check:
        assert r.returncode == 0, "mosquitto_pub failed: %r" % r
    return r


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pub_sub_roundtrip(broker, version, qos, subprocs):
    """mosquitto_sub -C 3 gets exactly the three messages mosquitto_pub sent, at the
    subscription's QoS, then exits 0."""
    t = uniq("mc")
    s = subprocs(broker, version, [t], qos=qos, count=3, wait_s=20)
    s.wait_subscribed()
    for i in range(3):
        pub(broker, version, t, "msg-%d" % i, qos=qos)
    assert s.wait_exit() == 0
    got = s.messages
    assert [m["payload"] for m in got] == ["msg-0", "msg-1", "msg-2"]
    assert all(m["topic"] == t and m["qos"] == qos and m["retain"] == 0 for m in got), got


@pytest.mark.parametrize("pub_qos,sub_qos", [(2, 1), (1, 0), (0, 2)])
def test_qos_downgrade(broker, version, pub_qos, sub_qos, subprocs):
    t = uniq("mcq")
    s = subprocs(broker, version, [t], qos=sub_qos, count=1, wait_s=20)
    s.wait_subscribed()
    pub(broker, version, t, "x", qos=pub_qos)
    assert s.wait_exit() == 0
    assert s.messages[0]["qos"] == min(pub_qos, sub_qos)


def test_retained(broker, version, subprocs):
    """mosquitto_pub -r stores a retained message; a later mosquitto_sub gets it with
    the retain flag; an empty -r publish clears it."""
    t = uniq("mcr")
    pub(broker, version, t, "kept", qos=1, retain=True)
    s = subprocs(broker, version, [t], qos=1, count=1, wait_s=10)
    assert s.wait_exit() == 0
    assert [(m["payload"], m["retain"]) for m in s.messages] == [("kept", 1)]
    pub(broker, version, t, qos=1, retain=True, extra=["-n"])
    s2 = subprocs(broker, version, [t], qos=1, wait_s=2)
    assert s2.wait_exit() == 27  # -W expired: nothing arrived
    assert s2.messages == []


def test_wait_timeout_gets_exactly_published(broker, version, subprocs):
    """Without -C, mosquitto_sub -W 3 prints exactly what was published, nothing more."""
    t = uniq("mcw")
    s = subprocs(broker, version, [t + "/#"], qos=1, wait_s=3)
    s.wait_subscribed()
    pub(broker, version, t + "/a", "1", qos=1)
    pub(broker, version, t + "/b", "2", qos=2)
    pub(broker, version, t + "-other", "no", qos=1)
    assert s.wait_exit() == 27
    assert sorted((m["topic"], m["payload"]) for m in s.messages) == [
        (t + "/a", "1"), (t + "/b", "2")]


def test_many_lines_from_stdin(make_broker, version, subprocs):
    """mosquitto_pub -l sends one message per input line (one connection, 200 QoS 1
    messages, in order). A roomy queue: the burst must not hit max_queued_messages."""
    broker = make_broker(max_queued_messages=10000)
    t = uniq("mcl")
    n = 200
    s = subprocs(broker, version, [t], qos=1, count=n, wait_s=30)
    s.wait_subscribed()
    data = "".join("line-%d\n" % i for i in range(n)).encode()
    pub(broker, version, t, qos=1, extra=["-l"], stdin=data)
    assert s.wait_exit(30) == 0
    assert [m["payload"] for m in s.messages] == ["line-%d" % i for i in range(n)]


def test_large_file_payload(broker, version, subprocs, tmp_path):
    t = uniq("mcf")
    f = tmp_path / "payload.txt"
    f.write_bytes(b"A" * (200 * 1024))
    s = subprocs(broker, version, [t], qos=2, count=1, wait_s=20)
    s.wait_subscribed()
    pub(broker, version, t, qos=2, extra=["-f", str(f)])
    assert s.wait_exit() == 0
    m = s.messages[0]
    assert m["len"] == 200 * 1024 and m["payload"] == "A" * (200 * 1024)


def test_persistent_session_offline_messages(broker, version, subprocs):
    """mosquitto_sub -c -i ID keeps a session: QoS 1 messages published while it is
    away are delivered when it comes back."""
    t = uniq("mcp")
    cid = "mcp-" + t.split("/")[1]
    extra = ["-c", "-i", cid] + (["-x", "300"] if version == 5 else [])
    first = subprocs(broker, version, [t], qos=1, extra=extra + ["-E"])
    assert first.wait_exit() == 0
    for i in range(3):
        pub(broker, version, t, "off-%d" % i, qos=1)
    back = subprocs(broker, version, [t], qos=1, count=3, wait_s=10, extra=extra)
    assert back.wait_exit() == 0
    assert [m["payload"] for m in back.messages] == ["off-0", "off-1", "off-2"]


def test_will_on_killed_client(broker, version, subprocs):
    """A mosquitto_sub with a will, killed with SIGKILL: its will is published."""
    t = uniq("mcwill")
    watcher = subprocs(broker, version, [t], qos=1, count=1, wait_s=15)
    watcher.wait_subscribed()
    victim = subprocs(broker, version, [t + "/unused"], extra=[
        "--will-topic", t, "--will-payload", "victim died", "--will-qos", "1"])
    victim.wait_subscribed()
    victim.kill(signal.SIGKILL)
    assert watcher.wait_exit() == 0
    assert [m["payload"] for m in watcher.messages] == ["victim died"]


def test_v5_user_property_via_cli(broker, subprocs):
    t = uniq("mcup")
    argv_fmt = ["-F", "UP|%P"]
    s = subprocs(broker, 5, [t], qos=1, count=1, wait_s=10, extra=argv_fmt)
    s.wait_subscribed()
    pub(broker, 5, t, "x", qos=1, extra=["-D", "publish", "user-property", "k1", "v1"])
    assert s.wait_exit() == 0
    assert any(ln.startswith("UP|") and "k1:v1" in ln for ln in s.lines), s.lines[-5:]
