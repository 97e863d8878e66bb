"""Make a tiny random Llama that the real vLLM can serve: ``python tiny_model.py DIR``.

Runs with the real-vLLM venv's interpreter (it has ``transformers`` and ``tokenizers``); nothing
is downloaded. The model is 2 layers of width 64 (two heads of 32) over a 384-token byte-level BPE vocabulary
trained here on a few sentences, with a chat template, 512 positions and float32 weights: about
half a megabyte, and it answers (nonsense) at once on a CPU. Deterministic for a given seed.
Prints the directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
CORPUS = [
    "Spark Control swaps which model runs on the Sparks.",
    "The quick brown fox jumps over the lazy dog.",
    "user: Hello! assistant: Hi, how can I help you today?",
    "Tensor parallel inference across two nodes, served over an OpenAI-compatible API.",
] * 8
MAX_POSITIONS = 512


def make(directory: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",  # noqa: S106 - a token of the vocabulary, not a secret
        eos_token="</s>",  # noqa: S106
        model_max_length=MAX_POSITIONS,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        # head_dim 32: the smallest attention head vLLM's CPU backend supports.
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        tie_word_embeddings=True,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(directory, safe_serialization=True)
    return directory


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tiny_model.py DIR")
    print(make(Path(sys.argv[1])))
