-- POST /v1/admission/review for random seeded artifacts, named by id or by digest
-- (GATEHOUSE_LOAD_REVIEW_BY=id|digest). Targets come from the file seed.lua wrote: one
-- "<id> <digest>" line per artifact. One review in four asks about prod (denied by the shipped
-- policies for an unverified artifact: still a 200 answer), as in benches/loadgen.rs.
--
-- With GATEHOUSE_LOAD_RATE=R the whole run is paced to R requests/s: each thread keeps a
-- schedule of send slots (R / threads per second) and delay() holds a request until its slot
-- (wrk has no pacing of its own and wrk2 is not packaged). A request that falls behind its slot
-- is sent at once, so a stall is caught up rather than forgotten; the latency wrk records starts
-- when the request is written, i.e. it is the service time, not the time since the slot.

dofile(os.getenv("GATEHOUSE_LOAD_DIR") .. "/common.lua")

local by = os.getenv("GATEHOUSE_LOAD_REVIEW_BY") or "id"
local targets = {}

function init(args)
  for line in io.lines(os.getenv("GATEHOUSE_LOAD_TARGETS")) do
    local id, digest = line:match("^(%S+)%s+(%S+)$")
    if by == "digest" then
      targets[#targets + 1] = '"digest":"' .. digest .. '"'
    else
      targets[#targets + 1] = '"artifact_id":"' .. id .. '"'
    end
  end
  assert(#targets > 0, "no targets in " .. os.getenv("GATEHOUSE_LOAD_TARGETS"))
  math.randomseed(7919 * (tid + 1) + os.time())
end

function request()
  local n = math.random(#targets)
  local channel = (n % 4 == 0) and "prod" or "dev"
  local body = '{"project":"team-a",' .. targets[n] .. ',"action":"deploy","channel":"' .. channel .. '"}'
  return wrk.format("POST", "/v1/admission/review", json_headers, body)
end

pace(tonumber(os.getenv("GATEHOUSE_LOAD_RATE") or ""))
