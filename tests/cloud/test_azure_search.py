"""AzureHelpSearch with the real azure-search-documents SDK against the search double."""

from __future__ import annotations

import socket

import pytest

from assistant import service
from tests.support import make_settings
from tools.backends.azure_search import AzureHelpSearch
from tools.base import ToolUnavailable
from tools.help_search import Passage, make_tool

SEARCH = "/indexes('help')/docs/search.post.search"
DOCS = [
    {"id": "a1", "title": "Account and security", "section": "Two-step verification",
     "source": "account-and-security.md",
     "text": "Open Settings. Turn on two-step verification with an authenticator app."},
    {"id": "w1", "title": "Wallet", "section": "Withdrawals", "source": "wallet.md",
     "text": "Withdrawals take three days. Verification of identity comes first."},
]  # fmt: skip


def index(double, semantic: bool = False, vector: bool = False) -> None:
    definition = {}
    if semantic:
        definition["semantic"] = {"configurations": [{"name": "default", "prioritizedFields": {
            "prioritizedContentFields": [{"fieldName": "text"}]}}]}  # fmt: skip
    if vector:
        definition["vectorSearch"] = {
            "algorithms": [{"name": "h", "kind": "hnsw"}],
            "profiles": [{"name": "p", "algorithm": "h", "vectorizer": "v"}],
            "vectorizers": [{"name": "v", "kind": "azureOpenAI", "azureOpenAIParameters": {}}],
        }
    double.add_index("help", definition)
    if vector:
        double.indexes["help"]["fields"].append(
            {"name": "contentVector", "type": "Collection(Edm.Single)", "searchable": True,
             "dimensions": 8, "vectorSearchProfile": "p"}
        )  # fmt: skip
    double.add_docs("help", DOCS)


def backend(double, key: str = "search-key-123", **kw) -> AzureHelpSearch:
    return AzureHelpSearch(
        double.url, "help", api_key=key, retry_total=1, retry_backoff_factor=0.01, **kw
    )


def test_plain_query_body_and_passages(search_double):
    index(search_double)
    passages = backend(search_double).search("two-step verification", top=2)

    (request,) = search_double.requests("POST", SEARCH)
    assert request["args"]["api-version"]
    assert request["json"] == {
        "search": "two-step verification", "select": "id,title,section,source,text", "top": 2,
    }  # fmt: skip
    assert [p.id for p in passages] == ["a1", "w1"]
    first = passages[0]
    assert isinstance(first, Passage) and first.source == "account-and-security.md"
    assert first.section == "Two-step verification" and first.caption is None
    assert first.score > passages[1].score


def test_semantic_query_asks_for_extractive_captions_and_uses_reranker_score(search_double):
    index(search_double, semantic=True)
    passages = backend(search_double, semantic_configuration="default").search("authenticator")

    body = search_double.requests("POST", SEARCH)[0]["json"]
    assert body["queryType"] == "semantic" and body["semanticConfiguration"] == "default"
    assert body["captions"] == "extractive"
    assert passages[0].caption == "Turn on two-step verification with an authenticator app."
    assert passages[0].score == 1.0  # @search.rerankerScore, not @search.score


def test_hybrid_query_sends_a_vectorizable_text_query(search_double):
    index(search_double, semantic=True, vector=True)
    search = backend(search_double, semantic_configuration="default", vector_field="contentVector")
    assert search.mode == "hybrid+semantic"
    search.search("withdraw money", top=3)
    body = search_double.requests("POST", SEARCH)[0]["json"]
    assert body["vectorQueries"] == [
        {"kind": "text", "text": "withdraw money", "k": 50, "fields": "contentVector"}
    ]
    assert body["queryType"] == "semantic"


def test_hybrid_without_semantic_asks_only_top_neighbours(search_double):
    index(search_double, vector=True)
    backend(search_double, vector_field="contentVector").search("withdraw", top=3)
    body = search_double.requests("POST", SEARCH)[0]["json"]
    assert body["vectorQueries"][0]["k"] == 3 and "queryType" not in body


def test_the_tool_returns_passages_as_data(search_double):
    index(search_double)
    tool = make_tool(backend(search_double))
    result = tool.call(tool.args_model(query="withdrawals"))
    assert result.ok and result.data["passages"][0]["id"] == "w1"


def test_401_is_one_sentence_about_the_key(search_double):
    index(search_double)
    with pytest.raises(ToolUnavailable) as caught:
        backend(search_double, key="wrong-key").search("anything")
    assert str(caught.value) == (
        "Help-centre search in Azure is refusing our key (401); check AZURE_SEARCH_API_KEY."
    )


def test_403_is_one_sentence(search_double):
    index(search_double)
    search_double.fail("POST", SEARCH.replace("(", r"\(").replace(")", r"\)"), 403)
    with pytest.raises(ToolUnavailable, match=r"forbids our key .*\(403\)"):
        backend(search_double).search("anything")


def test_503_is_retried_quickly_then_one_sentence(search_double):
    index(search_double)
    path = SEARCH.replace("(", r"\(").replace(")", r"\)")
    search_double.fail("POST", path, 503, times=5)
    with pytest.raises(ToolUnavailable) as caught:
        backend(search_double).search("anything")
    assert str(caught.value) == (
        "Help-centre search in Azure is not answering properly (503); try again in a minute."
    )
    assert len(search_double.requests("POST", SEARCH)) == 2  # one try and one retry


def test_503_once_then_answer(search_double):
    index(search_double)
    search_double.fail("POST", SEARCH.replace("(", r"\(").replace(")", r"\)"), 503, times=1)
    assert backend(search_double).search("withdrawals")[0].id == "w1"


def test_missing_index_says_how_to_create_it(search_double):
    with pytest.raises(ToolUnavailable, match=r"no index called 'help' \(404\).*assistant index"):
        backend(search_double).check()


def test_unknown_semantic_configuration_names_the_setting(search_double):
    index(search_double)
    with pytest.raises(ToolUnavailable, match="AZURE_SEARCH_SEMANTIC_CONFIGURATION"):
        backend(search_double, semantic_configuration="nope").search("x")


def test_check_counts_documents(search_double):
    index(search_double)
    backend(search_double).check()
    assert search_double.requests("GET", "/docs/$count")


def test_unreachable_service_is_one_sentence():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    search = AzureHelpSearch(f"http://127.0.0.1:{port}", "help", api_key="k", retry_total=0)
    with pytest.raises(ToolUnavailable, match=r"cannot be reached at 127\.0\.0\.1/help"):
        search.search("x")


def test_from_settings_is_lazy_and_never_shows_the_key(clean_env, tmp_path, search_double):
    settings = make_settings(
        tmp_path, azure_search_endpoint=search_double.url, azure_search_index="help",
        azure_search_api_key="search-key-123", azure_search_semantic_configuration="default",
    )  # fmt: skip
    search = service.azure_search(settings)
    assert (search.kind, search.where, search.mode, search.auth) == (
        "cloud", "127.0.0.1/help", "semantic", "key",
    )  # fmt: skip
    assert "search-key-123" not in repr(search) and search_double.log == []


def test_without_key_entra_id_is_used(clean_env, tmp_path):
    settings = make_settings(
        tmp_path, azure_search_endpoint="https://x.search.windows.net", azure_search_index="help"
    )
    search = service.azure_search(settings)
    from azure.identity import DefaultAzureCredential

    assert search.auth == "Entra ID" and isinstance(search.credential(), DefaultAzureCredential)
