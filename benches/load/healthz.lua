-- GET /healthz (wrk's default request for the URL): the gateway's HTTP ceiling on this machine.

dofile(os.getenv("GATEHOUSE_LOAD_DIR") .. "/common.lua")
