//! The store's atomic steps, as Lua scripts Redis runs whole: no other
//! client's command comes between a check and the change it allows (a
//! full queue's check and the append). Each touches the keys of one
//! queue only (one hash tag), as Redis Cluster requires.
//!
//! The consumer group of every queue's stream is `readers`; a message
//! taken is pending there, under the daemon that took it, until that
//! daemon acknowledges it (it was received) and deletes it.
//!
//! Events are published as `VERB ARG NAME`: `put N` and `take N` (the
//! queue now holds N messages), `new`, `del`, `set FIELD=VALUE`.

/// Makes a queue's settings and its stream and group, unless it exists:
/// then its owner, group and mode are published again, so that a mount
/// where another user made the same name meanwhile takes the queue's
/// owner, not its own maker. KEYS: settings, messages. ARGV:
/// max_messages, max_message_size, framing, uid, gid, mode, channel,
/// name. Returns 1 if made, 0 if it existed.
pub const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  for _, field in ipairs({'uid', 'gid', 'mode'}) do
    local value = redis.call('HGET', KEYS[1], field)
    redis.call('PUBLISH', ARGV[7], 'set ' .. field .. '=' .. value .. ' ' .. ARGV[8])
  end
  return 0
end
redis.call('HSET', KEYS[1], 'max_messages', ARGV[1], 'max_message_size', ARGV[2],
  'framing', ARGV[3], 'uid', ARGV[4], 'gid', ARGV[5], 'mode', ARGV[6])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[2], 'readers', '0', 'MKSTREAM')
end
return 1
"#;

/// The start of the scripts that count room (KEYS: settings, messages,
/// places): -1 if the queue is gone; else `max` its `max_messages`,
/// `now` the milliseconds of the server's clock, and the places that
/// expired by then taken out.
const ROOM: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local max = tonumber(redis.call('HGET', KEYS[1], 'max_messages'))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
"#;

/// Appends messages while there is room: messages and places held reach
/// `max_messages` at the most. A message in progress that holds a place
/// goes into it whatever the count. KEYS: settings, messages, places.
/// ARGV: deadline (ms of the server's clock), place ('' for none),
/// channel, name, messages… Returns how many went in (in order), -1 if
/// the queue is gone, -2 if the deadline passed: its daemon has answered
/// its writer `ECOMM` by then, so nothing may go in.
pub fn append() -> String {
    format!(
        r#"{ROOM}
if now > tonumber(ARGV[1]) then return -2 end
local first = 5
local went = 0
if ARGV[2] ~= '' and redis.call('ZREM', KEYS[3], ARGV[2]) == 1 and #ARGV >= first then
  redis.call('XADD', KEYS[2], '*', 'm', ARGV[first])
  first = first + 1
  went = 1
end
local used = redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3])
for i = first, #ARGV do
  if used >= max then break end
  redis.call('XADD', KEYS[2], '*', 'm', ARGV[i])
  used = used + 1
  went = went + 1
end
if went > 0 then
  redis.call('PUBLISH', ARGV[3], 'put ' .. redis.call('XLEN', KEYS[2]) .. ' ' .. ARGV[4])
end
return went
"#
    )
}

/// Holds a place for a message in progress while there is room.
/// KEYS: settings, messages, places. ARGV: place, lifetime (ms).
/// Returns 1 if held, 0 if the queue is full, -1 if it is gone.
pub fn reserve() -> String {
    format!(
        r#"{ROOM}
if redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3]) >= max then return 0 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
return 1
"#
    )
}

/// Gives a place back (its description closed with no message in it).
/// KEYS: settings, messages, places. ARGV: place, channel, name.
pub const RELEASE: &str = r#"
if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[2], 'take ' .. redis.call('XLEN', KEYS[2]) .. ' ' .. ARGV[3])
end
return 1
"#;

/// Acknowledges and deletes the messages received since the last step
/// (as ACK), then takes the oldest messages for this daemon, up to
/// `count`: first those another daemon took and never acknowledged for
/// `reclaim` ms (it ended before its reader received them), else the next
/// never taken. KEYS: messages. ARGV: consumer, reclaim (ms), deadline
/// (ms of the server's clock), count, channel, name, ids to acknowledge…
/// Returns {id, message, id, message, …}; or, with none to take,
/// {'wait', MS}: how long until a message another daemon took may be
/// claimed (-1: none is pending); -1 if the queue is gone, -2 if the
/// deadline passed (its daemon gave up on the answer: a message taken now
/// would wait `reclaim` for nothing; the acknowledgements are made).
pub const TAKE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if #ARGV > 6 then
  for i = 7, #ARGV do
    redis.call('XACK', KEYS[1], 'readers', ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
  end
  redis.call('PUBLISH', ARGV[5], 'take ' .. redis.call('XLEN', KEYS[1]) .. ' ' .. ARGV[6])
end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[3]) then
  return -2
end
local out = {}
local claimed = redis.call('XAUTOCLAIM', KEYS[1], 'readers', ARGV[1], ARGV[2], '0-0',
  'COUNT', ARGV[4])
for _, entry in ipairs(claimed[2]) do
  if entry and entry[2] then
    table.insert(out, entry[1])
    table.insert(out, entry[2][2])
  end
end
if #out > 0 then return out end
local read = redis.call('XREADGROUP', 'GROUP', 'readers', ARGV[1], 'COUNT', ARGV[4],
  'STREAMS', KEYS[1], '>')
if not read then
  local soonest = -1
  for _, p in ipairs(redis.call('XPENDING', KEYS[1], 'readers', '-', '+', 16)) do
    local left = math.max(0, tonumber(ARGV[2]) - p[3])
    if soonest < 0 or left < soonest then soonest = left end
  end
  return {'wait', soonest}
end
for _, entry in ipairs(read[1][2]) do
  table.insert(out, entry[1])
  table.insert(out, entry[2][2])
end
return out
"#;

/// Taken messages were received: acknowledged and deleted, and the room
/// they leave announced. KEYS: messages. ARGV: channel, name, ids…
pub const ACK: &str = r#"
for i = 3, #ARGV do
  redis.call('XACK', KEYS[1], 'readers', ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
end
redis.call('PUBLISH', ARGV[1], 'take ' .. redis.call('XLEN', KEYS[1]) .. ' ' .. ARGV[2])
return 1
"#;

/// A taken message no reader here received: it goes back to the front,
/// to be taken by the next daemon that takes (its idle time made long,
/// so that the next XAUTOCLAIM claims it). KEYS: messages. ARGV: id,
/// consumer, channel, name.
pub const GIVE_BACK: &str = r#"
redis.call('XCLAIM', KEYS[1], 'readers', ARGV[2], 0, ARGV[1], 'IDLE', 1000000000000, 'JUSTID')
redis.call('PUBLISH', ARGV[3], 'put ' .. redis.call('XLEN', KEYS[1]) .. ' ' .. ARGV[4])
return 1
"#;

/// Changes a setting of a queue that exists. KEYS: settings. ARGV:
/// field, value, channel, name. Returns 1, or -1 if the queue is gone.
pub const SET: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], 'set ' .. ARGV[1] .. '=' .. ARGV[2] .. ' ' .. ARGV[4])
return 1
"#;

/// Renews this daemon's places in one queue: each lives `lifetime` ms
/// more. KEYS: settings, messages, places. ARGV: lifetime, places…
pub const RENEW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[3], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
return 1
"#;
