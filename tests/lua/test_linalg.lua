-- repro.linalg: eigh, qr, matrix_power by reconstruction; bad input.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, linalg = repro.tensor, repro.linalg

local function matmul(a, b) -- plain Lua, on nested tables
  local out = {}
  for i = 1, #a do
    out[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for k = 1, #b do s = s + a[i][k] * b[k][j] end
      out[i][j] = s
    end
  end
  return out
end
local function transpose(a)
  local out = {}
  for i = 1, #a[1] do out[i] = {}; for j = 1, #a do out[i][j] = a[j][i] end end
  return out
end
local function eye(n)
  local out = {}
  for i = 1, n do out[i] = {}; for j = 1, n do out[i][j] = i == j and 1 or 0 end end
  return out
end

A.test("eigh reconstructs A = V diag(w) Vᵀ, ascending", function()
  local a = {{4, 1, 0.5}, {1, 3, 0.2}, {0.5, 0.2, 1}}
  local w, V = linalg.eigh(T.tensor(a))
  local wt, Vt = w:totable(), V:totable()
  A.truthy(wt[1] <= wt[2] and wt[2] <= wt[3], "ascending")
  local D = {}
  for i = 1, 3 do D[i] = {}; for j = 1, 3 do D[i][j] = i == j and wt[i] or 0 end end
  A.allclose(a, matmul(matmul(Vt, D), transpose(Vt)), 1e-5, "V diag(w) Vᵀ")
  A.allclose(eye(3), matmul(transpose(Vt), Vt), 1e-5, "VᵀV")
end)

A.test("qr: QR = A, QᵀQ = I, tall and wide", function()
  repro.manual_seed(3)
  for _, shape in ipairs{{6, 4}, {4, 6}, {5, 5}} do
    local a = T.randn(shape)
    local Q, R = linalg.qr(a)
    local k = math.min(shape[1], shape[2])
    A.allclose({shape[1], k}, Q:shape(), 0, "Q shape")
    A.allclose({k, shape[2]}, R:shape(), 0, "R shape")
    A.allclose(a:totable(), matmul(Q:totable(), R:totable()), 1e-5, "QR")
    A.allclose(eye(k), matmul(transpose(Q:totable()), Q:totable()), 1e-5, "QᵀQ")
  end
end)

A.test("matrix_power", function()
  local a = {{2, 0.5}, {0.5, 1}}
  local inv = linalg.matrix_power(T.tensor(a), -1):totable()
  A.allclose(eye(2), matmul(a, inv), 1e-5, "A A^-1")
  local h = linalg.matrix_power(T.tensor(a), 0.5):totable()
  A.allclose(a, matmul(h, h), 1e-5, "A^1/2 A^1/2")
  local z = linalg.matrix_power(T.zeros(2, 2), -0.5, {eps = 4}):totable()
  A.allclose({{0.5, 0}, {0, 0.5}}, z, 1e-6, "(0 + eps)^-1/2")
end)

A.test("bad input", function()
  A.raises(function() linalg.eigh(T.zeros(2, 3)) end, "square")
  A.raises(function() linalg.qr(T.zeros(4)) end, "2-d")
  A.raises(function() linalg.matrix_power(T.zeros(2, 2), -1) end, "matrix_power")
  A.raises(function() linalg.matrix_power(T.eye(2), 2, {epsilon = 1}) end, "unknown option 'epsilon'")
  A.raises(function() linalg.eigh(T.tensor{{0/0, 0}, {0, 1}}) end, "non-finite")
end)

A.done("test_linalg")
