"""Model selection on frozen features: GridSearchCV 5 folds x 6 values of C.

Ours: TransformerFeatureClassifier with the embedding cache (each text encoded
once). Alternative: the same grid with ``cache=False``, re-encoding in every fit
and score, as a plain "embed inside the pipeline" setup does. Both are compared
with one encoding pass over the data. Target: ours <= 1.5x one encoding pass.
"""

from __future__ import annotations

from _harness import alternate, backbone, bar_plot, parse_args, sst2, summarise, target, write
from sklearn.model_selection import GridSearchCV

from sktransformers import TransformerEmbedder, TransformerFeatureClassifier, embedding_cache

GRID = {"estimator__C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]}


def main():
    args = parse_args(__doc__, n_train=1000)
    train, _ = sst2(args.n_train, args.seed)
    X, y = list(train.text), train.label.to_numpy()
    common = {"model": backbone(), "batch_size": args.batch_size,
              "max_length": args.max_length, "device": args.device}
    TransformerEmbedder(**common).fit()  # load the backbone once, outside every timing
    scores = {}

    def search(name, cache):
        def run():
            embedding_cache.clear()
            grid = GridSearchCV(TransformerFeatureClassifier(cache=cache, **common), GRID, cv=5)
            grid.fit(X, y)
            scores[name] = grid.best_score_
            return {"cv_accuracy": grid.best_score_}

        return run

    def one_pass():
        TransformerEmbedder(cache=False, **common).fit_transform(X)

    contenders = {"one encoding pass": one_pass,
                  "sktransformers (cached)": search("cached", True),
                  "re-encoding every fit": search("uncached", False)}
    table = summarise(alternate(contenders, args.repeats))
    seconds = dict(zip(table.contender, table.seconds, strict=True))
    checks = [
        f"{len(X)} SST-2 training texts, 5 folds x {len(GRID['estimator__C'])} values of C "
        "(31 fits with the refit), logistic regression on normalised embeddings.",
        target("cached grid / one encoding pass", seconds["sktransformers (cached)"]
               / seconds["one encoding pass"], 1.5, higher_is_better=False),
        f"re-encoding grid / cached grid: "
        f"{seconds['re-encoding every fit'] / seconds['sktransformers (cached)']:.1f}x",
        f"same best CV accuracy: {scores['cached']:.4f} vs {scores['uncached']:.4f}",
    ]
    write("gridsearch_cache", table, checks, args, plot=bar_plot("seconds", "seconds (median)"))


if __name__ == "__main__":
    main()
