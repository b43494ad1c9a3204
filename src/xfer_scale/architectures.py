"""What the tool needs to know of an encoder architecture, read from its config and class alone.

Any bidirectional encoder that `AutoModel` builds can be fine-tuned here (XLM-R, BERT,
DeBERTa-v2/v3, XLM-R XL...); what differs between them is answered in this one place:

- whether the tool can serve it at all: an encoder-decoder or a causal LM has no single
  bidirectional encoder whose hidden states the formats' heads read, so it is refused;
- whether its class takes `add_pooling_layer` (BERT and XLM-R do, DeBERTa-v2 has no pooler);
- which attention implementation `model.attention` means for it: SDPA through transformers'
  attention interface where the class supports one (packed batches then keep their sequences
  apart, `packing.SDPA`), plain SDPA or eager attention where it does not (DeBERTa's
  disentangled attention is eager only), and so whether `train.packing` can work;
- the dropout of the heads put on it (the config's own classifier or hidden dropout);
- whether its tokenizer's first token summarises the sequence (`<s>`, `[CLS]`), which the
  `<s>`/`[CLS]` pooling of classification and ranking heads reads.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from torch import nn
from transformers import AutoModel
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from xfer_scale.errors import UserError
from xfer_scale.packing import KEEP_SEQUENCES_APART, SDPA

#: the architecture the paper used: runs of it keep their identity without naming it
DEFAULT = "xlm-roberta"


def folder_model_type(path: str) -> str | None:
    """The `model_type` in a model folder's config.json; None for a hub id (or a folder
    without one, which loading reports)."""
    config_file = Path(path) / "config.json"
    return json.loads(config_file.read_text()).get("model_type") if config_file.is_file() else None


def check_servable(config: Any, path: str) -> None:
    """Refuse a model that is not one bidirectional encoder (exit 2, naming `model.path`)."""
    if getattr(config, "is_encoder_decoder", False):
        raise UserError(f"model.path={path} is an encoder-decoder ({config.model_type}); xfer-scale fine-tunes "
                        "bidirectional encoders (XLM-R, BERT, DeBERTa...), whose hidden states its heads read. "
                        "Use such an encoder.")
    if config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise UserError(f"model.path={path} is a {config.model_type} model, which transformers knows only as a "
                        "causal (left-to-right) LM or another kind of model, not as a masked-LM encoder; xfer-scale "
                        "fine-tunes bidirectional encoders (XLM-R, BERT, DeBERTa...). Use such an encoder.")


def model_class(config: Any) -> type[nn.Module]:
    """The class `AutoModel` builds for `config`."""
    return AutoModel._model_mapping[type(config)]


def encoder_kwargs(config: Any) -> dict[str, Any]:
    """`from_pretrained` arguments the class takes: no pooler where it has one to drop."""
    takes_pooler = "add_pooling_layer" in inspect.signature(model_class(config).__init__).parameters
    return {"add_pooling_layer": False} if takes_pooler else {}


def attention(config: Any, requested: str, path: str) -> str:
    """transformers' name for `model.attention` on this architecture: for `sdpa`, `packing.SDPA`
    where the class runs attention functions by name, else its own SDPA, else eager."""
    cls = model_class(config)
    if requested == "sdpa":
        if cls._supports_attention_backend:
            return SDPA
        return "sdpa" if cls._supports_sdpa else "eager"
    if not cls._supports_flash_attn:
        raise UserError(f"model.attention={requested}: {cls.__name__} ({path}) does not support it; "
                        "use model.attention=sdpa.")
    return requested


def packs(encoder: nn.Module) -> bool:
    """Whether the loaded encoder keeps a packed row's sequences apart (`packing`)."""
    return encoder.config._attn_implementation in KEEP_SEQUENCES_APART


def uses_token_types(config: Any) -> bool:
    """Whether the model embeds segment ids (BERT: 2 types); XLM-R (1) and DeBERTa-v3 (0) do not."""
    return getattr(config, "type_vocab_size", 0) > 1


def head_dropout(config: Any) -> float:
    """The dropout of a head on this encoder, as transformers' own heads take it: the config's
    `classifier_dropout` where set, else its hidden dropout (0.1 for XLM-R, BERT and DeBERTa)."""
    for key in ("classifier_dropout", "hidden_dropout_prob"):
        value = getattr(config, key, None)
        if value is not None:
            return float(value)
    raise UserError(f"the {config.model_type} config has neither classifier_dropout nor hidden_dropout_prob, "
                    "so the dropout of the heads put on it is unknown.")


def first_token_pools(tokenizer: Any) -> bool:
    """Whether the tokenizer puts a summarising special token (`<s>`, `[CLS]`) first."""
    first = tokenizer("a")["input_ids"][0]
    return first in {tokenizer.cls_token_id, tokenizer.bos_token_id} - {None}
