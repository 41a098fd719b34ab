"""The store: typed descriptions, reads, the value cache, client settings, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MakeSecret, moto_backend
from helpers import count_calls, new_token

from smrotate.errors import SecretFormatError, StoreError, VersionNotFoundError
from smrotate.store import SecretDescription, SecretStore, default_client, reset_clients


def test_describe_is_typed_and_ignores_unlabelled_versions(
    sm: Any, make_secret: MakeSecret
) -> None:
    arn = make_secret({"username": "a", "password": "p-1234"})
    first = moto_backend().secrets[arn].default_version_id
    moto_backend().secrets[arn].versions["orphan"] = {
        "version_id": "orphan",
        "version_stages": [],
        "createdate": 0,
    }
    description = SecretStore().describe(arn)
    assert description.arn == arn
    assert description.rotation_enabled
    assert description.versions == {first: frozenset({"AWSCURRENT"})}
    assert description.current == first
    assert description.previous is None
    assert description.unfinished is None
    del moto_backend().secrets[arn].versions["orphan"]


def test_unfinished_follows_the_aws_rule() -> None:
    def described(versions: dict[str, list[str]]) -> SecretDescription:
        return SecretDescription.from_response(
            {"ARN": "a", "Name": "n", "VersionIdsToStages": versions}
        )

    assert described({"v1": ["AWSCURRENT", "AWSPENDING"]}).unfinished is None
    assert described({"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]}).unfinished == "v2"
    assert described({"v1": ["AWSCURRENT"], "v2": []}).unfinished is None


def test_read_by_label_and_by_version(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret({"username": "a", "password": "p-1234"})
    version = moto_backend().secrets[arn].default_version_id
    store = SecretStore()
    assert store.read(arn, stage="AWSCURRENT") == {"username": "a", "password": "p-1234"}
    assert store.read(arn, version_id=version)["username"] == "a"
    with pytest.raises(ValueError, match="exactly one"):
        store.read(arn)
    with pytest.raises(VersionNotFoundError):
        store.read(arn, version_id=new_token())
    assert store.read_if_exists(arn, new_token()) is None


def test_values_by_version_id_are_read_once(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret({"username": "a", "password": "p-1234"})
    version = moto_backend().secrets[arn].default_version_id
    store = SecretStore()
    with count_calls() as calls:
        for _ in range(3):
            store.read(arn, version_id=version)
        for _ in range(2):
            store.read(arn, stage="AWSCURRENT")
    assert calls["GetSecretValue"] == 3  # one by id, two by label (labels move: never cached)


def test_a_value_written_is_not_read_back(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret({"username": "a", "password": "p-1234"})
    token = new_token()
    store = SecretStore()
    with count_calls() as calls:
        store.put_pending(arn, token, {"username": "a", "password": "p-5678"})
        assert store.read(arn, version_id=token)["password"] == "p-5678"
    assert dict(calls) == {"PutSecretValue": 1}


def test_a_value_that_is_not_json_is_not_quoted(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret("hunter2-not-json")
    with pytest.raises(SecretFormatError) as info:
        SecretStore().read(arn, stage="AWSCURRENT")
    assert "hunter2" not in str(info.value)
    assert "not valid JSON" in str(info.value)


def test_store_errors_name_operation_secret_and_code(sm: Any) -> None:
    with pytest.raises(StoreError) as info:
        SecretStore().describe("app/nope")
    assert info.value.code == "ResourceNotFoundException"
    assert "DescribeSecret on secret app/nope" in str(info.value)


def test_labels_move_and_are_removed(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret({"username": "a", "password": "p-1234"})
    store = SecretStore()
    first = store.describe(arn).current
    token = new_token()
    store.put_pending(arn, token, {"username": "a", "password": "p-5678"})
    store.move_label(arn, "AWSCURRENT", token, first)
    store.remove_label(arn, "AWSPENDING", token)
    after = store.describe(arn)
    assert after.current == token
    assert after.previous == first
    assert after.holder("AWSPENDING") is None


def test_client_is_shared_with_standard_retries_and_timeouts() -> None:
    reset_clients()
    client = default_client()
    assert default_client() is client
    config: Any = client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert config.connect_timeout == 5.0
    assert config.read_timeout == 15.0
    reset_clients()


def test_endpoint_from_secrets_manager_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_clients()
    monkeypatch.setenv("SECRETS_MANAGER_ENDPOINT", "http://127.0.0.1:4566")
    assert default_client().meta.endpoint_url == "http://127.0.0.1:4566"
    reset_clients()


def test_endpoint_from_botocore_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_clients()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4577")
    assert default_client().meta.endpoint_url == "http://127.0.0.1:4577"
    reset_clients()


def test_put_pending_sends_json(sm: Any, make_secret: MakeSecret) -> None:
    arn = make_secret({"username": "a", "password": "p-1234"})
    token = new_token()
    SecretStore().put_pending(arn, token, {"username": "é", "password": 'q"\\1234'})
    raw = sm.get_secret_value(SecretId=arn, VersionId=token)["SecretString"]
    assert json.loads(raw) == {"username": "é", "password": 'q"\\1234'}
    assert sm.get_secret_value(SecretId=arn, VersionId=token)["VersionStages"] == ["AWSPENDING"]
