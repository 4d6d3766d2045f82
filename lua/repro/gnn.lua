-- repro.gnn: graph networks over periodic crystal graphs.
--
-- A crystal becomes a graph whose nodes are its atoms and whose edges join
-- each atom to its k nearest periodic neighbours (any lattice image within a
-- cutoff). gnn.batch packs graphs of different sizes into one disjoint graph
-- (node offsets, a per-node crystal index) so a model runs on a whole batch
-- with row gathers (index_select) and segment sums (scatter_sum/mean).
--
-- nn.CGCNN (Xie & Grossman 2018): atom embeddings from Z, a Gaussian
-- expansion of edge lengths, gated convolutions
--   h_i <- softplus(h_i + sum_j sigma(z_ij W_f + b_f) * softplus(z_ij W_s + b_s)),
--   z_ij = [h_i, h_j, e_ij]
-- (optional layer norm of the summed messages), mean pooling per crystal and
-- an MLP head giving one number per crystal.
local T = require "repro.tensor"
local nn = require "repro.nn"

local gnn = {}

-- log(1 + e^x), stable for any x: one fused kernel (T.softplus)
local softplus = T.softplus
gnn.softplus = softplus

---------------------------------------------------------------- neighbours

local function det3(m)
  return m[1][1] * (m[2][2] * m[3][3] - m[2][3] * m[3][2]) - m[1][2] * (m[2][1] * m[3][3] - m[2][3] * m[3][1])
       + m[1][3] * (m[2][1] * m[3][2] - m[2][2] * m[3][1])
end

