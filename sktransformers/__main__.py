"""Command line: ``sktransformers compare`` and ``sktransformers retrieve`` (also
``python -m sktransformers ...``)."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from .compare import compare, compare_few_shot, format_table, split_data, write_report
from .compare_retrieval import (
    MODES,
    compare_retrieval,
    format_retrieval_table,
    write_retrieval_report,
)
from .datasets import DEMOS, TASKS, load_csv, load_demo, load_retrieval_demo, text_input


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sktransformers")
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser(
        "compare",
        help="fit and compare the adaptation methods on labelled text",
        description="Fit every adaptation method plus a TF-IDF baseline on one split and "
                    "print the task's metrics (accuracy and macro-F1; micro/macro-F1 for "
                    "multi-label; R2 and Spearman for regression), fit time, throughput, "
                    "trainable parameters and peak memory; write a Markdown/CSV table and "
                    "a plot. Examples: --csv pairs.csv --text-columns premise,hypothesis; "
                    "--csv tags.csv --label-column tags (labels like 'a;b').",
    )
    data = cmp.add_mutually_exclusive_group()
    data.add_argument("--demo", choices=sorted(DEMOS), default=None,
                      help="a packaged demo dataset (default: tweets)")
    data.add_argument("--csv", help="a labelled CSV file")
    cmp.add_argument("--test-csv", help="a separate test CSV (else a stratified split)")
    cmp.add_argument("--text-columns", "--text-column", dest="text_columns", default="text",
                     help="the text column, or two comma-separated for text pairs "
                          "(default: text)")
    cmp.add_argument("--label-column", default="label")
    cmp.add_argument("--task", default="auto", choices=["auto", *TASKS],
                     help="auto: numbers with decimals -> regression, labels holding "
                          "--label-sep -> multilabel, else classification")
    cmp.add_argument("--label-sep", default=";",
                     help="separator of the labels of one text, multi-label (default ;)")
    cmp.add_argument("--methods", default=None,
                     help="comma-separated subset of: tfidf,feature,head,full,lora,prompt,"
                          "prefix,adapter,incontext,contrastive (default: all installed; "
                          "contrastive only with --shots)")
    cmp.add_argument("--model", default=None,
                     help="backbone hub id or folder (default: packaged all-MiniLM-L6-v2)")
    cmp.add_argument("--long-text", choices=["truncate", "chunk"], default="truncate",
                     help="chunk: read long documents as overlapping windows (default: "
                          "truncate)")
    cmp.add_argument("--max-length", type=int, default=None,
                     help="tokens per text, or per window with --long-text chunk "
                          "(default: 128)")
    cmp.add_argument("--max-train", type=int, default=1000,
                     help="cap on training texts (default 1000; 0 = no cap)")
    cmp.add_argument("--max-test", type=int, default=500,
                     help="cap on test texts (default 500; 0 = no cap)")
    cmp.add_argument("--shots", type=int, default=None,
                     help="few-label mode: K stratified training texts per class, drawn "
                          "anew for each of --seeds seeds; the table gives mean and sd "
                          "(adds the few-label method 'contrastive')")
    cmp.add_argument("--seeds", type=int, default=5,
                     help="draws to average over with --shots (default 5)")
    cmp.add_argument("--device", default="auto")
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--output", default="compare-output", help="folder for the report")
    cmp.add_argument("--quiet", action="store_true", help="no progress bars")
    _retrieve_parser(sub)
    return parser


def _retrieve_parser(sub) -> None:
    ret = sub.add_parser(
        "retrieve",
        help="build and compare ways of searching a corpus",
        description="Index one corpus with BM25, dense and hybrid search, and (given judged "
                    "training queries) a cross-encoder reranker and a tuned bi-encoder; print "
                    "nDCG@k, recall@100, MRR@k, build time, query latency and vector memory "
                    "on the test queries; write a Markdown/CSV table and a plot. CSVs in the "
                    "shared layouts: corpus doc_id,title,text; queries query_id,text; qrels "
                    "query_id,doc_id,relevance.")
    data = ret.add_mutually_exclusive_group()
    data.add_argument("--demo", choices=["python-docs"], default=None,
                      help="questions on the Python language reference's help topics, "
                           "which every Python installs (default)")
    data.add_argument("--corpus", help="the documents (CSV)")
    ret.add_argument("--queries", help="test queries (CSV)")
    ret.add_argument("--qrels", help="judgements of the test queries (CSV)")
    ret.add_argument("--train-queries", help="judged training queries (CSV), for the "
                                             "reranked and finetuned modes")
    ret.add_argument("--train-qrels", help="judgements of the training queries (CSV)")
    ret.add_argument("--modes", default=None,
                     help=f"comma-separated subset of: {','.join(MODES)} (default: all the "
                          "data allows)")
    ret.add_argument("--model", default=None,
                     help="encoder hub id or folder (default: packaged all-MiniLM-L6-v2)")
    ret.add_argument("--k", type=int, default=10, help="cut of nDCG and MRR (default 10)")
    ret.add_argument("--device", default="auto")
    ret.add_argument("--seed", type=int, default=0)
    ret.add_argument("--output", default="retrieve-output", help="folder for the report")
    ret.add_argument("--quiet", action="store_true", help="no progress output")


def _read(path, what):
    if path is None:
        raise SystemExit(f"--corpus needs {what} too.")
    return pd.read_csv(path, dtype={"query_id": str, "doc_id": str}, keep_default_na=False)


def _retrieve(args, argv=None) -> int:
    if args.corpus:
        corpus = _read(args.corpus, "the corpus")
        queries, qrels = _read(args.queries, "--queries"), _read(args.qrels, "--qrels")
        train_queries = train_qrels = None
        if args.train_queries or args.train_qrels:
            train_queries = _read(args.train_queries, "--train-queries")
            train_qrels = _read(args.train_qrels, "--train-qrels")
        name = args.corpus
    else:
        name = args.demo or "python-docs"
        corpus, all_queries, all_qrels = load_retrieval_demo(name)
        split = all_queries.set_index("query_id").split
        queries, train_queries = (all_queries[all_queries.split == s] for s in ("test", "train"))
        qrels, train_qrels = (all_qrels[all_qrels.query_id.map(split) == s]
                              for s in ("test", "train"))
    n_train = 0 if train_queries is None else len(train_queries)
    print(f"data: {name}: {len(corpus):,} documents, {len(queries):,} test queries "
          f"({len(qrels):,} judgements), {n_train:,} training queries")
    results = compare_retrieval(
        corpus, queries, qrels, train_queries=train_queries, train_qrels=train_qrels,
        modes=args.modes.split(",") if args.modes else None, model=args.model, k=args.k,
        device=args.device, random_state=args.seed, verbose=0 if args.quiet else 1)
    print()
    print(format_retrieval_table(results))
    command = " ".join(sys.argv[1:] if argv is None else argv)
    written = write_retrieval_report(
        results, args.output, f"Retrieval compared on {name}",
        f"{len(corpus):,} documents, {len(queries):,} test queries, {n_train:,} training "
        f"queries, seed {args.seed}. Command: `sktransformers {command}`")
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def _load(args):
    if args.csv:
        frame = load_csv(args.csv, args.text_columns, args.label_column)
        name = args.csv
    else:
        name = args.demo or "tweets"
        frame = load_demo(name)
    test = None
    if args.test_csv:
        test = load_csv(args.test_csv, args.text_columns, args.label_column)
    return name, frame, test


def _task(args, labels) -> str:
    """The task named by --task, or guessed from the label column."""
    if args.task != "auto":
        return args.task
    if pd.api.types.is_numeric_dtype(labels):
        return "regression" if (labels != labels.round()).any() else "classification"
    return "multilabel" if labels.astype(str).str.contains(args.label_sep, regex=False).any() \
        else "classification"


def _targets(args, task, train, test):
    """Targets as the estimators take them; multi-label lists become an indicator matrix."""
    if task == "regression":
        return train.label.astype(float).to_numpy(), test.label.astype(float).to_numpy(), ""
    if task == "classification":
        return train.label, test.label, f"{train.label.nunique()} classes"
    from sklearn.preprocessing import MultiLabelBinarizer

    split = [frame.label.astype(str).str.split(args.label_sep) for frame in (train, test)]
    binarizer = MultiLabelBinarizer().fit(pd.concat(split))
    y_train, y_test = (binarizer.transform(labels) for labels in split)
    return y_train, y_test, f"{len(binarizer.classes_)} labels"


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "retrieve":
        return _retrieve(args, argv)

    name, frame, test = _load(args)
    task = _task(args, frame.label)
    few_shot = args.shots is not None
    if few_shot and task != "classification":
        raise SystemExit(f"--shots draws K texts per class: it needs single-label "
                         f"classification, and this task is {task}.")
    max_train = 0 if few_shot else args.max_train  # the draws come from the whole split
    train, test, note = split_data(frame, test, max_train=max_train,
                                   max_test=args.max_test, random_state=args.seed,
                                   stratify=task == "classification")
    y_train, y_test, what = _targets(args, task, train, test)
    methods = args.methods.split(",") if args.methods else None
    kind = "text pairs" if "text_a" in train else "texts"
    print(f"data: {name}: {len(train):,} training / {len(test):,} test {kind}, {task}"
          f"{', ' + what if what else ''}")
    if note:
        print(f"note: {note}")
    if few_shot:
        print(f"few-label mode: {args.shots} training texts per class drawn from them, "
              f"{args.seeds} seeds (mean and sd)")
    print("tip: --methods feature,lora (any of the list) and --max-train N trade coverage "
          "for time")
    options = {"methods": methods, "model": args.model, "long_text": args.long_text,
               "max_length": args.max_length, "device": args.device,
               "verbose": 0 if args.quiet else 1}
    if few_shot:
        results = compare_few_shot(text_input(train), y_train, text_input(test), y_test,
                                   shots=args.shots, seeds=args.seeds, **options)
    else:
        results = compare(text_input(train), y_train, text_input(test), y_test, task=task,
                          random_state=args.seed, **options)
    print()
    print(format_table(results))
    title = f"Adaptation methods compared on {name}"
    if few_shot:
        title += f", {args.shots} labelled texts per class ({args.seeds} seeds)"
    details = (f"{len(train):,} training / {len(test):,} test {kind}, {task}, seed "
               f"{args.seed}. {note + '. ' if note else ''}Command: `sktransformers compare "
               f"{' '.join(sys.argv[2:] if argv is None else argv[1:])}`")
    written = write_report(results, args.output, title, details)
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
