"""`hypr-edge run`: boot a firmware build in QEMU with its UART on a loopback TCP port, and stop it cleanly.

QEMU runs with -icount shift=0 (one instruction = 1 ns of virtual time, so SysTick counts instructions
deterministically) and semihosting (the firmware's EXIT command and faults end QEMU with an exit code).
"""
from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import time
from pathlib import Path

from host import protocol as P
from hypr_edge.firmware import BOARDS


class QemuError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(elf: str | Path, machine: str, port: int, icount: bool = True) -> list[str]:
    cmd = ["qemu-system-arm", "-M", machine, "-display", "none", "-monitor", "none", "-nodefaults",
           "-serial", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    if icount:
        cmd += ["-icount", "shift=0"]
    return cmd


class QemuSession:
    """A QEMU process running one firmware ELF; `url` is its UART for host.Board / pyserial.

    Use as a context manager: on leaving, the firmware is asked to EXIT (semihosting, clean exit code 0) and
    QEMU is killed if it does not stop within a second."""

    def __init__(self, elf: str | Path, board: str, port: int | None = None, icount: bool = True):
        if board not in BOARDS or BOARDS[board].qemu_machine is None:
            qboards = [n for n, b in BOARDS.items() if b.qemu_machine]
            raise QemuError(f"board {board!r} has no QEMU machine; QEMU boards: {', '.join(qboards)}")
        if shutil.which("qemu-system-arm") is None:
            raise QemuError("qemu-system-arm not found (apt-get install qemu-system-arm)")
        if not Path(elf).is_file():
            raise QemuError(f"no firmware at {elf}: build it first (make)")
        self.board = board
        self.port = port or free_port()
        self.url = f"socket://127.0.0.1:{self.port}"
        self.cmd = qemu_command(elf, BOARDS[board].qemu_machine, self.port, icount)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "QemuSession":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def connect(self, timeout: float = 10.0, **board_kw):
        """A host.Board on the UART, once QEMU listens and the firmware answers (see Board.sync)."""
        from host.client import Board, ProtocolError, open_port

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise QemuError(f"QEMU exited with {self.proc.returncode}: {self.proc.stderr.read().strip()}")
            try:
                board = Board(open_port(self.url), **board_kw)
                break
            except ProtocolError:  # not listening yet
                if time.monotonic() > deadline:
                    self.kill()
                    raise QemuError(f"QEMU did not open 127.0.0.1:{self.port} within {timeout} s") from None
                time.sleep(0.02)
        board.sync(max(0.5, deadline - time.monotonic()))
        return board

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, board=None) -> int | None:
        """EXIT through `board` (a connected host.Board) if given, then wait; kill if it hangs. Exit code or None."""
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
            self.kill()
            return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def resolve_elf(path: str, board: str | None) -> tuple[Path, str]:
    """A firmware folder (uses build/BOARD/firmware.elf) or an ELF file; returns (elf, board)."""
    p = Path(path)
    if p.is_dir():
        import re
        mk = p / "boards.mk"
        if not mk.is_file():
            raise QemuError(f"{p} is not a firmware folder (no boards.mk)")
        board = board or re.search(r"^DEFAULT_BOARD := (\S+)", mk.read_text(), re.M).group(1)
        return p / "build" / board / "firmware.elf", board
    if board is None:
        raise QemuError("--board is needed with an ELF file")
    return p, board


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("firmware", help="firmware folder from `hypr-edge generate --target cortex-m*`, or an ELF")
    parser.add_argument("--board", help="QEMU board (default: the folder's default board)")
    parser.add_argument("--port", type=int, default=None, help="TCP port for the UART (default: a free one)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop after this many seconds (default: run until Ctrl-C or the firmware exits)")
    parser.add_argument("--hello", action="store_true", help="connect, print the device's HELLO, then stop")
    parser.add_argument("--no-icount", action="store_true", help="run QEMU at full speed (tick counts meaningless)")


def run(args) -> int:
    from hypr_edge.cli import CommandError
    from host.client import ProtocolError

    try:
        elf, board = resolve_elf(args.firmware, args.board)
        session = QemuSession(elf, board, port=args.port, icount=not args.no_icount).start()
    except QemuError as err:
        raise CommandError(str(err)) from None
    print(f"{board}: QEMU running {elf}, UART on {session.url}", flush=True)
    dev = None
    try:
        if args.hello:
            dev = session.connect()
            info = dev.hello()
            print(f"device: {info.board}, model hash {info.model_hash:08x}, n_in {info.n_in}, "
                  f"n_hidden {info.n_hidden}, n_out {info.n_out}, chunk {info.chunk}, tensors {info.n_tensors}")
        else:
            session.wait(args.seconds)
    except subprocess.TimeoutExpired:
        pass
    except ProtocolError as err:
        raise CommandError(str(err)) from None
    except KeyboardInterrupt:
        pass
    finally:
        if session.proc.poll() is None and dev is None:
            try:
                dev = session.connect(timeout=2.0)
            except (ProtocolError, QemuError):
                dev = None
        code = session.stop(dev)
        if dev is not None:
            dev.close()
    print(f"{board}: stopped" + (f" (exit code {code})" if code is not None else " (killed)"))
    return 0 if code in (0, None) else 1
