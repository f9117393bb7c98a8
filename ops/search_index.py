"""`python -m assistant index`: build the help-centre index, locally or in Azure AI Search.

Locally it rebuilds the embedded full-text index. In Azure it makes sure the index exists
with the fields VoiceDesk reads (id, title, section, source, text, plus a content hash), a
semantic configuration, and, only when AZURE_SEARCH_VECTOR_FIELD is set, a vector field with
an Azure OpenAI vectorizer; then it uploads the manuals' passages idempotently: ids are
stable, unchanged passages (same content hash as in the index) are not sent again, changed
ones are merged or uploaded in batches, and passages no longer in the manuals are removed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant import service
from assistant.config import ConfigError, Settings

BATCH = 100  # documents per indexing request (the service takes up to 1000 or 16 MB)
HASH_FIELD = "content_hash"
ALGORITHM = "voicedesk-hnsw"
PROFILE = "voicedesk-vector-profile"
VECTORIZER = "voicedesk-openai"
DEFAULT_SEMANTIC = "default"


class SearchIndexError(ConfigError):
    """The index could not be built; the message is one sentence saying why and what to do."""


def build_index(settings: Settings, progress: bool = True) -> str:
    """Build the index the settings point at; return a one-line report."""
    if settings.azure_search_endpoint:
        return AzureIndexBuilder(settings).build(progress)
    from tools.backends.local_search import MANUALS_DIR

    started = time.perf_counter()
    backend = service.local_search(settings)
    count = backend.rebuild()
    manuals = len(list(MANUALS_DIR.glob("*.md")))
    return (
        f"Indexed {count} help passages from {manuals} manuals into {backend.where} "
        f"({time.perf_counter() - started:.1f} s)."
    )


def content_hash(doc: dict[str, Any], embedding_model: str | None) -> str:
    """What a passage's index entry depends on; the embedding model too, when there is one."""
    parts = [doc["title"], doc["section"], doc["source"], doc["text"], embedding_model or ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class AzureIndexBuilder:
    def __init__(self, settings: Settings, manuals_dir: Path | None = None, **client_options):
        from tools.backends.local_search import MANUALS_DIR

        self.settings = settings
        self.manuals_dir = Path(manuals_dir or MANUALS_DIR)
        self.search = service.azure_search(settings)
        self.index_name = self.search.index_name
        self.semantic = settings.azure_search_semantic_configuration or DEFAULT_SEMANTIC
        self.vector_field = settings.azure_search_vector_field or None
        self.embedding_model = settings.azure_search_embedding_model if self.vector_field else None
        # Building an index is not a conversation: allow the service more time than a query.
        self.client_options = {**self.search.client_options(), "read_timeout": 60}
        self.client_options.update(client_options)

    def build(self, progress: bool = True) -> str:
        if not self.index_name:
            raise SearchIndexError("Set AZURE_SEARCH_INDEX to the name of the index to build.")
        if self.vector_field and not self.settings.azure_openai_endpoint:
            raise SearchIndexError(
                "AZURE_SEARCH_VECTOR_FIELD needs AZURE_OPENAI_ENDPOINT: the Azure OpenAI "
                "resource whose embedding deployment vectorises passages and questions."
            )
        started = time.perf_counter()
        from tools.backends.local_search import chunk_manuals

        wanted = {}
        for passage in chunk_manuals(self.manuals_dir):
            doc = {k: passage[k] for k in ("id", "title", "section", "source", "text")}
            doc[HASH_FIELD] = content_hash(doc, self.embedding_model)
            wanted[doc["id"]] = doc
        if not wanted:
            raise SearchIndexError(f"There are no manuals (*.md) in {self.manuals_dir} to index.")

        existing_index = self._call(self._get_index)
        existing = self._existing_hashes(existing_index) if existing_index else {}
        vectors, dims = None, None
        if self.vector_field:
            todo = [d for d in wanted.values() if existing.get(d["id"]) != d[HASH_FIELD]]
            vectors = self._embed(todo, progress) if todo else {}
            dims = len(next(iter(vectors.values()))) if vectors else None
        self._call(lambda: self._ensure_index(existing_index, dims))

        added = [d for i, d in wanted.items() if i not in existing]
        updated = [d for i, d in wanted.items() if i in existing and existing[i] != d[HASH_FIELD]]
        removed = [i for i in existing if i not in wanted]
        unchanged = len(wanted) - len(added) - len(updated)
        to_send = added + updated
        if vectors is not None:
            to_send = [{**d, self.vector_field: vectors[d["id"]]} for d in to_send]
        self._upload(to_send, progress)
        self._remove(removed)
        manuals = len({d["source"] for d in wanted.values()})
        return (
            f"Azure AI Search index '{self.index_name}' at {self.search.where.split('/')[0]}: "
            f"{len(added)} added, {len(updated)} updated, {unchanged} unchanged, "
            f"{len(removed)} removed ({len(wanted)} passages from {manuals} manuals, "
            f"{time.perf_counter() - started:.1f} s)."
        )

    # -- the index definition -----------------------------------------------------------------

    def _index_client(self) -> Any:
        from azure.search.documents.indexes import SearchIndexClient

        return SearchIndexClient(
            self.search.endpoint, self.search.credential(), **self.client_options
        )

    def _documents(self) -> Any:
        from azure.search.documents import SearchClient

        return SearchClient(
            self.search.endpoint, self.index_name, self.search.credential(), **self.client_options
        )

    def _get_index(self) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._index_client().get_index(self.index_name)
        except ResourceNotFoundError:
            return None

    def definition(self, dimensions: int | None) -> Any:
        """The index VoiceDesk needs, as the SDK's model."""
        from azure.search.documents.indexes import models as m

        fields = [
            m.SimpleField(name="id", type=m.SearchFieldDataType.STRING, key=True),
            m.SearchableField(name="title"),
            m.SearchableField(name="section"),
            m.SearchableField(name="source", filterable=True),
            m.SearchableField(name="text"),
            m.SimpleField(name=HASH_FIELD, type=m.SearchFieldDataType.STRING),
        ]
        semantic = m.SemanticSearch(
            default_configuration_name=self.semantic,
            configurations=[self._semantic_configuration()],
        )
        vector_search = None
        if self.vector_field:
            if not dimensions:
                raise SearchIndexError(
                    f"Cannot create the vector field {self.vector_field} without knowing the "
                    "embedding size; the first build must embed at least one passage."
                )
            fields.append(self._vector_field(dimensions))
            vector_search = m.VectorSearch(
                algorithms=[m.HnswAlgorithmConfiguration(name=ALGORITHM)],
                profiles=[self._vector_profile()],
                vectorizers=[self._vectorizer()],
            )
        # The SDK's models copy what they are given: pass every part complete.
        index = m.SearchIndex(
            name=self.index_name,
            fields=fields,
            semantic_search=semantic,
            vector_search=vector_search,
        )
        return index

    def _semantic_configuration(self) -> Any:
        from azure.search.documents.indexes import models as m

        return m.SemanticConfiguration(
            name=self.semantic,
            prioritized_fields=m.SemanticPrioritizedFields(
                title_field=m.SemanticField(field_name="section"),
                content_fields=[m.SemanticField(field_name="text")],
                keywords_fields=[m.SemanticField(field_name="title")],
            ),
        )

    def _vector_field(self, dimensions: int) -> Any:
        from azure.search.documents.indexes import models as m

        return m.SearchField(
            name=self.vector_field,
            type=m.SearchFieldDataType.Collection(m.SearchFieldDataType.SINGLE),
            searchable=True,
            retrievable=False,  # never sent back with results: they would be large
            vector_search_dimensions=dimensions,
            vector_search_profile_name=PROFILE,
        )

    def _vector_profile(self) -> Any:
        from azure.search.documents.indexes import models as m

        return m.VectorSearchProfile(
            name=PROFILE, algorithm_configuration_name=ALGORITHM, vectorizer_name=VECTORIZER
        )

    def _vectorizer(self) -> Any:
        """The index embeds questions itself with this; no key is stored in the index: the
        search service's managed identity calls Azure OpenAI (Cognitive Services OpenAI User)."""
        from azure.search.documents.indexes import models as m

        if not self.settings.azure_openai_endpoint:
            raise SearchIndexError(
                "AZURE_SEARCH_VECTOR_FIELD needs AZURE_OPENAI_ENDPOINT: the Azure OpenAI "
                "resource whose embedding deployment vectorises passages and questions."
            )
        return m.AzureOpenAIVectorizer(
            vectorizer_name=VECTORIZER,
            parameters=m.AzureOpenAIVectorizerParameters(
                resource_url=self.settings.azure_openai_endpoint.rstrip("/"),
                deployment_name=self._embedding_deployment,
                model_name=self.embedding_model,
            ),
        )

    def _ensure_index(self, existing: Any, dimensions: int | None) -> None:
        """Create the index, or add to an existing one what it lacks (never change a field).

        The merge is done on the REST form of the definitions (what the service stores).
        """
        if existing is None:
            self._index_client().create_or_update_index(self.definition(dimensions))
            return
        current = existing.as_dict()
        dims = dimensions or self._existing_dimensions(current) or 1
        wanted = self.definition(dims).as_dict()
        names = {f["name"] for f in current["fields"]}
        missing = [f for f in wanted["fields"] if f["name"] not in names]
        changed = bool(missing)
        current["fields"] = current["fields"] + missing
        semantic = current.get("semantic") or {}
        configurations = semantic.get("configurations") or []
        if self.semantic not in {c["name"] for c in configurations}:
            semantic["configurations"] = configurations + wanted["semantic"]["configurations"]
            semantic["defaultConfiguration"] = semantic.get("defaultConfiguration") or self.semantic
            current["semantic"], changed = semantic, True
        if self.vector_field and any(f["name"] == self.vector_field for f in missing):
            vector = current.get("vectorSearch") or {}
            for part in ("algorithms", "profiles", "vectorizers"):
                have = {item["name"] for item in vector.get(part) or []}
                extra = [x for x in wanted["vectorSearch"][part] if x["name"] not in have]
                vector[part] = (vector.get(part) or []) + extra
            current["vectorSearch"] = vector
        if changed:
            self._index_client().create_or_update_index(current)

    def _existing_dimensions(self, current: dict[str, Any]) -> int | None:
        for f in current["fields"]:
            if f["name"] == self.vector_field:
                return f.get("dimensions")
        return None

    # -- documents ----------------------------------------------------------------------------

    def _existing_hashes(self, index: Any) -> dict[str, str | None]:
        """id -> content hash of every passage in the index (None when it has no hash)."""
        select = ["id", HASH_FIELD] if any(f.name == HASH_FIELD for f in index.fields) else ["id"]
        client = self._documents()

        def read() -> dict[str, str | None]:
            found: dict[str, str | None] = {}
            while True:  # pages of 1000, the most one request returns
                page = list(client.search("*", select=select, top=1000, skip=len(found)))
                found.update((doc["id"], doc.get(HASH_FIELD)) for doc in page)
                if len(page) < 1000:
                    return found

        return self._call(read)

    def _upload(self, docs: list[dict[str, Any]], progress: bool) -> None:
        if not docs:
            return
        client = self._documents()
        bar = _progress(len(docs), "Uploading passages", progress)
        try:
            for batch in _batches(docs, BATCH):
                results = self._call(lambda b=batch: client.merge_or_upload_documents(b))
                failed = [r for r in results if not _succeeded(r)]
                if failed:
                    first = failed[0]
                    key, why = _result_field(first, "key"), _result_field(first, "error_message")
                    raise SearchIndexError(
                        f"Azure AI Search refused {len(failed)} passage(s), e.g. {key}: {why}."
                    )
                bar.update(len(batch))
        finally:
            bar.close()

    def _remove(self, ids: list[str]) -> None:
        client = self._documents()
        for batch in _batches([{"id": i} for i in ids], BATCH):
            self._call(lambda b=batch: client.delete_documents(b))

    # -- embeddings (only with a vector field) ------------------------------------------------

    @property
    def _embedding_deployment(self) -> str:
        return self.settings.azure_search_embedding_deployment or self.embedding_model or ""

    def _embed(self, docs: list[dict[str, Any]], progress: bool) -> dict[str, list[float]]:
        """Vectors for the passages to send, from the Azure OpenAI embedding deployment."""
        import openai

        client = self._embedding_client()
        vectors: dict[str, list[float]] = {}
        bar = _progress(len(docs), "Embedding passages", progress)
        try:
            for batch in _batches(docs, 16):
                texts = [f"{d['title']} - {d['section']}\n{d['text']}" for d in batch]
                try:
                    reply = client.embeddings.create(model=self._embedding_deployment, input=texts)
                except openai.APIError as exc:
                    raise SearchIndexError(
                        f"The embedding deployment '{self._embedding_deployment}' at "
                        f"{self.settings.azure_openai_endpoint} failed ({_openai_status(exc)}); "
                        "check AZURE_SEARCH_EMBEDDING_DEPLOYMENT and access to it."
                    ) from None
                for doc, item in zip(batch, sorted(reply.data, key=lambda e: e.index), strict=True):
                    vectors[doc["id"]] = list(item.embedding)
                bar.update(len(batch))
        finally:
            bar.close()
        return vectors

    def _embedding_client(self) -> Any:
        import openai

        settings = self.settings
        credentials: dict[str, Any] = {}
        if settings.azure_openai_api_key:
            credentials["api_key"] = settings.azure_openai_api_key.get_secret_value()
        else:
            from azure.identity import DefaultAzureCredential, get_bearer_token_provider

            credentials["azure_ad_token_provider"] = get_bearer_token_provider(
                DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default"
            )
        return openai.AzureOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            api_version=settings.azure_openai_api_version,
            timeout=60,
            max_retries=self.client_options.get("retry_total", 2),
            **credentials,
        )

    # -- errors -------------------------------------------------------------------------------

    def _call(self, action: Any) -> Any:
        from tools.base import ToolUnavailable

        try:
            return self.search.guard(action)
        except ToolUnavailable as exc:
            raise SearchIndexError(_for_building(str(exc))) from None


def _for_building(sentence: str) -> str:
    """The query-time sentences, reworded where building needs other rights."""
    return sentence.replace(
        "Search Index Data Reader role",
        "Search Index Data Contributor and Search Service Contributor roles",
    ).replace("use a query or admin key", "use an admin key")


def _succeeded(result: Any) -> bool:
    return bool(_result_field(result, "succeeded", _result_field(result, "status", False)))


def _result_field(result: Any, name: str, default: Any = None) -> Any:
    if isinstance(result, dict):
        camel = {"error_message": "errorMessage", "status_code": "statusCode"}.get(name, name)
        return result.get(camel, result.get(name, default))
    return getattr(result, name, default)


def _openai_status(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status else type(exc).__name__


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _progress(total: int, label: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="passage", disable=not enabled, leave=False)
