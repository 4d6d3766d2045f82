-- repro.checkpoint: round trips, keep-last-K, fallback past corrupt or
-- truncated checkpoints (with a warning), malformed metadata, and failed
-- writes (full disk, unwritable folder) that leave the last good one intact.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local T = require "repro.tensor"
local C = require "repro.checkpoint"
local cio = require("repro.core").io
local optim = require "repro.optim"

local root = os.tmpname()
os.remove(root)
assert(os.execute("mkdir -p " .. root))
local n = 0
local function fresh()
  n = n + 1
  return root .. "/c" .. n
end
local function read(p) local f = assert(io.open(p, "rb")) local s = f:read("a") f:close() return s end
local function write(p, s) local f = assert(io.open(p, "wb")) f:write(s) f:close() end
local function file_of(dir, step) return string.format("%s/step-%08d.safetensors", dir, step) end
local function same(a, b) return cio.fnv1a64(a) == cio.fnv1a64(b) and a:dtype() == b:dtype() end

-- Run Lua code in a child repro, stderr captured: ok, stdout, stderr.
local bin = os.getenv("REPRO_BINARY") or "repro"
local function child(code)
  local script, out, err = root .. "/child.lua", root .. "/out", root .. "/err"
  write(script, 'package.path = ' .. string.format("%q", package.path) .. '\n' .. code)
  local ok = os.execute(string.format("%s %s >%s 2>%s", bin, script, out, err))
  return ok, read(out), read(err)
end

local x = T.randn { 3, 5 }
local ids = T.tensor({ { 1, 2 }, { 3, 4 } }, { dtype = "i32" })
local meta = {
  lr = 3e-4, n = 7, big = math.maxinteger, neg0 = -0.0, nan = 0 / 0, inf = -math.huge, yes = true, no = false,
  text = "tab\there\nnew \\ \0 \255 é", [""] = "empty key", ["a/b#%c"] = "odd key", ["#3"] = "hash key",
  list = { 1, 2.5, { deep = { deeper = "x" } } }, empty = {},
}

A.test("save / load_latest round trip, bit for bit", function()
  local dir = fresh()
  local p = C.save(dir, 12, { x = x, ids = ids, ["odd/name"] = T.zeros(0) }, meta)
  A.eq(file_of(dir, 12), p)
  local step, ts, m = C.load_latest(dir)
  A.eq(12, step)
  A.truthy(same(x, ts.x) and same(ids, ts.ids), "tensors identical")
  A.eq(0, ts["odd/name"]:numel())
  for _, k in ipairs { "lr", "n", "big", "yes", "no", "text", "", "a/b#%c", "#3" } do A.eq(meta[k], m[k], k) end
  A.eq("integer", math.type(m.n)); A.eq("float", math.type(m.lr))
  A.eq(-math.huge, 1 / m.neg0, "-0 keeps its sign")
  A.truthy(m.nan ~= m.nan, "NaN"); A.eq(-math.huge, m.inf)
  A.eq(2.5, m.list[2]); A.eq("x", m.list[3].deep.deeper); A.eq(nil, next(m.empty))
  A.eq(nil, C.load_latest(fresh()), "no checkpoint: nil")
end)

A.test("keeps the last K", function()
  local dir = fresh()
  for s = 1, 5 do C.save(dir, s * 10, { x = x }, { s = s }, { keep = 2 }) end
  A.eq("40,50", table.concat(C.list(dir), ","))
  local step, _, m = C.load_latest(dir)
  A.eq(50, step); A.eq(5, m.s)
end)

