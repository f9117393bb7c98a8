"""The command line: `python -m assistant ask|live|tool|tools|doctor|config|index|demo-data|outbox`.

Every refusal or failure is one plain sentence on stderr and a non-zero exit status; tracebacks
go to the log in the data directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import textwrap
from pathlib import Path

from assistant.config import ConfigError, Settings, load_settings
from assistant.errors import TurnError
from assistant.logs import setup_logging

log = logging.getLogger("assistant.cli")


UNEXPECTED_TURN = "Something went wrong with this question; the details are in the log."


class Failure(Exception):
    """A command failed; the message is the sentence to print."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    log_path = "the log"
    try:
        settings = load_settings()
        log_path = setup_logging(settings)
        return args.run(args, settings)
    except (ConfigError, Failure, TurnError) as exc:
        print(str(exc), file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except BrokenPipeError:  # output piped into `head` and friends
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's final flush
        return 0
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130
    except Exception:
        log.exception("command failed")
        print(f"Something went wrong; the details are in {log_path}.", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m assistant", description="VoiceDesk from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ask = commands.add_parser(
        "ask", help="ask spoken (WAV) or typed questions, as turns of one conversation"
    )
    ask.add_argument("files", nargs="*", type=Path, help="WAV recordings, one turn each")
    ask.add_argument(
        "--text", action="append", default=[], help="a typed question (repeatable; '-' reads stdin)"
    )
    ask.add_argument("--customer", help="the player being helped (default VOICEDESK_CUSTOMER)")
    ask.add_argument("--voice", help="the answer's voice (default VOICEDESK_VOICE)")
    ask.add_argument("--out", type=Path, help="save each spoken answer as a WAV in this directory")
    ask.add_argument("--json", action="store_true", help="print one JSON object per turn")
    ask.add_argument("--offline", action="store_true", help="answer with the local offline engine")
    ask.add_argument(
        "--yes", action="store_true",
        help="file the grievances the assistant drafts at once (otherwise they are printed as "
        "drafts, with the command that files each)",
    )  # fmt: skip
    ask.set_defaults(run=cmd_ask)

    live = commands.add_parser(
        "live", help="speak recordings into one live session, in real time, and print the answers"
    )
    live.add_argument("files", nargs="+", type=Path, help="WAV recordings, one question each")
    live.add_argument("--customer", help="the player being helped (default VOICEDESK_CUSTOMER)")
    live.add_argument("--voice", help="the answer's voice (default VOICEDESK_VOICE)")
    live.add_argument("--out", type=Path, help="save each spoken answer as a WAV in this directory")
    live.add_argument("--json", action="store_true", help="print one JSON object per answer")
    live.set_defaults(run=cmd_live)

    tool = commands.add_parser("tool", help="run one tool and print its JSON result")
    tool.add_argument("name")
    tool.add_argument("arguments", nargs="?", default="{}", help="the arguments as a JSON object")
    tool.set_defaults(run=cmd_tool)

    commands.add_parser("tools", help="list the tools and the backend each uses").set_defaults(
        run=cmd_tools
    )
    commands.add_parser("config", help="print the settings in force (never a secret)").set_defaults(
        run=cmd_config
    )
    commands.add_parser("doctor", help="check the configuration and every backend").set_defaults(
        run=cmd_doctor
    )

    index = commands.add_parser("index", help="build the help-centre search index")
    index.set_defaults(run=cmd_index)

    demo = commands.add_parser("demo-data", help="(re)generate the demo data")
    demo.add_argument("--transactions", type=int, help="how many transactions to generate")
    demo.set_defaults(run=cmd_demo_data)

    outbox = commands.add_parser("outbox", help="grievances waiting for the ticket system")
    outbox.add_argument("action", choices=["flush"])
    outbox.set_defaults(run=cmd_outbox)
    return parser


# -- ask -----------------------------------------------------------------------------------------


def _questions(args: argparse.Namespace) -> list[tuple[str, Path | str]]:
    questions: list[tuple[str, Path | str]] = [("audio", path) for path in args.files]
    for text in args.text:
        questions.append(("text", sys.stdin.read() if text == "-" else text))
    if not questions:
        raise Failure('Give a WAV file or --text "a question" to ask.')
    return questions


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.binding import Grants, valid_customer
    from assistant.files import WriteError, write_inside
    from assistant.history import Conversation
    from assistant.service import build_engine

    questions = _questions(args)
    try:
        customer = valid_customer(args.customer or settings.voicedesk_customer)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    engine = build_engine(settings, provider="offline" if args.offline else None)
    conversation = Conversation(customer=customer)
    grants = Grants(file_now=args.yes)
    failures = 0
    unsaved: set[str] = set()  # each reason a spoken answer was not saved, said once
    for number, (kind, question) in enumerate(questions, start=1):
        try:
            if kind == "audio":
                audio = _read_audio(question)
                reply = engine.ask(conversation, audio=audio, voice=args.voice, grants=grants)
            else:
                reply = engine.ask(conversation, text=str(question), voice=args.voice, grants=grants)
        except Exception as exc:  # one sentence in its place; the next questions still run
            if not isinstance(exc, TurnError):
                log.exception("a turn failed unexpectedly")
            sentence = str(exc) if isinstance(exc, TurnError) else UNEXPECTED_TURN
            failures += 1
            # With several questions, say which one failed.
            where = f"{question}: " if kind == "audio" and len(questions) > 1 else ""
            print(f"{where}{sentence}", file=sys.stderr)
            if args.json:
                print(json.dumps({"error": sentence}), flush=True)
            continue
        audio_file = None
        if args.out and reply.audio_wav:
            name = f"reply-{number:02d}.wav"
            try:
                audio_file = str(write_inside(args.out, name, reply.audio_wav))
            except WriteError as exc:  # the answer still prints; the reason, once
                if str(exc) not in unsaved:
                    print(f"The spoken answer was not saved: {exc}.", file=sys.stderr)
                unsaved.add(str(exc))
        if args.json:
            print(json.dumps(reply.as_json(audio_file), ensure_ascii=False), flush=True)
        else:
            _print_reply(reply, audio_file)
        _print_waiting(reply.actions)
    return 1 if failures or unsaved else 0


def _print_waiting(actions) -> None:
    """On stderr, so `--json` stays one object a line: each call that waits for the operator,
    and the command that runs it as their own act."""
    for action in actions:
        if not action.waiting:
            continue
        command = f"python -m assistant tool {action.tool} {shlex.quote(json.dumps(action.arguments))}"
        print(f"Not run: {action.reason}\n  To run it: {command}", file=sys.stderr)


def _read_audio(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TurnError(
            f"Cannot read {path}: {exc.strerror or 'unreadable'}.", code="file", retryable=False
        ) from None


def _print_reply(reply, audio_file: str | None) -> None:
    if reply.input_transcript:
        print(f"You: {reply.input_transcript}")
    for call in reply.tool_calls:
        mark = "ok" if call.ok else "failed"
        print(f"  [{call.name} {mark}, {call.ms:.0f} ms] {call.summary}")
    print(f"VoiceDesk: {reply.transcript}")
    for action in reply.actions:
        print(f"  [{action.tool} {action.state}] {json.dumps(action.arguments, ensure_ascii=False)}")
    if audio_file:
        print(f"  (spoken answer saved to {audio_file})")
    print()


# -- live ----------------------------------------------------------------------------------------


def cmd_live(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.live import cli

    try:
        return cli.run(args, settings)
    except cli.LiveFailure as exc:
        raise Failure(str(exc)) from None


# -- tools ---------------------------------------------------------------------------------------


def cmd_tool(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.service import build_tools

    _, registry = build_tools(settings)
    if args.name not in registry.tools:
        raise Failure(
            f"There is no tool called '{args.name}'; the tools are {', '.join(registry.tools)}."
        )
    dispatch = registry.run(args.name, args.arguments)
    print(json.dumps(dispatch.result.as_dict(), ensure_ascii=False, indent=2, default=str))
    return 0 if dispatch.result.ok else 1


def cmd_tools(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.service import build_tools

    backends, registry = build_tools(settings)
    owner = {
        "get_player_summary": backends.stats,
        "search_help_center": backends.search,
        "register_grievance": backends.grievances,
        "get_grievance_status": backends.grievances,
        "list_grievances": backends.grievances,
    }
    for name, tool in registry.tools.items():
        backend = owner.get(name)
        where = f"{backend.kind}: {backend.where}" if backend else "built in"
        print(f"{name:22} {where}")
        print(f"{'':22} {textwrap.shorten(tool.description, 100, placeholder=' ...')}")
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    for key, value in settings.describe():
        print(f"{key:16} {value}")
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.doctor import check_backends, check_model

    for key, value in settings.describe():
        print(f"{key:16} {value}")
    print()
    rows = [check_model(settings), *check_backends(settings)]
    if settings.mode == "cascade":
        from assistant.speech.parts import check_parts

        rows += check_parts(settings)
    for row in rows:
        print(row.line())
    return 0 if all(row.ok for row in rows) else 1


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from ops.search_index import build_index

    print(build_index(settings, progress=sys.stderr.isatty()))
    return 0


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from ops.demo_data import main_demo_data

    print(main_demo_data(settings, args.transactions))
    return 0


def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.service import flush_outbox

    delivered, remaining, sentence = flush_outbox(settings)
    print(sentence)
    return 0 if remaining == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
