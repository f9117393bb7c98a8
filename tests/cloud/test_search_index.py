"""`python -m assistant index` logic: the Azure index built with the real SDK, idempotently."""

from __future__ import annotations

import re
import shutil

import pytest

from ops.search_index import HASH_FIELD, AzureIndexBuilder, SearchIndexError, build_index
from tests.support import make_settings
from tools.backends.local_search import MANUALS_DIR, chunk_manuals

REPORT = re.compile(
    r"Azure AI Search index 'help' at 127\.0\.0\.1: (\d+) added, (\d+) updated, "
    r"(\d+) unchanged, (\d+) removed \((\d+) passages from (\d+) manuals, [\d.]+ s\)\."
)
FAST = {"retry_total": 0}


@pytest.fixture
def manuals(tmp_path):
    folder = tmp_path / "manuals"
    shutil.copytree(MANUALS_DIR, folder)
    return folder


def settings_for(double, tmp_path, **extra):
    return make_settings(
        tmp_path, azure_search_endpoint=double.url, azure_search_index="help",
        azure_search_api_key="search-key-123", **extra,
    )  # fmt: skip


def counts(report: str) -> tuple[int, ...]:
    match = REPORT.fullmatch(report)
    assert match, report
    return tuple(int(g) for g in match.groups())


def test_first_build_creates_the_index_and_uploads_every_passage(
    clean_env, search_double, tmp_path, manuals
):
    settings = settings_for(search_double, tmp_path)
    report = AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)

    total = len(chunk_manuals(manuals))
    manual_count = len(list(manuals.glob("*.md")))
    assert counts(report) == (total, 0, 0, 0, total, manual_count)
    (put,) = search_double.requests("PUT")
    fields = {f["name"]: f for f in put["json"]["fields"]}
    assert fields["id"]["key"] is True
    assert all(fields[n]["searchable"] for n in ("title", "section", "source", "text"))
    assert fields[HASH_FIELD]["searchable"] is False
    assert "vectorSearch" not in put["json"]
    assert put["json"]["semantic"]["configurations"][0]["name"] == "default"
    assert len(search_double.docs["help"]) == total
    uploads = search_double.requests("POST", "/docs/search.index")
    assert all(len(u["json"]["value"]) <= 100 for u in uploads)
    assert {a["@search.action"] for u in uploads for a in u["json"]["value"]} == {"mergeOrUpload"}


def test_second_build_sends_nothing_and_reports_unchanged(
    clean_env, search_double, tmp_path, manuals
):
    settings = settings_for(search_double, tmp_path)
    AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)
    search_double.log.clear()

    report = AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)

    total = len(chunk_manuals(manuals))
    assert counts(report)[:4] == (0, 0, total, 0)
    assert search_double.requests("POST", "/docs/search.index") == []
    assert search_double.requests("PUT") == []  # the index already has all it needs


def test_changed_added_and_deleted_manuals_are_updated_added_and_removed(
    clean_env, search_double, tmp_path, manuals
):
    settings = settings_for(search_double, tmp_path)
    AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)
    before = {d["id"]: d for d in chunk_manuals(manuals)}

    doomed = sorted(manuals.glob("*.md"))[0]
    doomed_ids = {i for i, d in before.items() if d["source"] == doomed.name}
    doomed.unlink()
    edited = sorted(manuals.glob("*.md"))[0]
    edited.write_text(edited.read_text(encoding="utf-8") + "\nOne more sentence at the end.\n")
    (manuals / "new-manual.md").write_text("# New\n\n## Only section\n\nBrand new advice.\n")
    after = {d["id"]: d for d in chunk_manuals(manuals)}
    changed = {i for i in after if i in before and after[i]["text"] != before[i]["text"]}
    added = set(after) - set(before)
    search_double.log.clear()

    report = AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)

    assert counts(report)[:4] == (len(added), len(changed), len(after) - len(added) - len(changed),
                                  len(doomed_ids))  # fmt: skip
    assert changed and added and doomed_ids
    assert set(search_double.docs["help"]) == set(after)
    sent = {a["id"] for u in search_double.requests("POST", "/docs/search.index")
            for a in u["json"]["value"] if a["@search.action"] == "mergeOrUpload"}  # fmt: skip
    assert sent == changed | added