A.test("bad arguments are errors", function()
  local dir = fresh()
  A.raises(function() C.save(dir, -1, {}, {}) end, "step")
  A.raises(function() C.save(dir, 1.5, {}, {}) end, "step")
  A.raises(function() C.save(dir, 1, { x = 3 }, {}) end, "not a tensor")
  A.raises(function() C.save(dir, 1, {}, { f = print }) end, "cannot store a function")
  A.raises(function() C.save(dir, 1, {}, { t = x }) end, "cannot store a tensor")
  local cyc = {} cyc.self = cyc
  A.raises(function() C.save(dir, 1, {}, cyc) end, "cycle")
  local closed = T.zeros(2); closed:close()
  A.raises(function() C.save(dir, 1, { c = closed }, {}) end, "close")
  A.eq(0, #C.list(dir), "nothing written")
end)

-- Save steps 1 and 2, damage step 2 with fn(path), and expect load_latest to
-- return step 1 with a warning naming the file.
local function fallback(what, damage)
  A.test("falls back past a newest checkpoint that is " .. what, function()
    local dir = fresh()
    C.save(dir, 1, { x = x }, { tag = "one" })
    C.save(dir, 2, { x = x * 2 }, { tag = "two" })
    damage(file_of(dir, 2))
    local ok, out, err = child(string.format([[
      local C = require "repro.checkpoint"
      local step, ts, m = C.load_latest(%q)
      print(step, m.tag)]], dir))
    A.truthy(ok, "child ran: " .. err)
    A.eq("1\tone\n", out)
    A.truthy(err:find("warning", 1, true) and err:find(file_of(dir, 2), 1, true), "warning names the file: " .. err)
    A.truthy(err:find("falling back", 1, true), "says it falls back: " .. err)
    local step, ts = C.load_latest(dir)
    A.eq(1, step); A.truthy(same(x, ts.x))
  end)
end

fallback("corrupt (a flipped data byte)", function(p)
  local s = read(p)
  write(p, s:sub(1, -3) .. string.char((s:byte(-2) + 1) % 256) .. s:sub(-1))
end)
fallback("truncated", function(p) local s = read(p) write(p, s:sub(1, #s // 2)) end)
fallback("empty", function(p) write(p, "") end)
fallback("a copy of another step", function(p) write(p, read(p:gsub("2%.safe", "1.safe"))) end)
fallback("carrying a damaged meta text", function(p)
  local s = read(p)
  write(p, (s:gsub("two", "owt")))
end)

A.test("every checkpoint corrupt: an error naming each", function()
  local dir = fresh()
  C.save(dir, 1, { x = x }, {})
  write(file_of(dir, 1), "garbage")
  local ok, _, err = child(string.format('require("repro.checkpoint").load_latest(%q)', dir))
  A.truthy(not ok, "child fails")
  A.truthy(err:find("no intact checkpoint", 1, true) and err:find(file_of(dir, 1), 1, true), err)
end)

-- Hand-made checkpoint files whose meta text (with a correct checksum) is
-- malformed: each must be rejected with the reason.
local function bad_meta(what, text, pattern)
  A.test("malformed meta: " .. what, function()
    local dir = fresh()
    assert(os.execute("mkdir -p " .. dir))
    T.save(file_of(dir, 3), {}, { ["repro.checkpoint"] = "repro-checkpoint v2", step = "3", meta = text,
                                   ["meta.fnv1a64"] = cio.fnv1a64(text) })
    local ok, _, err = child(string.format('require("repro.checkpoint").load_latest(%q)', dir))
    A.truthy(not ok, "rejected")
    A.truthy(err:find(pattern, 1, true), what .. ": " .. err)
  end)
end
bad_meta("no tabs", "\tt\t\nhello", "meta line 2: malformed line")
bad_meta("unknown type", "\tt\t\n/a\tz\t1", "unknown value type 'z'")
bad_meta("bad integer", "\tt\t\n/a\ti\t12x", "bad integer")
bad_meta("integer overflow", "\tt\t\n/a\ti\t99999999999999999999999", "bad integer")
bad_meta("bad float", "\tt\t\n/a\tf\t0x1p4", "bad number")
bad_meta("bad boolean", "\tt\t\n/a\tb\tyes", "bad boolean")
bad_meta("bad escape", "\tt\t\n/a\ts\tx\\4", "malformed escape")
bad_meta("key set twice", "\tt\t\n/a\ti\t1\n/a\ti\t2", "set twice")
bad_meta("parent missing", "\tt\t\n/a/b\ti\t1", "not a table")
bad_meta("parent a scalar", "\tt\t\n/a\ti\t1\n/a/b\ti\t1", "not a table")
bad_meta("relative path", "\tt\t\na\ti\t1", "does not start with /")
bad_meta("empty segment", "\tt\t\n//a\ti\t1", "empty segment")
bad_meta("bad key escape", "\tt\t\n/a%zz\ti\t1", "malformed key")
bad_meta("too deep", "\tt\t\n" .. string.rep("/a", 100) .. "\ti\t1", "deeper than 64")
bad_meta("root not a table", "\ti\t1", "root must be a table")

A.test("a full disk leaves the last good checkpoint intact", function()
  local dir = fresh()
  C.save(dir, 1, { x = x }, { tag = "one" })
  -- the next save's temporary file is a link to /dev/full: every write fails
  assert(os.execute(string.format("ln -s /dev/full %s.tmp", file_of(dir, 2))))
  local err = A.raises(function() C.save(dir, 2, { x = T.zeros(100000) }, {}) end, "No space left on device")
  A.truthy(err:find("cannot write checkpoint step 2", 1, true), err)
  A.truthy(err:find("previous checkpoints are untouched", 1, true), err)
  A.eq("1", table.concat(C.list(dir), ","))
  local step, ts, m = C.load_latest(dir)
  A.eq(1, step); A.eq("one", m.tag); A.truthy(same(x, ts.x))
  A.eq(nil, io.open(file_of(dir, 2) .. ".tmp"), "no temporary left behind")
end)

A.test("an unwritable folder is a clear error", function()
  local dir = fresh()
  C.save(dir, 1, { x = x }, {})
  -- a regular file where the folder should be
  write(dir .. "/blocker", "")
  A.raises(function() C.save(dir .. "/blocker/sub", 2, { x = x }, {}) end, "cannot create the folder")
  -- a read-only folder (root may write anyway: then the error cannot happen)
  assert(os.execute("chmod 555 " .. dir))
  local probe = io.open(dir .. "/probe", "w")
  if probe then
    probe:close(); os.remove(dir .. "/probe")
  else
    A.raises(function() C.save(dir, 2, { x = x }, {}) end, "Permission denied")
    A.eq(1, (C.load_latest(dir)))
  end
  assert(os.execute("chmod 755 " .. dir))
end)

A.test("save_state / load_state: the trainer's nested state, optimizer included", function()
  local dir = fresh()
  local w = T.randn({ 4, 3 }, { requires_grad = true })
  local opt = optim.adamw({ w }, { lr = 1e-2 })
  w:sum():backward(); opt:step()
  local state = { step = 9, model = { ["layers.1.w"] = w:detach() }, optimizer = opt:state_dict(),
                  rng = T.get_rng_state(), data = { train = { seed = 1, counter = 77 } } }
  C.save_state(dir, state)
  local st = C.load_state(dir)
  A.eq(9, st.step); A.eq(77, st.data.train.counter)
  A.truthy(same(w:detach(), st.model["layers.1.w"]))
  -- a fresh optimizer loaded from the checkpoint takes the same next step
  local w2 = st.model["layers.1.w"]:clone():requires_grad_()
  local opt2 = optim.adamw({ w2 }, { lr = 1e-2 })
  opt2:load_state_dict(st.optimizer)
  opt:zero_grad(); local l1 = (w * w):sum(); l1:backward(); opt:step()
  local l2 = (w2 * w2):sum(); l2:backward(); opt2:step()
  A.truthy(same(w:detach(), w2:detach()), "resumed optimizer step is bit-identical")
  T.set_rng_state(st.rng)
  local a = T.randn { 5 }
  T.set_rng_state(state.rng)
  A.truthy(same(a, T.randn { 5 }), "RNG state restores")
  A.eq(nil, C.load_state(fresh()))
end)

os.execute("chmod -R 755 " .. root .. " 2>/dev/null; rm -rf " .. root)
A.done("test_checkpoint")
