-- Registers GATEHOUSE_LOAD_ARTIFACTS artifacts through POST /v1/projects/team-a/artifacts, split
-- across wrk's threads (thread t registers indexes t, t+T, t+2T, ...), each with a unique digest.
-- Every 201 answer's id and digest go to "<GATEHOUSE_LOAD_TARGETS>.<thread>" for review.lua.
-- A thread whose share is registered and answered sends cheap GET /healthz fillers, writes
-- "<targets>.<thread>.done" and stops; run.sh interrupts wrk once every thread is done (wrk
-- itself only stops at -d).

dofile(os.getenv("GATEHOUSE_LOAD_DIR") .. "/common.lua")

local quota = tonumber(os.getenv("GATEHOUSE_LOAD_ARTIFACTS"))
local out_path = os.getenv("GATEHOUSE_LOAD_TARGETS")
local next_index, sent, answered, finished = 0, 0, 0, false
local out
unexpected = 0

function init(args)
  next_index = tid
  out = assert(io.open(out_path .. "." .. tid, "w"))
end

local function finish()
  finished = true
  out:close()
  local marker = assert(io.open(out_path .. "." .. tid .. ".done", "w"))
  marker:close()
  wrk.thread:stop()
end

function request()
  if next_index < quota then
    local digest = string.format("sha256:%016x%048d", next_index, 0)
    next_index = next_index + nthreads
    sent = sent + 1
    local body = '{"app":"trainer","artifact_kind":"oci","digest":"' .. digest
      .. '","tag":"v1","source":{"source_type":"oci_registry","uri":"registry.local/gpuaas/apps/trainer"}}'
    return wrk.format("POST", "/v1/projects/team-a/artifacts", json_headers, body)
  end
  return wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  if finished then
    return
  end
  local is_filler = status == 200 and body:find('"status":"ok"', 1, true)
  if not is_filler then
    answered = answered + 1
    local id = body:match('^{"id":"([0-9a-f-]+)"')
    local digest = body:match('"digest":"(sha256:[0-9a-f]+)"')
    if status == 201 and id and digest then
      out:write(id, " ", digest, "\n")
    else
      unexpected = unexpected + 1
      first_unexpected = first_unexpected or (status .. " " .. body:sub(1, 300))
    end
  end
  if next_index >= quota and answered >= sent then
    finish()
  end
end