def test_vector_field_gets_a_vectorizer_and_embedded_passages(
    clean_env, search_double, tmp_path, manuals
):
    settings = settings_for(
        search_double, tmp_path, azure_search_vector_field="contentVector",
        azure_search_semantic_configuration="voicedesk", azure_openai_endpoint=search_double.url,
        azure_openai_api_key="aoai-key-123", azure_search_embedding_deployment="embed-small",
    )  # fmt: skip
    AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)

    (put,) = search_double.requests("PUT")
    vector = next(f for f in put["json"]["fields"] if f["name"] == "contentVector")
    assert vector["dimensions"] == 8 and vector["retrievable"] is False
    (vectorizer,) = put["json"]["vectorSearch"]["vectorizers"]
    assert vectorizer["kind"] == "azureOpenAI"
    assert vectorizer["azureOpenAIParameters"] == {
        "resourceUri": search_double.url, "deploymentId": "embed-small",
        "modelName": "text-embedding-3-small",
    }  # fmt: skip
    assert "apiKey" not in str(put["json"])
    assert put["json"]["semantic"]["defaultConfiguration"] == "voicedesk"
    docs = search_double.docs["help"].values()
    assert all(len(d["contentVector"]) == 8 for d in docs)
    embedded = search_double.requests("POST", "/openai/deployments/embed-small/embeddings")
    assert embedded and all(len(r["json"]["input"]) <= 16 for r in embedded)

    search_double.log.clear()
    AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)
    assert search_double.requests("POST", "/openai/deployments/embed-small/embeddings") == []


def test_an_index_made_elsewhere_gets_the_missing_fields_and_keeps_its_own(
    clean_env, search_double, tmp_path, manuals
):
    search_double.add_index("help")
    search_double.indexes["help"]["fields"].append({"name": "lang", "type": "Edm.String"})
    passage = chunk_manuals(manuals)[0]
    search_double.add_docs("help", [{k: passage[k] for k in ("id", "title", "section", "source", "text")}])  # fmt: skip

    report = AzureIndexBuilder(settings_for(search_double, tmp_path), manuals, **FAST).build(False)

    names = [f["name"] for f in search_double.indexes["help"]["fields"]]
    assert "lang" in names and HASH_FIELD in names
    added, updated, unchanged, removed = counts(report)[:4]
    assert (updated, unchanged, removed) == (1, 0, 0)  # it had no hash: sent again


def test_refused_key_is_one_sentence(clean_env, search_double, tmp_path, manuals):
    settings = make_settings(
        tmp_path, azure_search_endpoint=search_double.url, azure_search_index="help",
        azure_search_api_key="wrong",
    )  # fmt: skip
    with pytest.raises(SearchIndexError, match=r"refusing our key \(401\)"):
        AzureIndexBuilder(settings, manuals, **FAST).build(progress=False)


def test_vector_field_without_azure_openai_says_what_to_set(clean_env, search_double, tmp_path):
    settings = settings_for(search_double, tmp_path, azure_search_vector_field="v")
    with pytest.raises(SearchIndexError, match="AZURE_OPENAI_ENDPOINT"):
        build_index(settings, progress=False)


def test_build_index_through_settings_uses_the_real_manuals_and_a_progress_bar(
    clean_env, search_double, tmp_path, capsys
):
    report = build_index(settings_for(search_double, tmp_path), progress=True)
    assert counts(report)[4] == len(chunk_manuals(MANUALS_DIR))
    assert "Uploading passages" in capsys.readouterr().err


def test_without_azure_settings_the_local_index_is_built(clean_env, tmp_path):
    report = build_index(make_settings(tmp_path), progress=False)
    assert re.fullmatch(
        r"Indexed \d+ help passages from \d+ manuals into .*search\.sqlite \([\d.]+ s\)\.", report
    )
    assert (tmp_path / "search.sqlite").is_file()
