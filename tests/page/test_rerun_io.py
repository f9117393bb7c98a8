"""A rerun that starts no turn does no I/O: no file, database or network is touched by the
page's own code (what it needs is cached), however long the conversation."""

from __future__ import annotations

import sys
import threading

from tests.page.conftest import APP

WATCHED = {"open", "sqlite3.connect", "socket.connect", "socket.getaddrinfo", "subprocess.Popen"}


class IoWatch:
    """Python audit events raised by the script's thread while `watching` (hooks are for ever,
    so the hook only records while switched on)."""

    installed: IoWatch | None = None

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.watching = False

    @classmethod
    def get(cls) -> IoWatch:
        if cls.installed is None:
            cls.installed = IoWatch()
            sys.addaudithook(cls.installed._hook)
        cls.installed.events.clear()
        return cls.installed

    def _hook(self, event: str, args: tuple) -> None:
        in_script = threading.current_thread().name.startswith("ScriptRunner")
        if self.watching and event in WATCHED and in_script:
            self.events.append((event, repr(args)[:200]))


def test_rerun_without_a_question_touches_no_file_database_or_network(cloud_env, make_app):
    double = cloud_env
    double.reply_tool_calls([("get_player_summary", {"user_name": "maria"})])
    double.reply_audio("Maria played 75 games.").reply_audio("Second answer.")
    at = make_app().run()
    at.selectbox(key="customer").set_value("maria").run()
    at.chat_input(key="typed").set_value("How many games did I play?").run()
    at.chat_input(key="typed").set_value("Thanks!").run()
    assert len(at.session_state["voicedesk"].conversation.exchanges) == 2
    watch = IoWatch.get()

    watch.watching = True
    try:
        at.run()
    finally:
        watch.watching = False

    assert not at.exception
    # AppTest itself reads the script file on every run; a real server keeps it compiled.
    touched = [e for e in watch.events if str(APP) not in e[1]]
    assert touched == []
