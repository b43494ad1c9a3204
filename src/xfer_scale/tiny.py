"""The built-in `tiny` model: a random-init XLM-R-architecture encoder with a SentencePiece-
style Unigram tokenizer trained on the bundled multilingual corpus.

It exists so that CI, the smoke experiment and the pipeline benchmarks run the very code a
real XLM-R run does (same tokenizer class, same model class, same special-token ids), offline
and in seconds. It is saved once per shape under the cache directory and reused.

`build` also makes tiny encoders of the other architectures the tool serves (`ARCHITECTURES`:
BERT, DeBERTa-v2/v3, XLM-R XL), each with its own family's tokenizer conventions learnt from
the same text ([CLS]/[SEP] and segment ids for BERT and DeBERTa, a WordPiece vocabulary for
BERT), so that tests run every architecture's code path without the hub.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import torch
from filelock import FileLock
from typing import Any

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (AutoModel, BertConfig, BertTokenizer, DebertaV2Config, DebertaV2Tokenizer,
                          PretrainedConfig, XLMRobertaConfig, XLMRobertaTokenizer, XLMRobertaXLConfig)

from xfer_scale import architectures
from xfer_scale.atomic import atomic_dir

# XLM-R's own special-token ids: <s>=0, <pad>=1, </s>=2, <unk>=3; <mask> is last.
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
#: mDeBERTa-v3's: [PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3; [MASK] is last
DEBERTA_SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]
#: mBERT's: [PAD]=0, then [UNK], [CLS], [SEP], [MASK]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
#: XLM-R's position embeddings; positions count from <pad>'s id + 1, so 2 of them hold no token
MAX_POSITIONS = 514
#: BERT's and DeBERTa's (positions count from 0)
MAX_POSITIONS_FROM_ZERO = 512


def corpus_path() -> Path:
    return Path(str(resources.files("xfer_scale") / "smoke_data" / "corpus.txt"))


def _corpus_lines() -> list[str]:
    return corpus_path().read_text(encoding="utf-8").splitlines()


def _train_vocab(vocab_size: int, specials: list[str] = SPECIALS, mask: str = "<mask>") -> list[tuple[str, float]]:
    """Pieces learnt by BPE, scored so that Unigram decoding takes the fewest pieces; the
    `specials` first, `mask` last, as XLM-R's and mDeBERTa's SentencePiece vocabularies have them.

    (The Unigram trainer, on a corpus this small, keeps mostly single characters.)
    """
    tokenizer = Tokenizer(models.BPE(unk_token=specials[-1]))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, special_tokens=specials, show_progress=False)
    tokenizer.train_from_iterator(_corpus_lines(), trainer)
    pieces = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return [(piece, 0.0 if piece in specials else -1.0) for piece, _ in pieces] + [(mask, 0.0)]


def _wordpiece_vocab(vocab_size: int) -> dict[str, int]:
    """A cased WordPiece vocabulary (`##` continuations), as mBERT's, learnt from the corpus."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=BERT_SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(_corpus_lines(), trainer)
    return tokenizer.get_vocab()


def _xlmr(vocab_size: int) -> tuple[Any, dict[str, Any]]:
    tokenizer = XLMRobertaTokenizer(vocab=_train_vocab(vocab_size))
    return tokenizer, {"max_position_embeddings": MAX_POSITIONS, "type_vocab_size": 1,
                       "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}


def _bert(vocab_size: int) -> tuple[Any, dict[str, Any]]:
    tokenizer = BertTokenizer(vocab=_wordpiece_vocab(vocab_size), do_lower_case=False, strip_accents=False)
    return tokenizer, {"max_position_embeddings": MAX_POSITIONS_FROM_ZERO, "type_vocab_size": 2}


def _deberta(vocab_size: int) -> tuple[Any, dict[str, Any]]:
    """mDeBERTa-v3's shape of attention: relative positions in 256 buckets, no absolute
    position embeddings, no segment embeddings."""
    tokenizer = DebertaV2Tokenizer(vocab=_train_vocab(vocab_size, DEBERTA_SPECIALS, "[MASK]"))
    return tokenizer, {"max_position_embeddings": MAX_POSITIONS_FROM_ZERO, "type_vocab_size": 0,
                       "relative_attention": True, "position_buckets": 256, "norm_rel_ebd": "layer_norm",
                       "share_att_key": True, "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
                       "max_relative_positions": -1, "layer_norm_eps": 1e-7}


#: the architectures `build` makes, by model_type: the config class and what makes the tokenizer
#: (with the config settings that go with it)
ARCHITECTURES: dict[str, tuple[type[PretrainedConfig], Any]] = {
    "xlm-roberta": (XLMRobertaConfig, _xlmr),
    "xlm-roberta-xl": (XLMRobertaXLConfig, _xlmr),
    "bert": (BertConfig, _bert),
    "deberta-v2": (DebertaV2Config, _deberta),
}


def build(out: Path, vocab_size: int, hidden_size: int, num_hidden_layers: int,
          num_attention_heads: int, intermediate_size: int, seed: int = 0, architecture: str = "xlm-roberta") -> Path:
    """Write tokenizer + random-init encoder of `architecture` (a key of ARCHITECTURES) to `out`
    (atomically) and return it."""
    config_class, make_tokenizer = ARCHITECTURES[architecture]
    with atomic_dir(out) as tmp:
        tokenizer, settings = make_tokenizer(vocab_size)
        config = config_class(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            pad_token_id=tokenizer.pad_token_id,
            **settings,
        )
        torch.manual_seed(seed)
        AutoModel.from_config(config, **architectures.encoder_kwargs(config)).save_pretrained(tmp)
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
