-- wrk script for `npm run bench`: every request is a POST of BENCH_BODY. A `__N__` in the body is
-- replaced per request by BENCH_RUN (unique to the run), the thread and a counter, so the gateway's
-- response cache looks every request up and misses, in this run and in any later one; without it
-- every request sends the same bytes. The summary is
-- printed as one JSON line that bench/load-generator.ts parses. Latencies are in µs.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = os.getenv("BENCH_BODY")
local run = os.getenv("BENCH_RUN") or ""
local marker = string.find(body, "__N__", 1, true)
local before, after
if marker ~= nil then
  before = string.sub(body, 1, marker - 1)
  after = string.sub(body, marker + 5)
else
  wrk.body = body
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0
function request()
  if before == nil then return wrk.request() end
  counter = counter + 1
  return wrk.format(nil, nil, nil, before .. run .. "-" .. thread_id .. "-" .. counter .. after)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
