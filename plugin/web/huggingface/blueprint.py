"""The ``/hf`` surface's blueprint: ``HF_ENDPOINT`` is the base URL and ``/hf``. Route modules
(``reads``, ``writes``) attach their views; ``plugin.web.huggingface`` registers it."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("huggingface", __name__, url_prefix="/hf")
