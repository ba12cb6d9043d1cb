"""Top-intent lists for warm-up / nightly reseed: one file per namespace in the warm-up folder.

`<namespace>.txt`: one prompt a line (blank lines and lines starting with # skipped), turned into requests with the
warm-up template of the settings. `<namespace>.jsonl`: OpenAI or Anthropic batch lines (see workers/batch/formats.py).
"""

from __future__ import annotations

from pathlib import Path

from llmcache.shared.config import Settings
from llmcache.shared.jobs import Job
from llmcache.shared.models import CacheRequest, Message, Scope
from llmcache.workers.batch.formats import LineError, LineOptions, ParsedLine
from llmcache.workers.batch.parsing import parse_file


def intent_files(folder: Path) -> dict[str, Path]:
    """Namespace -> intent file, for a folder of them or a single file (its name is the namespace)."""
    if folder.is_file():
        return {folder.stem: folder}
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.iterdir()) if path.suffix in (".txt", ".jsonl")}


def load_intents(settings: Settings, namespace: str, path: Path) -> tuple[list[Job], list[LineError]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".jsonl":
        _, parsed = parse_file(lines, LineOptions(namespace=namespace))
        return [p.job for p in parsed if isinstance(p, ParsedLine)], [p for p in parsed if isinstance(p, LineError)]
    template = settings.workers.warmup_template
    jobs = []
    for number, line in enumerate(lines, start=1):
        prompt = line.strip()
        if not prompt or prompt.startswith("#"):
            continue
        request = CacheRequest(
            provider=template.provider,
            model=template.model,
            system=template.system,
            messages=[Message(role="user", content=prompt)],
            params=template.params,
            namespace=namespace,
            scope=Scope(tenant=template.tenant),
        )
        jobs.append(Job(custom_id=f"warm:{namespace}:{number}", request=request))
    return jobs, []
