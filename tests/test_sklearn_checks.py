"""scikit-learn's own estimator checks that apply to text estimators.

``check_estimator`` feeds numeric arrays, so it cannot run text estimators as a
whole; the checks below do not depend on numeric input and are called directly.
"""

from __future__ import annotations

import pytest
from sklearn.utils import estimator_checks as ec

from sktransformers import TransformerEmbedder

from estimators import ESTIMATORS as MATRIX

ESTIMATORS = {name: cls for name, (cls, _) in MATRIX.items()}
ESTIMATORS["embedder"] = TransformerEmbedder

CHECKS = [
    ec.check_parameters_default_constructible,
    ec.check_no_attributes_set_in_init,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
    ec.check_mixin_order,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_param_validation,
    ec.check_estimators_unfitted,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_sklearn_check(name, check):
    estimator = ESTIMATORS[name]()
    if check is ec.check_estimators_unfitted and name == "embedder":
        check = ec.check_transformers_unfitted
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n.endswith("-reg")])
def test_regressor_tags_and_default_cv(name):
    from sklearn.base import is_classifier, is_regressor

    estimator = ESTIMATORS[name]()
    assert is_regressor(estimator) and not is_classifier(estimator)
    assert estimator.__sklearn_tags__().estimator_type == "regressor"
    # (cross_val_score with continuous y, which StratifiedKFold would refuse, runs in
    # test_contract.test_pipeline_gridsearch_cross_val_score)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_tags_declare_string_input(name):
    tags = ESTIMATORS[name]().__sklearn_tags__()
    assert tags.input_tags.string
    assert not tags.input_tags.two_d_array
