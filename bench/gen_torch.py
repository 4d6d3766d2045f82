#!/usr/bin/env python3
"""Generation throughput of the repro Llama in PyTorch (the reference side of
bench/generation.lua): the model of bench/lm_torch.py, greedy decoding with a
KV cache in the usual way: under torch.no_grad, a prefill over the prompt,
then one token per step with each layer's keys and values appended by
torch.cat, RoPE at the token's position.

usage: gen_torch.py --dim D --layers L --heads H --vocab V --batch B
                    --prompt P --new N --reps R --threads K
prints one line per repetition: tokens_per_s=<float> (new tokens B*N / s)
Exits with status 3 and a message when torch is not importable."""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import torch
    import torch.nn.functional as F
    from lm_torch import Llama
except ImportError:
    print("gen_torch.py: PyTorch is not installed (Debian: apt-get install python3-torch); skipping",
          file=sys.stderr)
    sys.exit(3)


def block_step(b, x, cos, sin, cache, causal):
    """x (B, T, C) at the positions of cos/sin; cache = [k, v] or [None, None]."""
    B, T, C = x.shape
    H, D = b.heads, C // b.heads
    h = b.attn_norm(x)
    q = b.wq(h).view(B, T, H, D).transpose(1, 2)
    k = b.wk(h).view(B, T, H, D).transpose(1, 2)
    v = b.wv(h).view(B, T, H, D).transpose(1, 2)
    q = q * cos + torch.cat([-q[..., D // 2:], q[..., :D // 2]], dim=-1) * sin
    k = k * cos + torch.cat([-k[..., D // 2:], k[..., :D // 2]], dim=-1) * sin
    if cache[0] is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    cache[0], cache[1] = k, v
    s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
    if causal:
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
    x = x + b.wo(y)
    h = b.mlp_norm(x)
    return x + b.w3(F.silu(b.w1(h)) * b.w2(h))


@torch.no_grad()
def generate(model, ids, new):
    caches = [[None, None] for _ in model.blocks]
    P = ids.shape[1]
    x = model.tok_emb(ids)
    for b, c in zip(model.blocks, caches):
        x = block_step(b, x, model.cos[:P], model.sin[:P], c, True)
    logits = model.lm_head(model.norm(x[:, -1:]))
    out = [ids]
    for s in range(new):
        tok = logits[:, -1].argmax(-1, keepdim=True)
        out.append(tok)
        if s == new - 1:
            break
        pos = P + s
        x = model.tok_emb(tok)
        for b, c in zip(model.blocks, caches):
            x = block_step(b, x, model.cos[pos:pos + 1], model.sin[pos:pos + 1], c, False)
        logits = model.lm_head(model.norm(x))
    return torch.cat(out, dim=1)


def main():
    ap = argparse.ArgumentParser()
    for k, d in [("dim", 128), ("layers", 4), ("heads", 4), ("vocab", 65), ("batch", 64),
                 ("prompt", 32), ("new", 96), ("reps", 1), ("threads", 1)]:
        ap.add_argument("--" + k, type=int, default=d)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Llama(a.vocab, a.dim, a.layers, a.heads, a.prompt + a.new).eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, a.vocab, (a.batch, a.prompt), generator=g)
    generate(model, ids, 4)  # warm-up
    for _ in range(a.reps):
        t0 = time.perf_counter()
        out = generate(model, ids, a.new)
        dt = time.perf_counter() - t0
        assert out.shape == (a.batch, a.prompt + a.new)
        print("tokens_per_s=%.1f" % (a.batch * a.new / dt), flush=True)


if __name__ == "__main__":
    main()
