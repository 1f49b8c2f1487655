-- wrk script for scripts/bench/ingest.ts: POSTs pre-signed webhook bodies.
--
--   wrk -t<threads> -c<connections> -s signedBodies.lua <url> -- <file prefix> <threads> [once <connections>]
--
-- Thread i reads <file prefix>.<i>, one `signature<TAB>body` line per request, so the threads send
-- disjoint sets of bodies. Requests are formatted once, in init: request() only hands out the next
-- one, so the client costs no more per request than with wrk's static request.
-- When a thread has sent every body of its file it starts again from the first and counts a wrap:
-- the bench rejects a measured run that wrapped (a repeated body is a no-op for the server).
-- With `once` it sends nothing more instead: each connection goes idle after its last answer, and
-- once all of the thread's connections are idle, the thread writes <file prefix>.spent.<i> and
-- stops. wrk itself sleeps until -d has passed: the bench interrupts it when every thread is spent.
-- done() prints one line, `wrk-result {json}`, for the bench to parse.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local requests = {}
local next_request = 0
local flag
local once, connections, spent
local idle = 0
sent = 0
wraps = 0

function init(args)
  once = args[3] == "once"
  -- A script cannot see -c; wrk gives each thread connections / threads of them, rounded down.
  if once then connections = math.floor(tonumber(args[4]) / tonumber(args[2])) end
  spent = args[1] .. ".spent." .. id
  local head = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
    "\r\nContent-Type: application/json\r\nX-Hub-Signature-256: "
  for line in io.lines(args[1] .. "." .. id) do
    local tab = line:find("\t", 1, true)
    requests[#requests + 1] = head .. line:sub(1, tab - 1) .. "\r\nContent-Length: " ..
      (#line - tab) .. "\r\n\r\n" .. line:sub(tab + 1)
  end
  flag = args[1] .. ".loaded"
  if id == tonumber(args[2]) - 1 then io.open(flag, "w"):close() end
end

-- Not os.execute("sleep …"): system() ignores SIGINT in the whole process while it runs, then puts
-- back what it found, undoing the handler wrk's main thread installs meanwhile (see `once`).
local ffi = require("ffi")
ffi.cdef("int usleep(unsigned int usec);")

-- wrk starts each thread as soon as its init returns, but starts its clock after the last init:
-- a thread waits for the last one to have loaded its bodies, or its head start would count.
local function wait_for_every_thread()
  while true do
    local file = io.open(flag)
    if file then return file:close() end
    ffi.C.usleep(10000)
  end
end

-- An empty request writes nothing: the connection waits for an answer that never comes.
local function go_idle()
  idle = idle + 1
  if idle == connections then
    io.open(spent, "w"):close()
    wrk.thread:stop()
  end
  return ""
end

local started = false
-- wrk calls thread 0's request() once from its main thread, before any thread runs, to check
-- what it returns: that call sends nothing, and must not wait (the last init has not run yet).
local checked = false

function request()
  if not started then
    if id == 0 and not checked then
      checked = true
      return requests[1]
    end
    wait_for_every_thread()
    started = true
  end
  if next_request == #requests then
    if once then return go_idle() end
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
      '"p50Us":%d,"p99Us":%d,"sentByThread":[%s],"wraps":%d}\n',
    summary.duration, summary.requests, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99),
    table.concat(sent_by_thread, ","), wraps_total))
end
