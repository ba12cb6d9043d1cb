"""One-off tool for issue 13: the mechanical part of the new layout, run once from the repository root.

    python tools/relayout.py            # apply (idempotent: a second run changes nothing)
    python tools/relayout.py --check    # say what would change, change nothing; exit 1 if something would

What it does:
1. `llmcache/` becomes the only import root: a real folder with `__init__.py` (the public API, lazy), `py.typed`,
   and relative symlinks `llmcache/shared -> ../shared`, `llmcache/workers -> ../workers`,
   `llmcache/scheduler -> ../scheduler`; the fixed top-level folders stay where they are.
2. `git mv` of the tools out of the core (see MOVES): the emulator and the in-memory stand-ins to `llmcache/testing/`,
   evaluation, training, the pairs runner and the KV-memory estimator to `llmcache/quality/`, the batch formats
   beside the batch runner, and renames whose names say what the module holds.
3. `VerifierThresholds` moves from the guard into `shared/policy.py`, so that the policy no longer imports the guard.
4. Every import and every module-path string (Python, TOML, Makefile, Dockerfile, shell, Markdown) is rewritten to
   the new root: `shared.x` -> `llmcache.shared.x`, moved modules to their new names; paths of moved files too.
5. pyproject: one package root, package data, extras `[quality]` and `[train]`, mypy `files`; Makefile's mypy call.
6. `ruff check --fix --select I` and `ruff format` on the rewritten Python files (import order changes).

It is a one-off: once the lead has run it on main and the tree is green, it can be deleted. What it cannot do
mechanically (the cli.py split, the LLMCache split) is done by hand afterwards.

After a run: `make install` (pyproject changed: the editable install then maps `llmcache` and the `llmcache`
console script points at `llmcache.workers.cli`), `make lint`, `make test`; the moves are staged by `git mv` and
the new files by `git add`, the rewritten files are left for `git add -u`. It warns (and leaves the line) where
a line it lengthened cannot be wrapped, and where `import shared.x` (binding `shared`) would need a hand edit.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT_PACKAGE = "llmcache"
TOP = ("shared", "workers", "scheduler")

# (old path, new path): files or folders, moved with `git mv` when the old one exists and the new one does not
MOVES: tuple[tuple[str, str], ...] = (
    ("shared/emulator", "llmcache/testing/emulator"),
    ("shared/testing_memory.py", "llmcache/testing/memory.py"),
    ("shared/evaluation.py", "llmcache/quality/evaluation.py"),
    ("shared/guard/training.py", "llmcache/quality/verifier_training.py"),
    ("shared/kv_cache.py", "llmcache/quality/kv_estimate.py"),
    ("workers/quality.py", "llmcache/quality/pairs.py"),
    ("shared/guard/pair_training.py", "llmcache/quality/pair_training.py"),  # the pair model's (torch) training
    ("shared/guard/synthetic.py", "llmcache/quality/synthetic_pairs.py"),  # its templated training pairs
    # the batch formats beside the batch runner; the batch helper may have done it already (then nothing to do)
    ("workers/batch.py", "workers/batch/__init__.py"),
    ("shared/batchfiles.py", "workers/batch/formats.py"),
    # names that say what the module holds
    ("shared/keyspace.py", "shared/redis_keys.py"),
    ("shared/keys.py", "shared/request_keys.py"),
    ("shared/store.py", "shared/entry_store.py"),
    ("shared/store_protocols.py", "shared/entry_store_protocols.py"),
)

PACKAGE_DOCS = {
    "llmcache/testing/__init__.py": (
        '"""Stand-ins, labelled as such: the provider emulator (shipped: users run it for dry runs) and the\n'
        'in-memory entry store and version registry for unit tests. Never imported by the core."""\n'
    ),
    "llmcache/quality/__init__.py": (
        '"""Measuring and tuning the cache, not running it: pairs evaluation and the threshold sweep, the learned\n'
        "verifier's training, the KV-memory estimator. Needs `pip install llmcache[quality]` for plots. Never\n"
        'imported by the core."""\n'
    ),
}

