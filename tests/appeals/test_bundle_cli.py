"""`kinerja bundle` and `kinerja verify-bundle` as a panel runs them: the bundle is written
from the store, then checked in a process that has no settings and no database at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.settings import Settings
from api.store import open_ledger
from tests.appeals.test_bundle import full_story
from tests.conftest import REPO_ROOT
from tests.scenario import TickingClock, build_world


def kinerja(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from api.cli import main; main()", *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def verify_in_process(*args: str) -> tuple[int, str, str]:
    """`kinerja verify-bundle` in this process (quicker than a subprocess; the subprocess
    tests show it needs no settings)."""
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["verify-bundle", *args])
    return result.exit_code, result.stdout, result.stderr


def bare_env() -> dict[str, str]:
    """The environment without any kinerja setting: no store, no data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINERJA_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


@dataclass(frozen=True)
class Store:
    env: dict[str, str]
    folder: Path
    evaluation_id: str
    bundle: Path
    key: str


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store with the full story, closed; then `kinerja bundle` run on it once."""
    folder = tmp_path_factory.mktemp("cli")
    settings = Settings(database_url=f"sqlite:///{folder / 'ledger.sqlite3'}",
                        data_dir=folder / "data")
    clock = TickingClock()
    ledger = open_ledger(settings, clock=clock)
    try:
        evaluation_id = full_story(build_world(ledger, clock))
    finally:
        ledger.close()
    env = {**bare_env(), "KINERJA_DATABASE_URL": settings.database_url,
           "KINERJA_DATA_DIR": str(settings.data_dir)}
    bundle = folder / "bundle.json"
    made = kinerja("bundle", evaluation_id, "-o", str(bundle), env=env, cwd=folder)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"wrote the bundle of evaluation {evaluation_id} to "
                                  f"{bundle}: ")
    key_line = made.stderr.strip().splitlines()[-1]
    assert key_line.startswith("verifier key: ")
    return Store(env, folder, evaluation_id, bundle, key_line.removeprefix("verifier key: "))


def test_verify_bundle_needs_nothing_but_the_file_and_the_key(store, tmp_path):
    checked = kinerja("verify-bundle", str(store.bundle), "--public-key", store.key,
                      env=bare_env(), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"bundle OK: evaluation {store.evaluation_id}: ")
    assert "result sangat_baik" in lines[0]
    assert not list(tmp_path.iterdir()), "verify-bundle wrote something"


@pytest.mark.parametrize("form", ["plain", "checkpoint-output"])
def test_the_key_may_come_from_a_file(store, tmp_path, form):
    key_file = tmp_path / "log.pub"
    key_file.write_text(store.key + "\n" if form == "plain"
                        else f"verifier key: {store.key}\n")
    code, out, _ = verify_in_process(str(store.bundle), "--public-key", str(key_file))
    assert code == 0, out


def _altered(store: Store, tmp_path: Path, alter) -> Path:
    bundle = json.loads(store.bundle.read_text())
    alter(bundle)
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(bundle))
    return altered


def _capaian(bundle):
    rated = next(e for e in bundle["events"] if e["topic"].endswith("item-rated.v1"))
    rated["payload"]["capaian"] = "75.00"


def _proof(bundle):
    delivered = next(e for e in bundle["events"] if e["topic"].endswith("result-delivered.v1"))
    delivered["proof"][0] = "00" * 32


def _note(bundle):
    bundle["checkpoint"]["note"] = bundle["checkpoint"]["note"].replace("\n", "\n\n", 1)


def _threshold(bundle):
    published = next(e for e in bundle["events"]
                     if e["topic"] == "kinerja.rubric.version-published.v1")
    published["payload"]["policy"]["above_threshold"] = "150"


@pytest.mark.parametrize("alter,named", [
    (_capaian, "kinerja.evaluation.item-rated.v1): payload field 'capaian'"),
    (_proof, "kinerja.evaluation.result-delivered.v1): the inclusion proof does not lead"),
    (_note, "checkpoint: the signature does not verify"),
    (_threshold, "payload field 'policy.above_threshold' shows \"150\""),
], ids=["event field", "proof", "checkpoint", "rubric threshold"])
def test_an_altered_bundle_exits_1_naming_what_fails(store, tmp_path, alter, named):
    code, out, _ = verify_in_process(str(_altered(store, tmp_path, alter)),
                                     "--public-key", store.key)
    assert code == 1, out
    assert out.startswith("bundle FAILED: "), out
    assert named in out.splitlines()[0]


def test_an_altered_event_fails_in_a_process_of_its_own(store, tmp_path):
    checked = kinerja("verify-bundle", str(_altered(store, tmp_path, _capaian)),
                      "--public-key", store.key, env=bare_env(), cwd=tmp_path)
    assert checked.returncode == 1
    assert checked.stdout.startswith("bundle FAILED: events[")


def test_another_key_fails_on_the_checkpoint_signature(store, tmp_path):
    from projections.checkpoint import generate_signer

    _, other = generate_signer("kinerja-ledger.jakarta.go.id/appraisals")
    code, out, _ = verify_in_process(str(store.bundle), "--public-key", other)
    assert code == 1
    assert out.startswith("bundle FAILED: checkpoint: the signature does not verify with "
                          "the given public key")


def test_a_file_that_is_not_a_bundle_fails(store, tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("{\"format\": \"something-else\"}")
    code, out, _ = verify_in_process(str(junk), "--public-key", store.key)
    assert (code, out.strip()) == (1, "bundle FAILED: format: not a kinerja-bundle/1 document")
    code, _, err = verify_in_process(str(tmp_path / "nothing.json"), "--public-key", store.key)
    assert code == 1
    assert "cannot read" in err


def test_the_html_page_is_written_with_html(store):
    page = store.folder / "bundle.html"
    made = kinerja("bundle", store.evaluation_id, "-o", str(page), "--html",
                   env=store.env, cwd=store.folder)
    assert made.returncode == 0, made.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "Derivation of hasil kerja" in text and "Timeline" in text
    assert "events verified against the signed checkpoint" in text


def test_an_unknown_evaluation_makes_no_bundle(store):
    out = store.folder / "none.json"
    made = kinerja("bundle", "8f14e45f-ceea-467a-9575-b9d1e7a6d3c1", "-o", str(out),
                   env=store.env, cwd=store.folder)
    assert made.returncode == 1
    assert "no evaluation" in made.stderr
    assert not out.exists()


def _huge_version(bundle):
    """The version inside one event's leaf data set near 2**62, leaf hash recomputed: a
    crafted bundle. Its checker must say so, not try to list every version below it."""
    import base64
    import hashlib
    import struct

    from projections.ledger.leaf import LEAF_PREFIX

    delivered = next(e for e in bundle["events"] if e["topic"].endswith("result-delivered.v1"))
    data = bytearray(base64.b64decode(delivered["leaf_data"]))
    struct.pack_into(">Q", data, len(LEAF_PREFIX) + 16, 2**62)
    delivered["leaf_data"] = base64.b64encode(bytes(data)).decode()
    delivered["leaf_hash"] = hashlib.sha256(b"\x00" + bytes(data)).hexdigest()
    delivered["originator_version"] = 2**62


def test_a_crafted_huge_version_is_reported_within_bounded_memory(store, tmp_path):
    altered = _altered(store, tmp_path, _huge_version)
    limit = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30)); "
             "from api.cli import main; main()")
    checked = subprocess.run([sys.executable, "-c", limit, "verify-bundle", str(altered),
                              "--public-key", store.key], env=bare_env(), cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 1, checked.stderr[-2000:]
    assert "lacks version(s)" in checked.stdout and ", ..." in checked.stdout
    assert len(checked.stdout) < 20_000
