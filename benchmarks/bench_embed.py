"""Embedding throughput: TransformerEmbedder vs sentence-transformers ``encode``.

Same packaged all-MiniLM-L6-v2, max_length, batch size, normalisation; texts are
the SST-2 dev set plus a training sample. The embedding cache is off, so every
run encodes every text. Target: >= 1.1x the throughput of ``encode``.
"""

from __future__ import annotations

import numpy as np
from _harness import alternate, backbone, bar_plot, parse_args, sst2, summarise, target, write
from sentence_transformers import SentenceTransformer

from sktransformers import TransformerEmbedder


def main():
    args = parse_args(__doc__, n_train=1000)
    train, test = sst2(args.n_train, args.seed, 64 if args.smoke else None)
    texts = list(test.text) + list(train.text)
    ours = TransformerEmbedder(backbone(), normalize=True, cache=False, device=args.device,
                               batch_size=args.batch_size, max_length=args.max_length).fit()
    device = ours._device_dtype()[0]
    st = SentenceTransformer(backbone(), device=device)
    st.max_seq_length = args.max_length
    outputs = {}

    def run_ours():
        outputs["ours"] = ours.transform(texts)

    def run_st():
        outputs["st"] = st.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True)
        return {}

    runs = alternate({"sktransformers": run_ours, "sentence-transformers encode": run_st},
                     args.repeats)
    for results in runs.values():
        for r in results:
            r["texts_per_s"] = len(texts) / r["seconds"]
    table = summarise(runs)
    ratio = table.texts_per_s[0] / table.texts_per_s[1]
    diff = float(np.abs(outputs["ours"] - outputs["st"]).max())
    checks = [
        f"{len(texts)} texts (SST-2 dev + {len(train)} training texts), batch "
        f"{args.batch_size}, max_length {args.max_length}, normalised embeddings.",
        f"largest absolute difference between the two embeddings: {diff:.2e}",
        target("throughput ratio (ours / encode)", ratio, 1.1),
    ]
    write("embed_throughput", table, checks, args, plot=bar_plot("texts_per_s", "texts / s"))


if __name__ == "__main__":
    main()
