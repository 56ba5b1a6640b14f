-- wrk script for the 1 MiB POST row of scripts/bench/run.sh.
-- BENCH_BODY: the body file; BENCH_HEADERS: `Name: value` lines from `hmac-gateway sign -X POST -d @BODY`
-- (Content-Digest, Signature-Input, Signature). Every target gets the same request.
local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

wrk.method = "POST"
wrk.body = read_all(assert(os.getenv("BENCH_BODY"), "BENCH_BODY not set"))
wrk.headers["Content-Type"] = "application/octet-stream"
for line in read_all(assert(os.getenv("BENCH_HEADERS"), "BENCH_HEADERS not set")):gmatch("[^\r\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
