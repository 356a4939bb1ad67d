"""DocumentIndex on a tiny random BERT and a hand-made corpus: search, update, score, save."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator

from sktransformers import DocumentIndex, LoRAClassifier, load
from sktransformers.retrieval.fusion import reciprocal_rank_fusion
from sktransformers.retrieval.metrics import ranking_metrics

CORPUS = pd.DataFrame({
    "doc_id": ["a", "b", "c", "d"],
    "title": ["films", "", "cities", "people"],
    "text": ["a good film with a great actor", "the plot was boring and the actor dull",
             "the city is a place with many a person", "who is the person in this story"],
    "year": [2020, 2021, 2020, 2022],
})


@pytest.fixture
def index(tiny_bert):
    return lambda **kw: DocumentIndex(tiny_bert, **{"k": 3, **kw})


def test_search_returns_each_document_once_with_its_best_chunk(index):
    idx = index(chunk_size=4, chunk_overlap=1).fit(CORPUS)
    assert idx.n_chunks_ > len(CORPUS)  # chunks of four tokens: every document is cut
    found = idx.search(["great film actor", "the city"])
    assert list(found.columns[:6]) == ["query_id", "query", "rank", "doc_id", "chunk", "score"]
    assert "year" in found.columns
    for _, rows in found.groupby("query_id"):
        assert rows["rank"].tolist() == [1, 2, 3]
        assert rows["doc_id"].is_unique
        assert rows["score"].is_monotonic_decreasing
    for doc, chunk in zip(found.doc_id, found.chunk, strict=True):
        full = CORPUS.set_index("doc_id").loc[doc]
        assert chunk in f"{full.title} {full.text}".strip()


def test_bm25_ranks_exact_term_matches_and_hybrid_fuses_both(index):
    bm25 = index(mode="bm25", k=4).fit(CORPUS)
    assert bm25.search("boring plot").doc_id.tolist() == ["b"]  # only b shares a term
    dense = index(mode="dense", k=4).fit(CORPUS)
    hybrid = index(mode="hybrid", k=4, hybrid_weight=0.3).fit(CORPUS)
    query = "the person in the story"
    doc_scores = [d._scores([query], d.doc_alive_)[0] for d in (dense, bm25)]
    fused = reciprocal_rank_fusion(doc_scores, [0.3, 0.7], 60)[0]
    expected = [hybrid.doc_ids_[i] for i in np.argsort(-fused, kind="stable")
                if np.isfinite(fused[i])]
    assert hybrid.search(query).doc_id.tolist() == expected[:4]


def test_add_and_remove_change_the_next_search(index):
    idx = index(mode="bm25").fit(CORPUS)
    idx.add(pd.DataFrame({"doc_id": ["e"], "text": ["an awful boring plot"], "year": [2023]}))
    assert set(idx.search("awful").doc_id) == {"e"}
    idx.remove(["e", "b"])
    assert idx.search("boring").empty
    assert "boring" not in " ".join(idx.doc_texts_)  # erased, not only hidden
    with pytest.raises(ValueError, match="No indexed document"):
        idx.remove(["zzz", "a"])
    assert "a" in set(idx.documents_.doc_id)  # a failed remove removes nothing
    with pytest.raises(ValueError, match="already indexed"):
        idx.add(pd.DataFrame({"doc_id": ["a"], "text": ["again"]}))


def test_metadata_filters(index):
    idx = index(k=4).fit(CORPUS)
    assert set(idx.search("film", where={"year": 2020}).doc_id) <= {"a", "c"}
    assert set(idx.search("film", where=lambda d: d.year > 2020).doc_id) <= {"b", "d"}
    with pytest.raises(ValueError, match="not a document column"):
        idx.search("film", where={"genre": "x"})


def test_ndcg_recall_and_mrr_as_trec_eval_defines_them():
    run = pd.DataFrame({"query_id": ["q"] * 3, "doc_id": ["d1", "d2", "d3"]})
    qrels = pd.DataFrame({"query_id": ["q", "q", "q"], "doc_id": ["d2", "d3", "d9"],
                          "relevance": [1, 2, 0]})
    got = ranking_metrics(run, qrels, k=3)
    dcg = 1 / np.log2(3) + 2 / np.log2(4)
    ideal = 2 / np.log2(2) + 1 / np.log2(3)
    assert got["ndcg@3"] == pytest.approx(dcg / ideal)
    assert got["recall@3"] == 1.0 and got["mrr@3"] == pytest.approx(0.5)


def test_score_is_ndcg_of_search(index):
    idx = index(mode="bm25").fit(CORPUS)
    queries = pd.DataFrame({"query_id": ["1", "2"], "text": ["boring plot", "city place"]})
    qrels = pd.DataFrame({"query_id": ["1", "2"], "doc_id": ["b", "c"], "relevance": [1, 1]})
    assert idx.score(queries, qrels) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not indexed"):
        idx.score(queries, qrels.assign(doc_id=["b", "zz"]))
    with pytest.raises(ValueError, match="not in X"):
        idx.score(queries.iloc[:1], qrels)


def test_bad_input_is_refused_and_changes_nothing(index):
    with pytest.raises(NotFittedError):
        index().search("film")
    with pytest.raises(ValueError):
        index().fit([])
    with pytest.raises(ValueError, match="repeat"):
        index().fit(CORPUS.assign(doc_id=["a", "a", "b", "c"]))
    with pytest.raises(ValueError, match="missing or empty"):
        index().fit(CORPUS.assign(doc_id=["a", "", "b", "c"]))
    with pytest.raises(ValueError):
        index().fit(CORPUS.assign(text=["ok", None, "ok", "ok"]))
    original = CORPUS.copy()
    index().fit(CORPUS)
    pd.testing.assert_frame_equal(CORPUS, original)


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_pickle_and_safe_folder_search_the_same(index, mode, tmp_path):
    corpus = pd.concat([CORPUS.assign(doc_id=CORPUS.doc_id + str(i)) for i in range(40)])
    idx = index(mode=mode).fit(corpus)  # 160 vectors of 32: saved as .npy, not JSON
    idx.remove("d0")
    assert not idx.vectors_[idx.chunk_doc_ == 3].any()  # d0's vectors are erased
    expected = idx.search(["good actor", "a person"])
    folder = idx.save(tmp_path / "index")
    arrays = [p for p in folder.iterdir() if p.suffix == ".npy"]
    assert len(arrays) == 1 and np.array_equal(np.load(arrays[0]), idx.vectors_)
    assert not any(p.read_bytes().startswith(b"\x80") for p in folder.rglob("*.json"))
    for loaded in (load(folder), pickle.loads(pickle.dumps(idx))):
        pd.testing.assert_frame_equal(loaded.search(["good actor", "a person"]), expected)


STORES = [("faiss", None), ("faiss", {"kind": "ivf", "nprobe": 4}), ("qdrant", None)]
BIG = pd.concat([CORPUS.assign(doc_id=CORPUS.doc_id + str(i), text=CORPUS.text + f" part {i}")
                 for i in range(40)])  # 160 distinct documents


@pytest.mark.parametrize(("store", "options"), STORES)
def test_stores_find_what_exact_search_finds_and_forget_removed_rows(index, store, options):
    exact = index(k=4).fit(BIG)
    other = index(k=4, store=store, store_options=options).fit(BIG)
    queries = ["good film", "person story", "city"]
    assert exact.search(queries).doc_id.tolist() == other.search(queries).doc_id.tolist()
    for idx in (exact, other):
        idx.remove(["a0", "c3"]).add(CORPUS.assign(doc_id=CORPUS.doc_id + "new"))
        assert idx.vectors_ is idx.store_.vectors  # one matrix, grown and erased in place
        assert not idx.vectors_[np.isin(idx.doc_ids_[idx.chunk_doc_], ["a0", "c3"])].any()
    found = other.search(queries, k=20)
    assert not {"a0", "c3"} & set(found.doc_id)
    assert found.doc_id.tolist() == exact.search(queries, k=20).doc_id.tolist()
    added = other.search(queries, where=lambda docs: docs.doc_id.str.endswith("new"))
    assert set(added.doc_id) <= {"anew", "bnew", "cnew", "dnew"} and len(added) == 3 * 4
    where = {"year": 2022}  # a metadata filter keeps one document in four
    assert (other.search(queries, where=where).doc_id.tolist()
            == exact.search(queries, where=where).doc_id.tolist())


def test_a_saved_faiss_index_is_loaded_not_rebuilt(index, tmp_path, monkeypatch):
    import faiss

    idx = index(store="faiss", store_options={"kind": "ivf", "nlist": 2}).fit(BIG)
    expected = idx.search(["good actor", "a person"])
    folder = idx.save(tmp_path / "index")
    assert len(list(folder.glob("*.npy"))) == 2  # the vectors and FAISS's own index

    def no_training(*args):
        raise AssertionError("the saved index was trained again")

    monkeypatch.setattr(faiss.IndexIVFFlat, "train", no_training)
    for loaded in (load(folder), pickle.loads(pickle.dumps(idx))):
        pd.testing.assert_frame_equal(loaded.search(["good actor", "a person"]), expected)
    idx.remove("a0")  # removed rows are not in what is saved: the index is built again
    assert idx.__getstate__()["store_state_"] is None
    with pytest.raises(ValueError, match="'hnsw' or 'ivf'"):
        index(store="faiss", store_options={"kind": "flat"}).fit(CORPUS)


def test_a_qdrant_collection_is_never_overwritten_and_a_refit_replaces_its_own(
        index, tmp_path):
    options = {"path": str(tmp_path / "qdrant"), "collection": "films"}
    idx = index(store="qdrant", store_options=options).fit(BIG)
    client = idx.store_.client
    assert client.count("films", exact=True).count == len(idx.vectors_)
    idx.remove("a0")
    assert client.count("films", exact=True).count == int(idx.vectors_.any(axis=1).sum())
    idx.fit(CORPUS)  # the refit replaces its own collection
    assert client.count("films", exact=True).count == len(idx.vectors_)
    with pytest.raises(ValueError, match="already exists"):
        index(store="qdrant", store_options=options).fit(BIG)
    assert client.count("films", exact=True).count == len(idx.vectors_)  # untouched
    expected = idx.search(["good actor", "a person"])
    loaded = load(idx.save(tmp_path / "index"))  # reattaches: nothing uploaded again
    client.upload_collection = None
    assert loaded.store_.collection == "films"
    pd.testing.assert_frame_equal(loaded.search(["good actor", "a person"]), expected)


def test_a_fitted_estimator_is_the_encoder(tiny_bert, binary_data):
    X, y = binary_data
    clf = LoRAClassifier(tiny_bert, r=2, max_epochs=1, verbose=0, random_state=0).fit(X, y)
    vectors = clf.embed(["a good film", "the city"])
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    idx = DocumentIndex(FrozenEstimator(clf), k=2).fit(CORPUS)
    assert idx.vectors_[0] == pytest.approx(clf.embed([f"films {CORPUS.text[0]}"])[0],
                                            abs=1e-5)
    assert len(idx.search("good film")) == 2


def test_a_reranker_reorders_the_top_documents(index):
    class PrefersCities:
        classes_ = np.array([0, 1])

        def predict_proba(self, pairs):
            relevant = pairs[1].str.contains("city").to_numpy(dtype=float)
            return np.column_stack([1 - relevant, relevant])

    idx = index(mode="bm25", reranker=PrefersCities(), k=2).fit(CORPUS)
    assert idx.search("the actor person city").doc_id.tolist()[0] == "c"
    # past the reranked depth the first stage's order stands: k is always honoured
    first = index(mode="bm25", k=4).fit(CORPUS).search("the actor person city")
    deep = idx.set_params(n_rerank=2).search("the actor person city", k=4)
    assert len(deep) == len(first) == 4
    assert set(deep.doc_id[:2]) == set(first.doc_id[:2])
    assert deep.doc_id[2:].tolist() == first.doc_id[2:].tolist()


def test_evaluate_at_several_cuts_equals_one_cut_at_a_time(index):
    idx = index(mode="hybrid", k=1).fit(BIG)
    queries = pd.DataFrame({"query_id": ["1", "2"], "text": ["boring plot", "city place"]})
    qrels = pd.DataFrame({"query_id": ["1", "1", "2"], "doc_id": ["b3", "b7", "c1"],
                          "relevance": [1, 2, 1]})
    both = idx.evaluate(queries, qrels, k=[1, 50])
    assert both == {**idx.evaluate(queries, qrels), **idx.evaluate(queries, qrels, k=50)}
    assert set(both) == {"ndcg@1", "recall@1", "mrr@1", "ndcg@50", "recall@50", "mrr@50"}


def test_a_damaged_saved_index_is_refused(index, tmp_path):
    corpus = pd.concat([CORPUS.assign(doc_id=CORPUS.doc_id + str(i)) for i in range(40)])
    folder = index().fit(corpus).save(tmp_path / "index")
    array = next(folder.glob("*.npy"))
    vectors = np.load(array)
    vectors[0, 0] += 1.0
    np.save(array, vectors)
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load(folder)


def test_clone_and_params(index):
    from sklearn.base import clone

    idx = index(mode="hybrid", hybrid_weight=0.2)
    assert clone(idx).get_params() == idx.get_params()
    fitted = idx.fit(CORPUS)
    assert not hasattr(clone(fitted), "documents_")


def test_a_missing_extra_is_named_and_changes_nothing(index, monkeypatch):
    import sys

    idx = index(mode="bm25").fit(CORPUS)
    monkeypatch.setitem(sys.modules, "bm25s", None)
    with pytest.raises(ImportError, match=r"sktransformers\[index\]"):
        idx.set_params(mode="hybrid").fit(CORPUS.head(2))
    assert len(idx.documents_) == len(CORPUS)  # the earlier index is whole


def test_chunks_are_embedded_by_parallel_workers_as_in_one_process(index, tmp_path):
    serial = index().fit(BIG)
    parallel = index(n_jobs=2, cache_dir=str(tmp_path)).fit(BIG)
    np.testing.assert_allclose(parallel.vectors_, serial.vectors_, atol=1e-5)
    for idx in (serial, parallel):
        idx.add(CORPUS.assign(doc_id=CORPUS.doc_id + "new"))
    np.testing.assert_allclose(parallel.vectors_, serial.vectors_, atol=1e-5)
    assert parallel.search("good film").doc_id.tolist() == serial.search(
        "good film").doc_id.tolist()


def test_chunks_are_embedded_on_a_local_dask_cluster(index, tmp_path):
    distributed = pytest.importorskip("distributed", reason="needs the test extra (dask)")
    import joblib

    serial = index().fit(BIG)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_config(backend="dask"):
        remote = index(n_jobs=-1, store="qdrant", cache_dir=str(tmp_path)).fit(BIG)
    np.testing.assert_allclose(remote.vectors_, serial.vectors_, atol=1e-5)
    assert remote.store_.client.count(remote.store_.collection).count == len(remote.vectors_)


def test_local_qdrant_folders_are_closed_before_the_interpreter_exits(tmp_path,
                                                                     monkeypatch):
    # qdrant-client closes a folder in __del__ with a late import, which fails noisily
    # ("Exception ignored ... sys.meta_path is None") once the interpreter tears down
    import atexit

    from sktransformers.retrieval import stores

    registered = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(stores, "_LOCAL_CLIENTS", {})
    client = stores._local_client(tmp_path / "q")
    assert stores._local_client(str(tmp_path / "q")) is client  # one per folder
    assert registered.count(stores._close_local_clients) == 1
    stores._close_local_clients()
    assert client._client.closed and not stores._LOCAL_CLIENTS


def test_exact_search_in_query_blocks_equals_one_product(monkeypatch):
    from sktransformers.retrieval import stores

    rng = np.random.default_rng(0)
    vectors, queries = rng.normal(size=(50, 8)), rng.normal(size=(7, 8))
    allowed = np.arange(50) % 5 != 0
    store = stores.make_store("exact", vectors)
    whole = store.search(queries, 4, allowed)
    monkeypatch.setattr(stores, "EXACT_BLOCK_SCORES", 100)  # two queries per block
    blocked = store.search(queries, 4, allowed)
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-6)  # BLAS blocks round apart
    np.testing.assert_array_equal(blocked[1], whole[1])
    expected = np.argsort(-np.where(allowed, queries @ vectors.T, -np.inf), axis=1)[:, :4]
    np.testing.assert_array_equal(blocked[1], expected)
