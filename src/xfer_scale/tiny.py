"""The built-in `tiny` model: a random-init XLM-R-architecture encoder with a SentencePiece-
style Unigram tokenizer trained on the bundled multilingual corpus.

It exists so that CI, the smoke experiment and the pipeline benchmarks run the very code a
real XLM-R run does (same tokenizer class, same model class, same special-token ids), offline
and in seconds. It is saved once per shape under the cache directory and reused.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import torch
from filelock import FileLock
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizer

from xfer_scale.atomic import atomic_dir

# XLM-R's own special-token ids: <s>=0, <pad>=1, </s>=2, <unk>=3; <mask> is last.
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
#: XLM-R's position embeddings; positions count from <pad>'s id + 1, so 2 of them hold no token
MAX_POSITIONS = 514


def corpus_path() -> Path:
    return Path(str(resources.files("xfer_scale") / "smoke_data" / "corpus.txt"))


def _train_vocab(vocab_size: int) -> list[tuple[str, float]]:
    """Pieces learnt by BPE, scored so that Unigram decoding takes the fewest pieces.

    (The Unigram trainer, on a corpus this small, keeps mostly single characters.)
    """
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, special_tokens=SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(corpus_path().read_text(encoding="utf-8").splitlines(), trainer)
    pieces = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return [(piece, 0.0 if piece in SPECIALS else -1.0) for piece, _ in pieces] + [("<mask>", 0.0)]


def build(out: Path, vocab_size: int, hidden_size: int, num_hidden_layers: int,
          num_attention_heads: int, intermediate_size: int, seed: int = 0) -> Path:
    """Write tokenizer + random-init model to `out` (atomically) and return it."""
    with atomic_dir(out) as tmp:
        tokenizer = XLMRobertaTokenizer(vocab=_train_vocab(vocab_size))
        config = XLMRobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            max_position_embeddings=MAX_POSITIONS,
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        torch.manual_seed(seed)
        XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


def digest(**shape: int) -> str:
    """What the model is: its shape and the corpus its tokenizer learnt from."""
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode() + corpus_path().read_bytes()).hexdigest()[:12]


def ensure(cache_dir: Path, **shape: int) -> Path:
    """The tiny model of this shape, built on first use. Concurrent jobs sharing a cache
    take a lock: a second build would swap the folder away under the first job's loading."""
    out = Path(cache_dir) / "models" / f"tiny-{digest(**shape)}"
    if (out / "config.json").exists():  # built: read-only caches need no lock to use it
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        return out if (out / "config.json").exists() else build(out, **shape)
