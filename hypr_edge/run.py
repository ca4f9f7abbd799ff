"""`hypr-edge run`: boot a firmware build in QEMU (hypr_edge.qemu) with its UART on a loopback TCP port, and stop
it cleanly."""
from __future__ import annotations

import argparse
import subprocess

from .arguments import positive_float, tcp_port
from .errors import CommandError, Terminated
from .host.client import ProtocolError
from .qemu import QemuError, QemuSession, resolve_elf


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("firmware", help="firmware folder from `hypr-edge generate --target cortex-m*`, or an ELF")
    parser.add_argument("--board", help="QEMU board (default: the folder's default board)")
    parser.add_argument("--port", type=tcp_port, default=None, help="TCP port for the UART (default: a free one)")
    parser.add_argument("--seconds", type=positive_float, default=None,
                        help="stop after this many seconds (default: run until Ctrl-C or the firmware exits)")
    parser.add_argument("--hello", action="store_true", help="connect, print the device's HELLO, then stop")
    parser.add_argument("--no-icount", action="store_true", help="run QEMU at full speed (tick counts meaningless)")
    parser.add_argument("--nv", metavar="FILE", help="back the board's non-volatile storage with FILE (created if "
                                                     "missing): the learning state survives a restart (store.h)")


def run(args) -> int:
    try:
        elf, board = resolve_elf(args.firmware, args.board)
        session = QemuSession(elf, board, port=args.port, icount=not args.no_icount, nv=args.nv).start()
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
        elif session.wait(args.seconds) != 0:   # QEMU ended by itself, with an error
            raise CommandError(str(session.exit_error()))
    except subprocess.TimeoutExpired:
        pass
    except (ProtocolError, QemuError) as err:
        raise CommandError(str(err)) from None
    except Terminated:
        raise
    except KeyboardInterrupt:   # Ctrl-C: the usual way to stop a session
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
