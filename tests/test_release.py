"""`make release` on a throwaway git repository (never on this one): the check refuses a release whose version,
RELEASE, badges, CHANGELOG or git state disagree; a release tags v<version> and moves the version to the next
development version in a commit, leaving RELEASE (the badges' tag) at the release; the remote check needs the tag
pushed. Also: this checkout's badges and set-up cells all name RELEASE's tag."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from course_lib import build, colab

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
ROOT = build.ROOT


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run(["git", *args], cwd=str(cwd), env=env, check=True, capture_output=True, text=True).stdout


def _badge(ref: str) -> str:
    return colab.badge_markdown("00_setup.ipynb").replace(colab.REF, ref)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A small course repository at 0.3.0.dev0, its badges at the last release v0.2.0."""
    repo = tmp_path / "course"
    (repo / "course_lib").mkdir(parents=True)
    (repo / "notebooks" / "student").mkdir(parents=True)
    (repo / "course_lib" / "__init__.py").write_text('"""course_lib"""\n__version__ = "0.3.0.dev0"\n')
    colab_py = (ROOT / "course_lib" / "colab.py").read_text()
    (repo / "course_lib" / "colab.py").write_text(build.RELEASE_RE.sub('RELEASE = "0.2.0"', colab_py))
    (repo / "README.md").write_text(f"# Course\n\n{_badge('v0.2.0')}\n\n[![Binder](b.svg)](https://mybinder.org/v2/gh/"
                                    f"{colab.REPO}/v0.2.0?urlpath=lab)\n\n`pip install \"x @ git+{colab.REPO_URL}"
                                    f"@v0.2.0\"`\n")
    (repo / "notebooks" / "00_setup.py").write_text(f"# %% [markdown]\n# # 00\n# {_badge('v0.2.0')}\n")
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n- things\n\n## 0.2.0 (never tagged)\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "course")
    return repo


def test_release_check_refuses_what_disagrees_then_tags_and_moves_on(repo):
    problems = "\n".join(build.release_problems(repo, notebooks=False))
    assert "0.3.0.dev0, not a release" in problems and "RELEASE is 0.2.0" in problems
    assert "CHANGELOG.md has no section `## [0.3.0.dev0]" in problems
    with pytest.raises(RuntimeError, match="not released"):
        build.release(repo, notebooks=False)
    assert _git(repo, "tag", "--list") == ""

    # make release-prepare VERSION=0.3.0 (sync would rewrite the notebooks' badges; here one is left stale)
    build.set_version("0.3.0", repo, release=True)
    assert build.versions(repo) == ("0.3.0", "0.3.0")
    readme = (repo / "README.md").read_text()
    assert "v0.2.0" not in readme and readme.count("v0.3.0") == 3, "README's badges and pip line follow the release"
    problems = "\n".join(build.release_problems(repo, notebooks=False))
    assert "notebooks/00_setup.py points at v0.2.0, not v0.3.0" in problems
    assert "CHANGELOG.md has no section `## [0.3.0] - YYYY-MM-DD`" in problems
    assert "uncommitted changes" in problems
    (repo / "notebooks" / "00_setup.py").write_text(f"# %% [markdown]\n# # 00\n# {_badge('v0.3.0')}\n")
    changelog = (repo / "CHANGELOG.md").read_text().replace("## [Unreleased]", "## [0.3.0] - 2026-12-06")
    (repo / "CHANGELOG.md").write_text(changelog)
    assert build.release_problems(repo, notebooks=False) == ["the working tree has uncommitted changes: commit them "
                                                             "first\n" + _git(repo, "status", "--porcelain",
                                                                              "--untracked-files=no").rstrip()]
    _git(repo, "commit", "-q", "-am", "Release 0.3.0")
    assert build.release_problems(repo, notebooks=False) == []

    with pytest.raises(RuntimeError, match="must come after"):
        build.release(repo, next_version="0.2.9", notebooks=False)
    assert _git(repo, "tag", "--list") == "", "nothing is tagged when the next version is wrong"
    done = build.release(repo, notebooks=False)
    assert "tagged v0.3.0" in done[0]
    assert _git(repo, "tag", "--list").split() == ["v0.3.0"]
    assert build.versions(repo) == ("0.3.1.dev0", "0.3.0"), "main moves on; the badges keep the released tag"
    assert _git(repo, "status", "--porcelain") == "", "the bump is committed"
    assert _git(repo, "log", "-1", "--format=%s").startswith("Start 0.3.1.dev0")
    assert _git(repo, "show", "v0.3.0:course_lib/__init__.py").count('__version__ = "0.3.0"') == 1
    text = (repo / "CHANGELOG.md").read_text()
    assert text.index("## [Unreleased]") < text.index("## [0.3.0] - 2026-12-06")
    # a second release of the same version is refused
    assert "0.3.1.dev0, not a release" in "\n".join(build.release_problems(repo, notebooks=False))
    assert build.next_dev_version("1.9.4") == "1.9.5.dev0"


def test_the_tag_must_be_on_the_remote(repo, tmp_path):
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", str(remote))
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "tag", "-a", "v0.2.0", "-m", "0.2.0")
    assert "origin has no tag v0.2.0" in build.remote_tag_problems(repo)[0]
    _git(repo, "push", "-q", "origin", "v0.2.0")
    assert build.remote_tag_problems(repo) == []


def test_this_checkout_points_every_badge_and_set_up_cell_at_the_release():
    version, release = build.versions()
    assert release == colab.RELEASE
    assert build.ref_problems() == []
    assert len(build.REF_USES_RE.findall((ROOT / "README.md").read_text())) >= len(build.notebook_sources()) + 2
