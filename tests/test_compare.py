"""``tst compare``: the API, the sheet, the table files and the command line."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from tst_core import cli, hookimpl, metrics, plugins
from tst_core.compare import compare, seam_crops, sheet_crops
from tst_core.errors import DependencyError, InputError, PluginError
from tst_core.files import write_image
from tst_core.types import StylizeResult

from . import fakes

BLENDS = ["hard", "feather", "mrf", "poisson"]


class CountingEngine:
    """Layer k = photo + texture + a per-target offset; counts its calls."""

    calls = 0

    def __init__(self, options, env) -> None:
        pass

    def stylize(self, photo, targets, progress=None):
        CountingEngine.calls += 1
        gen = torch.Generator().manual_seed(0)
        layers = []
        for k in range(len(targets)):
            noise = 0.1 * torch.rand(photo.shape, generator=gen)
            layers.append((photo * 0.6 + 0.25 + 0.1 * k + noise).clamp(0, 1))
        return StylizeResult(torch.stack(layers), [{"total": 1.0}], {"device": "cpu"})


class CountingPlugin:
    @hookimpl
    def tst_register_engines(self, register):
        register("counting", CountingEngine, description="test: counts")


@pytest.fixture
def chost():
    return plugins.load_host(extra=[("tests-fakes", fakes), ("tests-counting", CountingPlugin())])


@pytest.fixture
def files(tmp_path):
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 72), torch.linspace(0, 1, 96), indexing="ij")
    photo = torch.stack([0.2 + 0.6 * xs, 0.3 + 0.4 * ys, 0.5 + 0.2 * xs * ys])
    write_image(tmp_path / "photo.png", photo)
    write_image(tmp_path / "s1.png", torch.rand(3, 16, 16))
    write_image(tmp_path / "s2.png", torch.rand(3, 16, 16))
    return tmp_path


def styles(d):
    return [f"person#0={d / 's1.png'}", f"person#1={d / 's2.png'}"]


def run_compare(chost, files, **kw):
    kw.setdefault("engines", ["counting"])
    kw.setdefault("blends", BLENDS)
    return compare(
        files / "photo.png", styles(files), host=chost, segmenter="fake-boxes", size=96, **kw
    )


def test_stylises_once_per_engine_and_blends_with_each(chost, files):
    CountingEngine.calls = 0
    res = run_compare(chost, files, engines=["counting", "fake-fill"])
    assert CountingEngine.calls == 1
    assert [(c.engine, c.blend) for c in res.combinations] == [
        (e, b) for e in ("counting", "fake-fill") for b in BLENDS
    ]
    rows = res.rows()
    assert {"seam/person#0", "seam/person#1"} <= set(rows[0])
    for row in rows:
        assert row["leakage"] == 0.0
        assert row["seconds"] >= 0.0
    by_blend = {r["blend"]: r for r in rows if r["engine"] == "counting"}
    assert by_blend["feather"]["seam"] < by_blend["hard"]["seam"]
    assert by_blend["mrf"]["seam"] <= by_blend["hard"]["seam"]


def test_resolves_the_configuration_once_and_builds_each_plugin_once(chost, files, monkeypatch):
    import tst_core.sessions
    from tst_core.registry import Entry

    loads, builds = [], []
    load_config, build = tst_core.sessions.load_config, Entry.build
    monkeypatch.setattr(
        tst_core.sessions, "load_config", lambda *a: loads.append(1) or load_config(*a)
    )
    monkeypatch.setattr(
        Entry, "build", lambda e, *a: builds.append((e.kind, e.name)) or build(e, *a)
    )
    run_compare(
        chost,
        files,
        engines=["counting", "fake-fill"],
        features=lambda x: {"relu1_1": x, "conv4_2": x},
    )
    assert len(loads) == 1
    assert sorted(builds) == sorted(
        [("segmenter", "fake-boxes"), ("engine", "counting"), ("engine", "fake-fill")]
        + [("blend", b) for b in BLENDS]
    )


def test_table_and_notes(chost, files, monkeypatch):
    res = run_compare(chost, files)
    table = res.table()
    for name in BLENDS:
        assert f"counting  {name}" in table
    assert "n/a" not in table  # the style engine's VGG-19 gives the feature metrics

    def missing():
        raise DependencyError("the metrics need the VGG-19 feature extractor")

    monkeypatch.setattr(metrics, "vgg19_features", missing)
    table = run_compare(chost, files).table()
    assert "n/a" in table and "VGG-19" in table  # left out, with a note


def test_feature_metrics_when_a_feature_function_is_given(chost, files):
    conv = torch.nn.Conv2d(3, 4, 3)

    def feats(x):
        return {"relu1_1": torch.relu(conv(x)), "conv4_2": conv(x)}

    res = run_compare(chost, files, features=feats, blends=["hard", "feather"])
    row = res.rows()[0]
    assert row["style"] > 0.0 and row["content"] > 0.0
    assert "style/person#0" in row
    assert "n/a" not in res.table()


def test_save_writes_sheet_json_and_csv(chost, files):
    res = run_compare(chost, files)
    written = res.save(files / "sheet.png")
    assert [p.name for p in written] == ["sheet.png", "sheet.json", "sheet.csv"]
    report = json.loads((files / "sheet.json").read_text())
    assert len(report["rows"]) == 4 and report["band"] == 16
    assert report["targets"][0]["selector"] == "person#0"
    with open(files / "sheet.csv", newline="") as fh:
        assert [r["blend"] for r in csv.DictReader(fh)] == BLENDS
    sheet = res.sheet()
    assert sheet.width > 5 * 200 and sheet.height > 300


def test_save_never_overwrites_an_input(chost, files):
    res = run_compare(chost, files, blends=["hard"])
    with pytest.raises(InputError, match="overwrite"):
        res.save(files / "photo.png")
    assert not (files / "photo.json").exists()


def test_unknown_names_fail_before_any_stylisation(chost, files):
    CountingEngine.calls = 0
    with pytest.raises(PluginError, match="unknown compositor 'nope'"):
        run_compare(chost, files, blends=["hard", "nope"])
    with pytest.raises(PluginError, match="unknown engine"):
        run_compare(chost, files, engines=["counting", "nope"])
    with pytest.raises(InputError, match="repeated"):
        run_compare(chost, files, blends=["hard", "hard"])
    with pytest.raises(InputError, match=r"several engine plugins.*engine.NAME.KEY=VALUE"):
        run_compare(chost, files, engine_options={"iterations": 2})
    with pytest.raises(InputError, match="not blend_options="):
        run_compare(chost, files, blend_options={"band": 2})
    assert CountingEngine.calls == 0


def test_seam_crops_sit_on_the_edges(chost, files):
    res = run_compare(chost, files, blends=["hard"])
    run = res.first
    from tst_core.regions import boundary, label_map

    labels = label_map(run.targets.masks())
    for k, (x0, y0, s) in enumerate(seam_crops(run.photo, run.stylized.layers, run.targets)):
        assert boundary(labels == k + 1)[y0 + s // 2, x0 + s // 2]


def test_the_sheet_enlarges_the_top_of_each_target_first(chost, files):
    """A person's head and face, not only the seams (which land on legs and shoes, where dark
    trousers meet a bright pavement); then the seams, up to three crops."""
    run = run_compare(chost, files, blends=["hard"]).first
    crops = sheet_crops(run.photo, run.stylized.layers, run.targets)
    assert 1 < len(crops) <= 3
    for (x0, y0, s), mask in zip(crops, run.targets.masks(), strict=False):
        ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
        top = int(ys.min())
        assert y0 <= top < y0 + s // 2  # the mask's first row, in the crop's upper half
        assert (x0 <= xs[ys == top]).any() and (xs[ys == top] < x0 + s).any()


@pytest.fixture
def cli_host(chost, monkeypatch):
    monkeypatch.setattr(plugins, "_default", chost)
    return chost


def test_cli_compare_writes_files_and_prints_the_table(cli_host, files, capsys):
    out = files / "cmp.png"
    argv = ["compare", str(files / "photo.png"), "--segmenter", "fake-boxes", "--size", "96"]
    argv += [a for s in styles(files) for a in ("--style", s)]
    argv += ["--engine", "counting", "--blend", "hard,mrf", "-o", str(out), "--band", "8"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "counting  mrf" in printed and "within 8 px" in printed
    assert out.exists() and out.with_suffix(".json").exists() and out.with_suffix(".csv").exists()


def test_cli_compare_bad_input_is_one_line_and_writes_nothing(cli_host, files, capsys):
    out = files / "cmp.png"
    argv = ["compare", str(files / "photo.png"), "--segmenter", "fake-boxes", "-o", str(out)]
    argv += [a for s in styles(files) for a in ("--style", s)]
    assert cli.main([*argv, "--blend", "hard,nope", "--engine", "counting"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown compositor 'nope'" in err
    assert cli.main([*argv, "--engine", "counting", "--band", "-3"]) == 2
    assert "band" in capsys.readouterr().err
    assert not list(files.glob("cmp*")) and not list(files.glob(".cmp*"))
    overwrite = [a if a != str(out) else str(files / "photo.png") for a in argv]
    assert cli.main([*overwrite, "--engine", "counting"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
