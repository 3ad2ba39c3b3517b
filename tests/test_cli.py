"""The `pelvio` command as a user runs it: a real process, real files."""

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from simtruth import DROP_RESPONSE


def pelvio(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pelvio", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def strict_loads(text: str) -> object:
    """Standard JSON only: Python's parser takes NaN and Infinity, which other parsers reject."""
    def reject(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=reject)


def test_simulate_then_analyze_reports_the_weak_side(tmp_path):
    sim = pelvio("simulate", "--weak-side", "right", "--drop-deg", "5", "--seconds", "50", "--seed", "3",
                 "--athlete", "A1", cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    path = tmp_path / sim.stdout.strip()
    assert path.parent == tmp_path / "recordings" and path.suffix == ".arrows"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["athlete"] == "A1" and sidecar["calibration"]["quality"] > 0.5

    out = pelvio("analyze", str(path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = re.search(r"contralateral pelvic drop \(deg\)\s+(-?[\d.]+)\s+(-?[\d.]+)", out.stdout)
    left, right = float(row[1]), float(row[2])
    assert right - left == pytest.approx(5.0 * DROP_RESPONSE, abs=1.0)
    assert "stand on your right leg your left pelvis drops" in out.stdout

    js = strict_loads(pelvio("analyze", str(path), "--json", cwd=tmp_path).stdout)
    assert js["sides"]["right"]["drop_deg"] > js["sides"]["left"]["drop_deg"] + 4


def test_broken_recording_is_one_plain_line(tmp_path):
    bad = tmp_path / "bad.arrows"
    bad.write_bytes(b"this is not a recording")
    out = pelvio("analyze", str(bad), cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pelvio: error: ") and "bad.arrows" in lines[0]


def test_bad_option_value_is_a_plain_error(tmp_path):
    out = pelvio("simulate", "--rate", "1000", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "between 50 and 400 Hz" in out.stderr


def test_missing_file(tmp_path):
    out = pelvio("analyze", "nope.arrows", cwd=tmp_path)
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_import_csv_from_another_app_then_analyze(tmp_path):
    """A phone-style export (ms timestamps, g, deg/s) goes through `pelvio import` and `pelvio analyze`."""
    import numpy as np

    from pelvio.sensor.sim import SimConfig, simulate

    m = simulate(SimConfig(activity="walk", duration_s=45.0, weak_side="left", drop_deg=5.0, seed=8)).measured
    rows = np.column_stack([m.t_s * 1000.0, m.acc_mps2 / 9.80665, np.degrees(m.gyr_rps)])
    csv = tmp_path / "export.csv"
    np.savetxt(csv, rows, delimiter=",", header="time,accX,accY,accZ,gyroX,gyroY,gyroZ", comments="", fmt="%.6f")
    out = pelvio("import", str(csv), "--athlete", "C3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "accelerometer in g, gyroscope in deg/s" in out.stderr and "100 Hz" in out.stderr
    rec = out.stdout.strip()
    js = strict_loads(pelvio("analyze", rec, "--json", cwd=tmp_path).stdout)
    assert js["metadata"]["source"] == "import" and js["metadata"]["athlete"] == "C3"
    assert js["sides"]["left"]["drop_deg"] - js["sides"]["right"]["drop_deg"] == pytest.approx(5.0 * DROP_RESPONSE,
                                                                                               abs=1.0)


def test_trend_lists_sessions_and_unknown_athlete_is_a_plain_error(tmp_path):
    for drop in ("6", "3"):
        assert pelvio("simulate", "--weak-side", "right", "--drop-deg", drop, "--seconds", "40", "--athlete", "D4",
                      cwd=tmp_path).returncode == 0
    out = pelvio("trend", "d4", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("_sim-walk.arrows") == 2
    # each session's left - right drop (right weakness: negative), oldest first
    differences = [float(d) for d in re.findall(r"([+-]?\d+\.\d)°\s+\S+\s+\S+_sim-walk\.arrows", out.stdout)]
    assert differences == pytest.approx([-6.0 * DROP_RESPONSE, -3.0 * DROP_RESPONSE], abs=1.0)
    missing = pelvio("trend", "nobody", cwd=tmp_path)
    assert missing.returncode == 2 and "no recordings of athlete 'nobody'" in missing.stderr


@pytest.mark.parametrize("option", ["--drop-deg", "--shift-cm", "--misalignment-deg", "--jitter-ms"])
def test_non_finite_numbers_are_refused_plainly(tmp_path, option):
    out = pelvio("simulate", option, "nan", "--seconds", "5", cwd=tmp_path)
    assert out.returncode == 2 and "must be a finite number" in out.stderr and "Traceback" not in out.stderr


def test_analyze_counts_and_measures_the_reps_of_a_simulated_set(tmp_path):
    from pelvio.sensor.sim import SimConfig, simulate

    sim = pelvio("simulate", "--activity", "squat", "--shift-side", "right", "--shift-cm", "4", "--seconds", "50",
                 "--seed", "2", cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    truth = simulate(SimConfig(activity="squat", duration_s=50.0, shift_side="right", shift_cm=4.0, seed=2)).truth
    reps = strict_loads(pelvio("analyze", sim.stdout.strip(), "--json", cwd=tmp_path).stdout)["reps"]
    assert reps["exercise"] == "squat"
    assert reps["count"] == int((truth.reps.end_s <= 49.5).sum())
    assert reps["median"]["depth_m"] == pytest.approx(0.35, abs=0.05)
    assert reps["median"]["shift_at_bottom_m"] == pytest.approx(-0.04, abs=0.015)  # + is left
    text = pelvio("analyze", sim.stdout.strip(), cwd=tmp_path).stdout
    assert f"Exercise: squat, {reps['count']} reps" in text and "toward the right" in text


def test_events_csv_and_thresholds(tmp_path):
    """--events writes the initial contacts; --threshold changes a flag; bad values are one plain line."""
    sim = pelvio("simulate", "--weak-side", "left", "--drop-deg", "3", "--seconds", "40", "--seed", "5", cwd=tmp_path)
    rec = sim.stdout.strip()
    out = pelvio("analyze", rec, "--events", "ics.csv", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    js = strict_loads(out.stdout)
    lines = (tmp_path / "ics.csv").read_text().splitlines()
    assert lines[0] == "time_s,side"
    times = np.array([float(r.split(",")[0]) for r in lines[1:]])
    sides = [r.split(",")[1] for r in lines[1:]]
    assert set(sides) <= {"left", "right", "unknown"} and np.all(np.diff(times) > 0.3)
    n_steps = int(js["sides"]["left"]["steps"] + js["sides"]["right"]["steps"])
    assert n_steps <= len(times) <= n_steps + 20  # plus ambiguous/lost-sample steps and each bout's last contact
    known = [s for s in sides if s != "unknown"]
    assert np.mean([a != b for a, b in itertools.pairwise(known)]) > 0.95  # sides alternate
    assert not list(tmp_path.glob(".ics.csv.*"))  # no temporary file left behind
    assert js["flags"][0]["text"].startswith("When you stand on your left leg")
    assert js["flags"][0]["kind"] == "drop_asymmetry" and js["flags"][0]["side"] == "left"

    relaxed = pelvio("analyze", rec, "--threshold", "drop_difference_deg=5", cwd=tmp_path)
    assert relaxed.returncode == 0 and "* Pelvic drop is similar on both sides" in relaxed.stdout
    assert "SI %" in relaxed.stdout and "L/R" in relaxed.stdout

    for args, words in [(["--threshold", "drop=3"], "unknown threshold 'drop=3'"),
                        (["--events", "no/such/folder/ics.csv"], "folder no/such/folder does not exist"),
                        (["--events", "."], "it is a folder")]:
        bad = pelvio("analyze", rec, *args, cwd=tmp_path)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and words in bad.stderr


def test_analyze_reports_single_leg_stance_holds(tmp_path):
    sim = pelvio("simulate", "--activity", "single_leg_stance", "--weak-side", "right", "--drop-deg", "5",
                 "--seconds", "55", "--seed", "2", cwd=tmp_path)
    out = pelvio("analyze", sim.stdout.strip(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert re.search(r"holds \(stance side\)\s+2\s+1", out.stdout)
    assert "When you stand on your right leg your left pelvis drops 6." in out.stdout
    js = strict_loads(pelvio("analyze", sim.stdout.strip(), "--json", cwd=tmp_path).stdout)
    assert [h["side"] for h in js["single_leg"]["holds"]] == ["left", "right", "left"]
    assert js["sides"]["left"]["drop_deg"] is None or isinstance(js["sides"]["left"]["drop_deg"], float)


def test_json_output_writes_missing_numbers_as_null(tmp_path):
    """A standing recording has no single-leg holds and too few steps for stance times: those read null."""
    sim = pelvio("simulate", "--activity", "stand", "--seconds", "20", "--seed", "1", cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    text = pelvio("analyze", sim.stdout.strip(), "--json", cwd=tmp_path).stdout
    assert "NaN" not in text and "Infinity" not in text
    js = strict_loads(text)
    assert js["single_leg"]["sides"]["left"]["drop_median_deg"] is None  # no hold was found
    assert js["sides"]["left"]["stance_time_s"] is None
