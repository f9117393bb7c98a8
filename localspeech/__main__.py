"""`python -m localspeech serve --port N`: the offline engine for any OpenAI client.

Also `status` (load the models and report) and `ask FILE.wav|--text "..."` (route one question,
print the decision) for checking an installation without the app.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded at run time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localspeech", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve /v1/chat/completions on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8808)
    serve.add_argument("--no-warm-up", action="store_true", help="load the models on first use")
    serve.add_argument(
        "--api-key",
        help="require 'Authorization: Bearer KEY' (default: VOICEDESK_OFFLINE_API_KEY; "
        "the setting keeps the key out of the process list)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name besides localhost the Host header may name (repeatable; "
        "default: VOICEDESK_OFFLINE_HOSTS, comma-separated)",
    )
    commands.add_parser("status", help="load the speech models and report their state")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    from localspeech.client import shared_engine

    settings = _settings()
    engine = shared_engine(settings)
    if args.command == "status":
        engine.warm_up(background=False)
        status = engine.status()
        print(json.dumps(status, indent=2))
        return 0 if status["stt"] == status["tts"] == "ready" else 1
    from localspeech.server import make_server

    api_key, hosts = _access(args, settings)
    try:
        server = make_server(engine, args.port, api_key=api_key, allowed_hosts=hosts)
    except OSError as exc:
        print(f"Cannot listen on 127.0.0.1:{args.port}: {exc.strerror}.", file=sys.stderr)
        return 2
    if not args.no_warm_up:
        engine.warm_up(background=True)
    host, port = server.server_address[:2]
    needs = "; requests need the API key" if api_key else ""
    print(
        f"VoiceDesk offline engine on http://{host}:{port}/v1 (Ctrl+C stops it{needs})", flush=True
    )
    print(f"Live sessions (Realtime WebSocket): ws://{host}:{port}/v1/realtime", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _access(args: argparse.Namespace, settings: SimpleNamespace) -> tuple[str | None, list[str]]:
    """The bearer key and the extra host names: the flags, else the environment."""
    api_key = args.api_key or settings.voicedesk_offline_api_key
    hosts = args.allow_host or settings.voicedesk_offline_hosts.split(",")
    return api_key or None, [h.strip() for h in hosts if h.strip()]


def _settings(environ: dict[str, str] | None = None) -> SimpleNamespace:
    """What the engine reads, from the environment: this package stands alone, so it does not
    load the app's settings files (.env, secrets.toml); a bad value falls back to the default."""
    env = os.environ if environ is None else environ
    try:
        max_seconds = float(env.get("VOICEDESK_MAX_SECONDS", "")) or None
    except ValueError:
        max_seconds = None
    return SimpleNamespace(
        voicedesk_offline_api_key=env.get("VOICEDESK_OFFLINE_API_KEY") or None,
        voicedesk_offline_hosts=env.get("VOICEDESK_OFFLINE_HOSTS", ""),
        jira_project_key=env.get("JIRA_PROJECT_KEY") or None,
        voicedesk_max_seconds=max_seconds,
    )


if __name__ == "__main__":
    sys.exit(main())
