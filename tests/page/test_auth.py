"""Reading the [auth] section and the signed-in person's name."""

from __future__ import annotations

from page.auth import agent_name, auth_section, provider_names


class MissingSecrets:
    """st.secrets without a secrets.toml raises on access."""

    def get(self, key, default=None):
        raise FileNotFoundError("No secrets found")


def test_no_secrets_file_or_no_auth_section_means_an_open_page():
    assert auth_section(MissingSecrets()) is None
    assert auth_section({"OPENAI_API_KEY": "x"}) is None
    assert auth_section({"auth": "not a table"}) is None


def test_unnamed_and_named_providers():
    unnamed = {"redirect_uri": "u", "cookie_secret": "c", "client_id": "i"}
    assert provider_names(unnamed) == [None]
    named = {"redirect_uri": "u", "cookie_secret": "c", "microsoft": {"client_id": "i"}}
    assert provider_names(named) == ["microsoft"]


def test_agent_name_prefers_the_person_s_name():
    assert agent_name({"name": " Ana Agent ", "email": "ana@example.com"}) == "Ana Agent"
    assert agent_name({"preferred_username": "ana@corp"}) == "ana@corp"
    assert agent_name({"email": "ana@example.com"}) == "ana@example.com"
    assert agent_name({"is_logged_in": True}) is None
