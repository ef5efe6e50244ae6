"""Progress reports (core/progress.py): durations for people and the time left of a phased step."""

from __future__ import annotations

from napari_rat_tms.core.progress import format_duration, run_to_completion, with_time_left


def test_format_duration():
    assert format_duration(42.4) == "42 s" and format_duration(200) == "3 min 20 s"
    assert format_duration(2 * 3600 + 5 * 60) == "2 h 05 min" and format_duration(-3) == "0 s"


def test_time_left_follows_the_phases_estimate_and_the_measured_speed():
    now = [0.0]

    def steps():
        for fraction, t in ((0.001, 0.1), (0.25, 10.0), (0.75, 60.0)):
            now[0] = t
            yield fraction, "working"
        return "value"

    # a cheap first phase (10 s estimated over fractions 0-0.5) and a costly second one (90 s, 0.5-1)
    reports = []
    value = run_to_completion(with_time_left(steps(), [(0.0, 0.5, 10.0), (0.5, 1.0, 90.0)], clock=lambda: now[0]),
                              lambda f, m: reports.append(m))
    assert value == "value"
    # at the start, the estimate alone: 100 s minus the 0.02 s estimated done
    assert reports[0] == "working (about 1 min 40 s left, estimated)"
    # a quarter through by fraction is 5 s of the 100 s estimated; it took 10 s: twice slower -> 190 s
    assert reports[1] == "working (3 min 10 s left)"
    # three quarters by fraction is 10 + 45 = 55 s estimated, 60 s measured: 45 s x 60/55 = 49 s
    assert reports[2] == "working (49 s left)"
