"""Linear-probe heads, unit-length pooling, int8 prediction and ONNX export (tiny models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from sktransformers import TransformerEmbedder, predict_with_onnx_runtime
from sktransformers.backbones.modules import pool

from estimators import CLASSIFIERS, TRAINABLE, TRAINABLE_REGRESSORS, make

X = ["a great film", "an awful film", "great fun", "awful plot", "lovely story",
     "terrible acting", "great cast", "awful script"] * 3
Y = ["pos", "neg"] * 12
MULTI = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 1]] * 6)


def _features(tiny_bert, texts):
    emb = TransformerEmbedder(tiny_bert, normalize=True, max_length=16, batch_size=8,
                              verbose=0).fit()
    return emb.transform(texts)


def _untrained(monkeypatch, name):
    """Make ``fit`` skip training, so the fitted model is the initial one."""
    module = "sktransformers.estimators." + ("head" if name.startswith("head") else "adapted")
    monkeypatch.setattr(f"{module}.train", lambda *args, **kwargs: [])


@pytest.mark.parametrize("name", ["head", "lora", "prompt", "prefix", "adapter", "full"])
def test_probe_head_starts_as_logistic_regression_on_the_starting_features(tiny_bert,
                                                                           monkeypatch, name):
    """The probe reads the frozen features where the prepared backbone computes them
    (``starts_as_base``), else the prepared backbone's own (soft prompts)."""
    _untrained(monkeypatch, name)
    est = make(name, tiny_bert).fit(X, Y)
    Z = est.embed(X) if name == "prompt" else _features(tiny_bert, X)
    if name == "prompt":  # the untrained prompt changes the features
        assert not np.allclose(Z, _features(tiny_bert, X), atol=1e-3)
    lr = LogisticRegression(max_iter=1000).fit(Z, np.unique(Y, return_inverse=True)[1])
    weight = est.module_.head[-1].weight.detach().numpy()
    # two classes: the binary model's logit, split evenly between the two outputs
    np.testing.assert_allclose(weight[1] - weight[0], lr.coef_[0], rtol=1e-4, atol=1e-6)
    if name != "prefix":  # the head reads what the probe read
        np.testing.assert_allclose(est.predict_proba(X), lr.predict_proba(Z), atol=1e-5)


@pytest.mark.parametrize("name", ["head", "lora"])
def test_probe_balances_classes_unless_the_user_weights_them(tiny_bert, monkeypatch, name):
    """A rare class: the probe is a class-balanced logistic regression, except when
    ``class_weight`` is given, which then weights the probe as it weights the loss."""
    from sklearn.utils.class_weight import compute_sample_weight

    _untrained(monkeypatch, name)
    y = np.array(["neg"] * 20 + ["pos"] * 4)
    Z, codes = _features(tiny_bert, X), (y == "pos").astype(int)
    balanced = LogisticRegression(max_iter=1000, class_weight="balanced").fit(Z, codes)
    plain = LogisticRegression(max_iter=1000).fit(Z, codes)
    assert not np.allclose(balanced.coef_, plain.coef_, atol=1e-3)  # the data can tell
    est = make(name, tiny_bert).fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X), balanced.predict_proba(Z), atol=1e-5)
    user = {"neg": 1.0, "pos": 2.0}
    weights = compute_sample_weight(user, y)
    weighted = LogisticRegression(max_iter=1000).fit(Z, codes,
                                                     sample_weight=weights / weights.mean())
    est = make(name, tiny_bert, class_weight=user).fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X), weighted.predict_proba(Z), atol=1e-5)


@pytest.mark.parametrize("name", ["lora", "head"])
def test_probe_heads_for_multilabel_and_regression(tiny_bert, monkeypatch, name):
    _untrained(monkeypatch, name)
    multi = make(name, tiny_bert).fit(X, MULTI)
    Z = _features(tiny_bert, X)
    for j in range(MULTI.shape[1]):
        lr = LogisticRegression(max_iter=1000).fit(Z, MULTI[:, j])
        np.testing.assert_allclose(multi.predict_proba(X)[:, j], lr.predict_proba(Z)[:, 1],
                                   atol=1e-5)
    y = np.linspace(0, 10, len(X))
    reg = make(f"{name}-reg", tiny_bert).fit(X, y)
    from sklearn.linear_model import RidgeCV

    ridge = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(Z, (y - y.mean()) / y.std())
    np.testing.assert_allclose(reg.predict(X), ridge.predict(Z) * y.std() + y.mean(),
                               atol=1e-3)


