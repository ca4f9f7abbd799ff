"""Host side of the board protocol: framing round trips, decoder robustness (fuzz), the C decoder built
natively against the Python one, and the client over a real socket pair."""
import random
import shutil
import socket
import struct
import subprocess
import threading
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypr_edge.host import protocol as P
from hypr_edge.host.client import Board, BoardError, ProtocolError
from hypr_edge.host.protocol import Cmd, Decoder, DecodeError, Frame, Nack

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def frames_of(events):
    return [e for e in events if isinstance(e, Frame)]


@given(seq=st.integers(0, 255), cmd=st.integers(0, 255), payload=st.binary(max_size=P.MAX_PAYLOAD))
@settings(max_examples=300, deadline=None)
def test_round_trip_any_payload(seq, cmd, payload):
    wire = P.encode(Frame(seq, cmd, payload))
    assert wire[0] == P.SOF and P.SOF not in wire[1:]  # SOF only starts frames
    assert Decoder().feed(wire) == [Frame(seq, cmd, payload)]


def test_escapes_and_crc_are_on_the_wire():
    wire = P.encode(Frame(0x7E, 0x7D, b"\x7e\x7d\x00"))
    body = struct.pack("<BBBH", 1, 0x7E, 0x7D, 3) + b"\x7e\x7d\x00"
    assert P.crc32(body) == zlib.crc32(body)
    assert wire[:3] == bytes([P.SOF, 1, P.ESC])  # version, then the escaped seq 0x7E
    assert wire.count(P.ESC) >= 4


def test_split_feeding_gives_the_same_frames():
    rng = random.Random(1)
    frames = [Frame(i, rng.randrange(256), bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
              for i in range(50)]
    stream = b"".join(P.encode(f) for f in frames)
    d, got, i = Decoder(), [], 0
    while i < len(stream):
        n = rng.randrange(1, 9)
        got += d.feed(stream[i:i + n])
        i += n
    assert got == frames


def test_oversize_payload_is_refused():
    with pytest.raises(ValueError):
        P.encode(Frame(0, 1, bytes(P.MAX_PAYLOAD + 1)))
    head = bytes([P.SOF]) + P.escape(struct.pack("<BBBH", 1, 9, 3, P.MAX_PAYLOAD + 1))
    assert Decoder().feed(head) == [DecodeError(Nack.TOO_LONG, 9, 3)]


def corrupt(rng: random.Random, wire: bytes) -> bytes:
    """One random damage: bit flip, byte change, truncation, insertion, deletion, or pure garbage."""
    w = bytearray(wire)
    kind = rng.randrange(6)
    if kind == 0:
        i = rng.randrange(1, len(w)); w[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        w[rng.randrange(1, len(w))] = rng.randrange(256)
    elif kind == 2:
        w = w[:rng.randrange(1, len(w))]
    elif kind == 3:
        w.insert(rng.randrange(1, len(w)), rng.randrange(256))
    elif kind == 4 and len(w) > 2:
        del w[rng.randrange(1, len(w))]
    else:
        w = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    return bytes(w)


def test_decoder_fuzz_resynchronises_after_any_damage():
    """Thousands of damaged frames, each followed by a good one: the good one always decodes, and damage never
    yields a frame other than the original (CRC-32 catches it)."""
    rng = random.Random(7)
    d = Decoder()
    for i in range(5000):
        good = Frame(i & 0xFF, rng.randrange(256), bytes(rng.randrange(256) for _ in range(rng.randrange(30))))
        bad_wire = corrupt(rng, P.encode(good))
        bad = frames_of(d.feed(bad_wire))
        assert all(f == good for f in bad), (bad_wire, bad)
        probe = Frame((i + 1) & 0xFF, Cmd.PING, b"probe")
        assert frames_of(d.feed(P.encode(probe))) == [probe]


@pytest.fixture(scope="module")
def c_decoder(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler")
    d = tmp_path_factory.mktemp("proto")
    (d / "hypr_proto_defs.h").write_text(P.c_header())
    exe = d / "proto_harness"
    src = FIXTURES.parent.parent / "firmware" / "src" / "proto.c"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{d}", f"-I{src.parent}",
                    str(FIXTURES / "proto_harness.c"), str(src), "-o", str(exe)], check=True)
    return exe


def python_events(data: bytes) -> list[str]:
    out = []
    for e in Decoder().feed(data):
        if isinstance(e, Frame):
            out.append(f"F {e.seq} {e.cmd} {len(e.payload)} {zlib.crc32(e.payload):08x}")
        else:
            out.append(f"E {int(e.reason)} {e.seq} {e.cmd}")
    return out


def test_c_decoder_matches_python_decoder_on_fuzz(c_decoder):
    """The firmware's decoder (built natively) and host.protocol.Decoder see the same frames and errors."""
    rng = random.Random(3)
    parts = []
    for i in range(3000):
        f = Frame(i & 0xFF, rng.randrange(256), bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))))
        w = P.encode(f)
        parts.append(corrupt(rng, w) if rng.random() < 0.6 else w)
    parts.append(bytes([P.SOF]) + P.escape(struct.pack("<BBBH", 1, 1, 1, 0xFFFF)))  # too long
    parts.append(bytes([P.SOF, 1, P.ESC, 0x41]))                                  # bad escape
    data = b"".join(parts)
    got = subprocess.run([str(c_decoder)], input=data, capture_output=True, check=True).stdout.decode().split("\n")
    want = python_events(data)
    assert got[:-1] == want
    kinds = {line.split()[0] + (line.split()[1] if line[0] == "E" else "") for line in want}
    assert {"F", "E1", "E2", "E3"} <= kinds  # every decoder path was exercised


