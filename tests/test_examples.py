"""The examples run and produce what they promise (smoke tests)."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_quickstart(capsys):
    load("quickstart").main()
    assert "fastconv" in capsys.readouterr().out


def test_image_filtering(tmp_path, capsys):
    pytest.importorskip("sklearn")
    Image = pytest.importorskip("PIL.Image")
    example = load("image_filtering")
    out = tmp_path / "panel.png"
    example.main(["--out", str(out)])
    panel = np.asarray(Image.open(out))
    assert panel.shape == (427, 3 * 640, 3)
    text = capsys.readouterr().out
    assert "chose 'separable' (rank 1)" in text
    # the edges panel is dark where the sky is flat and bright on the tower's outline
    edges = panel[:, 1280:, 0].astype(float)
    assert edges[:40, 450:600].mean() < 20 and edges.max() > 200
