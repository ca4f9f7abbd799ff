"""QEMU sessions: boot a Cortex-M firmware ELF in qemu-system-arm with its UART on a loopback TCP port, talk to it
through the board protocol (hypr_edge.host), and stop it cleanly.

QEMU runs with -icount shift=0 (one instruction = 1 ns of virtual time, so SysTick counts instructions
deterministically) and semihosting (the firmware's EXIT command and faults end QEMU with an exit code).

QEMU never outlives the tool that started it: on Linux the kernel kills it when its parent dies, whatever the
cause (PR_SET_PDEATHSIG, so SIGKILL of the parent too); sessions still running at interpreter exit are killed
(atexit); `hypr-edge` turns SIGTERM into an exception, so the sessions' own cleanup runs first (hypr_edge/cli.py).
"""
from __future__ import annotations

import atexit
import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import weakref
from pathlib import Path

from .host import protocol as P
from .host.client import Board, ProtocolError, open_port
from .targets.boards import BOARDS, qemu_boards
from .targets.cortex_m import FirmwareBuildError, default_board


class QemuError(Exception):
    """QEMU is missing, could not start, or stopped; the message says which, in one line."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:port (QEMU could not open its UART there)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as QEMU does: TIME_WAIT does not count
        try:
            s.bind(("127.0.0.1", port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


EM_ARM = 40   # ELF e_machine of 32-bit ARM


def check_arm_elf(path: str | Path) -> None:
    """Refuse a file that is not a 32-bit little-endian ARM ELF: QEMU would boot garbage from it and hang."""
    with open(path, "rb") as fh:
        head = fh.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise QemuError(f"{path} is not an ELF file" + (" (it is empty)" if not head else "") +
                        ": give a firmware folder or the firmware.elf its build wrote")
    if head[4] != 1 or head[5] != 1 or int.from_bytes(head[18:20], "little") != EM_ARM:
        raise QemuError(f"{path} is an ELF file for another machine, not a 32-bit ARM firmware")


PR_SET_PDEATHSIG = 1   # linux/prctl.h


def die_with_parent():
    """A Popen preexec_fn that makes the child get SIGKILL when this process dies (Linux; None elsewhere).
    The kernel ties it to the thread that starts the child: start QEMU from a thread that lives as long as it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec():
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:   # the parent died before prctl took effect
            os._exit(1)
    return preexec


_LIVE: "weakref.WeakSet[QemuSession]" = weakref.WeakSet()


@atexit.register
def _kill_live_sessions() -> None:
    for session in list(_LIVE):
        session.kill()


def qemu_command(elf: str | Path, machine: str, port: int, icount: bool = True, nv: str | Path | None = None) -> list[str]:
    semi = "enable=on,target=native" + (f",arg=firmware,arg=nv={Path(nv).resolve()}" if nv else "")  # nv: nv.c
    cmd = ["qemu-system-arm", "-M", machine, "-display", "none", "-monitor", "none", "-nodefaults",
           "-serial", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on",
           "-semihosting-config", semi, "-kernel", str(elf)]
    if icount:
        cmd += ["-icount", "shift=0"]
    return cmd


