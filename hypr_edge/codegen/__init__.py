"""C code generation: rendering the model library from templates/ (render), the host target build (build),
emulator-vs-C verification (verify) and the library's memory report (memory). The `--target` registry is
hypr_edge.targets.registry; the `hypr-edge generate` command is hypr_edge.generate."""
from .render import render_library

__all__ = ["render_library"]
