#!/usr/bin/env python3
"""The PyTorch side of bench/materials.lua: the same CGCNN training step and
the same DiffCSP denoiser call as repro.gnn / repro.crystal_diffusion, on
the same synthetic shapes (fp32, AdamW for the GNN, no_grad for sampling).

usage: materials_torch.py --what gnn|gnn_split|diffcsp --steps N --warmup W --threads K
prints one line: ms_per_step=<float> cpu_ms_per_step=<float> (medians over
the timed steps of wall-clock and of this process's CPU time)
Exits with status 3 when torch is not importable."""
import argparse
import math
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("materials_torch.py: PyTorch is not installed (Debian: python3-torch); skipping", file=sys.stderr)
    sys.exit(3)


class CGCNN(torch.nn.Module):
    def __init__(self, dim=48, layers=3, K=41, cutoff=8.0, head=48, max_z=100):
        super().__init__()
        self.dim, self.K, self.cutoff = dim, K, cutoff
        self.embed = torch.nn.Embedding(max_z, dim)
        self.convs = torch.nn.ModuleList([torch.nn.Linear(2 * dim + K, 2 * dim) for _ in range(layers)])
        self.h1, self.h2 = torch.nn.Linear(dim, head), torch.nn.Linear(head, 1)

    def forward(self, z, src, dst, dist, node_graph, ngraphs):
        N, F_ = z.shape[0], self.dim
        h = self.embed(z)
        mu = torch.linspace(0, self.cutoff, self.K)
        step = self.cutoff / (self.K - 1)
        e = torch.exp(-((dist[:, None] - mu[None, :]) ** 2) / step ** 2)
        for conv in self.convs:
            m = conv(torch.cat([h[dst], h[src], e], 1))
            msg = torch.sigmoid(m[:, :F_]) * F.softplus(m[:, F_:])
            agg = torch.zeros(N, F_).index_add_(0, dst, msg)
            h = F.softplus(h + agg)
        cnt = torch.zeros(ngraphs).index_add_(0, node_graph, torch.ones(N))
        pooled = torch.zeros(ngraphs, F_).index_add_(0, node_graph, h) / cnt[:, None]
        return self.h2(F.softplus(self.h1(pooled))).view(-1)


class CGCNNSplit(CGCNN):
    """The same model and parameters, with [h_dst, h_src, e] W^T computed as
    per-node products gathered per edge (what repro's T.gated_conv does), so
    the comparison can also be made against PyTorch given the same algebra."""

    def forward(self, z, src, dst, dist, node_graph, ngraphs):
        N, F_ = z.shape[0], self.dim
        h = self.embed(z)
        mu = torch.linspace(0, self.cutoff, self.K)
        step = self.cutoff / (self.K - 1)
        e = torch.exp(-((dist[:, None] - mu[None, :]) ** 2) / step ** 2)
        for conv in self.convs:
            W = conv.weight
            pd, ps = h @ W[:, :F_].t(), h @ W[:, F_:2 * F_].t()
            m = torch.addmm(conv.bias, e, W[:, 2 * F_:].t()) + pd[dst] + ps[src]
            msg = torch.sigmoid(m[:, :F_]) * F.softplus(m[:, F_:])
            agg = torch.zeros(N, F_).index_add_(0, dst, msg)
            h = F.softplus(h + agg)
        cnt = torch.zeros(ngraphs).index_add_(0, node_graph, torch.ones(N))
        pooled = torch.zeros(ngraphs, F_).index_add_(0, node_graph, h) / cnt[:, None]
        return self.h2(F.softplus(self.h1(pooled))).view(-1)


class DiffCSPNet(torch.nn.Module):
    def __init__(self, dim=64, layers=3, freqs=8, time_dim=32, max_z=100):
        super().__init__()
        self.dim, self.freqs, self.time_dim = dim, freqs, time_dim
        self.embed = torch.nn.Embedding(max_z, dim)
        self.inp = torch.nn.Linear(dim + time_dim, dim)
        L = torch.nn.Linear
        self.layers = torch.nn.ModuleList([torch.nn.ModuleDict(dict(
            ei=L(dim, dim), ej=L(dim, dim, bias=False), el=L(9, dim, bias=False), ef=L(6 * freqs, dim, bias=False),
            e2=L(dim, dim), n1=L(2 * dim, dim), n2=L(dim, dim))) for _ in range(layers)])
        self.coord_out, self.lattice_out = L(dim, 3, bias=False), L(dim, 9, bias=False)

    def forward(self, t, z, frac, lat):
        B, N, F_ = frac.shape[0], frac.shape[1], self.dim
        half = self.time_dim // 2
        fr = torch.exp(torch.arange(half) * (-math.log(10000) / (half - 1)))
        e = t[:, None] * fr[None, :]
        temb = torch.cat([e.sin(), e.cos()], 1)
        h = self.inp(torch.cat([self.embed(z), temb[:, None, :].expand(B, N, self.time_dim)], 2))
        ip = (lat @ lat.transpose(1, 2)).reshape(B, 9) / 16
        d = (frac[:, None, :, :] - frac[:, :, None, :]) % 1.0
        k = torch.arange(self.freqs) * 2 * math.pi
        ang = d[..., None] * k
        fd = torch.cat([ang.sin(), ang.cos()], 4).reshape(B, N, N, 6 * self.freqs)
        for Ly in self.layers:
            hn = F.layer_norm(h, (F_,))
            pre = Ly["ei"](hn)[:, :, None] + Ly["ej"](hn)[:, None] + Ly["el"](ip)[:, None, None] + Ly["ef"](fd)
            agg = F.silu(Ly["e2"](F.silu(pre))).mean(2)
            h = h + F.silu(Ly["n2"](F.silu(Ly["n1"](torch.cat([hn, agg], 2)))))
        h = F.layer_norm(h, (F_,))
        return self.lattice_out(h.mean(1)).view(B, 3, 3) @ lat, self.coord_out(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    times, cpu = [], []
    if a.what in ("gnn", "gnn_split"):
        G, n, k = 64, 5, 12
        N, E = G * n, G * n * k
        z = torch.randint(1, 90, (N,))
        dst = torch.arange(N).repeat_interleave(k)
        src = (dst // n) * n + torch.randint(0, n, (E,))
        dist = 2 + 3 * torch.rand(E)
        ng = torch.arange(G).repeat_interleave(n)
        y = torch.randn(G)
        model = CGCNN() if a.what == "gnn" else CGCNNSplit()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0)
        for s in range(a.warmup + a.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            loss = (model(z, src, dst, dist, ng, G) - y).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if s >= a.warmup:
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
    elif a.what == "diffcsp":
        B, N = 20, 5
        model = DiffCSPNet()
        z = torch.randint(1, 90, (B, N))
        frac, lat, t = torch.rand(B, N, 3), torch.randn(B, 3, 3), torch.full((B,), 100.0)
        with torch.no_grad():
            for s in range(a.warmup + a.steps):
                t0, c0 = time.perf_counter(), time.process_time()
                model(t, z, frac, lat)
                if s >= a.warmup:
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
    else:
        print("materials_torch.py: --what must be gnn, gnn_split or diffcsp", file=sys.stderr)
        sys.exit(2)
    times.sort()
    cpu.sort()
    print("ms_per_step=%.4f cpu_ms_per_step=%.4f" % (1000 * times[len(times) // 2], 1000 * cpu[len(cpu) // 2]))


if __name__ == "__main__":
    main()
