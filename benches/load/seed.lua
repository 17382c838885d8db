-- Registers GATEHOUSE_LOAD_ARTIFACTS artifacts through POST /v1/projects/team-a/artifacts, split
-- across wrk's threads (thread t registers indexes t, t+T, t+2T, ...), each with a unique digest.
-- Every answer's id and digest go to "<GATEHOUSE_LOAD_TARGETS>.<thread>" for review.lua.
--
-- wrk may build a request and never send it (a first write that would block is rebuilt), so a
-- thread tracks what is still unanswered, not what it sent: once its share is handed out, a
-- registration unanswered for 0.5 s is sent again (registration by digest is idempotent: the same
-- artifact, 200), else a cheap GET /healthz filler goes out. When every index is answered the
-- thread writes "<targets>.<thread>.done" and stops (so does one that got an error); run.sh interrupts wrk once every thread is
-- done (wrk itself only stops at -d).

dofile(os.getenv("GATEHOUSE_LOAD_DIR") .. "/common.lua")

local quota = tonumber(os.getenv("GATEHOUSE_LOAD_ARTIFACTS"))
local out_path = os.getenv("GATEHOUSE_LOAD_TARGETS")
local RESEND_AFTER_MS = 500
local next_index, finished, out
local unanswered, unanswered_count = {}, 0 -- index -> when its request was last built
unexpected = 0

function init(args)
  next_index = tid
  out = assert(io.open(out_path .. "." .. tid, "w"))
end

local function digest_of(index)
  return string.format("sha256:%016x%048d", index, 0)
end

local function registration(index)
  unanswered[index] = now_ms()
  local body = '{"app":"trainer","artifact_kind":"oci","digest":"' .. digest_of(index)
    .. '","tag":"v1","source":{"source_type":"oci_registry","uri":"registry.local/gpuaas/apps/trainer"}}'
  return wrk.format("POST", "/v1/projects/team-a/artifacts", json_headers, body)
end

function request()
  if next_index < quota then
    local index = next_index
    next_index = next_index + nthreads
    unanswered_count = unanswered_count + 1
    return registration(index)
  end
  local now = now_ms()
  for index, built_at in pairs(unanswered) do
    if now - built_at > RESEND_AFTER_MS then
      return registration(index)
    end
  end
  return wrk.format("GET", "/healthz")
end

-- Once its share is handed out a thread idles its connections (20 ms between fillers), so the
-- fillers neither load the gateway nor crowd the registrations out of wrk's latency figures.
function delay()
  if next_index < quota then
    return 0
  end
  return 20
end

local function finish()
  finished = true
  out:close()
  assert(io.open(out_path .. "." .. tid .. ".done", "w")):close()
  wrk.thread:stop()
end

function response(status, headers, body)
  if finished or (status == 200 and body:find('"status":"ok"', 1, true)) then
    -- a filler's answer: nothing to record
  elseif status == 201 or status == 200 then
    local id = body:match('^{"id":"([0-9a-f-]+)"')
    local digest = body:match('"digest":"(sha256:[0-9a-f]+)"')
    local index = digest and tonumber(digest:sub(8, 23), 16)
    if id and index and unanswered[index] then
      unanswered[index] = nil
      unanswered_count = unanswered_count - 1
      out:write(id, " ", digest, "\n")
    elseif not (id and index) then
      unexpected = unexpected + 1
      first_unexpected = first_unexpected or (status .. " " .. body:sub(1, 300))
    end
  else
    unexpected = unexpected + 1
    first_unexpected = first_unexpected or (status .. " " .. body:sub(1, 300))
  end
  -- A refused registration ends the thread: run.sh then reports the shortfall and the answer.
  if not finished and (unexpected > 0 or (next_index >= quota and unanswered_count == 0)) then
    finish()
  end
end
