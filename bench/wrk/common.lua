-- Shared by the wrk scripts of kask's benchmark (bench/run.py runs them).
-- Environment: BENCH_BASE (the base URI, e.g. /sessions/v1/), BENCH_KEYS
-- (how many pre-populated keys k0 .. k<n-1> exist), BENCH_VALUE_BYTES.
-- Each wrk thread has its own Lua state: the seed differs per thread.

local bench = {}

bench.base = os.getenv("BENCH_BASE") or "/sessions/v1/"
bench.keys = tonumber(os.getenv("BENCH_KEYS") or "10000")
local value_bytes = tonumber(os.getenv("BENCH_VALUE_BYTES") or "1024")

-- The same bytes the driver ceiling writes: a-z repeated.
local letters = {}
for i = 0, value_bytes - 1 do
   letters[#letters + 1] = string.char(97 + i % 26)
end
bench.value = table.concat(letters)

local post_headers = { ["Content-Type"] = "application/octet-stream" }

function bench.get()
   return wrk.format("GET", bench.base .. "k" .. math.random(0, bench.keys - 1))
end

function bench.post()
   -- Random keys, mostly new ones, as the driver ceiling writes.
   return wrk.format("POST", bench.base .. "p" .. math.random(0, 999999999),
                     post_headers, bench.value)
end

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   threads[#threads + 1] = thread
end

function init(args)
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

-- One JSON line for bench/run.py. Latencies are in microseconds; errors
-- are socket errors (connect, read, write, timeout) and responses >= 400.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "socket_errors": %d, "status_errors": %d, ' ..
      '"timeouts": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
      e.status, e.timeout, latency:percentile(50), latency:percentile(99),
      latency:percentile(99.9), latency.max))
end

return bench
