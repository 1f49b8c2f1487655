-- wrk script for scripts/bench/ingest.ts: POSTs pre-signed webhook bodies.
--
--   wrk -s signedBodies.lua <url> -- <file prefix>
--
-- Thread i reads <file prefix>.<i>, one `signature<TAB>body` line per request, so the threads send
-- disjoint sets of bodies. Requests are formatted once in init: request() only hands out the next
-- one, which keeps the client's own cost per request as low as wrk's static requests.
-- When a thread has sent every body of its file it starts again from the first and counts a wrap:
-- the bench rejects a measured run that wrapped (a repeated body is a no-op for the server).
-- done() prints one line, `wrk-result {json}`, for the bench to parse.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
local next_request = 0
sent = 0
wraps = 0

function init(args)
  for line in io.lines(args[1] .. "." .. id) do
    local tab = line:find("\t", 1, true)
    local headers = {
      ["Content-Type"] = "application/json",
      ["X-Hub-Signature-256"] = line:sub(1, tab - 1),
    }
    requests[#requests + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
  end
end

function request()
  if next_request == #requests then
    next_request = 0
    wraps = wraps + 1
  end
  next_request = next_request + 1
  sent = sent + 1
  return requests[next_request]
end

function done(summary, latency, _)
  local sent_by_thread, wraps_total = {}, 0
  for _, thread in ipairs(threads) do
    sent_by_thread[#sent_by_thread + 1] = tostring(thread:get("sent"))
    wraps_total = wraps_total + thread:get("wraps")
  end
  local errors = summary.errors
  io.write(string.format(
    'wrk-result {"durationUs":%d,"requests":%d,"non2xx":%d,"socketErrors":%d,' ..
      '"p50Us":%d,"p99Us":%d,"maxUs":%d,"sentByThread":[%s],"wraps":%d}\n',
    summary.duration, summary.requests, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max,
    table.concat(sent_by_thread, ","), wraps_total))
end
