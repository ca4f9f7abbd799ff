"""Make `pio run` work without network access: install PlatformIO's core package tool-scons from the SCons
that pip installed (PlatformIO otherwise downloads it on first use). Idempotent; run by scripts/setup.sh.

    python firmware/platformio/setup_offline.py
"""
import json
import sys
from pathlib import Path


def main() -> int:
    try:
        import SCons
        from platformio.dependencies import get_core_dependencies
        from platformio.package.manager.tool import ToolPackageManager
    except ImportError as err:
        print(f"setup_offline: {err}; pip install platformio scons", file=sys.stderr)
        return 1
    # A version that satisfies this PlatformIO's requirement, e.g. "~4.41101.0" -> "4.41101.0".
    version = get_core_dependencies()["tool-scons"].lstrip("~^=<> ")
    pkg = Path(ToolPackageManager().package_dir) / "tool-scons"
    pkg.mkdir(parents=True, exist_ok=True)
    # PlatformIO runs `python <pkg>/scons.py`: start the pip-installed SCons.
    (pkg / "scons.py").write_text("import SCons.Script\nSCons.Script.main()\n")
    meta = {"name": "tool-scons", "version": version, "description": f"SCons {SCons.__version__} from pip",
            "system": "*"}
    (pkg / "package.json").write_text(json.dumps(meta))
    piopm = {"type": "tool", "name": "tool-scons", "version": version,
             "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None}}
    (pkg / ".piopm").write_text(json.dumps(piopm))
    print(f"setup_offline: tool-scons {version} (SCons {SCons.__version__}) in {pkg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
