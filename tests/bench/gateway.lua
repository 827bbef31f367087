-- wrk script of tests/bench/gateway.sh: the gateway's REST routes under load.
-- The environment chooses what each request is (wrk passes no arguments
-- to a script run with -s alone):
--
--   GAVEL_WRK_MODE=get    GET GAVEL_WRK_PATH with GAVEL_WRK_TOKEN as bearer;
--                         GAVEL_WRK_DELAY_MS (optional) paces each connection
--   GAVEL_WRK_MODE=bid    POST /api/v1/lots/{id}/bids on a random lot of
--                         GAVEL_WRK_LOTS from GAVEL_WRK_FIRST_LOT, the bidder
--                         taken in turn from GAVEL_WRK_TOKENS ("user token"
--                         lines), a new Idempotency-Key each; each thread
--                         bids on its own lots with amounts rising by one
--                         increment per request, so a bid is refused only
--                         when two of its connections race on one lot
--   GAVEL_WRK_MODE=login  POST /api/v1/auth/login, an unknown email and a
--                         wrong password; the run's threads stop after
--                         GAVEL_WRK_COUNT answers in all and each then
--                         creates GAVEL_WRK_DONE.<thread> (the caller ends wrk)
--
-- done() prints one line for tests/bench/gateway.sh:
--   requests=… seconds=… rps=… p50_ms=… p99_ms=… p999_ms=… status_2xx=… …
local mode = os.getenv("GAVEL_WRK_MODE") or "get"
local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

-- Per thread (each runs its own copy of this script).
local counts = { s2 = 0, s4 = 0, s429 = 0, s5 = 0 }
local tokens = {}
local n = 0
local path, token, delay_ms, first_lot, nlots, nthreads, limit, done_file

function init(args)
   path = os.getenv("GAVEL_WRK_PATH")
   token = os.getenv("GAVEL_WRK_TOKEN")
   delay_ms = tonumber(os.getenv("GAVEL_WRK_DELAY_MS") or "0")
   first_lot = tonumber(os.getenv("GAVEL_WRK_FIRST_LOT") or "1")
   nlots = tonumber(os.getenv("GAVEL_WRK_LOTS") or "1")
   nthreads = tonumber(os.getenv("GAVEL_WRK_THREADS") or "1")
   limit = tonumber(os.getenv("GAVEL_WRK_COUNT") or "0")
   done_file = (os.getenv("GAVEL_WRK_DONE") or "") .. "." .. tid
   if mode == "bid" then
      for line in io.lines(os.getenv("GAVEL_WRK_TOKENS")) do
         local t = line:match("^%d+ (%S+)$")
         if t then table.insert(tokens, t) end
      end
   end
   math.randomseed(os.time() * 1000 + tid)
end

function request()
   n = n + 1
   if mode == "get" then
      return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
   elseif mode == "bid" then
      -- lots of this thread: first_lot + tid, + nthreads, ...
      local per = math.floor(nlots / nthreads)
      local lot = first_lot + tid + nthreads * math.random(0, per - 1)
      local body = string.format('{"amount":{"currency":"RUB","units":"%d"}}',
                                 200000 + 100 * n)
      return wrk.format("POST", "/api/v1/lots/" .. lot .. "/bids", {
         ["Authorization"] = "Bearer " .. tokens[(n + tid) % #tokens + 1],
         ["Content-Type"] = "application/json",
         ["Idempotency-Key"] = string.format("wrk-%d-%d-%d", os.time(), tid, n),
      }, body)
   else
      local body = string.format(
         '{"email":"nobody-%d-%d-%d@burst.invalid","password":"not the password at all"}',
         os.time(), tid, n)
      return wrk.format("POST", "/api/v1/auth/login",
                        { ["Content-Type"] = "application/json" }, body)
   end
end

if (tonumber(os.getenv("GAVEL_WRK_DELAY_MS") or "0")) > 0 then
   function delay()
      return delay_ms
   end
end

local answered = 0
function response(status, headers, body)
   if status >= 200 and status < 300 then counts.s2 = counts.s2 + 1
   elseif status == 429 then counts.s429 = counts.s429 + 1
   elseif status >= 400 and status < 500 then counts.s4 = counts.s4 + 1
   else counts.s5 = counts.s5 + 1 end
   answered = answered + 1
   wrk.thread:set("c2", counts.s2)
   wrk.thread:set("c4", counts.s4)
   wrk.thread:set("c429", counts.s429)
   wrk.thread:set("c5", counts.s5)
   if mode == "login" and limit > 0 and answered >= math.ceil(limit / nthreads) then
      local f = io.open(done_file, "w")
      if f then f:close() end
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local c = { c2 = 0, c4 = 0, c429 = 0, c5 = 0 }
   for _, t in ipairs(threads) do
      for k, _ in pairs(c) do c[k] = c[k] + (tonumber(t:get(k)) or 0) end
   end
   local s = summary.duration / 1e6
   io.write(string.format(
      "requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
      "status_2xx=%d status_4xx=%d status_429=%d status_5xx=%d socket_errors=%d\n",
      summary.requests, s, summary.requests / s, latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
      c.c2, c.c4, c.c429, c.c5,
      summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout))
end
