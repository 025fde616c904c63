"""The long files ``tests/conftest.py`` starts first still exist, and they do start first."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, START_FIRST


def test_every_file_started_first_exists() -> None:
    missing = [name for name in START_FIRST if not (REPO / name).is_file()]
    assert not missing, f"START_FIRST names files that are gone (rename or drop them): {missing}"


def test_the_long_files_come_first_in_the_collection(request: pytest.FixtureRequest) -> None:
    files = list(dict.fromkeys(item.nodeid.split("::")[0] for item in request.session.items))
    head = files[: len(START_FIRST)]
    if set(head) != set(START_FIRST):  # a -k selection or a single file: nothing to compare
        pytest.skip("this run did not collect every long file")
    assert head == list(START_FIRST)


def test_xdist_keeps_the_collection_order(request: pytest.FixtureRequest) -> None:
    # Without this, loadfile would start the files with the most tests first, not START_FIRST's.
    assert request.config.option.loadscopereorder is False
