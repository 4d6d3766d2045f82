#!/usr/bin/env python3
"""Training throughput of the repro Llama in PyTorch (the reference side of
bench/lm_throughput.lua). Same architecture as repro.nn.Llama: token
embedding, pre-norm blocks of RMSNorm + causal self-attention with RoPE
(rotate_half pairing, base 10000) + SwiGLU MLP (ffn = 8/3 dim rounded up to a
multiple of 8), final RMSNorm, untied output head; fp32, AdamW.

usage: lm_torch.py --dim D --layers L --heads H --seq-len T --batch B --vocab V
                   --steps N --warmup W --threads K
prints one line: tokens_per_s=<float>
With --serve 1 (bench/run): warm up, print "ready", then for every line
"run N" on stdin time N steps and print tokens_per_s=<float> (the model
stays loaded, so the kit's and PyTorch's runs can alternate).
Exits with status 3 and a message when torch is not importable."""
import argparse
import math
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("lm_torch.py: PyTorch is not installed (Debian: apt-get install python3-torch); skipping",
          file=sys.stderr)
    sys.exit(3)


def ffn_dim(dim):
    return 8 * math.ceil(8 * dim / 3 / 8)


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(seq_len, head_dim, base=10000.0):
    inv = base ** (-torch.arange(0, head_dim // 2, dtype=torch.float32) * 2 / head_dim)
    ang = torch.arange(seq_len, dtype=torch.float32)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(torch.nn.Module):
    def __init__(self, dim, heads, ffn):
        super().__init__()
        self.heads = heads
        self.attn_norm = RMSNorm(dim)
        self.wq = torch.nn.Linear(dim, dim, bias=False)
        self.wk = torch.nn.Linear(dim, dim, bias=False)
        self.wv = torch.nn.Linear(dim, dim, bias=False)
        self.wo = torch.nn.Linear(dim, dim, bias=False)
        self.mlp_norm = RMSNorm(dim)
        self.w1 = torch.nn.Linear(dim, ffn, bias=False)
        self.w2 = torch.nn.Linear(dim, ffn, bias=False)
        self.w3 = torch.nn.Linear(ffn, dim, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, C = x.shape
        H, D = self.heads, C // self.heads
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, H, D).transpose(1, 2)
        k = self.wk(h).view(B, T, H, D).transpose(1, 2)
        v = self.wv(h).view(B, T, H, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(mask, float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.wo(y)
        h = self.mlp_norm(x)
        return x + self.w3(F.silu(self.w1(h)) * self.w2(h))


class Llama(torch.nn.Module):
    def __init__(self, vocab, dim, layers, heads, seq_len):
        super().__init__()
        self.tok_emb = torch.nn.Embedding(vocab, dim)
        self.blocks = torch.nn.ModuleList([Block(dim, heads, ffn_dim(dim)) for _ in range(layers)])
        self.norm = RMSNorm(dim)
        self.lm_head = torch.nn.Linear(dim, vocab, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
        cos, sin = rope_tables(seq_len, dim // heads)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        self.register_buffer("mask", torch.ones(seq_len, seq_len, dtype=torch.bool).triu(1))

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok_emb(ids)
        cos, sin, mask = self.cos[:T], self.sin[:T], self.mask[:T, :T]
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    for k, d in [("dim", 128), ("layers", 4), ("heads", 4), ("seq-len", 128), ("batch", 16),
                 ("vocab", 65), ("steps", 10), ("warmup", 2), ("threads", 1), ("serve", 0)]:
        ap.add_argument("--" + k, type=int, default=d)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Llama(a.vocab, a.dim, a.layers, a.heads, a.seq_len)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    g = torch.Generator().manual_seed(1)

    def step():
        ids = torch.randint(0, a.vocab, (a.batch, a.seq_len + 1), generator=g)
        x, y = ids[:, :-1], ids[:, 1:]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).reshape(-1, a.vocab), y.reshape(-1))
        loss.backward()
        opt.step()

    def timed(n):
        t_start = time.perf_counter()
        for _ in range(n):
            step()
        return n * a.batch * a.seq_len / (time.perf_counter() - t_start)

    for _ in range(a.warmup):
        step()
    if not a.serve:
        print("tokens_per_s=%.1f" % timed(a.steps))
        return
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 2 or parts[0] != "run" or not parts[1].isdigit():
            sys.exit("lm_torch.py --serve: expected 'run N', got %r" % line)
        print("tokens_per_s=%.1f" % timed(int(parts[1])), flush=True)


if __name__ == "__main__":
    main()