-- k nearest periodic neighbours of every atom (brute force over lattice
-- images). lattice: 3x3 Lua table, rows are vectors (Angstrom); frac: N x 3.
-- Returns src, dst (1-based Lua arrays: the edge goes from neighbour src to
-- centre dst) and dist. Atoms with fewer than k neighbours inside cutoff keep
-- what they have.
function gnn.knn_edges(lattice, frac, k, cutoff)
  local n = #frac
  local L = lattice
  local vol = math.abs(det3(L))
  if not (vol > 1e-6) then error("gnn.knn_edges: degenerate lattice (volume " .. vol .. ")", 2) end
  -- images needed along each axis: cutoff times the reciprocal row length
  local function cross(a, b) return {a[2] * b[3] - a[3] * b[2], a[3] * b[1] - a[1] * b[3], a[1] * b[2] - a[2] * b[1]} end
  local rec = {cross(L[2], L[3]), cross(L[3], L[1]), cross(L[1], L[2])}
  local nimg = {}
  for a = 1, 3 do
    local r = rec[a]
    nimg[a] = math.ceil(cutoff * math.sqrt(r[1] ^ 2 + r[2] ^ 2 + r[3] ^ 2) / vol)
    if nimg[a] > 8 then error("gnn.knn_edges: cutoff " .. cutoff .. " needs too many images for this cell", 2) end
  end
  local cart = {}
  for i = 1, n do
    local f = frac[i]
    cart[i] = {}
    for c = 1, 3 do cart[i][c] = f[1] * L[1][c] + f[2] * L[2][c] + f[3] * L[3][c] end
  end
  local src, dst, dist = {}, {}, {}
  for i = 1, n do
    local cand = {}
    for j = 1, n do
      for a = -nimg[1], nimg[1] do for b = -nimg[2], nimg[2] do for c = -nimg[3], nimg[3] do
        if not (i == j and a == 0 and b == 0 and c == 0) then
          local d2 = 0
          for x = 1, 3 do
            local v = cart[j][x] + a * L[1][x] + b * L[2][x] + c * L[3][x] - cart[i][x]
            d2 = d2 + v * v
          end
          if d2 <= cutoff * cutoff then cand[#cand + 1] = {d2, j} end
        end
      end end end
    end
    table.sort(cand, function(p, q) if p[1] ~= q[1] then return p[1] < q[1] end return p[2] < q[2] end)
    for m = 1, math.min(k, #cand) do
      src[#src + 1], dst[#dst + 1], dist[#dist + 1] = cand[m][2], i, math.sqrt(cand[m][1])
    end
  end
  return src, dst, dist
end

-- One crystal's graph: {z = {Z...}, src =, dst =, dist =}. s is either a
-- repro.crystal Structure (its neighbors{k=} is used) or a plain table
-- {lattice = 3x3, frac = N x 3, numbers = {Z...}}.
function gnn.graph(s, opts)
  opts = opts or {}
  local k, cutoff = opts.k or 12, opts.cutoff or 8
  if type(s) == "table" and s.lattice and type(s.lattice) == "table" then
    local src, dst, dist = gnn.knn_edges(s.lattice, s.frac, k, cutoff)
    return {z = s.numbers, src = src, dst = dst, dist = dist}
  end
  -- a Structure from repro.crystal: its neighbour list (C) gives centre,
  -- neighbour; here an edge runs from the neighbour (src) to the centre (dst)
  local centre, nb, dist = s:neighbors{k = k, cutoff = cutoff}
  return {z = s:numbers():totable(), src = nb:totable(), dst = centre:totable(), dist = dist:totable()}
end

-- Pack graphs into one: {z (N) i32, src, dst (E) i32, dist (E) f32,
-- node_graph (N) i32, ngraphs}. Indices stay 1-based (the scatter ops take
-- them so).
function gnn.batch(graphs)
  local z, src, dst, dist, ng = {}, {}, {}, {}, {}
  local off = 0
  for g, gr in ipairs(graphs) do
    for i = 1, #gr.z do z[#z + 1] = gr.z[i]; ng[#ng + 1] = g end
    for e = 1, #gr.src do
      src[#src + 1] = gr.src[e] + off; dst[#dst + 1] = gr.dst[e] + off; dist[#dist + 1] = gr.dist[e]
    end
    off = off + #gr.z
  end
  local i32 = {dtype = "i32"}
  return {z = T.tensor(z, i32), src = T.tensor(src, i32), dst = T.tensor(dst, i32),
          dist = T.tensor(dist), node_graph = T.tensor(ng, i32), ngraphs = #graphs, natoms = off}
end

---------------------------------------------------------------- CGCNN

local function linear(i, o, g)
  return nn.Linear{i, o, bias = true, std = 1 / math.sqrt(i), generator = g}
end

-- Layer norm over the last dim, no affine (mean 0, variance 1).
local function layer_norm(x) return T.layer_norm(x, 1e-5) end
-- A Linear module's map as one fused kernel (bias folded into the product).
local function lin(m, x) return T.linear(x, m.weight, m.bias) end

local CGCNN = nn.class("CGCNN")

-- nn.CGCNN{dim = 64, layers = 3, gaussians = 41, cutoff = 8, head = 64,
--          max_z = 100, norm = "none" | "layer", seed =, generator =}
function gnn.CGCNN(o)
  o = o or {}
  local self = nn.Module.init(setmetatable({}, CGCNN))
  local valid = {dim = 1, layers = 1, gaussians = 1, cutoff = 1, head = 1, max_z = 1, norm = 1, seed = 1, generator = 1}
  for key in pairs(o) do
    if not valid[key] then error("nn.CGCNN: unknown option '" .. tostring(key) .. "'", 2) end
  end
  self.dim, self.layers = o.dim or 64, o.layers or 3
  self.gaussians, self.cutoff = o.gaussians or 41, o.cutoff or 8
  self.max_z, self.norm = o.max_z or 100, o.norm or "none"
  if self.norm ~= "none" and self.norm ~= "layer" then
    error("nn.CGCNN: norm must be 'none' or 'layer', got " .. tostring(self.norm), 2)
  end
  for _, key in ipairs{"dim", "layers", "gaussians", "head", "max_z"} do
    local v = o[key]
    if v ~= nil and (math.type(v) ~= "integer" or v < 1) then
      error("nn.CGCNN: " .. key .. " must be a positive integer, got " .. tostring(v), 2)
    end
  end
  local g = o.generator or (o.seed and T.Generator(o.seed)) or nil
  local F, K = self.dim, self.gaussians
  self:child("embed", nn.Embedding{self.max_z, F, std = 1, generator = g})
  self.convs = {}
  for l = 1, self.layers do
    self.convs[l] = self:child("conv" .. l, linear(2 * F + K, 2 * F, g))
  end
  self:child("head1", linear(F, o.head or F, g))
  self:child("head2", linear(o.head or F, 1, g))
  return self
end

function CGCNN:describe()
  return string.format("(dim %d, %d layers, %d gaussians, cutoff %g)", self.dim, self.layers, self.gaussians, self.cutoff)
end

-- Gaussian expansion of edge lengths: (E) -> (E, K), centres 0..cutoff.
function CGCNN:expand(dist)
  return T.gaussian_expand(dist, self.gaussians, self.cutoff)
end

-- Forward over a gnn.batch: (ngraphs) predictions.
function CGCNN:forward(b)
  local h = self.embed(b.z)
  local e = T.no_grad(function() return self:expand(b.dist) end)
  for l = 1, self.layers do
    -- sum over edges of sigmoid(z W_f) * softplus(z W_s), z = [h_dst, h_src, e],
    -- in one kernel that never builds z (T.gated_conv)
    local conv = self.convs[l]
    local agg = T.gated_conv(h, e, conv.weight, conv.bias, b.src, b.dst)
    if self.norm == "layer" then agg = layer_norm(agg) end
    h = softplus(h + agg)
  end
  local pooled = T.scatter_mean(h, b.node_graph, b.ngraphs)
  return lin(self.head2, softplus(lin(self.head1, pooled))):view(-1)
end
CGCNN.__call = CGCNN.forward

nn.CGCNN = gnn.CGCNN
return gnn