INIT = '''"""llmcache: an asynchronous, distributed LLM cache in front of OpenAI and Anthropic.

The public API is re-exported here; everything else lives under `llmcache.shared` (the core),
`llmcache.workers` (Celery, the CLI), `llmcache.scheduler`, `llmcache.testing` and `llmcache.quality`.
Imports are lazy: `import llmcache` loads no model, builds no client and imports no heavy dependency.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmcache.shared.cache import LLMCache
    from llmcache.shared.config import load_settings
    from llmcache.shared.models import CacheRequest
    from llmcache.shared.runtime import build_runtime

__all__ = ["CacheRequest", "LLMCache", "build_runtime", "load_settings"]

_EXPORTS = {
    "CacheRequest": "llmcache.shared.models",
    "LLMCache": "llmcache.shared.cache",
    "build_runtime": "llmcache.shared.runtime",
    "load_settings": "llmcache.shared.config",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
'''

README_LAYOUT = """## Layout

The distribution installs one package, `llmcache`. In the repository it is the folder `llmcache/`, which holds the
public API (`__init__.py`), the tools apart from the core (`testing/`, `quality/`), and relative symlinks to the
repository's fixed top-level folders: `llmcache/shared -> ../shared`, `llmcache/workers -> ../workers`,
`llmcache/scheduler -> ../scheduler`. Python, mypy, pytest, editable installs and `python -m llmcache.workers.cli`
follow the links as ordinary folders, ruff and mypy see each file once (ruff does not follow the links; mypy checks
`llmcache`, `tests`, `bench`, `tools` as listed in pyproject), and the wheel holds real files. setuptools'
`package-dir` mapping (`llmcache.shared = shared`) was the alternative and was tried: every `llmcache.*` import in
the source tree then resolves only through the editable install's import hook, which mypy does not run (mypy
--strict reports `import-not-found` for `llmcache.shared.*` in both the lenient and the strict editable mode), and a
process that only has the repository on `PYTHONPATH` (the cluster tests' Celery workers) cannot import `llmcache`
at all. A checkout needs symlinks (any Unix; on Windows `git config core.symlinks true` with developer mode).

```
llmcache/__init__.py   public API: LLMCache, CacheRequest, build_runtime, load_settings (lazy)
llmcache/shared/       -> shared/     the cache core: what a cache needs at run time
llmcache/workers/      -> workers/    Celery app, tasks, the batch runner and its formats, the CLI, the main job
llmcache/scheduler/    -> scheduler/  beat schedule, single-beat lock, warm-up intent lists
llmcache/testing/      stand-ins: the provider emulator (shipped, for dry runs), in-memory entry store and registry
llmcache/quality/      evaluation, pairs runner and threshold sweep, verifier and pair-model training with its
                       synthetic pairs, the KV-memory estimator
shared/                config, models, request_keys, redis_keys, policy, entry_store (Redis), entry_store_protocols,
                       cacheability, cache, runtime, jobs, coalesce, pipeline, metrics, logging, errors,
                       embedding/, index/, providers/, guard/ (rules, features, learned verifier + shipped model)
workers/               app, tasks, resources, producer, main_job, cli, batch/ (runner, formats), examples/
infra/                 scripts/ensure-redis.sh, Dockerfile, docker compose, Prometheus config
tests/                 unit/ (no services; in-memory stand-ins), integration/ (real Redis, both Qdrant engines,
                       the real embedder and SDKs against the emulator), cluster/ (real worker processes)
bench/                 benchmarks writing docs/benchmarks.md and docs/quality.md
tools/                 one-off maintenance scripts (not installed)
```

What may import what (`tests/unit/test_packaging.py` enforces the core's rule):

- **`shared/` (the core)** imports only itself and its libraries: never `workers`, `scheduler`, `testing`, `quality`
  or Celery. Adapters sit behind small protocols (`embedding/base.py`, `index/base.py`, `entry_store_protocols.py`).
- **`workers/`** may import the core, `scheduler`, `testing` (the `emulator` command, the demo) and `quality` (the
  `eval`, `tune`, `train` and `kv-estimate` commands); it is the only folder that imports Celery.
- **`scheduler/`** holds plain data and helpers the beat and the warm-up task use; it imports the core and the
  batch formats, never Celery.
- **`llmcache/testing/`** and **`llmcache/quality/`** import the core; nothing in the core imports them.
- **`tests/`** and **`bench/`** may import anything; nothing imports them.

Python users: the import paths changed with the single root. `from shared.config import load_settings` is now
`from llmcache import load_settings` (likewise `LLMCache`, `CacheRequest`, `build_runtime`); every other module
moved under `llmcache.`: `shared.models` -> `llmcache.shared.models`, `workers.producer` ->
`llmcache.workers.producer`, `shared.emulator` -> `llmcache.testing.emulator`, `shared.evaluation` ->
`llmcache.quality.evaluation`, `shared.keyspace` -> `llmcache.shared.redis_keys`, `shared.keys` ->
`llmcache.shared.request_keys`, `shared.store` -> `llmcache.shared.entry_store`, `shared.kv_cache` ->
`llmcache.quality.kv_estimate`, `shared.batchfiles` -> `llmcache.workers.batch.formats`, `shared.guard.training`
-> `llmcache.quality.verifier_training`, `workers.quality` -> `llmcache.quality.pairs`; `VerifierThresholds` is
imported from `llmcache.shared.policy`.
"""

