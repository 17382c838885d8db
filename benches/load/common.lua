-- Shared by the wrk scripts of benches/load/run.sh: thread numbering, the bearer token, and the
-- one machine-readable RESULT line run.sh parses (wrk's own text report is printed above it).

threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

tid = tid or 0
nthreads = tonumber(os.getenv("GATEHOUSE_LOAD_THREADS") or "1")

json_headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. (os.getenv("GATEHOUSE_LOAD_TOKEN") or ""),
}

-- Milliseconds on the monotonic clock (wrk's Lua is LuaJIT: its FFI reaches clock_gettime).
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } gh_load_timespec;
  int clock_gettime(int clock_id, gh_load_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("gh_load_timespec")
function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

-- With a rate R > 0 (requests/s over all threads) each thread sends on a fixed schedule of
-- R / threads requests/s: wrk's delay() waits for the next slot, so latency is measured from
-- when a request is written at the offered rate (not a closed loop's self-pacing).
function pace(rate)
  if not rate or rate <= 0 then
    return
  end
  local interval_ms = 1000 * nthreads / rate
  local next_slot = nil
  function delay()
    local t = now_ms()
    next_slot = (next_slot or t) + interval_ms
    local wait = next_slot - t
    if wait <= 0 then
      return 0
    end
    return math.floor(wait)
  end
end

-- Sums a global counter every thread keeps (0 when a script keeps none).
function sum_threads(name)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (tonumber(t:get(name)) or 0)
  end
  return total
end

-- The first message any thread kept under `name`, or nil.
function first_of_threads(name)
  for _, t in ipairs(threads) do
    local v = t:get(name)
    if v then
      return v
    end
  end
  return nil
end

function done(summary, latency, requests)
  local e = summary.errors
  -- `unexpected` counts answers a script checked and found wrong (wrong status or body);
  -- `status` counts HTTP >= 400 (wrk's own check, for scripts that do not read answers).
  local unexpected = sum_threads("unexpected")
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f status_errors=%d socket_errors=%d unexpected=%d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout, unexpected))
  local first = first_of_threads("first_unexpected")
  if first then
    io.write("first unexpected answer: " .. first .. "\n")
  end
end
