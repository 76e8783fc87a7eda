-- wrk script for bench/run.sh: chooses each request's path (BENCH_MODE) and prints one JSON line
-- with the run's totals and latency percentiles when wrk finishes.
--
--   BENCH_MODE=fixed   the URL given to wrk, every time (cached GET, static baselines)
--   BENCH_MODE=cold    a version never requested before: seed.mNNNNN@1.0.P (P in 0..8), walking
--                      modules first; BENCH_START (an index) separates rounds
--   BENCH_MODE=latest  /modules/seed.mNNNNN/versions/latest for a random seeded module
--   BENCH_MODE=list    /modules?limit=100&offset=K for a random page of the module list
-- BENCH_MODULES is the number of seeded modules (default 10000), BENCH_THREADS wrk's -t.

local mode = os.getenv("BENCH_MODE") or "fixed"
local nmod = tonumber(os.getenv("BENCH_MODULES") or "10000")
local start = tonumber(os.getenv("BENCH_START") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2") -- wrk -t
local made = 0

function setup(thread)
  thread:set("tid", made)
  made = made + 1
end

local counter = 0

function init(args)
  math.randomseed((tid or 0) * 7919 + os.time())
end

local function module_name(i)
  return string.format("seed.m%05d", i)
end

function request()
  if mode == "cold" then
    -- Threads take interleaved indices; two threads never ask for the same version.
    local idx = start + counter * nthreads + (tid or 0)
    counter = counter + 1
    local m = idx % nmod
    local p = math.floor(idx / nmod) % 9
    return wrk.format("GET", "/modules/" .. module_name(m) .. "/versions/1.0." .. p)
  elseif mode == "latest" then
    return wrk.format("GET", "/modules/" .. module_name(math.random(0, nmod - 1)) .. "/versions/latest")
  elseif mode == "list" then
    local pages = math.floor(nmod / 100)
    return wrk.format("GET", "/modules?limit=100&offset=" .. (math.random(0, pages - 1) * 100))
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
