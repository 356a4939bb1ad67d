"""``sktransformers retrieve``: the retrieval comparison, its demo data and its report."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from sktransformers.__main__ import main
from sktransformers.compare_retrieval import compare_retrieval, search_latencies, training_pairs
from sktransformers.datasets import QUESTIONS, load_retrieval_demo

CORPUS = pd.DataFrame({
    "doc_id": ["cats", "dogs", "stocks", "rain", "films"],
    "title": ["Cats", "Dogs", "Markets", "Weather", "Cinema"],
    "text": ["cats purr and sleep all day", "dogs bark and wag their tails",
             "the stock market fell sharply", "rain and wind are expected tomorrow",
             "the film had a great actor and a dull plot"],
})
QUERIES = pd.DataFrame({"query_id": ["1", "2", "3", "4"],
                        "text": ["why do cats purr", "stock market news",
                                 "will it rain", "a dull film plot"]})
QRELS = pd.DataFrame({"query_id": ["1", "2", "3", "4"],
                      "doc_id": ["cats", "stocks", "rain", "films"], "relevance": 1})


def test_the_demo_reads_python_s_own_help_topics_with_judged_questions():
    corpus, queries, qrels = load_retrieval_demo()
    assert len(corpus) >= 70 and corpus.doc_id.is_unique and (corpus.text.str.len() > 0).all()
    assert len(queries) == len(QUESTIONS) and queries.query_id.is_unique
    assert set(qrels.doc_id) <= set(corpus.doc_id) and set(qrels.query_id) == set(
        queries.query_id)
    # the test split is every third question, and it is judged
    assert queries.split.value_counts().to_dict() == {"train": 45, "test": 23}
    assert corpus.set_index("doc_id").loc["break", "title"] == 'The "break" statement'
    with pytest.raises(ValueError, match="python-docs"):
        load_retrieval_demo("scifact")


def test_training_pairs_are_judged_documents_and_unjudged_bm25_neighbours():
    pairs, labels = training_pairs(CORPUS, QUERIES, QRELS, n_negatives=2)
    assert list(pairs.columns) == ["query", "document"]
    assert labels.tolist() == [1, 0, 0] * 4
    first = pairs[pairs["query"] == "why do cats purr"]
    assert first.document.iloc[0].startswith("Cats cats purr")
    assert not first.document.iloc[1:].str.startswith("Cats").any()
    # the one unjudged document BM25 matches comes first
    extra = pd.DataFrame({"query_id": ["5"], "text": ["a dull plot"]})
    pairs, labels = training_pairs(CORPUS, extra, QRELS.assign(query_id="5").head(1),
                                   n_negatives=1)
    assert labels.tolist() == [1, 0] and pairs.document.iloc[1].startswith("Cinema")


def test_every_mode_is_built_and_scored_on_the_same_queries(tiny_bert, capsys):
    results = compare_retrieval(CORPUS, QUERIES, QRELS, train_queries=QUERIES,
                                train_qrels=QRELS, model=tiny_bert, k=3, n_latency=2,
                                verbose=0)
    assert results["mode"].tolist() == ["bm25", "dense", "hybrid", "reranked", "finetuned"]
    bm25 = results.set_index("mode").loc["bm25"]
    assert bm25["ndcg@3"] == 1.0  # every query shares a word with its document only
    assert bm25["vectors_mb"] == 0.0 and results.vectors_mb.iloc[1] > 0
    assert (results.build_s > 0).all() and (results.p99_ms >= results.p50_ms).all()
    assert results["recall@100"].eq(1.0).all()  # five documents: all are retrieved


def test_latency_timing_stops_at_its_budget_after_five_queries():
    calls = []

    def slow_search(text):
        calls.append(text)
        time.sleep(0.01)

    search_latencies(slow_search, [f"q{i}" for i in range(40)], n=30, budget_s=0.02)
    assert len(calls) == 5  # the budget is spent after 2, but 5 are always timed
    calls.clear()
    search_latencies(slow_search, [f"q{i}" for i in range(40)], n=30)
    assert len(calls) == 30


def test_trained_modes_need_training_queries_and_unknown_modes_are_named(tiny_bert):
    with pytest.raises(ValueError, match="train_queries"):
        compare_retrieval(CORPUS, QUERIES, QRELS, modes=["reranked"], model=tiny_bert)
    with pytest.raises(ValueError, match="Unknown retrieval modes"):
        compare_retrieval(CORPUS, QUERIES, QRELS, modes=["colbert"], model=tiny_bert)


def test_command_line_end_to_end(tiny_bert, tmp_path, capsys):
    files = {}
    for name, frame in (("corpus", CORPUS), ("queries", QUERIES), ("qrels", QRELS)):
        files[name] = tmp_path / f"{name}.csv"
        frame.to_csv(files[name], index=False)
    out = tmp_path / "report"
    code = main(["retrieve", "--corpus", str(files["corpus"]), "--queries",
                 str(files["queries"]), "--qrels", str(files["qrels"]), "--model", tiny_bert,
                 "--k", "3", "--output", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "5 documents, 4 test queries" in printed and "| mode | ndcg@3 |" in printed
    assert pd.read_csv(out / "retrieval.csv")["mode"].tolist() == ["bm25", "dense", "hybrid"]
    assert (out / "retrieval.png").stat().st_size > 1000
    assert "Command: `sktransformers retrieve --corpus" in (out / "retrieval.md").read_text()
