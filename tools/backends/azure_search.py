"""Help-centre passages from Azure AI Search, through `azure-search-documents`.

Plain full-text by default; the semantic ranker (extractive captions) when
AZURE_SEARCH_SEMANTIC_CONFIGURATION is set; hybrid with a VectorizableTextQuery (the index's
own vectorizer turns the question into a vector) when AZURE_SEARCH_VECTOR_FIELD is set.
A key (AZURE_SEARCH_API_KEY) or Entra ID (DefaultAzureCredential) signs the requests.
The SDK client is built on first use; nothing is imported or contacted at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from tools.base import ToolUnavailable, redact
from tools.help_search import Passage

SELECT = ["id", "title", "section", "source", "text"]
HYBRID_K = 50  # neighbours the vector side contributes before fusion and reranking
SEARCH_SCOPE = "https://search.azure.com/.default"


class AzureHelpSearch:
    kind = "cloud"

    def __init__(
        self,
        endpoint: str,
        index_name: str,
        api_key: str | None = None,
        semantic_configuration: str | None = None,
        vector_field: str | None = None,
        *,
        read_timeout: float = 5.0,
        connect_timeout: float = 3.0,
        retry_total: int = 2,
        retry_backoff_factor: float = 0.3,
        credential: Any = None,
    ):
        self.endpoint = endpoint.rstrip("/")
        self.index_name = index_name
        host = urlparse(self.endpoint).hostname or self.endpoint
        self.where = f"{host}/{index_name}"
        self._key = api_key
        self._credential = credential  # a TokenCredential to use instead of the default one
        self.semantic_configuration = semantic_configuration or None
        self.vector_field = vector_field or None
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.retry_total = retry_total
        self.retry_backoff_factor = retry_backoff_factor
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"AzureHelpSearch(where={self.where!r})"

    @property
    def mode(self) -> str:
        """'plain', 'semantic', 'hybrid' or 'hybrid+semantic': what a query will do."""
        if self.vector_field:
            return "hybrid+semantic" if self.semantic_configuration else "hybrid"
        return "semantic" if self.semantic_configuration else "plain"

    @property
    def auth(self) -> str:
        return "key" if self._key else "Entra ID"

    # -- the protocol -------------------------------------------------------------------------

    def search(self, query: str, top: int = 3) -> list[Passage]:
        self._need_index()
        options: dict[str, Any] = {"top": top, "select": SELECT}
        if self.semantic_configuration:
            options.update(
                query_type="semantic",
                semantic_configuration_name=self.semantic_configuration,
                query_caption="extractive",
            )
        if self.vector_field:
            from azure.search.documents.models import VectorizableTextQuery

            k = HYBRID_K if self.semantic_configuration else top
            options["vector_queries"] = [
                VectorizableTextQuery(text=query, k_nearest_neighbors=k, fields=self.vector_field)
            ]
        # Results are lazy: the request goes out while they are read, inside the guard.
        return self.guard(lambda: [_passage(doc) for doc in self.client().search(query, **options)])

    def check(self) -> None:
        self._need_index()
        self.guard(lambda: self.client().get_document_count())

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _need_index(self) -> None:
        if not self.index_name:
            raise ToolUnavailable(
                "AZURE_SEARCH_ENDPOINT is set but AZURE_SEARCH_INDEX is not; set the index name."
            )

    # -- the client and its errors ------------------------------------------------------------

    def credential(self) -> Any:
        if self._key:
            from azure.core.credentials import AzureKeyCredential

            return AzureKeyCredential(self._key)
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return self._credential

    def client_options(self) -> dict[str, Any]:
        """Short timeouts and few, quick retries: a person is waiting for the answer."""
        return {
            "retry_total": self.retry_total,
            "retry_backoff_factor": self.retry_backoff_factor,
            "retry_backoff_max": 2,
            "connection_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
        }

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.search.documents import SearchClient

                self._client = SearchClient(
                    self.endpoint, self.index_name, self.credential(), **self.client_options()
                )
            return self._client

    def guard(self, action: Callable[[], Any]) -> Any:
        """Run SDK calls; any failure becomes ToolUnavailable with one plain sentence."""
        try:
            return action()
        except ToolUnavailable:
            raise
        except Exception as exc:
            raise ToolUnavailable(self.explain(exc)) from None

    def explain(self, exc: Exception) -> str:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        status = getattr(exc, "status_code", None)
        who = "our key" if self._key else "our Entra ID identity"
        fix = (
            "check AZURE_SEARCH_API_KEY."
            if self._key
            else "give the identity the Search Index Data Reader role on the service."
        )  # fmt: skip
        if isinstance(exc, ClientAuthenticationError) and status in (None, 401):
            if status is None:  # DefaultAzureCredential found no identity to sign in with
                return (
                    "Help-centre search in Azure needs a key or an Entra ID sign-in; set "
                    "AZURE_SEARCH_API_KEY or sign in (az login, or a managed identity)."
                )
            return f"Help-centre search in Azure is refusing {who} (401); {fix}"
        if status == 403:
            if self._key:
                return (
                    f"Help-centre search in Azure forbids our key to read index "
                    f"'{self.index_name}' (403); use a query or admin key in AZURE_SEARCH_API_KEY "
                    "and check the service's network rules."
                )
            return (
                f"Help-centre search in Azure forbids our Entra ID identity to read index "
                f"'{self.index_name}' (403); give it the Search Index Data Reader role and check "
                "the service's network rules."
            )
        if isinstance(exc, ResourceNotFoundError) or status == 404:
            return (
                f"Azure AI Search has no index called '{self.index_name}' (404); check "
                "AZURE_SEARCH_INDEX, or create it with `python -m assistant index`."
            )
        if status == 400:
            error = getattr(exc, "error", None)
            detail = _first_line(redact(getattr(error, "message", None) or str(exc), [self._key]))
            return (
                f"Azure AI Search rejected the request (400: {detail}); check "
                "AZURE_SEARCH_SEMANTIC_CONFIGURATION and AZURE_SEARCH_VECTOR_FIELD."
            )
        if status == 429:
            return "Help-centre search in Azure is throttling us (429); try again in a minute."
        if isinstance(exc, HttpResponseError) and status and status >= 500:
            return f"Help-centre search in Azure is not answering properly ({status}); try again in a minute."
        if isinstance(exc, ServiceResponseError):
            return f"Help-centre search in Azure did not answer in time ({self.where})."
        if isinstance(exc, ServiceRequestError):
            return f"Help-centre search in Azure cannot be reached at {self.where}."
        return f"Help-centre search in Azure failed unexpectedly ({type(exc).__name__})."


def _passage(doc: dict[str, Any]) -> Passage:
    captions = doc.get("@search.captions") or []
    # The SDK gives captions as its QueryCaptionResult models (mappings), or raw dicts.
    first = captions[0] if captions else None
    caption = first.get("text") if hasattr(first, "get") else getattr(first, "text", None)
    reranker = doc.get("@search.rerankerScore", doc.get("@search.reranker_score"))
    score = reranker if reranker is not None else doc.get("@search.score", 0.0)
    return Passage(
        id=str(doc.get("id", "")),
        title=doc.get("title") or "",
        section=doc.get("section") or "",
        source=doc.get("source") or "",
        text=doc.get("text") or "",
        score=float(score or 0.0),
        caption=caption or None,
    )


def _first_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line[:160] if line else "no detail given"
