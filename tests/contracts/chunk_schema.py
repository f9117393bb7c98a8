"""Write openai_chat_chunk.schema.json: the JSON schema of a streamed Chat Completions chunk,
derived from the openai SDK's own type (`ChatCompletionChunk`, a pydantic model).

OpenAI's published OpenAPI description lacks `choices[].delta.audio` (the id, base64 PCM16
`data`, `transcript` and `expires_at` of a streamed spoken answer); the SDK's type has it. Chunks
are checked against both: the published schema for everything it lists, this one for the rest.

    python -m tests.contracts.chunk_schema
"""

from __future__ import annotations

import json
from pathlib import Path

import openai
from openai.types.chat import ChatCompletionChunk

SCHEMA_FILE = Path(__file__).with_name("openai_chat_chunk.schema.json")


def derived() -> dict:
    schema = ChatCompletionChunk.model_json_schema()
    schema["$comment"] = (
        f"Derived from openai {openai.__version__} ChatCompletionChunk.model_json_schema() by "
        "tests/contracts/chunk_schema.py; do not edit by hand."
    )
    return schema


def main() -> None:
    SCHEMA_FILE.write_text(json.dumps(derived(), indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
