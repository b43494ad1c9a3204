"""Any encoder as a sweep axis: tiny random-init BERT, DeBERTa-v2 and XLM-R XL encoders (built
offline by `tiny.build`) run the pipeline; an encoder-decoder or a causal LM is refused; segment
ids, attention, head dropout and retrieval pooling follow each architecture; FSDP's full state
dicts hand a sharded model on whole."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_multi_gpu_env
from transformers import GPT2Config, T5Config

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from tests.test_packing import smoke_features, without_dropout
from xfer_scale import identity, modeling, report, sharding, tiny
from xfer_scale.config import TinyModelConfig
from xfer_scale.errors import UserError
from xfer_scale.formats.retrieval import PooledLayerModel
from xfer_scale.packing import pack

ROOT = Path(__file__).resolve().parents[1]
#: each architecture runs the one target that exercises what sets it apart: BERT's segment ids
#: on sentence pairs, DeBERTa's eager disentangled attention on QA windows, XLM-R XL's
#: pre-LayerNorm stack on a tagging task
RUNS = {"bert": "xnli", "deberta-v2": "xquad", "xlm-roberta-xl": "udpos"}


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("encoders")
    shape = dataclasses.asdict(TinyModelConfig())
    return {name: str(tiny.build(root / name, architecture=name, **shape)) for name in tiny.ARCHITECTURES}


@pytest.fixture(scope="module")
def runs(encoders: dict[str, str], tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """`run experiment=smoke intermediate=mnli target=T model.path=DIR` for each architecture
    (phase 1 on a third of the smoke MNLI and 20 target steps, to keep the suite's time)."""
    root = tmp_path_factory.mktemp("encoder-runs")
    for name, target in RUNS.items():
        assert run_cli("intermediate=mnli", "intermediate.examples=200", f"target={target}",
                       "target.train.max_steps=20", "target.train.eval_examples=30", f"model.path={encoders[name]}",
                       run_dir=root / name, cache_dir=cache_dir) == 0, name
    return root


@pytest.mark.parametrize("name", list(RUNS))
def test_each_architecture_runs_the_pipeline(name: str, runs: Path):
    results = pd.read_parquet(runs / name / "results.parquet")
    assert results.target_task.unique().tolist() == [RUNS[name]] and results.value.notna().all()
    assert "en" in set(results.language) and len(set(results.language)) > 1
    phases = pd.read_parquet(runs / name / "phases.parquet").set_index("phase")
    assert phases.loc["intermediate", "steps"] > 0 and phases.loc["target", "steps"] > 0


def test_a_report_keeps_the_architectures_apart(runs: Path, tmp_path: Path):
    built = report.build_report([runs], tmp_path / "out")
    assert built.n_runs == 3
    results = pd.concat(pd.read_parquet(runs / name / "results.parquet") for name in RUNS)
    assert results.series.nunique() == 3  # one model name (tiny), three model folders: three series


def test_an_encoder_decoder_and_a_causal_lm_are_refused(tmp_path: Path, cache_dir: Path, capfd):
    T5Config(vocab_size=64, d_model=16, num_layers=1, num_heads=2, d_ff=32).save_pretrained(tmp_path / "t5")
    GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0).save_pretrained(
        tmp_path / "gpt2")
    for name, why in (("t5", "is an encoder-decoder"), ("gpt2", "causal")):
        path = tmp_path / name
        assert run_cli(f"model.path={path}", run_dir=tmp_path / f"run-{name}", cache_dir=cache_dir) == 2
        out, err = capfd.readouterr()
        assert f"model.path={path}" in out + err and why in out + err and "Traceback" not in out + err
        with pytest.raises(UserError, match=why):
            modeling.load_encoder(str(path))


def test_packing_is_refused_where_attention_would_cross_sequences(encoders: dict[str, str], tmp_path: Path,
                                                                   cache_dir: Path, capfd):
    assert modeling.load_encoder(encoders["deberta-v2"]).config._attn_implementation == "eager"
    assert run_cli("intermediate=none", "target.train.packing=true", f"model.path={encoders['deberta-v2']}",
                   run_dir=tmp_path / "run", cache_dir=cache_dir) == 2
    out, err = capfd.readouterr()
    assert "target.train.packing=true: DebertaV2Model runs eager attention" in out + err


def test_segment_ids_reach_an_encoder_that_embeds_them_packed_or_not(encoders: dict[str, str]):
    tokenizer = modeling.load_tokenizer(encoders["bert"])
    fmt, features = smoke_features("xnli", tokenizer, 6)
    assert "token_type_ids" in features.column_names  # BERT's pairs: [CLS] a [SEP] b [SEP], types 0 then 1
    batch = fmt.collator(features, tokenizer.pad_token_id)([features[i] for i in range(len(features))])
    assert batch["token_type_ids"].max() == 1
    model = without_dropout(modeling.load(encoders["bert"], fmt, with_head=False)).eval()
    with torch.no_grad():
        logits = model(**batch)
        assert not torch.allclose(logits, model(**{**batch, "token_type_ids": torch.zeros_like(batch["input_ids"])}))
        torch.testing.assert_close(model(**pack(batch)), logits, atol=1e-5, rtol=1e-4)
    deberta = modeling.load(encoders["deberta-v2"], fmt, with_head=False)  # its tokenizer gives them, its config has none
    assert not deberta.reads_token_types and model.reads_token_types


