"""Deployment: the template generator (`build.py`), its parts, and the operator's tools (`replay.py`)."""
