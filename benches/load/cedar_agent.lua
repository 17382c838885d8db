-- POST /v1/is_authorized on cedar-agent for a random one of the artifacts run.sh loaded into
-- it, the same question review.lua asks the gateway: may olivia (a team-a operator) deploy it to
-- dev, or (one in four) to prod.

dofile(os.getenv("GATEHOUSE_LOAD_DIR") .. "/common.lua")

local artifacts = tonumber(os.getenv("GATEHOUSE_LOAD_AGENT_ARTIFACTS"))
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(7919 * (tid + 1) + os.time())
end

function request()
  local n = math.random(artifacts) - 1
  local channel = (n % 4 == 0) and "prod" or "dev"
  local body = '{"principal":"User::\\"olivia\\"","action":"Action::\\"deploy\\"","resource":"Artifact::\\"a'
    .. n .. '\\"","context":{"channel":"' .. channel .. '"}}'
  return wrk.format("POST", "/v1/is_authorized", headers, body)
end
