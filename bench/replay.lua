-- wrk script: send each pre-signed request of a data file once ("timestamp<TAB>signature<TAB>body" per line).
-- Args: file threads path content-type timestamp-header signature-header overflow-path done-marker.
-- The overflow request is a GET to a path no server has (404), so it is told apart from a real answer.
-- Thread k takes lines k, k+threads, ...; when all its requests are answered it writes <marker>-<k> and stops.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local requests = {}
local overflow = nil
local marker = nil
local index = 0
local first = nil
sent = 0
failed = 0

function init(args)
  local file, nthreads, path, ctype = args[1], tonumber(args[2]), args[3], args[4]
  local ts_header, sig_header = args[5], args[6]
  overflow = wrk.format("GET", args[7])
  marker = args[8] .. "-" .. id
  -- wrk calls request() once on the first thread before the run, to check it; give that call a dummy.
  if id == 1 then
    first = overflow
  end
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == id - 1 then
      local ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {["Content-Type"] = ctype}
      headers[ts_header] = ts
      headers[sig_header] = sig
      table.insert(requests, wrk.format("POST", path, headers, body))
    end
    n = n + 1
  end
end

-- Once a thread's share is sent, its connections wait (instead of spinning on overflow requests and taking CPU
-- from the server under test) until the thread stops on its last answer.
function delay()
  if index >= #requests then
    return 600000
  end
  return 0
end

function request()
  if first ~= nil then
    local dummy = first
    first = nil
    return dummy
  end
  index = index + 1
  if index > #requests then
    return overflow
  end
  return requests[index]
end

-- The overflow path answers 404 everywhere; real requests never do.
local answered = 0
function response(status, headers, body)
  if status ~= 404 then
    answered = answered + 1
    sent = sent + 1
    if status < 200 or status > 299 then
      failed = failed + 1
    end
    if answered == #requests then
      local out = io.open(marker, "w")
      out:write("done")
      out:close()
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local total_sent, total_failed = 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_failed = total_failed + thread:get("failed")
  end
  io.write(string.format('BENCH {"sent": %d, "failed": %d}\n', total_sent, total_failed))
end
