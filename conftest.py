"""Repository-wide pytest hooks: print how long each notebook took under nbval (one line per notebook)."""
from collections import defaultdict

_durations = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _durations[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    terminalreporter.section("notebook durations (profile: COURSE_PROFILE)")
    for path, seconds in sorted(_durations.items()):
        terminalreporter.write_line(f"{path:<50} {seconds:7.1f} s")
    terminalreporter.write_line(f"{'total':<50} {sum(_durations.values()):7.1f} s")
