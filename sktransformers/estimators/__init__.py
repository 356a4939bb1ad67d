"""The public estimator families, thin: parameters, docstrings, and the choice of
adaptation strategy and task.

Owns the fit/predict plumbing shared per task (``base``), the estimators that train
through an adapted backbone (``adapted``: the generic ``AdaptedClassifier`` /
``AdaptedRegressor`` and their named presets in ``tuned``, ``prompting``,
``adapter``), contrastive fine-tuning for few labels (``contrastive``), frozen
features (``embedding``), head fine-tuning (``head``), in-context
learning (``in_context``, ``template_search``), learning from preferences
(``reward``, ``preference_tuning``, ``online_tuning``) and the notebook card (``card``).

May import: :mod:`sktransformers.persistence`, :mod:`sktransformers.adaptation` (the
registry only), :mod:`sktransformers.backbones`, :mod:`sktransformers.core`. Users
import these classes from :mod:`sktransformers`.
"""
