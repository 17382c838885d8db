-- The mutation loop: register a new artifact (201), verify it (200), promote it to dev (200) —
-- three state changes, each committed with its audit record. Each thread keeps a queue of
-- follow-up steps: a registration's answer queues its verify, a verify's answer its promote;
-- any free connection of the thread sends the oldest queued step, else a new registration. So
-- every request is a mutation and the chain of one artifact stays in order. wrk's latency
-- figures mix the three steps.

dofile(os.getenv("GATEHOUSE_LOAD_DIR") .. "/common.lua")

-- With GATEHOUSE_LOAD_RATE=R the loop is paced to R mutations/s (common.lua's pace()).
pace(tonumber(os.getenv("GATEHOUSE_LOAD_RATE") or ""))

local queue, head, tail = {}, 1, 0
local step_of = {} -- artifact id -> "verify" | "promote": what its last request was
local counter = 0
unexpected = 0
-- Seconds since the epoch when this wrk run started (each thread's copy of the script runs
-- this at start-up, within the same second or the next: the thread id keeps them apart).
run_nonce = os.time()

local function push(step)
  tail = tail + 1
  queue[tail] = step
end

function request()
  if head <= tail then
    local step = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", step, json_headers, step:find("/promote$") and '{"channel":"dev"}' or "{}")
  end
  counter = counter + 1
  -- "f" + thread + counter + this run's start time: never one of seed.lua's digests (those
  -- start with zeros), nor one an earlier phase registered (it would answer 200, not 201).
  local digest = string.format("sha256:f%015x%016x%032x", tid, counter, run_nonce)
  local body = '{"app":"trainer","artifact_kind":"oci","digest":"' .. digest
    .. '","tag":"v1","source":{"source_type":"oci_registry","uri":"registry.local/gpuaas/apps/trainer"}}'
  return wrk.format("POST", "/v1/projects/team-a/artifacts", json_headers, body)
end

function response(status, headers, body)
  local id = body:match('^{"id":"([0-9a-f-]+)"')
  local previous = id and step_of[id]
  if status == 201 and id and previous == nil then
    step_of[id] = "verify"
    push("/v1/artifacts/" .. id .. "/verify")
  elseif status == 200 and previous == "verify" then
    step_of[id] = "promote"
    push("/v1/artifacts/" .. id .. "/promote")
  elseif status == 200 and previous == "promote" then
    step_of[id] = nil
  else
    unexpected = unexpected + 1
    first_unexpected = first_unexpected or (status .. " " .. body:sub(1, 300))
  end
end
