-- POST of a 1 KiB value to a random key.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = bench.post
