"""Host tools for boards running hypr-edge firmware: the binary protocol (docs/protocol.md) and a client."""
from .client import Board, BoardError, DeviceGone, ProtocolError, open_port  # noqa: F401
from .protocol import Cmd, Frame, Nack, ResetMode, RunFlag  # noqa: F401
