"""hypr-edge's local PlatformIO dev-platform: no packages to download (the builder uses the system toolchain)."""
from platformio.public import PlatformBase


class HyprPlatform(PlatformBase):
    pass
