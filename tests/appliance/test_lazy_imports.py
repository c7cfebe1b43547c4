"""The CLI imports a part's heavy libraries only in the commands that use them (structural, not timed).

``bench/cli_bench.py`` measures what this protects: ``motcua lookup`` on a cache hit under 100 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from central.demo import generate
from dossier.cache import Cache
from dossier.model import VN_TZ

ROOT = Path(__file__).resolve().parents[2]
# What no command group may import at module level, and what a cache hit never needs.
HEAVY = (
    "numpy",
    "cv2",
    "zxingcpp",
    "pyzbar",
    "gsmmodem",
    "serial",
    "fastapi",
    "uvicorn",
    "starlette",
    "pydantic",
    "kivy",
    "rich",
    "prometheus_client",
)
LOOKUP_NEVER = (*HEAVY, "requests", "urllib3", "sqlite_utils")


def heavy_modules_after(script: str) -> list[str]:
    """Run ``script`` in a fresh interpreter; the heavy top-level modules it left in sys.modules."""
    probe = f"{script}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(set(json.loads(proc.stdout.splitlines()[-1])) & set(LOOKUP_NEVER))


def test_building_the_parser_imports_no_heavy_library() -> None:
    loaded = heavy_modules_after("import appliance.cli; appliance.cli.build_parser()")
    assert not set(loaded) & set(HEAVY), f"command modules import {loaded} at module level"


def test_a_cache_hit_imports_neither_heavy_libraries_nor_the_http_stack(tmp_path: Path) -> None:
    dossier = generate(3, now=datetime.now(VN_TZ))[0]
    cache = Cache(tmp_path / "data" / "cache.db")
    cache.put(dossier)
    cache.close()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[device]\ndata_dir = "{tmp_path / "data"}"\n[central]\nurl = "http://127.0.0.1:9"\n'
        "[cache]\nfresh_seconds = 86400.0\n",
        encoding="utf-8",
    )
    script = (
        "import contextlib, io\nfrom appliance.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    rc = main(['--config', {str(cfg)!r}, 'lookup', {dossier.code!r}])\n"
        f"assert rc == 0 and {dossier.code!r} in out.getvalue(), (rc, out.getvalue())"
    )
    assert heavy_modules_after(script) == []
