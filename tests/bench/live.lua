-- wrk script of tests/bench/live.sh: simulated players of one live HLS
-- stream. Each request alternates, per thread, between the playlist
-- (GAVEL_WRK_STREAM's index.m3u8, with a player id `v` out of
-- GAVEL_WRK_PLAYERS) and the newest segment it lists, as a player at the
-- live edge does. The same script runs against the gateway
-- (/live/<stream>/...) and nginx serving the same directory.
--
-- The newest segment is read from the playlist on disk
-- (GAVEL_WRK_PLAYLIST_FILE) every 50 requests of a thread, not from the
-- answers: a script with a response() function makes wrk copy every body
-- into Lua, and at 200 KB a segment the client would be what is measured.
--
-- done() prints one line for tests/bench/live.sh:
--   requests=… seconds=… rps=… p50_ms=… p99_ms=… p999_ms=… mb_s=…
--   status_other=… socket_errors=…
local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local players, base, playlist_file
local n = 0
local latest = nil

local function read_latest()
   local f = io.open(playlist_file, "r")
   if not f then return end
   local last = nil
   for line in f:lines() do
      if line ~= "" and line:sub(1, 1) ~= "#" then last = line end
   end
   f:close()
   if last then latest = last end
end

function init(args)
   players = tonumber(os.getenv("GAVEL_WRK_PLAYERS") or "1000")
   base = "/live/" .. (os.getenv("GAVEL_WRK_STREAM") or "bench") .. "/"
   playlist_file = os.getenv("GAVEL_WRK_PLAYLIST_FILE")
   read_latest()
end

function request()
   n = n + 1
   if n % 50 == 0 or latest == nil then read_latest() end
   if n % 2 == 1 or latest == nil then
      local v = string.format("p%d", (tid * 7919 + n) % players)
      return wrk.format("GET", base .. "index.m3u8?v=" .. v)
   end
   return wrk.format("GET", base .. latest)
end

function done(summary, latency, requests)
   local s = summary.duration / 1e6
   io.write(string.format(
      "requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
      "mb_s=%.1f status_other=%d socket_errors=%d\n",
      summary.requests, s, summary.requests / s, latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
      summary.bytes / s / 1e6, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout))
end
