"""Model selection scales out through joblib's Dask backend (a local cluster of processes)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from estimators import make


@pytest.mark.parametrize("name", ["feature", "lora"])
def test_grid_search_on_a_local_dask_cluster(name, tiny_bert, binary_data):
    distributed = pytest.importorskip("distributed", reason="needs the test extra (dask)")
    import joblib

    X, y = binary_data
    grid = {"batch_size": [4, 8]}
    local = GridSearchCV(make(name, tiny_bert), grid, cv=2).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        remote = GridSearchCV(make(name, tiny_bert), grid, cv=2).fit(X, y)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), rtol=1e-5)