def test_random_head_init_and_raw_pooling_remain_available(tiny_bert):
    probe = make("lora", tiny_bert).fit(X, Y)
    random = make("lora", tiny_bert, head_init="random", normalize=False).fit(X, Y)
    assert not np.allclose(probe.predict_proba(X), random.predict_proba(X))
    pooled = random.module_.encoder(**random.tokenizer_(X[:2], return_tensors="pt"))
    assert not torch.allclose(pooled.norm(dim=1), torch.ones(2))
    unit = probe.module_.encoder(**probe.tokenizer_(X[:2], return_tensors="pt"))
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(2))


def test_soft_prompt_pooling_reads_the_text_positions_only():
    hidden = torch.arange(2 * 5 * 1, dtype=torch.float32).view(2, 5, 1)  # 2 virtual + 3
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    text_only = pool(hidden, mask, "mean")
    torch.testing.assert_close(text_only[:, 0], torch.tensor([2.5, 8.0]))
    legacy = pool(hidden, mask, "mean", virtual_tokens=True)
    torch.testing.assert_close(legacy[:, 0], torch.tensor([1.5, 7.0]))
    torch.testing.assert_close(pool(hidden, mask, "cls")[:, 0], torch.tensor([2.0, 7.0]))
    torch.testing.assert_close(pool(hidden, mask, "last")[:, 0], torch.tensor([3.0, 9.0]))


def test_a_model_saved_by_0_2_keeps_its_head_init_pooling_and_positions(tiny_bert):
    """Parameters added later take the value that reproduces the old behaviour."""
    import pickle

    from sktransformers.persistence.state import STAMP

    est = make("prompt", tiny_bert).fit(X, Y)
    state = est.__getstate__()
    state[STAMP] = {**state[STAMP], "version": "0.2.0"}
    for name in ("head_init", "normalize"):
        del state[name]
    state["adaptation_"] = pickle.loads(pickle.dumps(state["adaptation_"]))
    for name in ("pool_virtual_tokens", "keep_text_positions"):
        del vars(state["adaptation_"])[name]
    state["adaptation_"].__setstate__(dict(vars(state["adaptation_"])))
    old = type(est).__new__(type(est))
    old.__setstate__(state)
    assert old.head_init == "random" and old.normalize is False
    assert old.adaptation_.pool_virtual_tokens is True
    assert old.adaptation_.keep_text_positions is False  # PEFT's forward, as it trained


@pytest.mark.parametrize("name", ["lora", "head", "feature", "prompt"])
def test_int8_prediction_is_close_to_fp32_and_training_stays_fp32(tiny_bert, name):
    est = make(name, tiny_bert).fit(X, Y)
    fp32 = est.predict_proba(X)
    int8 = est.set_params(precision="int8").predict_proba(X)
    assert not np.array_equal(fp32, int8)  # the quantised path really ran
    assert np.abs(fp32 - int8).max() < 0.1
    if name != "feature":  # the fit itself ran in fp32: same model as an fp32 fit
        refit = make(name, tiny_bert, precision="int8").fit(X, Y)
        np.testing.assert_allclose(refit.set_params(precision="fp32").predict_proba(X), fp32,
                                   atol=1e-6)


def test_int8_copy_is_neither_pickled_nor_kept_across_fits(tiny_bert):
    import pickle

    est = make("lora", tiny_bert, precision="int8").fit(X, Y)
    est.predict(X)
    assert "_int8" in vars(est) and "_int8" not in pickle.loads(pickle.dumps(est)).__dict__
    est.fit(X[::-1], Y[::-1])
    assert "_int8" not in vars(est)


