"""A tiny random-weights llama GGUF for tests that need a real llama.cpp engine.

``write_tiny_gguf(path)`` writes a ~0.4 MB model that llama.cpp loads in milliseconds:
llama architecture, n_embd 64, 2 layers, 4 heads / 2 KV heads, n_ff 128, context 2048,
an SPM ("llama") vocab of <unk>, <s>, </s> plus the 256 byte tokens (so any text
tokenizes by byte fallback) and a ChatML chat template. Weights come from a fixed seed:
the file is byte-for-byte deterministic.

Its output is gibberish, but grammar-constrained sampling (response_format with a JSON
schema) yields schema-valid JSON. One quirk makes that need care: llama-cpp-python's
schema-to-grammar `char` rule is `[^"\\]`, so it lets raw control characters into
strings, which strict JSON parsers reject. So the residual stream carries a constant
"bias" dimension (no layer writes to it) that output.weight turns into a per-token
logit bias: control and non-ASCII bytes are all but banned, and `"` is favoured so
unbounded strings stay short (empty at temperature 0, ~20 chars at 1.0), and a
four-field screening object fits in max_tokens=200 even at temperature 1.5.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

N_EMBD, N_LAYER, N_HEAD, N_HEAD_KV, N_FF, N_CTX = 64, 2, 4, 2, 128, 2048
HEAD_DIM = N_EMBD // N_HEAD
BIAS_DIM, BIAS_VALUE = 0, 8.0  # residual dim 0 is a constant: a per-token logit bias
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _vocab() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * 256
    return tokens, [0.0] * len(tokens), [int(t) for t in types]


def _logit_bias(n_vocab: int) -> np.ndarray:
    bias = np.full(n_vocab, -30.0, dtype=np.float32)  # <unk>, <s>, control/non-ASCII bytes
    bias[2] = 0.0  # </s>: the grammar only allows it once the JSON is complete
    bias[3 + 0x20 : 3 + 0x7F] = 0.0  # printable ASCII
    bias[3 + ord("\\")] = -30.0
    bias[3 + ord('"')] = 1.0  # favoured, so unbounded strings close within ~0-40 chars
    return bias


def write_tiny_gguf(path: str | Path, seed: int = 1234) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, types = _vocab()
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def rand(*shape: int, scale: float = 0.02) -> np.ndarray:
        # numpy shape is (rows, cols) = reversed GGUF ne: ne = [in_features, out_features]
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-random-llama")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHATML_TEMPLATE)

    ones = np.ones(N_EMBD, dtype=np.float32)
    embd = rand(n_vocab, N_EMBD, scale=1.0)
    embd[:, BIAS_DIM] = BIAS_VALUE
    w.add_tensor("token_embd.weight", embd)
    for i in range(N_LAYER):
        w.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.attn_q.weight", rand(N_HEAD * HEAD_DIM, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_k.weight", rand(N_HEAD_KV * HEAD_DIM, N_EMBD))
        w.add_tensor(f"blk.{i}.attn_v.weight", rand(N_HEAD_KV * HEAD_DIM, N_EMBD))
        attn_out, ffn_down = rand(N_EMBD, N_HEAD * HEAD_DIM), rand(N_EMBD, N_FF)
        attn_out[BIAS_DIM] = ffn_down[BIAS_DIM] = 0.0  # nothing writes the bias dim
        w.add_tensor(f"blk.{i}.attn_output.weight", attn_out)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_up.weight", rand(N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_down.weight", ffn_down)
    w.add_tensor("output_norm.weight", ones)
    # after RMS norm the bias dim is ~BIAS_VALUE / rms(embedding row)
    rms = float(np.sqrt((BIAS_VALUE**2 + N_EMBD - 1) / N_EMBD))
    out = rand(n_vocab, N_EMBD, scale=0.05)
    out[:, BIAS_DIM] = _logit_bias(n_vocab) * rms / BIAS_VALUE
    w.add_tensor("output.weight", out)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
