#!/usr/bin/env python3
"""Writes a DeepSeek-R1-Distill-Qwen-1.5B-shaped Hugging Face checkpoint (Qwen2ForCausalLM, BF16,
sharded like the real repositories: model-0000N-of-0000M.safetensors + model.safetensors.index.json)
with deterministic pseudo-random weights, for bench/convert-rss.sh. Python standard library only.
usage: mk_hf_checkpoint.py OUT_DIR TOKENIZER_DIR [N_SHARDS]"""
import json, os, shutil, struct, sys

out, tok_dir = sys.argv[1], sys.argv[2]
n_shards = int(sys.argv[3]) if len(sys.argv) > 3 else 4
H, L, NH, NKV, FF, V = 1536, 28, 12, 2, 8960, 151936
HD = H // NH
os.makedirs(out, exist_ok=True)

shapes = [("lm_head.weight", [V, H]), ("model.embed_tokens.weight", [V, H]), ("model.norm.weight", [H])]
for l in range(L):
    p = f"model.layers.{l}."
    shapes += [(p + "input_layernorm.weight", [H]), (p + "post_attention_layernorm.weight", [H]),
               (p + "self_attn.q_proj.weight", [NH * HD, H]), (p + "self_attn.q_proj.bias", [NH * HD]),
               (p + "self_attn.k_proj.weight", [NKV * HD, H]), (p + "self_attn.k_proj.bias", [NKV * HD]),
               (p + "self_attn.v_proj.weight", [NKV * HD, H]), (p + "self_attn.v_proj.bias", [NKV * HD]),
               (p + "self_attn.o_proj.weight", [H, NH * HD]),
               (p + "mlp.gate_proj.weight", [FF, H]), (p + "mlp.up_proj.weight", [FF, H]), (p + "mlp.down_proj.weight", [H, FF])]

def nbytes(shape):
    n = 2
    for d in shape: n *= d
    return n

# a 4 MiB pool of BF16 values in about [-0.05, 0.05] from an LCG; tensors are slices of it
POOL = 1 << 21
x, vals = 12345, bytearray()
for i in range(POOL):
    x = (x * 1103515245 + 12345) & 0x7fffffff
    f = ((x >> 8) / float(1 << 23) - 0.5) * 0.1
    vals += struct.pack("<f", f)[2:4]  # truncate to bf16 bits
pool = bytes(vals) * 2

total = sum(nbytes(s) for _, s in shapes)
shards, cur, acc = [[]], 0, 0
for name, s in shapes:
    if acc >= total * len(shards) / n_shards and len(shards) < n_shards:
        shards.append([])
    shards[-1].append((name, s))
    acc += nbytes(s)

weight_map, off_pool = {}, 0
for k, group in enumerate(shards):
    fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for name, s in sorted(group):
        hdr[name] = {"dtype": "BF16", "shape": s, "data_offsets": [off, off + nbytes(s)]}
        off += nbytes(s)
        weight_map[name] = fname
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, fname), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, s in sorted(group):
            n = nbytes(s)
            while n:
                k2 = min(n, len(pool) // 2)
                start = off_pool % (len(pool) // 2)
                f.write(pool[start:start + k2])
                off_pool += 2 * 997
                n -= k2
with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
config = {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
          "hidden_act": "silu", "hidden_size": H, "initializer_range": 0.02, "intermediate_size": FF,
          "max_position_embeddings": 131072, "max_window_layers": 21, "model_type": "qwen2", "num_attention_heads": NH,
          "num_hidden_layers": L, "num_key_value_heads": NKV, "rms_norm_eps": 1e-06, "rope_theta": 10000,
          "sliding_window": 4096, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
          "use_mrope": False, "use_sliding_window": False, "vocab_size": V}
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
    if os.path.exists(os.path.join(tok_dir, name)):
        shutil.copyfile(os.path.join(tok_dir, name), os.path.join(out, name))
print(f"{out}: {len(shards)} shards, {total / 1e9:.2f} GB of BF16 weights")
