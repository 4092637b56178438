"""The CNN-LSTM and its ablations: documented shapes, determinism, deterministic training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forensics.model import Arch, Detector
from forensics.sequences import CHANNELS


@pytest.mark.parametrize("kind", ["cnn_lstm", "cnn", "lstm"])
@pytest.mark.parametrize("steps", [8, 7, 1])
def test_shapes(kind, steps):
    torch.manual_seed(0)
    m = Detector(Arch(kind=kind, channels=len(CHANNELS), steps=steps)).eval()
    x = torch.randn(5, steps, len(CHANNELS))
    with torch.no_grad():
        a, b = m(x)
    assert a.shape == (5, 5) and b.shape == (5, 8)


def test_same_input_same_output():
    torch.manual_seed(0)
    m = Detector(Arch(channels=len(CHANNELS))).eval()
    x = torch.randn(64, 8, len(CHANNELS))
    with torch.no_grad():
        a1, b1 = m(x)
        a2, b2 = m(x)
        a3, _ = m(x[:7])  # a row's output does not depend on the batch
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    torch.testing.assert_close(a3, a1[:7])


def test_unknown_kind():
    with pytest.raises(ValueError):
        Detector(Arch(kind="transformer", channels=3))


def test_training_is_deterministic():
    from forensics.train import (TrainConfig, balance_training, distinct_labeled, encode_runs, Run, scaler_fit,
                                 train_torch)
    from forensics.sequences import WindowSpec
    from forensics.train import demo_flows

    cfg = TrainConfig(epochs=2, cap=300)
    enc = encode_runs([Run("a", "g", 0, demo_flows(seed=0)), Run("b", "g", 1, demo_flows(seed=1))], WindowSpec())
    x, pair, _, _ = distinct_labeled(enc)
    mean, std = scaler_fit(x)
    xb, pb, _ = balance_training(x, pair, cfg.cap, cfg.seed)
    w = []
    # (train_torch sets torch's threads and deterministic mode process-wide, as train_bundle's
    # caller expects; given back here so later tests, e.g. the thread checks of
    # tests/test_batch.py when run after this file, see the process as it was)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        for _ in range(2):
            m, _, hist = train_torch("cnn_lstm", xb, pb, enc, cfg, mean, std, log=lambda *a: None)
            w.append(np.concatenate([p.detach().numpy().ravel() for p in m.parameters()]))
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    np.testing.assert_array_equal(w[0], w[1])
    assert hist[-1]["val_macro_f1"] is not None


def test_split_runs_last_is_test_one_before_is_validation():
    from forensics.train import split_runs

    entries = [(f"dos_tcp/run{k}", "dos_tcp", k, None, "lab") for k in range(12)]
    split = split_runs(entries)
    assert split["dos_tcp/run11"] == "test" and split["dos_tcp/run10"] == "val"
    assert {split[f"dos_tcp/run{k}"] for k in range(10)} == {"train"}


def test_validation_only_training_never_reads_test_runs(tmp_path):
    from forensics.train import TrainConfig, demo_flows, train_bundle

    data = tmp_path / "data"
    data.mkdir()
    for k in range(2):
        demo_flows(seed=k).to_csv(data / f"demo_{k}.csv", index=False)
    (data / "demo_2.csv").write_text("not a BoT-IoT csv at all\n")  # the test run: reading it would fail
    cfg = TrainConfig(epochs=1, cap=200)
    res = train_bundle([data], tmp_path / "m", cfg, baselines=False, log=lambda *a: None, eval_split="val")
    assert res["report"]["eval_split"] == "val" and res["report"]["test_runs"] == ["demo_1.csv"]
    assert (tmp_path / "m" / "metrics-val.json").exists() and not (tmp_path / "m" / "MODEL_CARD.md").exists()


def test_flow_cache_key_covers_every_extraction_module():
    from forensics.train import _extraction_sources

    names = {p.name for p in _extraction_sources()}
    assert {"decode.py", "flows.py", "features.py", "packets.py", "schema.py", "capture.py", "truth.py"} <= names


@pytest.mark.parametrize("kind", ["cnn_lstm", "cnn", "lstm"])
def test_forward_is_forward_embedded_of_the_embedding(kind):
    torch.manual_seed(0)
    m = Detector(Arch(kind=kind, channels=len(CHANNELS))).eval()
    x = torch.randn(16, 8, len(CHANNELS))
    with torch.no_grad():
        a, b = m(x)
        a2, b2 = m.forward_embedded(m.embed(x))
    assert torch.equal(a, a2) and torch.equal(b, b2)


def test_stratified_pick_keeps_rare_strata_whole_and_spreads_the_rest():
    from forensics.train import stratified_pick

    strata = np.r_[np.zeros(10_000, int), np.ones(5, int), np.full(300, 2)]
    for k in (100, 400, 10_304):
        a = stratified_pick(strata, k, np.random.default_rng(3))
        b = stratified_pick(strata, k, np.random.default_rng(3))
        assert len(a) == k and len(np.unique(a)) == k and (np.diff(a) > 0).all()
        np.testing.assert_array_equal(a, b)  # same seed, same picks
        counts = np.bincount(strata[a], minlength=3)
        assert counts[1] == 5  # the rare stratum whole
        if counts[2] < 300:  # the two big strata share the rest evenly (within one pick)
            assert abs(int(counts[0]) - int(counts[2])) <= 1
        else:  # the 300-stratum is taken whole, the rest from the largest
            assert counts[0] == k - 305
    assert len(stratified_pick(strata, 20_000, np.random.default_rng(0))) == len(strata)


def test_training_cap_keeps_a_rare_kind_of_flow_of_a_class():
    """The cap spreads a class over anchor sizes: 5 keep-alive flood windows beside 20,000
    one-request ones all survive a cap of 600 (a uniform draw keeps about 0.15 of them)."""
    from forensics.sequences import FLOW_FEATURES
    from forensics.train import balance_training, size_strata

    rng = np.random.default_rng(0)
    n_small, n_big = 20_000, 5
    x = rng.normal(size=(n_small + n_big, 8, len(CHANNELS))).astype(np.float32)
    lp = FLOW_FEATURES.index("log_pkts")
    x[:n_small, 5, lp] = np.log1p(10)  # anchor flows of 10 packets
    x[n_small:, 5, lp] = np.log1p(2000)  # ... and of 2,000
    pair = np.zeros(len(x), np.int64)
    pair[:3000] = 1  # a second class, so SMOTE has something to balance
    strata = size_strata(x, 5)
    assert set(strata[:n_small]) == {3} and set(strata[n_small:]) == {10}
    xb, pb, _ = balance_training(x, pair, 600, 7, strata)
    big = xb[:, 5, lp] > np.log1p(1000)
    assert big.sum() >= n_big
    xu, _, _ = balance_training(x, pair, 600, 7)
    assert (xu[:, 5, lp] > np.log1p(1000)).sum() < n_big


def test_a_normal_host_blamed_for_one_flow_is_listed_though_its_verdict_is_normal():
    """The host verdict needs half of a host's flows; a scan report names every host blamed for an
    attack flow an attacker, so the evaluation lists such normal hosts and counts them."""
    import pandas as pd

    from forensics.train import CATEGORIES, Run, host_verdicts, hosts_markdown, named_normal_hosts

    n = 10
    flows = pd.DataFrame({"saddr": ["10.0.0.5"] * n, "daddr": ["10.0.0.9"] * n, "sport": list(range(1000, 1000 + n)),
                          "dport": [80] * n, "proto": ["tcp"] * n, "spkts": [3] * n, "dpkts": [2] * n,
                          "smac": ["02:00:00:00:00:05"] * n, "dmac": ["02:00:00:00:00:09"] * n})
    truth = {"hosts": {"cam": {"ip": "10.0.0.5"}, "broker": {"ip": "10.0.0.9"}}, "attacks": []}
    pred = np.full(n, CATEGORIES.index("Normal"))
    pred[3] = CATEGORIES.index("DoS")  # one flow of ten called an attack
    res = host_verdicts(Run("normal/run1", "normal", 1, flows, truth), pred)
    cam = next(h for h in res["hosts"] if h["host"] == "cam")
    assert (cam["verdict"], cam["predicted"], cam["attack_flows"], cam["flows"]) == ("ok", "Normal", 1, 10)
    assert res["all_ok"]
    assert named_normal_hosts([res]) == [("normal/run1", "cam", 1, 10)]
    text = hosts_markdown([res])
    assert "1/1 held-out captures" in text and "1 normal host(s) with attack flows blamed on them: normal/run1 cam (1 of 10 flows)" in text
    pred[3] = CATEGORIES.index("Normal")
    clean = host_verdicts(Run("normal/run1", "normal", 1, flows, truth), pred)
    assert named_normal_hosts([clean]) == [] and "0 normal host(s)" in hosts_markdown([clean])


def test_balanced_set_knows_which_rows_copy_a_test_flow():
    """balanced_test: rows that copy a held-out flow name it (source >= 0, same window and
    labels); SMOTE rows are marked -1; every class reaches the same size."""
    from forensics.train import Encoded, balanced_test, pair_labels

    rng = np.random.default_rng(0)
    n_big, n_small, n_tiny = 50, 12, 3
    y_cat = np.array([0] * n_big + [1] * n_small + [3] * n_tiny)
    y_sub = np.array([1] * n_big + [2] * n_small + [6] * n_tiny)
    n = len(y_cat)
    x = (rng.normal(size=(n, 2, 3)) + y_cat[:, None, None]).astype(np.float32)
    enc = Encoded(x, np.arange(n), y_cat, y_sub, np.zeros(n, np.int64))
    bal = balanced_test(enc, per_class=40, seed=1)
    assert bal.source is not None and len(bal.source) == len(bal.y_cat)
    real = bal.source >= 0
    assert real.sum() == 40 + n_small + n_tiny + (6 - n_tiny)  # capped, kept whole, tiny class repeated up to 6
    assert np.array_equal(bal.x[real], x[bal.source[real]])
    assert np.array_equal(bal.y_cat[real], y_cat[bal.source[real]]) and np.array_equal(bal.y_sub[real], y_sub[bal.source[real]])
    assert (~real).sum() == 3 * 40 - real.sum()
    assert set(np.unique(pair_labels(bal.y_cat, bal.y_sub), return_counts=True)[1]) == {40}


def test_balanced_capture_view_scores_real_rows_with_their_flows_refined_outputs(monkeypatch):
    """evaluate_models' ``balanced_capture``: the balanced rows that copy a held-out flow take
    that flow's output after the capture-level steps; SMOTE rows keep the model's own."""
    import forensics.train as tr

    rng = np.random.default_rng(3)
    n_c, n_s = len(tr.CATEGORIES), len(tr.SUBCATEGORIES)
    y_cat = np.array([0] * 60 + [4] * 9)
    y_sub = np.array([1] * 60 + [0] * 9)
    x = (rng.normal(size=(len(y_cat), 2, 3)) + y_cat[:, None, None]).astype(np.float32)
    test = tr.Encoded(x, np.arange(len(y_cat)), y_cat, y_sub, np.zeros(len(y_cat), np.int64))
    bal = tr.balanced_test(test, per_class=30, seed=2)

    def wrong(xw):  # always "Reconnaissance / Service_Scan": wrong for every row
        pc = np.zeros((len(xw), n_c))
        pc[:, 2] = 1.0
        ps = np.zeros((len(xw), n_s))
        ps[:, 4] = 1.0
        return pc, ps, None

    same = tr.evaluate_models({"m": wrong}, test, bal, test_runs=[])  # no capture steps: both views equal
    assert same["m"]["balanced_capture"] == same["m"]["balanced"]

    def fixed_by_capture(runs, enc, p_flow, ps_flow, psub_flow):  # the capture steps put every flow right
        pc = np.eye(n_c)[enc.y_cat]
        ps = np.eye(n_s)[enc.y_sub]
        return pc, ps, psub_flow

    monkeypatch.setattr(tr, "refine_runs", fixed_by_capture)
    res = tr.evaluate_models({"m": wrong}, test, bal, test_runs=[])["m"]
    real = bal.source >= 0
    assert res["imbalanced"]["category"]["accuracy"] == 1.0
    assert res["balanced"]["category"]["accuracy"] == 0.0
    assert res["balanced_capture"]["category"]["accuracy"] == pytest.approx(real.mean())
    assert 0 < real.mean() < 1


def test_short_captures_are_blocks_windowed_alone():
    """The short-capture augmentation: blocks of 1-13 consecutive flows, labels kept, and no
    window reaching outside its block (a one-flow block's windows hold that flow only)."""
    from forensics.sequences import CONTEXT_FEATURES, FLOW_FEATURES, WindowSpec, build_windows
    from forensics.train import SHORT_SIZES, demo_flows, short_captures

    flows = demo_flows(seed=3)
    cut = short_captures(flows, 4, np.random.default_rng(0))
    block = cut["saddr"].str.split("#").str[1].astype(int)
    assert (cut["daddr"].str.split("#").str[1].astype(int) == block).all()
    sizes = block.value_counts().sort_index()
    assert sorted(sizes.value_counts().to_dict().items()) == [(s, 4) for s in SHORT_SIZES]
    # each row is a flow of the run with its own labels, in time order within its block
    base = flows.reset_index(drop=True)
    key = ["stime", "ltime", "sport", "dport", "category", "subcategory"]
    assert cut[key].merge(base[key], how="left", indicator=True)["_merge"].eq("both").all()
    w = build_windows(cut, WindowSpec())
    F, K = len(FLOW_FEATURES), len(CONTEXT_FEATURES)
    n = block.map(sizes).to_numpy()
    lone = n == 1
    assert lone.any()
    for channel in (F, 2 * F + K):  # the "valid" context feature of the source side, of the destination side
        valid = w.unique[..., channel].sum(1)[w.inverse]  # steps holding a flow
        assert (valid <= n).all() and (valid[lone] == 1).all()


def test_train_and_evaluate_refuse_an_output_they_could_not_write_before_any_work(tmp_path, capsys):
    """``train --out`` naming a file and ``evaluate --json`` naming a folder are one-line usage
    errors raised before the data is read (not after minutes of training or scoring)."""
    from forensics.cli import main

    afile = tmp_path / "model.txt"
    afile.write_text("x")
    assert main(["train", str(tmp_path / "no-such-data"), "--out", str(afile)]) == 2
    assert capsys.readouterr().err.strip() == f"forensics: error: --out {afile}: is a file, not a folder"
    assert main(["evaluate", str(tmp_path / "no-such-data"), "--json", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"forensics: error: --json {tmp_path}: is a folder; give a file name"
    assert main(["evaluate", str(tmp_path / "no-such-data"), "--json", str(afile / "m.json")]) == 2
    assert capsys.readouterr().err.strip() == f"forensics: error: --json {afile / 'm.json'}: {afile} is not a folder"


def test_full_release_csv_without_header_reads_like_one_with_it(tmp_path):
    """The full BoT-IoT release (UNSW_2018_IoT_Botnet_Dataset_<n>.csv) has no header row; its
    column names sit in UNSW_2018_IoT_Botnet_Dataset_Feature_Names.csv beside the data files."""
    from forensics.schema import BOTIOT_COLUMNS
    from forensics.train import find_runs, load_run, read_botiot_csv

    names = ",".join(f'"{c}"' for c in BOTIOT_COLUMNS)
    full, alone = tmp_path / "full", tmp_path / "alone"
    full.mkdir()
    alone.mkdir()
    (full / "UNSW_2018_IoT_Botnet_Dataset_Feature_Names.csv").write_text(names + "\n")
    want = {}
    for k in (1, 2, 3):
        df = demo_flows_35(k)
        want[k] = df
        df.to_csv(full / f"UNSW_2018_IoT_Botnet_Dataset_{k}.csv", index=False, header=False)
    df.to_csv(alone / "headed.csv", index=False)
    df.to_csv(alone / "bare.csv", index=False, header=False)  # no names file: the 35 columns in BoT-IoT order

    runs = find_runs([full])
    assert [r[0] for r in runs] == [f"UNSW_2018_IoT_Botnet_Dataset_{k}.csv" for k in (1, 2, 3)]  # not the names file
    assert {r[1] for r in runs} == {"UNSW_2018_IoT_Botnet_Dataset"}
    for r, k in zip(runs, (1, 2, 3)):
        got = load_run(r, use_cache=False).flows
        assert list(got.columns) == list(BOTIOT_COLUMNS) and len(got) == len(want[k])
        assert got["category"].tolist() == want[k]["category"].tolist()
        assert got["pkts"].tolist() == want[k]["pkts"].tolist()
    pd.testing.assert_frame_equal(read_botiot_csv(alone / "bare.csv"), read_botiot_csv(alone / "headed.csv"))
    # a header row is never taken for data, whatever its length
    (alone / "short.csv").write_text("stime,category,subcategory\n1.0,Normal,Normal\n")
    assert read_botiot_csv(alone / "short.csv")["stime"].tolist() == [1.0]


def demo_flows_35(seed: int):
    from forensics.schema import BOTIOT_COLUMNS
    from forensics.train import demo_flows

    return demo_flows(n_normal=40, n_scan=30, n_flood=50, seed=seed).reindex(columns=list(BOTIOT_COLUMNS))