def test_c_header_lists_every_constant():
    h = P.c_header()
    for m in list(Cmd) + list(Nack):
        assert f" {int(m.value)}u" in h and m.name in h
    assert f"#define HP_MAX_PAYLOAD ({P.MAX_PAYLOAD})" in h


# -- client over a real socket pair ------------------------------------------------------------------------
class MiniDevice(threading.Thread):
    """TEST DOUBLE of a device: answers PING and HELLO over a socket; damages the first reply of every
    `garble_every`-th request, and NACKs unknown commands. Enough to exercise the client's transport."""

    def __init__(self, sock, garble_every=0):
        super().__init__(daemon=True)
        self.sock, self.garble_every, self.requests, self.executed = sock, garble_every, 0, 0
        self.last = None

    def run(self):
        d = Decoder()
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            for ev in d.feed(data):
                if isinstance(ev, DecodeError):
                    self.sock.sendall(P.encode(Frame(ev.seq, Cmd.NACK, struct.pack(P.NACK_FMT, ev.reason, ev.cmd, 0))))
                    continue
                self.requests += 1
                if self.last and self.last[0] == (ev.seq, ev.payload, ev.cmd):
                    reply = self.last[1]  # retransmission
                else:
                    self.executed += 1
                    if ev.cmd == Cmd.PING:
                        reply = P.encode(Frame(ev.seq, Cmd.PING | P.REPLY_BIT, ev.payload))
                    elif ev.cmd == Cmd.HELLO:
                        body = struct.pack(P.HELLO_FMT, 1, 0, 0xABCD, 3, 5, 2, 4, P.MAX_PAYLOAD, 8, 0) + b"mini"
                        reply = P.encode(Frame(ev.seq, Cmd.HELLO | P.REPLY_BIT, body))
                    else:
                        reply = P.encode(Frame(ev.seq, Cmd.NACK, struct.pack(P.NACK_FMT, Nack.UNKNOWN_CMD, ev.cmd, 0)))
                    self.last = ((ev.seq, ev.payload, ev.cmd), reply)
                out = bytearray(reply)
                if self.garble_every and self.requests % self.garble_every == 0:
                    out[len(out) // 2] ^= 0x10
                self.sock.sendall(bytes(out))


def make_pair(garble_every=0):
    a, b = socket.socketpair()
    dev = MiniDevice(b, garble_every)
    dev.start()

    class SockPort:  # the slice of pyserial's API that Board uses
        def __init__(self, s):
            self.s = s
            self.s.settimeout(0.05)

        in_waiting = 0

        def write(self, data):
            self.s.sendall(data)

        def read(self, n):
            try:
                return self.s.recv(n)
            except socket.timeout:
                return b""

        def close(self):
            self.s.close()

    return Board(SockPort(a), timeout=0.5), dev


def test_client_round_trips_over_a_socket_pair():
    board, dev = make_pair()
    assert board.hello().board == "mini"
    for n in (0, 1, 100, P.MAX_PAYLOAD):
        data = bytes(random.Random(n).randrange(256) for _ in range(n))
        assert board.ping(data) == data
    with pytest.raises(BoardError, match="UNKNOWN_CMD"):
        board.request(0x55)
    board.close()


def test_client_retries_garbled_replies_without_running_twice():
    board, dev = make_pair(garble_every=3)
    for i in range(30):
        assert board.ping(bytes([i]) * 10) == bytes([i]) * 10
    assert board.garbled_replies >= 9
    assert dev.executed == 30  # retransmissions were answered from the reply cache
    board.close()


def test_client_times_out_cleanly_without_a_device():
    a, b = socket.socketpair()
    board, _ = make_pair()
    a.settimeout(0.05)
    board.port.s = a  # nobody answers on a
    board.timeout = 0.1
    with pytest.raises(ProtocolError, match="no valid reply"):
        board.ping(b"x")
    a.close(); b.close()


def test_loop_url_opens():
    from hypr_edge.host.client import open_port
    port = open_port("loop://", timeout=0.1)
    port.write(b"abc")
    assert port.read(3) == b"abc"
    port.close()
    with pytest.raises(ProtocolError, match="cannot open"):
        open_port("socket://127.0.0.1:1", timeout=0.1)
