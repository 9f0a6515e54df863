-- GET of pre-populated keys, chosen at random.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = bench.get
