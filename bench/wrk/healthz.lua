-- GET /healthz (the URL given to wrk): the pure HTTP path. The request is
-- fixed, so wrk builds it once; only the report is added.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

