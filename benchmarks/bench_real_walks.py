"""Pelvio on the shared real walks (``tests/realwalks.py``): contacts and sides against INDIP, the same walk
re-clipped 44 ways, a known drop injected on each side, and the findings.

Run: ``python benchmarks/bench_real_walks.py`` from the repository root (needs ``../shared/data/mobgap``;
without it the benchmark says so and exits 0). Each walk is analysed as ``session.analyze(walk.batch())``.
Printed per walk (every trial of HA/001 and HA/002 with reference bouts):

* ICs: ``SessionAnalysis.events()`` (what ``pelvio analyze --events`` writes; a bout's last contact
  included, ambiguous sides 'unknown') scored by ``bench_gait_mobgap.score``: recall and precision at
  +-0.25 s within the reference bouts, the right share of labelled matched ICs ('sides'), and the
  'unknown' share of matched ICs;
* re-mount: the walk turned by the 24 axis-aligned and 20 random mountings against the walk as worn:
  worst IC shift (ms), the smallest share of identical side labels (ambiguous = 'unknown'), the worst
  calibration-quality difference, the worst per-side median drop (deg) and lateral shift (cm) difference;
* injection: ``inject_drop`` of 2, 4 and 6 deg in each side's stance. As in
  ``tests/fusion/test_real_walks.py``: on the steps found in both analyses (IC within 5 ms) whose IC and
  next IC are the reference's (within 0.1 s) with its side ("paired reference steps", the only steps that
  carry the injection), the change of the left - right median drop difference as % of the injected
  amount, and the change of the untouched side's median (deg). Then the same from the whole walk's
  per-side medians (all usable steps): diluted where the reference times only some of the steps;
* findings: kind and side of each concern (``Finding.concern``) of the walk as worn and of each injection;
* mobgap's IcdShinImproved / IcdIonescu + LrcMcCamley (``bench_gait_mobgap.mobgap_scores``) where the
  package is importable.

Then the pooled figures, written with every walk's to ``benchmarks/results/real_walks.json``. Exits 1 when
a target fails: sides >= 97 % right and <= 5 % unknown pooled where INDIP is consistent; re-mount IC shift
<= 10 ms, identical sides
>= 99 %, quality within 0.02, per-side drop within 0.2 deg and shift within 0.2 cm; injection response
75-110 % and the untouched side within 0.3 deg wherever there are >= 2 paired reference steps a side; no
drop-asymmetry finding on a walk as worn.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from bench_gait_mobgap import TOLERANCE_S, inconsistent, mobgap_scores, reference, score, trials
from realwalks import (
    Walk,
    axis_aligned_mountings,
    inject_drop,
    labels,
    paired_reference_steps,
    random_mountings,
    reference_steps,
    side_drops,
    walks,
)

from pelvio.fusion.flags import Kind
from pelvio.fusion.gait import LEFT, RIGHT
from pelvio.fusion.session import SessionAnalysis, analyze

RESULTS = ROOT / "benchmarks" / "results" / "real_walks.json"
MOUNTINGS = {**axis_aligned_mountings(), **random_mountings()}
DEGREES = (2.0, 4.0, 6.0)
MIN_PAIRED = 2
"""Paired reference steps a side below which an injection is printed but not judged."""
TARGETS = {"sides": 0.97, "unknown": 0.05, "ic_shift_ms": 10.0, "same_sides": 0.99, "quality": 0.02,
           "drop_deg": 0.2, "shift_cm": 0.2, "response_pct": (75.0, 110.0), "untouched_deg": 0.3}


def concerns(result: SessionAnalysis) -> list[list]:
    return [[str(f.kind), f.side] for f in result.flags if f.concern]


def shown_findings(found: list[list]) -> str:
    return ", ".join(f"{k} {s}" if s else k for k, s in found) or "none"


def ic_figures(result: SessionAnalysis, ref: dict, keep_ref: np.ndarray | None = None) -> dict:
    """``score`` of the contacts ``pelvio analyze --events`` writes; ``keep_ref`` scores only those reference ICs."""
    events = result.events()
    t0 = float(result.series.t_s[0]) if len(result.series) else 0.0
    ic_s = np.array([t for t, _ in events], float) + t0
    side = np.array([s for _, s in events], dtype="<U7")
    return {k: v for k, v in score(ic_s, side, ref, keep_ref).items() if k != "ic_err"}


def rates(s: dict) -> dict:
    """Recall, precision, sides (right share of labelled matched ICs), unknown share (of matched ICs)."""
    return {"recall": s["found"] / max(s["ref"], 1), "precision": s["correct"] / max(s["det"], 1),
            "sides": s["side_ok"] / max(s["side_n"], 1), "unknown_share": s["unknown"] / max(s["correct"], 1)}


def side_difference(a: float, b: float) -> float:
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return math.inf if math.isnan(a) or math.isnan(b) else abs(a - b)


def remount(walk: Walk, base: SessionAnalysis) -> dict:
    """The worst of each figure over every mounting against the walk as worn."""
    values = base.side_values()
    out = {"mountings": len(MOUNTINGS), "step_count_differs": [], "ic_shift_ms": 0.0, "same_sides": 1.0,
           "quality": 0.0, "drop_deg": 0.0, "shift_cm": 0.0}
    for name, mount in MOUNTINGS.items():
        turned = analyze(walk.batch(mount))
        out["quality"] = max(out["quality"], abs(turned.calibration.quality - base.calibration.quality))
        got = turned.side_values()
        for side in (LEFT, RIGHT):
            out["drop_deg"] = max(out["drop_deg"], side_difference(got[side]["drop_deg"], values[side]["drop_deg"]))
            out["shift_cm"] = max(out["shift_cm"], side_difference(got[side]["excursion_cm"],
                                                                   values[side]["excursion_cm"]))
        if len(turned.steps) != len(base.steps):
            out["step_count_differs"].append(f"{name}: {len(turned.steps)} vs {len(base.steps)} steps")
            continue
        if len(base.steps):
            out["ic_shift_ms"] = max(out["ic_shift_ms"],
                                     float(np.max(np.abs(turned.steps.ic_s - base.steps.ic_s))) * 1000.0)
            out["same_sides"] = min(out["same_sides"], float(np.mean(labels(turned.steps) == labels(base.steps))))
    return out


def injection(walk: Walk, base: SessionAnalysis, side: str, deg: float) -> dict:
    changed = analyze(inject_drop(walk, side, deg).batch())
    other, sign = (RIGHT, 1.0) if side == LEFT else (LEFT, -1.0)
    b_steps, c_steps = base.steps, changed.steps
    i, j = paired_reference_steps(walk, b_steps, c_steps)
    paired = {s: int(np.sum(b_steps.side[i] == s)) for s in (LEFT, RIGHT)}
    b, c = side_drops(b_steps, i), side_drops(c_steps, j)
    bw = {s: v["drop_deg"] for s, v in base.side_values().items()}
    cw = {s: v["drop_deg"] for s, v in changed.side_values().items()}
    def response(b: dict[str, float], c: dict[str, float]) -> float:
        return ((c[LEFT] - c[RIGHT]) - (b[LEFT] - b[RIGHT])) * sign / deg * 100.0

    return {"side": side, "deg": deg, "paired": paired, "judged": min(paired.values()) >= MIN_PAIRED,
            "response_pct": response(b, c), "untouched_deg": c[other] - b[other],
            "whole_walk_response_pct": response(bw, cw), "whole_walk_untouched_deg": cw[other] - bw[other],
            "usable_steps": {s: int(changed.steps.usable(s).sum()) for s in (LEFT, RIGHT)},
            "findings": concerns(changed)}


def mobgap_figures(imu: dict, ref: dict) -> dict | None:
    scores = mobgap_scores(imu, ref)
    return None if scores is None else {name: {**{k: v for k, v in s.items() if k != "ic_err"}, **rates(s)}
                                        for name, s in scores.items()}


def walk_figures(walk: Walk, imu: dict, ref: dict, with_mobgap: bool) -> dict:
    base = analyze(walk.batch())
    ics = ic_figures(base, ref)
    consistent = ic_figures(base, ref, ~inconsistent(ref))
    return {"walk": walk.name, "seconds": len(walk.acc_mps2) / walk.rate_hz, "reference_ics": len(walk.ic_s),
            "calibration": base.calibration.method, "quality": base.calibration.quality,
            "steps": len(base.steps), "usable_steps": {s: int(base.steps.usable(s).sum()) for s in (LEFT, RIGHT)},
            "reference_steps": {s: int((reference_steps(walk, base.steps) & (base.steps.side == s)).sum())
                                for s in (LEFT, RIGHT)},
            "ics": {**ics, **rates(ics)}, "ics_consistent": {**consistent, **rates(consistent)}, "remount": remount(walk, base),
            "injections": [injection(walk, base, side, deg) for side in (LEFT, RIGHT) for deg in DEGREES],
            "findings": concerns(base),
            "drop_asymmetry_as_worn": any(f.kind == Kind.DROP_ASYMMETRY for f in base.flags),
            "mobgap": mobgap_figures(imu, ref) if with_mobgap else None}


def mobgap_line(m: dict) -> str:
    return ", ".join(f"{name} {s['recall']:.2f}/{s['precision']:.2f}/{s['sides']:.2f}" for name, s in m.items())


def print_walk(w: dict, with_mobgap: bool) -> None:
    r, m = w["ics"], w["remount"]
    print(f"\n{w['walk']}: {w['seconds']:.0f} s, {w['reference_ics']} reference ICs, {w['steps']} steps "
          f"(usable L/R {w['usable_steps'][LEFT]}/{w['usable_steps'][RIGHT]}, reference-timed "
          f"{w['reference_steps'][LEFT]}/{w['reference_steps'][RIGHT]}), calibration {w['calibration']} "
          f"quality {w['quality']:.2f}")
    print(f"  ICs vs INDIP (+-{TOLERANCE_S:g} s, in its bouts): recall {r['recall']:.2f} ({r['found']}/{r['ref']}), "
          f"precision {r['precision']:.2f} ({r['correct']}/{r['det']}), sides {r['sides']:.1%} right "
          f"({r['side_ok']}/{r['side_n']} labelled), unknown {r['unknown_share']:.1%} of matched "
          f"({r['unknown']}/{r['correct']})")
    c = w["ics_consistent"]
    print(f"  the same where INDIP is consistent (no foot twice running, no step off its bout's median): sides "
          f"{c['sides']:.1%} right ({c['side_ok']}/{c['side_n']}), unknown {c['unknown_share']:.1%} "
          f"({c['unknown']}/{c['correct']})")
    if with_mobgap and w["mobgap"]:
        print(f"  mobgap recall/precision/sides: {mobgap_line(w['mobgap'])}")
    differs = f"; step count differs in {len(m['step_count_differs'])}: {'; '.join(m['step_count_differs'])}" \
        if m["step_count_differs"] else ""
    print(f"  re-mount ({m['mountings']} clips, worst): IC shift {m['ic_shift_ms']:.1f} ms, identical sides "
          f"{m['same_sides']:.1%}, quality {m['quality']:.3f}, drop {m['drop_deg']:.2f} deg, "
          f"shift {m['shift_cm']:.2f} cm"
          f"{differs}")
    print(f"  findings as worn: {shown_findings(w['findings'])}")
    print(f"  {'injected':<12}{'paired L/R':>11}{'response':>10}{'untouched':>11}{'whole walk':>12}{'untouched':>11}"
          "  findings")
    for x in w["injections"]:
        mark = "" if x["judged"] else " (not judged)"
        injected, paired = f"+{x['deg']:g} deg {x['side']}", f"{x['paired'][LEFT]}/{x['paired'][RIGHT]}"
        print(f"  {injected:<12}{paired:>11}"
              f"{x['response_pct']:>9.0f}%{x['untouched_deg']:>+10.2f}°{x['whole_walk_response_pct']:>11.0f}%"
              f"{x['whole_walk_untouched_deg']:>+10.2f}°  {shown_findings(x['findings'])}{mark}")


def pooled(figures: list[dict]) -> dict:
    keys = ("ref", "det", "found", "correct", "side_ok", "side_n", "unknown")
    ics = {k: sum(w["ics"][k] for w in figures) for k in keys}
    consistent = {k: sum(w["ics_consistent"][k] for w in figures) for k in keys}
    judged = [x for w in figures for x in w["injections"] if x["judged"]]
    out = {"ics": {**ics, **rates(ics)}, "ics_consistent": {**consistent, **rates(consistent)},
           "remount": {"ic_shift_ms": max(w["remount"]["ic_shift_ms"] for w in figures),
                       "same_sides": min(w["remount"]["same_sides"] for w in figures),
                       "quality": max(w["remount"]["quality"] for w in figures),
                       "drop_deg": max(w["remount"]["drop_deg"] for w in figures),
                       "shift_cm": max(w["remount"]["shift_cm"] for w in figures),
                       "step_count_differs": sum(len(w["remount"]["step_count_differs"]) for w in figures)},
           "injection": {"judged": len(judged), "of": sum(len(w["injections"]) for w in figures),
                         "response_pct": [min((x["response_pct"] for x in judged), default=math.nan),
                                          max((x["response_pct"] for x in judged), default=math.nan)],
                         "untouched_deg": max((abs(x["untouched_deg"]) for x in judged), default=math.nan)},
           "drop_asymmetry_as_worn": [w["walk"] for w in figures if w["drop_asymmetry_as_worn"]]}
    mob = [w["mobgap"] for w in figures if w["mobgap"]]
    if mob:
        out["mobgap"] = {}
        for name in mob[0]:
            s = {k: sum(m[name][k] for m in mob) for k in keys}
            out["mobgap"][name] = {**s, **rates(s)}
    return out


def failures(figures: list[dict], p: dict) -> list[str]:
    t, out = TARGETS, []
    ics = p["ics_consistent"]
    if not ics["sides"] >= t["sides"]:
        out.append(f"pooled sides {ics['sides']:.1%} < {t['sides']:.0%} (where INDIP is consistent)")
    if not ics["unknown_share"] <= t["unknown"]:
        out.append(f"pooled unknown {ics['unknown_share']:.1%} > {t['unknown']:.0%} (where INDIP is consistent)")
    for w in figures:
        m, name = w["remount"], w["walk"]
        if m["step_count_differs"]:
            out.append(f"{name}: re-mount changes the step count ({len(m['step_count_differs'])} clips)")
        for key, unit, worse in (("ic_shift_ms", " ms", m["ic_shift_ms"] > t["ic_shift_ms"]),
                                 ("same_sides", "", m["same_sides"] < t["same_sides"]),
                                 ("quality", "", m["quality"] > t["quality"]),
                                 ("drop_deg", " deg", m["drop_deg"] > t["drop_deg"]),
                                 ("shift_cm", " cm", m["shift_cm"] > t["shift_cm"])):
            if worse:
                out.append(f"{name}: re-mount {key} {m[key]:.3g}{unit} (target {t[key]:g})")
        lo, hi = t["response_pct"]
        for x in w["injections"]:
            if not x["judged"]:
                continue
            what = f"{name} +{x['deg']:g} deg {x['side']}"
            if not lo <= x["response_pct"] <= hi:
                out.append(f"{what}: response {x['response_pct']:.0f} % (target {lo:g}-{hi:g} %)")
            if not abs(x["untouched_deg"]) <= t["untouched_deg"]:
                out.append(f"{what}: untouched side {x['untouched_deg']:+.2f} deg "
                           f"(target within {t['untouched_deg']:g})")
        if w["drop_asymmetry_as_worn"]:
            out.append(f"{name}: drop-asymmetry finding on the walk as worn")
    return out


def finite(x):
    """JSON without NaN or infinity (null instead)."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def main() -> int:
    start = time.perf_counter()
    found = {w.name: w for w in walks()}
    if not found:
        print("shared real walks not found (../shared/data/mobgap): nothing to benchmark")
        return 0
    with_mobgap = importlib.util.find_spec("mobgap") is not None
    print(f"Pelvio on the shared real walks ({len(found)}): session.analyze(walk.batch()); {len(MOUNTINGS)} "
          f"mountings; {', '.join(f'{d:g}' for d in DEGREES)} deg injected per side")
    if not with_mobgap:
        print("mobgap is not installed: its detectors are not run beside (pip install mobgap in another "
              "environment to see them)")
    figures = []
    for name, imu, bouts in trials():
        if name in found:
            figures.append(walk_figures(found[name], imu, reference(bouts), with_mobgap))
            print_walk(figures[-1], with_mobgap)
    p = pooled(figures)
    r, m, inj = p["ics"], p["remount"], p["injection"]
    print(f"\npooled ({len(figures)} walks): ICs recall {r['recall']:.2f}, precision {r['precision']:.2f}, sides "
          f"{r['sides']:.1%} right ({r['side_ok']}/{r['side_n']}), unknown {r['unknown_share']:.1%} of matched "
          f"({r['unknown']}/{r['correct']}); "
          f"re-mount worst IC shift {m['ic_shift_ms']:.1f} ms, sides {m['same_sides']:.1%}, quality "
          f"{m['quality']:.3f}, drop {m['drop_deg']:.2f} deg, shift {m['shift_cm']:.2f} cm; injection "
          f"({inj['judged']} of {inj['of']} judged: >= {MIN_PAIRED} paired reference steps a side) response "
          f"{inj['response_pct'][0]:.0f}-{inj['response_pct'][1]:.0f} %, untouched side <= {inj['untouched_deg']:.2f} "
          f"deg; drop-asymmetry findings as worn: {', '.join(p['drop_asymmetry_as_worn']) or 'none'}")
    c = p["ics_consistent"]
    print(f"where INDIP is consistent (the targets, as tests/fusion/test_real_walks.py counts): sides "
          f"{c['sides']:.1%} right ({c['side_ok']}/{c['side_n']}), unknown {c['unknown_share']:.1%} "
          f"({c['unknown']}/{c['correct']})")
    if "mobgap" in p:
        print(f"pooled mobgap recall/precision/sides: {mobgap_line(p['mobgap'])}")
    print("whole walk: the same from all usable steps' medians; it dilutes the injection where the reference "
          "times only some of the steps (only those carry it)")
    failed = failures(figures, p)
    wall = time.perf_counter() - start
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(finite({"walks": figures, "pooled": p, "targets": TARGETS, "failed": failed,
                                          "mobgap_installed": with_mobgap, "wall_s": wall}), indent=1) + "\n")
    for line in failed:
        print(f"TARGET FAILED: {line}")
    print(f"{'all targets met' if not failed else f'{len(failed)} target(s) failed'}; wall time {wall:.1f} s; "
          f"figures in {RESULTS.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
