"""Command line: ``sktransformers compare`` (also ``python -m sktransformers compare``)."""

from __future__ import annotations

import argparse
import sys

from .datasets import DEMOS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sktransformers")
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser(
        "compare",
        help="fit and compare the adaptation methods on labelled text",
        description="Fit every adaptation method plus a TF-IDF baseline on one split and "
                    "print accuracy, macro-F1, fit time, throughput, trainable parameters "
                    "and peak memory; write a Markdown/CSV table and a plot.",
    )
    data = cmp.add_mutually_exclusive_group()
    data.add_argument("--demo", choices=sorted(DEMOS), default=None,
                      help="a packaged demo dataset (default: tweets)")
    data.add_argument("--csv", help="a labelled CSV file")
    cmp.add_argument("--test-csv", help="a separate test CSV (else a stratified split)")
    cmp.add_argument("--text-column", default="text")
    cmp.add_argument("--label-column", default="label")
    cmp.add_argument("--methods", default=None,
                     help="comma-separated subset of: tfidf,feature,head,full,lora,prompt,"
                          "prefix,adapter,incontext (default: all installed)")
    cmp.add_argument("--model", default=None,
                     help="backbone hub id or folder (default: packaged all-MiniLM-L6-v2)")
    cmp.add_argument("--max-train", type=int, default=1000,
                     help="cap on training texts (default 1000; 0 = no cap)")
    cmp.add_argument("--max-test", type=int, default=500,
                     help="cap on test texts (default 500; 0 = no cap)")
    cmp.add_argument("--device", default="auto")
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--output", default="compare-output", help="folder for the report")
    cmp.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _load(args):
    from .datasets import load_csv, load_demo

    if args.csv:
        frame = load_csv(args.csv, args.text_column, args.label_column)
        name = args.csv
    else:
        name = args.demo or "tweets"
        frame = load_demo(name)
    test = load_csv(args.test_csv, args.text_column, args.label_column) if args.test_csv else None
    return name, frame, test


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .compare import compare, format_table, split_data, write_report

    name, frame, test = _load(args)
    train, test, note = split_data(frame, test, max_train=args.max_train,
                                   max_test=args.max_test, random_state=args.seed)
    methods = args.methods.split(",") if args.methods else None
    print(f"data: {name}: {len(train):,} training / {len(test):,} test texts, "
          f"{train.label.nunique()} classes")
    if note:
        print(f"note: {note}")
    results = compare(train.text, train.label, test.text, test.label, methods=methods,
                      model=args.model, device=args.device, random_state=args.seed,
                      verbose=0 if args.quiet else 1)
    print()
    print(format_table(results))
    title = f"Adaptation methods compared on {name}"
    details = (f"{len(train):,} training / {len(test):,} test texts, seed {args.seed}. "
               f"{note + '. ' if note else ''}Command: `sktransformers compare "
               f"{' '.join(sys.argv[2:] if argv is None else argv[1:])}`")
    written = write_report(results, args.output, title, details)
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
