#!/usr/bin/env bash
# One-time set-up on a fresh machine: system toolchains (Cortex-M cross compiler, QEMU) and the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v arm-none-eabi-gcc >/dev/null || need_apt+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Extras: NIR interop, its peers and tonic for their tests; constraints keep the CPU torch pin.
python3 -m pip install -q --disable-pip-version-check -c scripts/constraints.txt -e ".[test,interop,peers,tonic]"
# norse without its torchvision requirement (PyPI torchvision needs CUDA torch; norse.torch does not use it).
python3 -m pip install -q --disable-pip-version-check -c scripts/constraints.txt --no-deps "norse>=1.1"
python3 firmware/platformio/setup_offline.py  # PlatformIO's tool-scons from pip's SCons: `pio run` offline
