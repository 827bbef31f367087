-- wrk script of tests/bench/live.sh: simulated players of one live HLS
-- stream. Each request alternates, per thread, between the playlist
-- (GAVEL_WRK_STREAM's index.m3u8, with a player id `v` out of
-- GAVEL_WRK_PLAYERS) and the newest segment the last playlist answer
-- listed, as a player at the live edge does. The same script runs against
-- the gateway (/live/<stream>/...) and nginx serving the same directory.
--
-- done() prints one line for tests/bench/live.sh:
--   requests=… seconds=… rps=… p50_ms=… p99_ms=… p999_ms=… playlists=…
--   segments=… segment_bytes=… status_2xx=… status_other=… socket_errors=…
local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local stream, players
local base
local n = 0
local latest = nil          -- newest segment of the last playlist answer
local want_playlist = true
local counts = { c2 = 0, cx = 0, pl = 0, sg = 0, bytes = 0 }

function init(args)
   stream = os.getenv("GAVEL_WRK_STREAM") or "bench"
   players = tonumber(os.getenv("GAVEL_WRK_PLAYERS") or "1000")
   base = "/live/" .. stream .. "/"
   math.randomseed(os.time() * 1000 + tid)
end

function request()
   n = n + 1
   if want_playlist or latest == nil then
      want_playlist = false
      local v = string.format("p%d", (tid * 7919 + n) % players)
      return wrk.format("GET", base .. "index.m3u8?v=" .. v)
   end
   want_playlist = true
   return wrk.format("GET", base .. latest)
end

function response(status, headers, body)
   if status == 200 then counts.c2 = counts.c2 + 1 else counts.cx = counts.cx + 1 end
   -- responses of a thread's connections interleave: the body says which
   if body:sub(1, 7) == "#EXTM3U" then
      counts.pl = counts.pl + 1
      if status == 200 then
         local last = nil
         for line in body:gmatch("[^\r\n]+") do
            if line:sub(1, 1) ~= "#" then last = line end
         end
         if last then latest = last end
      end
   else
      counts.sg = counts.sg + 1
      counts.bytes = counts.bytes + #body
   end
   for k, v in pairs(counts) do wrk.thread:set(k, v) end
end

function done(summary, latency, requests)
   local c = { c2 = 0, cx = 0, pl = 0, sg = 0, bytes = 0 }
   for _, t in ipairs(threads) do
      for k, _ in pairs(c) do c[k] = c[k] + (tonumber(t:get(k)) or 0) end
   end
   local s = summary.duration / 1e6
   io.write(string.format(
      "requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
      "playlists=%d segments=%d segment_mb_s=%.1f status_2xx=%d status_other=%d " ..
      "socket_errors=%d\n",
      summary.requests, s, summary.requests / s, latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
      c.pl, c.sg, c.bytes / s / 1e6, c.c2, c.cx,
      summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout))
end
