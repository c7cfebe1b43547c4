"""Shared fixtures: a small synthetic receipt corpus written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from barcode.corpus import Truth, write_corpus

CORPUS_N = 34  # smallest size whose negatives cover every negative kind (see corpus._plan)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Truth]]:
    """(folder, ground truth) of a generated corpus: easy, hard, negatives, Vietnamese and ECI QR codes."""
    folder = tmp_path_factory.mktemp("corpus")
    return folder, write_corpus(folder, CORPUS_N, seed=11)
