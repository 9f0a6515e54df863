-- 90 % GET of pre-populated keys, 10 % POST of 1 KiB values.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
request = function()
   if math.random(10) == 1 then
      return bench.post()
   end
   return bench.get()
end
