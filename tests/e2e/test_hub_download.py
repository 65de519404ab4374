"""`trainer fit --model <hub id>` behaves as transformers does: a model that is not cached is
downloaded on first use (then read from the cache), and with HF_HUB_OFFLINE=1 nothing is
fetched and an uncached model is one line before any job exists. The hub is `fake_hub.FakeHub`
(none is reachable here), serving a tiny LayoutLM in the hub's own protocol."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from metrics_store import Queries
from tests.conftest import REPO_ROOT

from .fake_hub import FakeHub
from .faults import env_for, fit_args

pytestmark = pytest.mark.slow
REPO = "acme/tiny-layoutlm"


@pytest.fixture(scope="module")
def hub_model(tmp_path_factory):
    from transformers import BertTokenizer, LayoutLMConfig, LayoutLMModel

    folder = tmp_path_factory.mktemp("hub-model")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz0123456789.$:/-#"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    LayoutLMModel(
        LayoutLMConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_2d_position_embeddings=1024,
        )
    ).save_pretrained(folder)
    return folder


def fit(config, snapshot, out, env, *extra):
    args = fit_args(snapshot, out, "--model", REPO, "--json", *extra, epochs=1)
    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_hub_model_downloads_on_first_use_then_comes_from_the_cache(e2e_table, e2e_snapshot, hub_model, tmp_path):
    config, table = e2e_table
    with FakeHub(REPO, hub_model) as hub:
        online = {
            k: v
            for k, v in env_for(config, HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf")).items()
            if k != "HF_HUB_OFFLINE"
        }
        done = fit(config, e2e_snapshot, tmp_path / "runs", online, "--job-name", "from-the-hub")
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout)["status"] == "succeeded"
        assert {"config.json", "model.safetensors", "vocab.txt"} <= set(hub.downloads)
        cached = list((tmp_path / "hf").rglob("model.safetensors"))
        assert cached, "the download went to the Hugging Face cache"
        fetched = len(hub.downloads)
        offline = {**online, "HF_HUB_OFFLINE": "1"}
        again = fit(config, e2e_snapshot, tmp_path / "runs", offline, "--job-name", "from-the-cache")
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(hub.downloads) == fetched, "with HF_HUB_OFFLINE=1 nothing is fetched: the cache serves it"


def test_offline_and_not_cached_is_one_line_before_any_job(e2e_table, e2e_snapshot, hub_model, tmp_path):
    config, table = e2e_table
    before = len(list(Queries(table).iter_all_jobs()))
    with FakeHub(REPO, hub_model) as hub:
        offline = env_for(config, HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "empty"), HF_HUB_OFFLINE="1")
        done = fit(config, e2e_snapshot, tmp_path / "runs", offline)
        assert done.returncode == 2 and hub.downloads == []
        assert len(done.stderr.strip().splitlines()) == 1 and "HF_HUB_OFFLINE=1" in done.stderr and REPO in done.stderr
        online = {k: v for k, v in offline.items() if k != "HF_HUB_OFFLINE"}
        missing = fit(config, e2e_snapshot, tmp_path / "runs", online, "--model", "acme/no-such-model")
        assert (
            missing.returncode == 2
            and len(missing.stderr.strip().splitlines()) == 1
            and "acme/no-such-model" in missing.stderr
        )
    assert len(list(Queries(table).iter_all_jobs())) == before