PUBLIC_API_LINES = {  # Markdown code samples: the public API's own import path
    "from shared.config import load_settings": "from llmcache import load_settings",
    "from shared.runtime import build_runtime": "from llmcache import build_runtime",
    "from shared.cache import LLMCache": "from llmcache import LLMCache",
}

SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
SKIP_DIRS |= {".hypothesis", ".llmcache-data", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".sh", ".yml", ".yaml", ".txt", ".json"}
TEXT_NAMES = {"Makefile", "Dockerfile", "run"}
SELF = Path("tools/relayout.py")
_LAYOUT = re.compile(r"^## Layout\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)


@dataclass
class Report:
    check: bool
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def did(self, what: str) -> None:
        self.changes.append(what)
        print(("would " if self.check else "") + what)

    def warn(self, what: str) -> None:
        self.warnings.append(what)
        print(f"WARNING: {what}", file=sys.stderr)


# -- module names ---------------------------------------------------------------------------------------------------


def module_of(path: str) -> str:
    """`shared/guard/training.py` -> `shared.guard.training`; `shared/emulator` -> `shared.emulator`."""
    parts = list(Path(path).with_suffix("").parts) if path.endswith(".py") else list(Path(path).parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if parts and parts[0] == ROOT_PACKAGE:
        parts.pop(0)
    return ".".join(parts)


def old_modules(root: Path) -> set[str]:
    """Every module and package under the old import roots (before the moves), plus the moves' old names."""
    names: set[str] = set()
    for top in TOP:
        base = root / top
        if not base.is_dir() or base.is_symlink():
            continue
        for path in base.rglob("*.py"):
            if SKIP_DIRS & set(path.relative_to(root).parts):
                continue
            names.add(module_of(str(path.relative_to(root))))
            for parent in path.relative_to(root).parents:
                if str(parent) != ".":
                    names.add(module_of(str(parent)))
    names |= {module_of(old) for old, _ in MOVES}
    return names


def module_map() -> list[tuple[str, str]]:
    """Old dotted name -> new dotted name under the root, longest first."""
    mapping = {module_of(old): module_of(new) for old, new in MOVES}
    return sorted(mapping.items(), key=lambda item: -len(item[0]))


def new_name(old: str, mapping: list[tuple[str, str]]) -> str:
    for before, after in mapping:
        if old == before or old.startswith(before + "."):
            return f"{ROOT_PACKAGE}.{after}{old[len(before) :]}"
    return f"{ROOT_PACKAGE}.{old}"


# -- text rewriting -------------------------------------------------------------------------------------------------

# a dotted reference starting at an old root, not part of a longer dotted name or path (`llmcache.shared.x`,
# `settings.workers.pool` and `../shared/data` never match)
_DOTTED = re.compile(r"(?<![\w.\-/])(shared|workers|scheduler)((?:\.[A-Za-z_]\w*)+|\.\*)(?![\w\-/])")
# `from shared import x`, `import shared`, `-m workers`, `files("shared")`, `import_module("workers")`
_BARE_FROM = re.compile(r"^(\s*from\s+)(shared|workers|scheduler)(\s+import\b)", re.MULTILINE)
_BARE_IMPORT = re.compile(r"^(\s*import\s+)(shared|workers|scheduler)(\s*(?:#.*)?)$", re.MULTILINE)
_BARE_CALL = re.compile(r"""((?:files|import_module|find_spec)\(\s*["'])(shared|workers|scheduler)(["'])""")
_BARE_M = re.compile(r"""(-m["']?,?\s*["']?)(shared|workers|scheduler)(?![\w.])""")


def rewrite_modules(text: str, known: set[str], mapping: list[tuple[str, str]]) -> str:
    def dotted(match: re.Match[str]) -> str:
        whole = match.group(1) + match.group(2)
        if whole.endswith(".*"):
            base = whole[:-2]
            return new_name(base, mapping) + ".*" if base in known else whole
        parts = whole.split(".")
        # the longest prefix that is a module of the tree; the rest is an attribute (`shared.config.load_settings`)
        for size in range(len(parts), 1, -1):
            prefix = ".".join(parts[:size])
            if prefix in known:
                return new_name(prefix, mapping) + whole[len(prefix) :]
        return whole

    text = _DOTTED.sub(dotted, text)
    text = _BARE_FROM.sub(lambda m: m.group(1) + f"{ROOT_PACKAGE}.{m.group(2)}" + m.group(3), text)
    text = _BARE_CALL.sub(lambda m: m.group(1) + f"{ROOT_PACKAGE}.{m.group(2)}" + m.group(3), text)
    return _BARE_M.sub(lambda m: m.group(1) + f"{ROOT_PACKAGE}.{m.group(2)}", text)


def rewrite_paths(text: str) -> str:
    """Paths of moved files and folders in prose, comments and configs (`shared/kv_cache.py` -> its new home)."""
    for old, new in sorted(MOVES, key=lambda move: -len(move[0])):
        if old.endswith("/__init__.py") or new.endswith("/__init__.py"):
            continue
        pattern = re.compile(r"(?<![\w.\-/])" + re.escape(old) + r"(?![\w\-])")
        text = pattern.sub(new, text)
    return text


def rewrite_markdown(text: str) -> str:
    for old, new in PUBLIC_API_LINES.items():
        text = re.sub(r"^" + re.escape(old) + r"$", new, text, flags=re.MULTILINE)
    return text


def text_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow the llmcache/* symlinks: each file once
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = rel / name
            if path == SELF or (root / path).is_symlink():
                continue
            if path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES:
                yield path


# -- long lines -----------------------------------------------------------------------------------------------------

LINE_LIMIT = 120
_LIST_ITEM = re.compile(r"^\s*(?:[-*] |\d+\. |\"\"\"|#\s*$)")


def _docstring_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def _too_long(line: str) -> bool:
    """As ruff's E501 counts: a trailing pragma comment (`# type: ignore[...]`, `# noqa`) does not count."""
    code = re.sub(r"\s*#\s*(?:type:|noqa|fmt:|pragma)[^#]*$", "", line)
    return len(code) > LINE_LIMIT


def _split_prose(line: str, limit: int) -> tuple[str, str] | None:
    cut = line.rfind(" ", len(line) - len(line.lstrip()) + 1, limit + 1)
    return None if cut <= 0 else (line[:cut].rstrip(), line[cut + 1 :])


def wrap_long_lines(text: str, report: Report, where: Path) -> str:
    """Lines the rename pushed over the limit: prose in docstrings and comments flows into the next line (or a new
    one); a code line inside brackets (`# fmt: skip` blocks) breaks after its last comma that fits. One line at a
    time, re-reading the file after each."""
    skipped: set[int] = set()
    while True:
        lines = text.splitlines()
        long = [n for n, line in enumerate(lines) if _too_long(line) and n not in skipped]
        if not long:
            return text
        fixed = _wrap_one(lines, long[0], ast.parse(text), text)
        if fixed is None:
            report.warn(f"{where}:{long[0] + 1}: too long and nowhere to break it")
            skipped.add(long[0])
            continue
        text = "\n".join(fixed) + ("\n" if text.endswith("\n") else "")


def _wrap_one(lines: list[str], number: int, tree: ast.Module, text: str) -> list[str] | None:
    line = lines[number]
    docs = _docstring_lines(tree)
    comment = line.lstrip().startswith("#")
    if number + 1 in docs or comment:
        split = _split_prose(line, LINE_LIMIT)
        if split is None:
            return None
        head, overflow = split
        indent = line[: len(line) - len(line.lstrip())] + ("# " if comment else "")
        following = lines[number + 1] if number + 1 < len(lines) else ""
        same_block = (number + 2 in docs and not comment) or (
            comment and following.lstrip().startswith("#") and following.startswith(indent)
        )
        if same_block and following.strip() and not _LIST_ITEM.match(following):
            body = following.lstrip()[2:] if comment else following.lstrip()
            next_indent = following[: len(following) - len(following.lstrip())] + ("# " if comment else "")
            return [*lines[:number], head, next_indent + overflow + " " + body, *lines[number + 2 :]]
        return [*lines[:number], head, indent + overflow, *lines[number + 1 :]]
    depth = 0
    cut = 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.string == "," and depth > 0 and token.end[0] == number + 1 and token.end[1] <= LINE_LIMIT:
            cut = token.end[1]
    indent = line[: len(line) - len(line.lstrip())]
    if cut == 0:
        return _split_string(lines, number, text, indent)
    return [*lines[:number], line[:cut], indent + line[cut:].lstrip(), *lines[number + 1 :]]


def _split_string(lines: list[str], number: int, text: str, indent: str) -> list[str] | None:
    """A one-line string literal inside brackets across the limit becomes two adjacent literals."""
    line = lines[number]
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.type != tokenize.STRING or token.start[0] != number + 1 or token.end[0] != number + 1:
            continue
        elif depth > 0 and token.start[1] < LINE_LIMIT < token.end[1]:
            head = re.match(r"([rRbBfFuU]*)(\"|')", token.string)
            if head is None or token.string[len(head.group(0)) :].startswith(head.group(2) * 2):
                return None  # triple-quoted or empty
            prefix, quote = head.groups()
            body_start = token.start[1] + len(head.group(0))
            braces = 0
            cut = 0
            for col in range(body_start, min(token.end[1] - 1, LINE_LIMIT - 1)):
                char = line[col]
                if "f" in prefix.lower() and char in "{}":
                    braces += 1 if char == "{" else -1
                elif char == " " and braces == 0:
                    cut = col + 1
            if cut == 0:
                return None

            def literal(pre: str, body: str, quote: str = quote) -> str:
                keep = pre if "{" in body or "f" not in pre.lower() else pre.replace("f", "").replace("F", "")
                return keep + quote + body + quote

            first = line[: token.start[1]] + literal(prefix, line[body_start:cut])
            second = indent + literal(prefix, line[cut : token.end[1] - 1]) + line[token.end[1] :]
            return [*lines[:number], first, second, *lines[number + 1 :]]
    return None


# -- steps ----------------------------------------------------------------------------------------------------------


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True)


def tracked(root: Path, path: str) -> bool:
    out = subprocess.run(["git", "ls-files", "--", path], cwd=root, capture_output=True, text=True, check=True)
    return bool(out.stdout.strip())


def make_root(root: Path, report: Report) -> None:
    package = root / ROOT_PACKAGE
    if not package.is_dir():
        report.did(f"create {ROOT_PACKAGE}/")
        if not report.check:
            package.mkdir()
    for top in TOP:
        link = package / top
        if link.is_symlink() and os.readlink(link) == f"../{top}":
            continue
        if link.exists() or link.is_symlink():
            raise SystemExit(f"{link} exists and is not the symlink ../{top}: move it away first")
        report.did(f"symlink {ROOT_PACKAGE}/{top} -> ../{top}")
        if not report.check:
            link.symlink_to(f"../{top}", target_is_directory=True)
            git(root, "add", "--", f"{ROOT_PACKAGE}/{top}")
    write_if_absent(root, f"{ROOT_PACKAGE}/__init__.py", INIT, report)
    write_if_absent(root, f"{ROOT_PACKAGE}/py.typed", "", report)


def write_if_absent(root: Path, rel: str, content: str, report: Report) -> None:
    path = root / rel
    if path.exists():
        return
    report.did(f"write {rel}")
    if not report.check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        git(root, "add", "--", rel)


def move_files(root: Path, report: Report) -> None:
    for old, new in MOVES:
        source, target = root / old, root / new
        if not source.exists() or source.is_symlink():
            continue
        if old == "workers/batch.py" and (root / "workers/batch").is_dir():
            report.warn("workers/batch.py and workers/batch/ both exist: left as they are")
            continue
        if target.exists():
            report.warn(f"{old} and {new} both exist: left as they are")
            continue
        report.did(f"git mv {old} {new}")
        if report.check:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if tracked(root, old):
            git(root, "mv", old, new)
        else:
            shutil.move(source, target)
    for old, new in MOVES:  # a module moved out of the guard still writes the guard's shipped models
        path = root / new
        if old.startswith("shared/guard/") and new.endswith(".py") and path.is_file() and not report.check:
            text = path.read_text()
            depth = len(Path(new).parts) - 2  # llmcache/quality/x.py -> parents[1] is llmcache/
            fixed = text.replace(
                'Path(__file__).with_name("data")', f'(Path(__file__).parents[{depth}] / "shared" / "guard" / "data")'
            )
            if fixed != text:
                report.did(f"{new}: the guard's data folder, from its new place")
                path.write_text(fixed)
    for rel, doc in PACKAGE_DOCS.items():
        if (root / rel).parent.is_dir() or not report.check:
            write_if_absent(root, rel, doc, report)


def move_verifier_thresholds(root: Path, report: Report) -> None:
    """`VerifierThresholds` (policy values) from the guard into shared/policy.py; the guard imports it back."""
    policy, verifier = root / "shared/policy.py", root / "shared/guard/verifier.py"
    if not (policy.is_file() and verifier.is_file()):
        return
    policy_text, verifier_text = policy.read_text(), verifier.read_text()
    if re.search(r"^class VerifierThresholds\b", policy_text, re.MULTILINE):
        return
    tree = ast.parse(verifier_text)
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "VerifierThresholds"), None)
    if node is None:
        report.warn("VerifierThresholds is in neither shared/policy.py nor shared/guard/verifier.py")
        return
    report.did("move VerifierThresholds from shared/guard/verifier.py to shared/policy.py")
    if report.check:
        return
    lines = verifier_text.splitlines(keepends=True)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    end = node.end_lineno or node.lineno
    class_source = "".join(lines[start:end])
    while end < len(lines) and not lines[end].strip():
        end += 1
    verifier_text = "".join(lines[:start] + lines[end:])
    verifier_text = add_import(verifier_text, "from shared.policy import VerifierThresholds")
    verifier.write_text(verifier_text)

    policy_text = re.sub(
        r"^from (?:llmcache\.)?shared\.guard\.verifier import VerifierThresholds\n", "", policy_text, flags=re.M
    )
    if "@dataclass" in class_source:
        policy_text = add_import(policy_text, "from dataclasses import dataclass")
    anchor = re.search(r"^class NamespacePolicy\b", policy_text, re.MULTILINE)
    assert anchor is not None, "shared/policy.py has no NamespacePolicy"
    policy_text = policy_text[: anchor.start()] + class_source + "\n\n" + policy_text[anchor.start() :]
    policy.write_text(policy_text)
    # importers of VerifierThresholds from the guard take it from the policy
    for path in text_files(root):
        if path.suffix != ".py":
            continue
        full = root / path
        text = full.read_text()
        updated = split_import(text, "guard.verifier", "VerifierThresholds", "shared.policy")
        if updated != text:
            full.write_text(updated)


def add_import(text: str, statement: str) -> str:
    """Adds one import line after the module's last top-level import (ruff sorts it afterwards)."""
    if re.search(r"^" + re.escape(statement) + r"$", text, re.MULTILINE):
        return text
    tree = ast.parse(text)
    last = max((n.end_lineno or n.lineno for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)), default=0)
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:last], statement + "\n", *lines[last:]])


def split_import(text: str, module_suffix: str, name: str, new_module: str) -> str:
    """`from X.guard.verifier import A, name` -> `from X.guard.verifier import A` + `from X.shared.policy ...`."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    for node in reversed(tree.body):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(module_suffix)):
            continue
        names = [alias for alias in node.names if alias.name == name]
        if not names:
            continue
        prefix = node.module[: -len(module_suffix)]
        prefix = prefix.replace("shared.", "") if prefix.endswith("shared.") else prefix
        target = f"{prefix}{new_module}"
        rest = [alias for alias in node.names if alias.name != name]
        replacement = []
        if rest:
            listed = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in rest)
            replacement.append(f"from {node.module} import {listed}\n")
        replacement.append(f"from {target} import {name}\n")
        start, end = node.lineno - 1, node.end_lineno or node.lineno
        lines[start:end] = replacement
    return "".join(lines)


def rewrite_tree(root: Path, known: set[str], report: Report) -> list[Path]:
    mapping = module_map()
    touched: list[Path] = []
    for path in text_files(root):
        full = root / path
        try:
            text = full.read_text()
        except UnicodeDecodeError:
            continue
        if path.suffix == ".json":  # data, not code: only module paths in configs would matter, and none are here
            continue
        layout = _LAYOUT.search(text) if path == Path("README.md") else None
        body = text[: layout.start()] + "\0" + text[layout.end() :] if layout else text  # the map keeps old names
        updated = rewrite_markdown(body) if path.suffix == ".md" else body  # before the general rename
        updated = rewrite_modules(updated, known, mapping)
        updated = rewrite_paths(updated)
        if layout:
            updated = updated.replace("\0", layout.group(0))
        if updated != text:
            report.did(f"rewrite {path}")
            touched.append(path)
            if not report.check:
                full.write_text(updated)
    return touched


def check_plain_imports(root: Path, report: Report) -> None:
    """`import shared.x` binds `shared`: rewriting it would break the attribute uses; say where, fix by hand."""
    for path in text_files(root):
        if path.suffix != ".py":
            continue
        try:
            tree = ast.parse((root / path).read_text())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in TOP and "." in alias.name and alias.asname is None:
                        report.warn(f"{path}:{node.lineno}: `import {alias.name}` binds a name the rename changes")


def update_pyproject(root: Path, report: Report) -> None:
    path = root / "pyproject.toml"
    text = original = path.read_text()
    text = re.sub(
        r"(\[tool\.setuptools\.packages\.find\]\n)include = \[[^\]]*\]",
        rf'\1include = ["{ROOT_PACKAGE}*"]',
        text,
    )
    package_data = (
        "[tool.setuptools.package-data]\n"
        f'"{ROOT_PACKAGE}" = ["py.typed"]\n'
        f'"{ROOT_PACKAGE}.shared" = ["py.typed", "data/*.json", "guard/data/*"]\n'
        f'"{ROOT_PACKAGE}.workers" = ["examples/*.jsonl", "examples/*.json"]\n'
    )
    text = re.sub(r"\[tool\.setuptools\.package-data\]\n(?:[^\[\n][^\n]*\n)*", package_data, text)
    # matplotlib (plots) and torch (training) leave the base install; lightgbm stays: the guard's verifier, on by
    # default, scores with it at serving time
    moved: dict[str, list[str]] = {"quality": [], "train": []}
    for extra, package in (("quality", "matplotlib"), ("train", "torch")):
        line = re.search(rf'^\s*"{package}[^"]*",\n', text, re.MULTILINE)
        deps = re.search(r"^dependencies = \[\n(?:.*\n)*?\]\n", text, re.MULTILINE)
        if line and deps and deps.start() < line.start() < deps.end():
            moved[extra].append(line.group(0).strip().rstrip(","))
            text = text[: line.start()] + text[line.end() :]
    if "torch" not in text and uses_module(root, "torch"):
        moved["train"].append('"torch>=2.2"')
    optional = re.search(r"\[project\.optional-dependencies\]\n", text)
    if optional:
        insert = ""
        for extra, specs in moved.items():
            if specs and not re.search(rf"^{extra} = \[", text, re.MULTILINE):
                insert += f"{extra} = [\n" + "".join(f"    {spec},\n" for spec in specs) + "]\n"
        text = text[: optional.end()] + insert + text[optional.end() :]
        dev = re.search(r"^dev = \[\n", text, re.MULTILINE)
        if dev and f'"{ROOT_PACKAGE}[quality]"' not in text and re.search(r"^quality = \[", text, re.MULTILINE):
            text = text[: dev.end()] + f'    "{ROOT_PACKAGE}[quality]",\n' + text[dev.end() :]
    if not re.search(r"^files = ", text, re.MULTILINE):  # what `mypy .` checked, each module once
        folders = [ROOT_PACKAGE] + [d for d in ("tests", "bench", "tools", "infra") if any((root / d).rglob("*.py"))]
        listed = ", ".join(f'"{folder}"' for folder in folders)
        text = re.sub(r"(\[tool\.mypy\]\n)", rf"\1files = [{listed}]\n", text, count=1)
    if text != original:
        report.did("update pyproject.toml (packages, package data, extras, mypy files)")
        if not report.check:
            path.write_text(text)


def uses_module(root: Path, name: str) -> bool:
    pattern = re.compile(rf"^\s*(?:import|from)\s+{name}\b", re.MULTILINE)
    return any(pattern.search((root / p).read_text()) for p in text_files(root) if p.suffix == ".py")


def update_build_files(root: Path, report: Report) -> None:
    makefile = root / "Makefile"
    if makefile.is_file():
        text = makefile.read_text()
        updated = text.replace("$(VENV)/bin/mypy .\n", "$(VENV)/bin/mypy\n")  # files = [...] in pyproject
        if updated != text:
            report.did("Makefile: mypy reads its files from pyproject (each module once, under llmcache.)")
            if not report.check:
                makefile.write_text(updated)
    dockerfile = root / "infra/Dockerfile"
    if dockerfile.is_file():
        text = dockerfile.read_text()
        if f"COPY {ROOT_PACKAGE} " not in text and "COPY scheduler ./scheduler\n" in text:
            text = text.replace(
                "COPY scheduler ./scheduler\n", f"COPY scheduler ./scheduler\nCOPY {ROOT_PACKAGE} ./{ROOT_PACKAGE}\n"
            )
            report.did(f"infra/Dockerfile: COPY {ROOT_PACKAGE}")
        # the image removes the source folders after `pip install .`: the root's folder (and its links) too
        text = re.sub(rf"(rm -rf[^\n]*/app/scheduler)(?![^\n]*/app/{ROOT_PACKAGE})", rf"\1 /app/{ROOT_PACKAGE}", text)
        if text != dockerfile.read_text():
            report.did("infra/Dockerfile: the llmcache source folder is removed with the others after install")
            if not report.check:
                dockerfile.write_text(text)


def update_readme_layout(root: Path, report: Report) -> None:
    path = root / "README.md"
    if not path.is_file():
        return
    text = path.read_text()
    match = _LAYOUT.search(text)
    if match is None:
        updated = text.rstrip("\n") + "\n\n" + README_LAYOUT
    else:
        updated = text[: match.start()] + README_LAYOUT + "\n" + text[match.end() :]
    if updated != text:
        report.did("README.md: Layout section")
        if not report.check:
            path.write_text(updated)


def tidy(root: Path, touched: Iterable[Path], report: Report) -> None:
    python = sorted({str(p) for p in touched if p.suffix == ".py" and (root / p).exists()})
    python += [f"{ROOT_PACKAGE}/__init__.py"]
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if report.check or not Path(ruff).exists():
        if not report.check:
            report.warn("ruff not found: run `ruff check --fix --select I . && ruff format .` yourself")
        return
    subprocess.run([ruff, "check", "--fix", "--select", "I", "--quiet", *python], cwd=root, check=False)
    subprocess.run([ruff, "format", "--quiet", *python], cwd=root, check=False)
    wrapped = []
    for rel in python:  # what the formatter leaves too long: prose in docstrings and comments, `# fmt: skip` code
        text = (root / rel).read_text()
        updated = wrap_long_lines(text, report, Path(rel))
        if updated != text:
            (root / rel).write_text(updated)
            wrapped.append(rel)
    if wrapped:
        subprocess.run([ruff, "format", "--quiet", *wrapped], cwd=root, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="say what would change; change nothing")
    args = parser.parse_args(argv)
    root = Path.cwd()
    if not (root / "pyproject.toml").is_file() or not all((root / top).is_dir() for top in TOP):
        print("run from the repository root (pyproject.toml, shared/, workers/, scheduler/)", file=sys.stderr)
        return 2
    report = Report(check=args.check)
    known = old_modules(root)
    check_plain_imports(root, report)
    make_root(root, report)
    move_files(root, report)
    move_verifier_thresholds(root, report)
    touched = rewrite_tree(root, known, report)
    update_pyproject(root, report)
    update_build_files(root, report)
    update_readme_layout(root, report)
    tidy(root, [*touched, Path("shared/policy.py"), Path("shared/guard/verifier.py")], report)
    print(f"{len(report.changes)} change(s), {len(report.warnings)} warning(s)")
    return 1 if args.check and report.changes else 0


if __name__ == "__main__":
    raise SystemExit(main())
