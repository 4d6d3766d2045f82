-- repro.gnn: periodic k-nearest-neighbour graphs, batching, and nn.CGCNN:
-- gradients against finite differences, invariance to atom order, to a
-- translation of every atom and to a change of lattice image, batching
-- graphs of different sizes, bad options.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn, gnn = repro.tensor, repro.nn, repro.gnn

local cubic = {{4, 0, 0}, {0, 4, 0}, {0, 0, 4}}
local perov = {lattice = cubic, numbers = {38, 22, 8, 8, 8},
               frac = {{0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}}}
local tri = {lattice = {{3.1, 0, 0}, {0.7, 2.9, 0}, {0.4, 0.3, 3.5}}, numbers = {6, 6, 7},
             frac = {{0.1, 0.2, 0.3}, {0.6, 0.5, 0.9}, {0.35, 0.8, 0.4}}}

local function predict(model, structs, k)
  local gs = {}
  for i, s in ipairs(structs) do gs[i] = gnn.graph(s, {k = k or 6, cutoff = 6}) end
  return model(gnn.batch(gs)):totable()
end

A.test("neighbour lists", function()
  local src, dst, dist = gnn.knn_edges(cubic, {{0, 0, 0}}, 6, 5)
  A.eq(6, #src, "simple cubic: 6 nearest")
  for e = 1, 6 do A.near(4, dist[e], 1e-9); A.eq(1, src[e]); A.eq(1, dst[e]) end
  local g = gnn.graph(perov, {k = 12, cutoff = 8})
  A.eq(60, #g.src, "12 per atom")
  -- Sr (A site) has 12 O at a / sqrt(2)
  for e = 1, 12 do A.near(4 / math.sqrt(2), g.dist[e], 1e-6) end
  A.raises(function() gnn.knn_edges({{1, 0, 0}, {2, 0, 0}, {0, 0, 1}}, {{0, 0, 0}}, 2, 3) end, "degenerate lattice")
end)

A.test("a repro.crystal Structure gives the same graph as the plain table", function()
  local crystal = repro.crystal
  local s = crystal.Structure{lattice = tri.lattice, species = tri.numbers, frac = tri.frac}
  local a, b = gnn.graph(s, {k = 6, cutoff = 6}), gnn.graph(tri, {k = 6, cutoff = 6})
  A.eq(#b.src, #a.src, "edge count")
  A.allclose(b.dist, a.dist, 1e-5, "distances")
  A.allclose(b.dst, a.dst, 0, "centres")
  local model = nn.CGCNN{dim = 8, layers = 2, gaussians = 9, cutoff = 6, max_z = 40, seed = 2}
  A.near(predict(model, {tri})[1], predict(model, {s})[1], 1e-5, "prediction")
end)

A.test("gradients of a tiny CGCNN", function()
  local model = nn.CGCNN{dim = 4, layers = 2, gaussians = 5, cutoff = 6, head = 3, max_z = 40, seed = 1, norm = "layer"}
  local b = gnn.batch{gnn.graph(perov, {k = 4, cutoff = 6}), gnn.graph(tri, {k = 3, cutoff = 6})}
  for _, p in ipairs(model:parameters()) do
    T.gradcheck(function() return model(b) end, {p}, {eps = 1e-2, atol = 2e-2, rtol = 2e-2})
  end
end)

A.test("invariant to atom order, translation and lattice image", function()
  local model = nn.CGCNN{dim = 8, layers = 2, gaussians = 9, cutoff = 6, max_z = 40, seed = 2}
  local base = predict(model, {tri})[1]
  local perm = {lattice = tri.lattice, numbers = {7, 6, 6}, frac = {tri.frac[3], tri.frac[1], tri.frac[2]}}
  A.near(base, predict(model, {perm})[1], 1e-5, "permuted atoms")
  local shifted = {lattice = tri.lattice, numbers = tri.numbers, frac = {}}
  local img = {{1, 0, -1}, {0, 2, 0}, {-1, -1, 1}}
  for i, f in ipairs(tri.frac) do
    shifted.frac[i] = {}
    for c = 1, 3 do shifted.frac[i][c] = f[c] + 0.37 * c + img[i][c] end
  end
  A.near(base, predict(model, {shifted})[1], 1e-4, "translated and moved to other images")
end)

A.test("batches of different sizes give each crystal's own prediction", function()
  local model = nn.CGCNN{dim = 8, layers = 2, gaussians = 9, cutoff = 6, max_z = 40, seed = 3}
  local a, b = predict(model, {perov})[1], predict(model, {tri})[1]
  local both = predict(model, {tri, perov, tri})
  A.near(b, both[1], 1e-5); A.near(a, both[2], 1e-5); A.near(b, both[3], 1e-5)
end)

A.test("bad options", function()
  A.raises(function() nn.CGCNN{dims = 3} end, "unknown option 'dims'")
  A.raises(function() nn.CGCNN{dim = 0} end, "dim must be a positive integer")
  A.raises(function() nn.CGCNN{norm = "batch"} end, "norm must be 'none' or 'layer'")
end)

A.done("gnn")
