"""Sphinx configuration: PyData theme, numpydoc API reference, executed MyST notebooks.

Built offline (no intersphinx, nothing downloaded) with warnings as errors:
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))

from _pages import write_benchmark_pages, write_example_pages  # noqa: E402

import sktransformers  # noqa: E402

project = "sktransformers"
author = "the sktransformers developers"
copyright = "2026, the sktransformers developers"
release = version = sktransformers.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
]
exclude_patterns = ["_build", "design.md", "**/.ipynb_checkpoints", "README.md"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_theme = "pydata_sphinx_theme"
html_title = f"sktransformers {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
numpydoc_show_class_members = True
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# every public parameter must be documented, with a description, and every
# function documents what it returns
numpydoc_validation_checks = {"PR01", "PR02", "PR07", "RT01"}
# (a Protocol has no constructor to document: numpydoc sees typing's *args, **kwargs)
numpydoc_validation_exclude = {r"\.__init__$", r"\._[a-z_]+$", r"\.set_\w*_request$",
                               r"\.adaptation\.Adaptation$"}

# ---------------------------------------------------------------- notebooks
# The example notebooks are MyST Markdown under examples/, copied in at build time.
# "cache": each notebook runs once per change of its code; the slow test that runs
# them first fills the same cache, so CI executes each notebook once.
nb_execution_mode = "cache"
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # notebooks that write files leave nothing in docs/
nb_output_stderr = "remove"  # progress bars and warnings go to stderr
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
# scikit-learn's inherited docstrings (score, get_params) refer to labels of its own
# docs, which an offline build cannot reach
suppress_warnings = ["mystnb.unknown_mime_type", "ref.ref"]

write_example_pages(ROOT / "examples", DOCS / "examples")
write_benchmark_pages(ROOT / "benchmarks" / "results", DOCS / "benchmarks")