def test_heads_take_the_encoders_dropout(encoders: dict[str, str], tmp_path: Path):
    config_file = Path(encoders["bert"]) / "config.json"
    folder = tmp_path / "bert"
    folder.mkdir()
    for file in Path(encoders["bert"]).iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    (folder / "config.json").write_text(config_file.read_text().replace('"hidden_dropout_prob": 0.1',
                                                                        '"hidden_dropout_prob": 0.25'))
    fmt, _ = smoke_features("xnli", modeling.load_tokenizer(str(folder)), 1)
    assert modeling.load(str(folder), fmt, with_head=False).head.dropout.p == 0.25


@pytest.mark.parametrize("name", ["bert", "deberta-v2", "xlm-roberta-xl"])
def test_retrieval_pools_an_inner_layer_of_each_architecture(name: str, encoders: dict[str, str]):
    encoder = modeling.load_encoder(encoders[name], attention="sdpa").eval()
    inputs = modeling.load_tokenizer(encoders[name])(["Hallo Welt", "Bonjour"], padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = PooledLayerModel(encoder, 1)(**inputs)
        states = encoder(**inputs, output_hidden_states=True).hidden_states[1]
    if name == "xlm-roberta-xl":  # pre-LayerNorm: layer 1's residual stream, normalised as the last layer's is
        states = encoder.encoder.LayerNorm(states)
    mask = inputs["attention_mask"][..., None].float()
    torch.testing.assert_close(pooled, (states * mask).sum(1) / mask.sum(1))


def test_identity_names_a_folders_architecture_and_keeps_xlmr_ids(encoders: dict[str, str]):
    def model_identity(path: str) -> dict:
        return identity.model_identity(compose_cfg("experiment=smoke", f"model.path={path}"))

    assert model_identity(encoders["bert"])["architecture"] == "bert"
    assert "architecture" not in model_identity(encoders["xlm-roberta"])
    assert "architecture" not in identity.model_identity(compose_cfg())  # a hub id at a revision names it


def test_the_fsdp_config_shards_xlmr_xl_by_encoder_layer(monkeypatch: pytest.MonkeyPatch, encoders: dict[str, str]):
    """As `accelerate launch --config_file conf/accelerate/fsdp_bf16.yaml` reads it (accelerate
    runs FSDP on GPUs only, so the file is checked as far as its plugin)."""
    args = launch_command_parser().parse_args(["--config_file", str(ROOT / "conf/accelerate/fsdp_bf16.yaml"),
                                               "-m", "xfer_scale", "run"])
    args, _, _ = _validate_launch_command(args)
    assert args.use_fsdp and args.mixed_precision == "bf16"
    for key, value in prepare_multi_gpu_env(args).items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == sharding.FSDP_VERSION and plugin.reshard_after_forward is True
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"
    layers = {type(module).__name__ for module in modeling.load_encoder(encoders["xlm-roberta-xl"]).modules()}
    assert plugin.transformer_cls_names_to_wrap == ["XLMRobertaXLLayer"] and "XLMRobertaXLLayer" in layers


def _sharded_step(rank: int, port: int, path: str, out: str) -> None:
    """One process of two: the tiny XL classifier sharded by encoder layer as accelerate's
    FSDP2 shards it (`fully_shard`), one AdamW step, then the hand-off of `sharding`."""
    from torch import distributed
    from torch.distributed.fsdp import fully_shard

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    distributed.init_process_group("gloo", rank=rank, world_size=2)
    tokenizer = modeling.load_tokenizer(path)
    fmt, features = smoke_features("xnli", tokenizer, 4)
    torch.manual_seed(0)
    model = modeling.load(path, fmt, with_head=False)
    for layer in model.encoder.encoder.layer:
        fully_shard(layer)
    fully_shard(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = fmt.collator(features, tokenizer.pad_token_id)([features[i] for i in range(4)])
    fmt.loss(model(**batch), batch, None).backward()
    optimizer.step()
    state = sharding.full_state(model, True)
    assert bool(state) == (rank == 0)  # whole weights on the main process only
    if rank == 0:
        modeling.save(model, tokenizer, Path(out), fmt, with_head=True, identity="fsdp", state=state)
        torch.save(state, Path(out) / "gathered.pt")
    kept = {name: value.clone() for name, value in state.items()}
    optimizer.step()  # the weights move on; the best state is loaded back into the shards
    sharding.load_full_state(model, kept, True)
    again = sharding.full_state(model, True)
    if rank == 0:
        assert all(torch.equal(again[name], state[name]) for name in state)
    distributed.destroy_process_group()


def test_a_sharded_model_is_handed_on_whole(encoders: dict[str, str], tmp_path: Path):
    """Two CPU processes (gloo): the saved folder holds the full trained weights, which an
    unsharded load reads back exactly."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    out = tmp_path / "saved"
    out.mkdir()
    # forked, not spawned: the processes start with this one's imports (a spawned one took 20 s to import them)
    mp.start_processes(_sharded_step, args=(port, encoders["xlm-roberta-xl"], str(out)), nprocs=2, start_method="fork")
    fmt, _ = smoke_features("xnli", modeling.load_tokenizer(str(out)), 1)
    loaded = modeling.load(str(out), fmt, with_head=True).state_dict()
    gathered = torch.load(out / "gathered.pt", weights_only=True)
    assert set(loaded) == set(gathered)
    for name, value in gathered.items():
        torch.testing.assert_close(loaded[name], value, rtol=0, atol=0, msg=name)
