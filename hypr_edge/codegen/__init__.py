"""C code generation from templates/ (Jinja), host builds, emulator-vs-C verification, memory reports."""
from .generate import TARGETS, Target, generate, render_library

__all__ = ["TARGETS", "Target", "generate", "render_library"]
