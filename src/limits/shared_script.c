/*
 * The server-side script of the shared limits, run atomically by Redis
 * (EVALSHA). It keeps, per endpoint, the pacing debt of each meter
 * (requests, tokens, input tokens, output tokens) exactly as ratelimit.c
 * does, drained at limit / (60 s + burst), with Redis's own clock (TIME),
 * never a client's, so clocks that differ between machines do not matter.
 *
 * Modes (ARGV[1]):
 *   grant  KEYS: state, pause, learned. ARGV: want, burst_ms, lease_ms,
 *          4 configured limits, 4 unit costs, 4 deltas (settled usage;
 *          negative = refund), state ttl_ms, ahead_ms. Applies the deltas
 *          (a refund never takes a debt below zero, so a refund that comes
 *          after the debt drained gives no extra credit), then grants the
 *          largest n <= want units that fit every meter now:
 *            requests: debt after the grant <= half the burst minus the
 *            lease's worth (a lone request goes when the debt is 0), so no
 *            1 s window holds more than 1.5 s of the pace even when a
 *            leased block is used at the end of its lease;
 *            tokens: debt before the last unit <= the burst.
 *          When none fits now, the largest block (up to want) that will
 *          fit within ahead_ms (and after any pause) is reserved for the
 *          moment it fits (GCRA's theoretical arrival time): the caller
 *          holds it until then, so processes queue in Redis instead of
 *          polling it, one call per block even when the rate is the
 *          bottleneck.
 *          Returns {n, delay_us, limit x4}: n > 0 granted, usable from
 *          delay_us on; 0: ask again after delay_us; -1: never fits.
 *   pause  KEYS: pause. ARGV: ms. Nothing is granted for ms (kept if a
 *          longer pause is in force).
 *   learn  KEYS: learned. ARGV: kind (1-4), limit, ttl_ms.
 *   beat   KEYS: processes. ARGV: member, live_ms. Returns the number of
 *          processes with a heartbeat within live_ms.
 *   leave  KEYS: processes. ARGV: member.
 * Keys come from the client, all under parallm:{namespace}:.
 */
#include "shared.h"

const char plm__shared_script[] =
    "local mode = ARGV[1]\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local function num(x) return string.format('%.17g', x) end\n"
    "if mode == 'beat' then\n"
    "  local live = tonumber(ARGV[3])\n"
    "  redis.call('ZADD', KEYS[1], num(now), ARGV[2])\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf',\n"
    "             num(now - live * 1000))\n"
    "  redis.call('PEXPIRE', KEYS[1], live * 2)\n"
    "  return redis.call('ZCARD', KEYS[1])\n"
    "elseif mode == 'leave' then\n"
    "  redis.call('ZREM', KEYS[1], ARGV[2])\n"
    "  return 0\n"
    "elseif mode == 'pause' then\n"
    "  local ms = tonumber(ARGV[2])\n"
    "  if redis.call('PTTL', KEYS[1]) < ms then\n"
    "    redis.call('SET', KEYS[1], '1', 'PX', ms)\n"
    "  end\n"
    "  return 0\n"
    "elseif mode == 'learn' then\n"
    "  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
    "  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))\n"
    "  return 0\n"
    "elseif mode ~= 'grant' then\n"
    "  return redis.error_reply('parallm: unknown mode')\n"
    "end\n"
    "local want = tonumber(ARGV[2])\n"
    "local burst = tonumber(ARGV[3]) * 1000\n"
    "local lease = tonumber(ARGV[4]) * 1000\n"
    "local ahead = tonumber(ARGV[18]) * 1000\n"
    "local st = redis.call('HMGET', KEYS[1], 'at', 'l1', 'l2', 'l3', 'l4')\n"
    "local learned = redis.call('HMGET', KEYS[3], '1', '2', '3', '4')\n"
    "local at = tonumber(st[1]) or now\n"
    "if at > now then at = now end\n"
    "local lv, rate, limit, cost = {}, {}, {}, {}\n"
    "for k = 1, 4 do\n"
    "  local c = tonumber(ARGV[4 + k])\n"
    "  local l = tonumber(learned[k])\n"
    "  if l and l > 0 and (c <= 0 or l < c) then c = l end\n"
    "  limit[k] = c\n"
    "  rate[k] = c / (60000000 + burst)\n"
    "  cost[k] = tonumber(ARGV[8 + k])\n"
    "  local v = 0\n"
    "  if c > 0 then\n"
    "    v = (tonumber(st[k + 1]) or 0) - (now - at) * rate[k]\n"
    "    if v < 0 then v = 0 end\n"
    "    v = v + tonumber(ARGV[12 + k])\n"
    "    if v < 0 then v = 0 end\n"
    "  end\n"
    "  lv[k] = v\n"
    "end\n"
    "for k = 1, 4 do\n"
    "  if limit[k] > 0 and cost[k] > limit[k] then\n"
    "    return {-1, 0, limit[1], limit[2], limit[3], limit[4]}\n"
    "  end\n"
    "end\n"
    "local function delay(n)\n"
    "  local d = 0\n"
    "  for k = 1, 4 do\n"
    "    if limit[k] > 0 and cost[k] > 0 then\n"
    "      local bu, over = rate[k] * burst, 0\n"
    "      if k == 1 then\n"
    "        local cap = bu / 2 - rate[k] * lease\n"
    "        if cap >= cost[k] then\n"
    "          over = lv[k] + n * cost[k] - cap\n"
    "        else\n"
    "          over = lv[k] + (n - 1) * cost[k]\n"
    "        end\n"
    "      else\n"
    "        over = lv[k] + (n - 1) * cost[k] - bu\n"
    "      end\n"
    "      if over > 1e-9 then\n"
    "        local w = math.ceil(over / rate[k]) + 1\n"
    "        if w > d then d = w end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  return d\n"
    "end\n"
    "local pw = 0\n"
    "local pttl = redis.call('PTTL', KEYS[2])\n"
    "if pttl > 0 then pw = pttl * 1000 end\n"
    "local n, d = 0, 0\n"
    "if want > 0 then\n"
    "  if pw == 0 then\n"
    "    n = want\n"
    "    while n > 0 and delay(n) > 0 do n = n - 1 end\n"
    "  end\n"
    "  if n == 0 then\n"
    "    n = want\n"
    "    d = math.max(delay(n), pw)\n"
    "    while n > 1 and d > ahead do\n"
    "      n = n - 1\n"
    "      d = math.max(delay(n), pw)\n"
    "    end\n"
    "    if d > ahead then n = 0 end\n"
    "  end\n"
    "end\n"
    "if n > 0 then\n"
    "  for k = 1, 4 do\n"
    "    if limit[k] > 0 then lv[k] = lv[k] + n * cost[k] end\n"
    "  end\n"
    "elseif want > 0 then\n"
    "  d = d - ahead\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'at', num(now), 'l1', num(lv[1]),\n"
    "           'l2', num(lv[2]), 'l3', num(lv[3]), 'l4', num(lv[4]))\n"
    "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[17]))\n"
    "return {n, d, limit[1], limit[2], limit[3], limit[4]}\n";
