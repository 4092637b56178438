"""The detector as a contract (shapes, probabilities, determinism, schema errors, integrity)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from forensics.detect import OUTPUT_COLUMNS, load_detector, save_model
from forensics.errors import ModelError, SchemaError
from forensics.model import Arch, Detector
from forensics.sequences import CHANNELS, WindowSpec
from forensics.train import ALLOWED, CATEGORIES, demo_flows


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained (random-weight) model folder: the contract does not depend on training."""
    torch.manual_seed(3)
    net = Detector(Arch(channels=len(CHANNELS)))
    d = tmp_path_factory.mktemp("model")
    save_model(d, net, net.arch, WindowSpec(), np.zeros(len(CHANNELS)), np.ones(len(CHANNELS)), "test")
    return d


@pytest.fixture(scope="module")
def det(model_dir):
    return load_detector(model_dir)


@pytest.fixture(scope="module")
def flows():
    df = demo_flows(seed=5)
    df.index = pd.RangeIndex(1000, 1000 + len(df)) * 3  # a non-default index must be kept
    return df


def test_output_contract(det, flows):
    out = det.predict(flows)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out.index.equals(flows.index)
    assert set(out.pred_category) <= set(CATEGORIES)
    assert ((out.confidence >= 0) & (out.confidence <= 1)).all()
    assert (out.pred_attack == (out.pred_category != "Normal")).all()
    for c, s in zip(out.pred_category, out.pred_subcategory):
        assert s in ALLOWED[c]
    assert (out.evidence[~out.pred_attack] == "").all()
    assert out.evidence[out.pred_attack].map(len).gt(0).all() or not out.pred_attack.any()
    assert det.version == "test" and len(det.sha256) == 64 and det.classes == CATEGORIES


def test_probabilities_sum_to_one(det, flows):
    w, pc, ps = det.predict_proba(flows)
    assert pc.shape == (len(w.unique), 5) and ps.shape == (len(w.unique), 8)
    np.testing.assert_allclose(pc.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ps.sum(1), 1.0, atol=1e-5)
    out = det.predict(flows, explain=False)
    np.testing.assert_allclose(out.confidence.to_numpy(), pc.max(1)[w.inverse], rtol=1e-6)


def test_same_input_same_output(det, flows):
    a = det.predict(flows)
    b = det.predict(flows.copy())
    pd.testing.assert_frame_equal(a, b)
    # row order does not change a flow's verdict
    c = det.predict(flows.iloc[::-1]).loc[flows.index]
    pd.testing.assert_frame_equal(a, c)


def test_empty(det, flows):
    out = det.predict(flows.iloc[:0])
    assert list(out.columns) == OUTPUT_COLUMNS and len(out) == 0


@pytest.mark.parametrize("col", ["dport", "state", "srate"])
def test_missing_column_named(det, flows, col):
    with pytest.raises(SchemaError, match=f"'{col}'"):
        det.predict(flows.drop(columns=[col]))


def test_wrong_column_type_named(det, flows):
    bad = flows.copy()
    bad["dur"] = "slow"
    with pytest.raises(SchemaError, match="'dur'"):
        det.predict(bad)


def test_corrupted_weights_refused(model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    w = d / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_detector(d)


def test_bad_metadata_refused(model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    meta = json.loads((d / "model.json").read_text())
    meta["features"] = meta["features"][:-1]
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="feature list"):
        load_detector(d)
    (d / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="model.json"):
        load_detector(d)
    with pytest.raises(ModelError, match="model.json"):
        load_detector(tmp_path / "nowhere")


def test_no_pickle_in_model_folder(model_dir):
    for p in model_dir.iterdir():
        assert p.suffix in (".safetensors", ".json", ".md")


def test_bundled_model_loads_and_predicts(flows):
    from forensics.resources import model_dir as bundled

    try:
        d = bundled()
    except FileNotFoundError:
        pytest.skip("no bundled model in this checkout")
    if not (d / "model.json").exists():
        pytest.skip("no bundled model in this checkout")
    det = load_detector()
    out = det.predict(flows)
    assert list(out.columns) == OUTPUT_COLUMNS and len(out) == len(flows)


def test_train_command_on_botiot_csv(tmp_path):
    """`forensics train` on BoT-IoT-format CSVs (same code path as lab data), then `evaluate`."""
    from forensics.cli import main

    for i in range(3):
        demo_flows(n_normal=150, n_scan=120, n_flood=150, seed=10 + i).to_csv(tmp_path / f"demo_{i}.csv", index=False)
    out = tmp_path / "model"
    assert main(["train", str(tmp_path), "--out", str(out), "--epochs", "3", "--no-baselines", "--no-cache"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["split"] == {"train": ["demo_0.csv"], "val": ["demo_1.csv"], "test": ["demo_2.csv"]}
    assert (out / "MODEL_CARD.md").read_text().count("cnn_lstm") >= 2
    det = load_detector(out)
    assert det.sha256 == meta["sha256"]
    assert main(["evaluate", str(tmp_path), "--model", str(out), "--json", str(tmp_path / "m.json")]) == 0
    rep = json.loads((tmp_path / "m.json").read_text())
    assert rep["test_runs"] == ["demo_2.csv"] and rep["tables"]["cnn_lstm"]["imbalanced"]["category"]["n"] == 420
