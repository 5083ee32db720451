"""Session fixtures shared by several test files."""

import pytest

import toy_mgd


@pytest.fixture(scope="session")
def trained_mgd(tmp_path_factory):
    """(root, config): a toy point VAE in ``root/pv`` and a toy MGD run in ``root/mgd``."""
    root = tmp_path_factory.mktemp("toy_mgd")
    return root, toy_mgd.train_toy(root)