def test_int8_weights_are_packed_for_onednn_where_the_cpu_has_vnni(monkeypatch, tiny_bert):
    import torch

    from sktransformers.core import device as _device

    before = torch.backends.quantized.engine
    for cap in _device._CAPS_WITHOUT_VNNI:
        monkeypatch.delenv(cap, raising=False)  # the patched CPU is the host
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: False, raising=False)
    assert _device.int8_engine() == before
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: True, raising=False)
    if "onednn" in torch.backends.quantized.supported_engines:
        assert _device.int8_engine() == "onednn"
    est = make("full", tiny_bert, precision="int8").fit(X, Y)
    np.testing.assert_allclose(est.predict_proba(X), est.set_params(precision="fp32")
                               .predict_proba(X), atol=0.05)
    assert torch.backends.quantized.engine == before  # the global setting is restored


def test_int8_activations_use_all_8_bits_where_weights_are_packed_for_onednn(monkeypatch):
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from sktransformers.core import device as _device

    torch.manual_seed(0)
    model, x = torch.nn.Sequential(torch.nn.Linear(64, 64)), torch.randn(256, 64)

    def torch_default(engine):  # torch's own layer: 7-bit activations
        with warnings.catch_warnings(), _device._quantized_engine(engine):
            warnings.simplefilter("ignore")
            return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig},
                                    dtype=torch.qint8)

    with torch.no_grad():
        other = torch.backends.quantized.engine  # not oneDNN: torch's layer, unchanged
        monkeypatch.setattr(_device, "int8_engine", lambda: other)
        if other != "onednn":
            torch.testing.assert_close(_device.int8_copy(model)(x), torch_default(other)(x),
                                       rtol=0, atol=0)
        if "onednn" not in torch.backends.quantized.supported_engines:
            return
        monkeypatch.setattr(_device, "int8_engine", lambda: "onednn")
        exact = model(x)
        error = {name: float((q(x) - exact).abs().mean())
                 for name, q in (("seven", torch_default("onednn")),
                                 ("full", _device.int8_copy(model)))}
    assert error["full"] != error["seven"], error  # same engine, other activation range
    if _device.int8_vnni():  # int8_engine's condition
        assert error["full"] < 0.7 * error["seven"], error  # one bit more: about half


def test_int8_is_refused_off_the_cpu_and_for_language_models(tiny_bert):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(ValueError, match="CPU only"):
        from sktransformers.core.device import resolve_precision

        resolve_precision("int8", "cuda")
    with pytest.raises(InvalidParameterError):
        make("incontext", tiny_bert, precision="int8").fit(X, Y)


@pytest.mark.parametrize("name", [*TRAINABLE, "lora-reg"])
def test_onnx_export_runs_in_onnx_runtime_alone(tiny_bert, tmp_path, name):
    est = make(name, tiny_bert).fit(X, np.linspace(0, 1, len(X)) if "reg" in name else Y)
    folder = est.export_onnx(tmp_path / name)
    texts = ["great", "an awful, awful film with a long and winding plot", "x"]
    expected = est.predict(texts) if "reg" in name else est.predict_proba(texts)
    got = predict_with_onnx_runtime(folder, texts)
    np.testing.assert_allclose(got.reshape(expected.shape), expected, atol=1e-4)


def test_onnx_runtime_batches_by_length_and_keeps_the_order(tiny_bert, tmp_path):
    est = make("lora", tiny_bert).fit(X, Y)
    folder = est.export_onnx(tmp_path / "m")
    texts = ["x", "an awful, awful film with a long and winding plot", "great", "bad film",
             "the plot was dull and the actor was worse", "fine", "a good story"]
    small = predict_with_onnx_runtime(folder, texts, batch_size=2)
    np.testing.assert_allclose(small, est.predict_proba(texts), atol=1e-4)
    np.testing.assert_allclose(small, predict_with_onnx_runtime(folder, texts), atol=1e-6)


@pytest.mark.parametrize("name", TRAINABLE)
def test_onnx_int8_export_runs_its_linear_layers_in_int8(tiny_bert, tmp_path, name):
    import json

    import onnx

    est = make(name, tiny_bert).fit(X, Y)
    int8 = est.export_onnx(tmp_path / "int8", quantize="int8")
    ops = {node.op_type for node in onnx.load(str(int8 / "model.onnx")).graph.node}
    assert "MatMulInteger" in ops  # the linear layers run in int8
    # attention was traced as plain products for the export only; the estimator keeps SDPA
    kept = {part.config._attn_implementation for part in est.module_.modules()
            if hasattr(part, "set_attn_implementation")}
    assert "eager" not in kept
    assert json.loads((int8 / "onnx_config.json").read_text())["quantize"] == "int8"
    got = predict_with_onnx_runtime(int8, X)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, est.predict_proba(X), atol=0.05)


