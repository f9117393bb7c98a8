"""Extract the schemas the doubles are held to from OpenAI's OpenAPI description.

    python -m tests.contracts.extract [SPEC.yaml]

One JSON Schema file per API the project speaks (`SETS`): Chat Completions
(openai_chat.schema.json), audio transcription and speech (openai_audio.schema.json), and the
Realtime events (openai_realtime.schema.json). The spec defaults to
../shared/specs/openai-openapi.yaml (next to the project), else the committed copy. The output is
committed so tests run on a fresh clone.

What the conversion does, and why:
* keeps the root schemas below and everything they `$ref`, transitively, under `$defs`, with
  refs rewritten from `#/components/schemas/X` to `#/$defs/X`;
* turns OpenAPI 3.0's `nullable: true` (still used by this 3.1 document) into JSON Schema: a
  `type` gains "null" (and an `enum` gains null); a schema without `type` becomes
  `anyOf: [schema, {"type": "null"}]`. Left alone, jsonschema would ignore `nullable` and
  reject every null the API accepts;
* drops documentation-only keywords (`description`, `example`, `x-oai*`, `x-stainless-*`) to
  keep the file readable. Keywords jsonschema ignores anyway (`discriminator`, `deprecated`,
  `format: unixtime`) are kept as they are.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

SOURCE_REPO = "github.com/openai/openai-openapi"
SOURCE_COMMIT = "f85dbe223d40e1a31cba812ab2d755c7e98a92a3"
ROOTS = (
    "CreateChatCompletionRequest",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateTranscriptionResponseJson",
)
AUDIO_ROOTS = (
    "CreateTranscriptionRequest",
    "CreateTranscriptionResponseJson",
    "CreateTranscriptionResponseStreamEvent",
    "CreateSpeechRequest",
    "CreateSpeechResponseStreamEvent",
)
REALTIME_ROOTS = ("RealtimeClientEvent", "RealtimeServerEvent")
HERE = Path(__file__).resolve().parent
SHARED_SPEC = HERE.parents[2] / "shared" / "specs" / "openai-openapi.yaml"
# A copy of the same file (same commit; MIT, see LICENSE), so a fresh clone checks against it too.
COMMITTED_SPEC = HERE / "openai-openapi.yaml.gz"
DEFAULT_SPEC = SHARED_SPEC if SHARED_SPEC.is_file() else COMMITTED_SPEC
DEFAULT_OUT = HERE / "openai_chat.schema.json"
SETS = {
    DEFAULT_OUT: ROOTS,
    HERE / "openai_audio.schema.json": AUDIO_ROOTS,
    HERE / "openai_realtime.schema.json": REALTIME_ROOTS,
}
COMPONENT_PREFIX = "#/components/schemas/"
DOC_ONLY = {"description", "example", "examples"}
# Keywords whose value is a map of names to schemas (its keys are names, never keywords).
SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "dependentSchemas"}


def load_spec(path: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is 10x faster on 3 MB
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)  # a safe loader


def referenced(schemas: dict[str, Any], roots: tuple[str, ...]) -> list[str]:
    """The roots and every component schema they reach through `$ref`, sorted."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in schemas:
            raise KeyError(f"schema {name!r} is not in the spec's components")
        seen.add(name)
        pending.extend(_refs(schemas[name]))
    return sorted(seen)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = []
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENT_PREFIX):
            found.append(ref.removeprefix(COMPONENT_PREFIX))
        for key, value in node.items():
            if key != "$ref":
                found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [name for item in node for name in _refs(item)]
    return []


def convert(node: Any) -> Any:
    """One OpenAPI schema object as a JSON Schema 2020-12 schema (see the module docstring)."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DOC_ONLY or key.startswith("x-") or key == "nullable":
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key == "$ref" and isinstance(value, str):
            out[key] = "#/$defs/" + value.removeprefix(COMPONENT_PREFIX)
        else:
            out[key] = convert(value)
    if node.get("nullable") is True:
        out = _nullable(out)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"] if "null" not in types else types
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def extract(spec: dict[str, Any], roots: tuple[str, ...] = ROOTS) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"Extracted by tests/contracts/extract.py from {SOURCE_REPO} commit {SOURCE_COMMIT} "
            "(openapi.yaml, MIT licence: see LICENSE). Do not edit by hand."
        ),
        "x-roots": list(roots),
        "$defs": {name: convert(schemas[name]) for name in referenced(schemas, roots)},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0]) if argv else DEFAULT_SPEC
    if not spec_path.is_file():
        print(f"The OpenAPI spec was not found at {spec_path}; pass its path.", file=sys.stderr)
        return 1
    spec = load_spec(spec_path)
    for out_path, roots in SETS.items():
        document = extract(spec, roots)
        out_path.write_text(render(document), encoding="utf-8")
        print(f"Wrote {len(document['$defs'])} schemas to {out_path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