class QemuSession:
    """A QEMU process running one firmware ELF; `url` is its UART for hypr_edge.host.Board / pyserial.

    Use as a context manager: on leaving, the firmware is asked to EXIT (semihosting, clean exit code 0) and
    QEMU is killed if it does not stop within a second."""

    def __init__(self, elf: str | Path, board: str, port: int | None = None, icount: bool = True,
                 nv: str | Path | None = None):
        """nv: a host file that backs the board's non-volatile storage (the learning-state store, nv.c)."""
        if board not in BOARDS or BOARDS[board].qemu_machine is None:
            raise QemuError(f"board {board!r} has no QEMU machine; QEMU boards: {', '.join(qemu_boards())}")
        if shutil.which("qemu-system-arm") is None:
            raise QemuError("qemu-system-arm not found (apt-get install qemu-system-arm)")
        if not Path(elf).is_file():
            raise QemuError(f"no firmware at {elf}: build it first (make)")
        check_arm_elf(elf)
        if port is not None and port_in_use(port):
            raise QemuError(f"port {port} is in use: another program listens on 127.0.0.1:{port} "
                            f"(choose another --port, or leave it out for a free one)")
        self.board = board
        self.port = port or free_port()
        self.url = f"socket://127.0.0.1:{self.port}"
        if nv is not None and any(c in str(Path(nv).resolve()) for c in ", "):
            raise QemuError(f"--nv {nv}: the path may not contain a comma or a space (QEMU's option syntax)")
        self.cmd = qemu_command(elf, BOARDS[board].qemu_machine, self.port, icount, nv)
        self.proc: subprocess.Popen | None = None

    def start(self, listen_timeout: float = 10.0) -> "QemuSession":
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent())
        except OSError as err:
            raise QemuError(f"cannot start qemu-system-arm: {err.strerror or err}") from None
        _LIVE.add(self)
        self._wait_listening(listen_timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        """Return once QEMU listens on its UART port, so a client opening the URL right away is not refused."""
        deadline = time.monotonic() + timeout
        while not port_in_use(self.port):
            if self.proc.poll() is not None:
                raise self.exit_error()
            if time.monotonic() > deadline:
                self.kill()
                raise QemuError(f"QEMU did not open 127.0.0.1:{self.port} within {timeout} s")
            time.sleep(0.01)

    def exit_error(self) -> QemuError:
        """Why QEMU stopped (call once it has exited): its exit code and the last line of its stderr."""
        err = (self.proc.stderr.read() if self.proc.stderr else "").strip()
        lines = [line for line in err.splitlines() if "warning:" not in line]   # e.g. "nic ... has no peer"
        last = lines[-1] if lines else ""
        if "Address already in use" in err:
            return QemuError(f"port {self.port} is in use: QEMU could not listen on 127.0.0.1:{self.port}")
        code = self.proc.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return QemuError(f"QEMU {how}" + (f": {last}" if last else ""))

    def connect(self, timeout: float = 10.0, **board_kw):
        """A hypr_edge.host.Board on the UART (QEMU listens once start() returns), once the firmware answers (see
        Board.sync)."""
        if self.proc.poll() is not None:
            raise self.exit_error()
        try:
            board = Board(open_port(self.url), **board_kw)
        except ProtocolError as err:
            self.kill()
            raise QemuError(f"cannot connect to QEMU's UART at 127.0.0.1:{self.port}: {err}") from None
        board.sync(timeout)
        return board

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def has_exited(self, grace: float = 0.5) -> bool:
        """Whether QEMU has stopped, waiting up to `grace` seconds (its socket closes a moment before it ends)."""
        try:
            self.proc.wait(grace)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, board=None) -> int | None:
        """EXIT through `board` (a connected Board) if given, then wait; kill if it hangs. Exit code or None."""
        if self.proc is None:
            return None
        if board is not None and self.proc.poll() is None:
            # EXIT without waiting for the reply: QEMU may end before the reply leaves the UART.
            board.seq = (board.seq + 1) & 0xFF
            try:
                board.port.write(P.encode(P.Frame(board.seq, P.Cmd.EXIT, b"\x00")))
            except OSError:
                pass
        try:
            return self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            return None
        finally:
            self.kill()   # no-op once it has exited; also when the wait itself was interrupted

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def resolve_elf(path: str, board: str | None) -> tuple[Path, str]:
    """A firmware folder (uses build/BOARD/firmware.elf) or an ELF file; returns (elf, board)."""
    p = Path(path)
    if not p.exists():
        raise QemuError(f"{path}: no such firmware folder or ELF file")
    if p.is_dir():
        try:
            board = board or default_board(p)
        except FirmwareBuildError as err:
            raise QemuError(str(err)) from None
        return p / "build" / board / "firmware.elf", board
    if board is None:
        raise QemuError("--board is needed with an ELF file")
    return p, board