def _int8_weights(path):
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == 3]
    return np.concatenate([w.ravel() for w in weights])  # every int8 tensor


def test_onnx_int8_export_has_a_graph_exact_on_hosts_without_vnni(tiny_bert, tmp_path,
                                                                   monkeypatch):
    # Without VNNI, ONNX Runtime's x86 kernels sum pairs of uint8 x int8 products in 16
    # bits with saturation: the graph run there must keep |w| <= 64 (2 x 255 x 64 fits),
    # which makes its integer products the same on every host.
    import torch

    from sktransformers.backbones import onnx as _onnx
    from sktransformers.core import device as _device

    est = make("full", tiny_bert).fit(X, Y)
    folder = est.export_onnx(tmp_path / "int8", quantize="int8")
    portable, vnni = _int8_weights(folder / "model.onnx"), _int8_weights(folder / _onnx.VNNI_MODEL)
    assert portable.min() >= -64 and portable.max() <= 64
    assert np.abs(vnni).max() > 64  # the full range, for hosts that sum in 32 bits
    expected = est.predict_proba(X)
    for has_vnni, graph in ((False, "model.onnx"), (True, _onnx.VNNI_MODEL)):
        monkeypatch.setattr(_onnx, "int8_vnni", lambda v=has_vnni: v)
        assert _onnx._model_file(folder).name == graph
        np.testing.assert_allclose(predict_with_onnx_runtime(folder, X), expected, atol=0.05)
    # a cap of the ISA (how an AVX2 host is reproduced on a newer one) chooses the former
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: True, raising=False)
    for cap in _device._CAPS_WITHOUT_VNNI:
        monkeypatch.delenv(cap, raising=False)  # this run's own caps, if any
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not _device.int8_vnni() and _device.int8_engine() != "onednn"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert not _device.int8_vnni()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    assert _device.int8_vnni()
    for fbgemm_cap, vnni in (("AVX2", False), ("AVX512", False), ("AVX512_E1", True)):
        monkeypatch.setenv("FBGEMM_ENABLE_INSTRUCTIONS", fbgemm_cap)  # torch's default engine
        assert _device.int8_vnni() is vnni
    with pytest.raises(ValueError, match="quantize"):
        est.export_onnx(tmp_path / "bad", quantize="int4")


def test_onnx_export_of_pairs_and_multilabel(tiny_bert, tmp_path):
    pairs = [(a, b) for a, b in zip(X, X[::-1], strict=True)]
    clf = make("lora", tiny_bert).fit(pairs, Y)
    got = predict_with_onnx_runtime(clf.export_onnx(tmp_path / "pairs"), pairs[:4])
    np.testing.assert_allclose(got, clf.predict_proba(pairs[:4]), atol=1e-4)
    multi = make("head", tiny_bert).fit(X, MULTI)
    got = predict_with_onnx_runtime(multi.export_onnx(tmp_path / "multi"), X[:4])
    np.testing.assert_allclose(got, multi.predict_proba(X[:4]), atol=1e-4)


def test_onnx_export_refuses_what_it_cannot_represent(tiny_bert, tmp_path):
    chunked = make("lora", tiny_bert, long_text="chunk", stride=4).fit(X, Y)
    with pytest.raises(ValueError, match="long_text='truncate'"):
        chunked.export_onnx(tmp_path / "a")
    bi = make("head", tiny_bert).fit([(a, a) for a in X], Y)
    with pytest.raises(ValueError, match="pair_encoding='cross'"):
        bi.export_onnx(tmp_path / "b")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        make("lora", tiny_bert).fit(X, Y).export_onnx(tmp_path / "c")
    assert (tmp_path / "c" / "mine.txt").read_text() == "keep"


def test_every_trainable_estimator_documents_the_new_parameters():
    for name in [*TRAINABLE, *TRAINABLE_REGRESSORS]:
        cls = CLASSIFIERS.get(name, (None,))[0] or make.__globals__["ESTIMATORS"][name][0]
        doc = cls.__doc__
        for param in ("head_init", "normalize"):
            assert f"{param} :" in doc, f"{cls.__name__} does not document {param}"
