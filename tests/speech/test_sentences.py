"""Cutting streamed text into sentences: where a sentence ends, and where it does not."""

from __future__ import annotations

import pytest

from assistant.speech.sentences import (
    MAX_SENTENCE_CHARS,
    SentenceCutter,
    for_speech,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("You played 12 games. Well done!", ["You played 12 games.", "Well done!"]),
        ("Really? Yes; twice.", ["Really?", "Yes;", "twice."]),
        ("The fee is 3.5 percent. Fine.", ["The fee is 3.5 percent.", "Fine."]),
        ("You won $12.50 today. Nice.", ["You won $12.50 today.", "Nice."]),
        ("Ask Dr. Smith, e.g. by mail. Then wait.", ["Ask Dr. Smith, e.g. by mail.", "Then wait."]),
        ("Steps:\n1. Open Settings.\n2. Tap Security.",
         ["Steps:", "1. Open Settings.", "2. Tap Security."]),
        ('She said "done." Then left.', ['She said "done."', "Then left."]),
        ("你好。我很好！真的？是；", ["你好。", "我很好！", "真的？", "是；"]),
        ("Visit example.com today", ["Visit example.com today"]),
        ("No. I did not.", ["No.", "I did not."]),
    ],
)
def test_whole_texts_are_cut_where_sentences_end(text, sentences):
    assert split_sentences(text) == sentences


def test_a_sentence_is_given_out_as_soon_as_the_next_piece_shows_it_ended():
    cutter = SentenceCutter()
    assert cutter.feed("You won $12") == []
    assert cutter.feed(".") == [], "a full stop before a digit may be a decimal point"
    assert cutter.feed("50 today") == []
    assert cutter.feed(".") == [], "undecided until what follows is seen"
    assert cutter.feed(" Well") == ["You won $12.50 today."]
    assert cutter.feed(" done!\n") == ["Well done!"]
    assert cutter.flush() == []


def test_every_character_streamed_one_at_a_time_gives_the_same_sentences():
    text = "Maria played 75 games. She won $1,204.75 in poker!\nAsk Mr. Jones; he knows 3.14 too"
    cutter = SentenceCutter()
    found = [s for char in text for s in cutter.feed(char)] + cutter.flush()
    assert found == split_sentences(text)
    assert found == ["Maria played 75 games.", "She won $1,204.75 in poker!",
                     "Ask Mr. Jones;", "he knows 3.14 too"]  # fmt: skip


def test_a_run_without_any_end_is_cut_at_a_space_so_speech_can_start():
    cutter = SentenceCutter()
    words = "word " * 200
    found = cutter.feed(words)
    assert found and all(len(s) <= MAX_SENTENCE_CHARS for s in found)
    assert " ".join(found + cutter.flush()).split() == words.split(), "nothing lost"


def test_markdown_marks_are_not_read_aloud():
    assert for_speech("**Two-step** verification is in `Settings`.") == (
        "Two-step verification is in Settings."
    )
    assert for_speech("- Open the app.") == "Open the app."
