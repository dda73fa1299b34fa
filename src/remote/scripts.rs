//! The store's atomic steps, as Lua scripts Redis runs whole: no other
//! client's command comes between a check and the change it allows (a
//! full queue's check and the append). Each touches the keys of one
//! queue only (one hash tag), as Redis Cluster requires.
//!
//! The consumer group of every queue's stream is `readers`; a message
//! taken is pending there, under the daemon that took it, until that
//! daemon acknowledges it (it was received) and deletes it.
//!
//! Every queue is one incarnation of its name (`made`, in its settings):
//! a step names the incarnation it is for, and a queue removed and made
//! again under the same name is another one, which the old one's steps
//! never reach (they answer -1, gone).
//!
//! Events are published as `VERB ARG NAME`: `put N/B/P`, `take N/B/P`
//! and `hold N/B/P` (the queue now holds N messages of B bytes in all,
//! and P places), `new MADE`, `del MADE`, `set FIELD=VALUE`.
//!
//! A queue's settings keep `bytes`, the sum of its messages' lengths
//! (pending ones included): each mount charges it, its messages and its
//! places to the queue's owner (a user's queues hold at most that user's
//! share, remote/usage.rs). The steps that add to a queue are given the
//! most its messages and places may cost (`share`, '' for no limit) and
//! check it here, where no other step comes between the count and the
//! change.

use crate::ipc::queue::STORED_PLACE;
use crate::memory::MESSAGE_OVERHEAD;

/// What a script does to the server's memory: one that adds messages or
/// places is refused while the server is past its `maxmemory` (Redis
/// answers OOM, the caller gets ENOSPC); one that takes, acknowledges or
/// gives back runs all the same, as it is what frees memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    Adds,
    Frees,
}

/// `body` with its first line telling Redis 7 (and Valkey) how it uses
/// memory (`flags`), or as it is for an older server, which reads no such
/// line and checks memory at a script's first command that adds.
pub fn flagged(body: &str, memory: Memory, flags: bool) -> String {
    let line = match (flags, memory) {
        (false, _) => return body.to_string(),
        (true, Memory::Adds) => "#!lua",
        (true, Memory::Frees) => "#!lua flags=allow-oom",
    };
    format!("{line}\n{}", body.trim_start())
}

/// Makes a queue's settings and its stream and group, unless it exists:
/// then its owner, group and mode are published again, so that a mount
/// where another user made the same name meanwhile takes the queue's
/// owner, not its own maker. KEYS: settings, messages. ARGV: made,
/// max_messages, max_message_size, framing, uid, gid, mode, channel,
/// name, then more settings as field, value… (the channel's faults).
/// Returns {1, made} if made; {0, messages, field, value…} of the queue
/// found, its whole settings.
pub const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  for _, field in ipairs({'uid', 'gid', 'mode'}) do
    local value = redis.call('HGET', KEYS[1], field)
    redis.call('PUBLISH', ARGV[8], 'set ' .. field .. '=' .. value .. ' ' .. ARGV[9])
  end
  local found = {0, redis.call('XLEN', KEYS[2])}
  for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do table.insert(found, v) end
  return found
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'made', ARGV[1], 'max_messages', ARGV[2],
  'max_message_size', ARGV[3], 'framing', ARGV[4], 'uid', ARGV[5], 'gid', ARGV[6],
  'mode', ARGV[7])
for i = 10, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('XGROUP', 'CREATE', KEYS[2], 'readers', '0', 'MKSTREAM')
redis.call('PUBLISH', ARGV[8], 'new ' .. ARGV[1] .. ' ' .. ARGV[9])
return {1, ARGV[1]}
"#;

/// What the scripts that change a queue's messages share (KEYS[1] its
/// settings, KEYS[2] its stream, KEYS[3] its places): the `N/B/P` of its
/// events, the same three numbers for a script's answer, what its
/// messages and places cost the server (as the mounts count it for its
/// owner, remote/usage.rs), the bytes of messages gone
/// taken off (never below 0: a queue made by an older daemon kept no
/// count), and the length of one message, by id (0 if gone).
fn measures() -> String {
    format!(
        r#"
local function counts()
  return redis.call('XLEN', KEYS[2]) .. '/' .. (redis.call('HGET', KEYS[1], 'bytes') or '0')
    .. '/' .. redis.call('ZCARD', KEYS[3])
end
local function numbers()
  return redis.call('XLEN', KEYS[2]), tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0'),
    redis.call('ZCARD', KEYS[3])
end
local function cost()
  return tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
    + {MESSAGE_OVERHEAD} * redis.call('XLEN', KEYS[2]) + {STORED_PLACE} * redis.call('ZCARD', KEYS[3])
end
local function forget(freed)
  if redis.call('HINCRBY', KEYS[1], 'bytes', -freed) < 0 then
    redis.call('HSET', KEYS[1], 'bytes', 0)
  end
end
local function length_of(id)
  local e = redis.call('XRANGE', KEYS[2], id, id)
  if e[1] then return #e[1][2][2] end
  return 0
end
"#
    )
}

/// The start of every script of one queue (KEYS[1] its settings, ARGV[1]
/// the incarnation the step is for): -1 if that queue is gone, even if
/// another was made under its name since.
const SAME_QUEUE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 or (redis.call('HGET', KEYS[1], 'made') or '') ~= ARGV[1] then
  return -1
end
"#;

/// Removes the queue, if it is still the incarnation named, with its
/// messages and places. KEYS: settings, messages, places. ARGV: made,
/// channel, name. Returns 1 if removed, -1 if gone (or another).
pub fn remove() -> String {
    format!(
        r#"{SAME_QUEUE}
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('PUBLISH', ARGV[2], 'del ' .. ARGV[1] .. ' ' .. ARGV[3])
return 1
"#
    )
}

/// The start of the scripts that count room (KEYS: settings, messages,
/// places): `max` the queue's `max_messages`, `now` the milliseconds of
/// the server's clock, and the places that expired by then taken out.
fn room() -> String {
    format!(
        r#"{SAME_QUEUE}
local max = tonumber(redis.call('HGET', KEYS[1], 'max_messages'))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
"#
    )
}

/// Appends messages while there is room: messages and places held reach
/// `max_messages` at the most. A message in progress that holds a place
/// goes into it whatever the count. None goes past the queue's `share`
/// (the rest are refused, and a place whose message is refused is
/// freed). KEYS: settings, messages, places. ARGV: made, deadline (ms of
/// the server's clock), place ('' for none), channel, name, share,
/// messages… Returns {how many went in (in order), 1 if the share
/// refused one (else 0), the queue's messages, their bytes, its places}; -1 if
/// the queue is gone, -2 if the deadline passed: its daemon has answered
/// its writer `ECOMM` by then, so nothing may go in.
pub fn append() -> String {
    format!(
        r#"{}{}
if now > tonumber(ARGV[2]) then return -2 end
local share = tonumber(ARGV[6])
local spent = cost()
local function fits(len, freed)
  return share == nil or spent - freed + {MESSAGE_OVERHEAD} + len <= share
end
local first = 7
local went = 0
local added = 0
local refused = 0
local freed_place = false
if ARGV[3] ~= '' and redis.call('ZREM', KEYS[3], ARGV[3]) == 1 and #ARGV >= first then
  if fits(#ARGV[first], {STORED_PLACE}) then
    redis.call('XADD', KEYS[2], '*', 'm', ARGV[first])
    added = #ARGV[first]
    spent = spent - {STORED_PLACE} + {MESSAGE_OVERHEAD} + added
    went = 1
  else
    refused = 1
    freed_place = true
  end
  first = first + 1
end
local used = redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3])
for i = first, #ARGV do
  if refused == 1 or used >= max then break end
  if not fits(#ARGV[i], 0) then
    refused = 1
    break
  end
  redis.call('XADD', KEYS[2], '*', 'm', ARGV[i])
  added = added + #ARGV[i]
  spent = spent + {MESSAGE_OVERHEAD} + #ARGV[i]
  used = used + 1
  went = went + 1
end
if went > 0 then
  redis.call('HINCRBY', KEYS[1], 'bytes', added)
  redis.call('PUBLISH', ARGV[4], 'put ' .. counts() .. ' ' .. ARGV[5])
elseif freed_place then
  redis.call('PUBLISH', ARGV[4], 'take ' .. counts() .. ' ' .. ARGV[5])
end
return {{went, refused, numbers()}}
"#,
        room(),
        measures()
    )
}

/// Holds a place for a message in progress while there is room, and
/// while its holder, unless the queue's owner, holds fewer than half the
/// queue's places (rounded up), as in memory: one user's messages left
/// in progress never hold the queue shut for the others; and while the
/// place is within the queue's `share` (see `append`). A place's member
/// starts with its holder's uid and a colon (what is counted: a scan of
/// the places, which are at most `max_messages`). KEYS: settings,
/// messages, places. ARGV: made, place, lifetime (ms), holder, share,
/// channel, name. Returns {1, the queue's messages, their bytes, its
/// places} if held; 0 if the queue is full, 2 if the holder holds its
/// half, 3 if past the share, -1 if the queue is gone.
pub fn reserve() -> String {
    format!(
        r#"{}{}
if redis.call('XLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3]) >= max then return 0 end
if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[4] then
  local mine = ARGV[4] .. ':'
  local held = 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    if string.sub(member, 1, #mine) == mine then held = held + 1 end
  end
  if held >= math.floor((max + 1) / 2) then return 2 end
end
local share = tonumber(ARGV[5])
if share ~= nil and cost() + {STORED_PLACE} > share then return 3 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PUBLISH', ARGV[6], 'hold ' .. counts() .. ' ' .. ARGV[7])
return {{1, numbers()}}
"#,
        room(),
        measures()
    )
}

/// Gives a place back (its description closed with no message in it).
/// KEYS: settings, messages, places. ARGV: made, place, channel, name.
pub fn release() -> String {
    format!(
        r#"{SAME_QUEUE}{}
if redis.call('ZREM', KEYS[3], ARGV[2]) == 1 then
  redis.call('PUBLISH', ARGV[3], 'take ' .. counts() .. ' ' .. ARGV[4])
end
return 1
"#,
        measures()
    )
}

/// Acknowledges and deletes the messages received since the last step
/// (as ACK), then takes the oldest messages for this daemon, up to
/// `count`: first those another daemon took and never acknowledged for
/// `reclaim` ms (it ended before its reader received them), else the next
/// never taken. KEYS: settings, messages, places. ARGV: made, consumer, reclaim
/// (ms), deadline (ms of the server's clock), count, channel, name, ids to
/// acknowledge… Returns {id, message, id, message, …}; or, with none to
/// take, {'wait', MS}: how long until a message another daemon took may
/// be claimed (-1: none is pending); -1 if the queue is gone, -2 if the
/// deadline passed (its daemon gave up on the answer: a message taken now
/// would wait `reclaim` for nothing; the acknowledgements are made).
pub fn take() -> String {
    format!(
        r#"{SAME_QUEUE}{}
if #ARGV > 7 then
  local freed = 0
  for i = 8, #ARGV do
    freed = freed + length_of(ARGV[i])
    redis.call('XACK', KEYS[2], 'readers', ARGV[i])
    redis.call('XDEL', KEYS[2], ARGV[i])
  end
  forget(freed)
  redis.call('PUBLISH', ARGV[6], 'take ' .. counts() .. ' ' .. ARGV[7])
end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[4]) then
  return -2
end
local out = {{}}
local claimed = redis.call('XAUTOCLAIM', KEYS[2], 'readers', ARGV[2], ARGV[3], '0-0',
  'COUNT', ARGV[5])
for _, entry in ipairs(claimed[2]) do
  if entry and entry[2] then
    table.insert(out, entry[1])
    table.insert(out, entry[2][2])
  end
end
if #out > 0 then return out end
local read = redis.call('XREADGROUP', 'GROUP', 'readers', ARGV[2], 'COUNT', ARGV[5],
  'STREAMS', KEYS[2], '>')
if not read then
  local soonest = -1
  for _, p in ipairs(redis.call('XPENDING', KEYS[2], 'readers', '-', '+', 16)) do
    local left = math.max(0, tonumber(ARGV[3]) - p[3])
    if soonest < 0 or left < soonest then soonest = left end
  end
  return {{'wait', soonest}}
end
for _, entry in ipairs(read[1][2]) do
  table.insert(out, entry[1])
  table.insert(out, entry[2][2])
end
return out
"#,
        measures()
    )
}

/// Taken messages were received: acknowledged and deleted, and the room
/// they leave announced. KEYS: settings, messages, places. ARGV: made, channel,
/// name, ids…
pub fn ack() -> String {
    format!(
        r#"{SAME_QUEUE}{}
local freed = 0
for i = 4, #ARGV do
  freed = freed + length_of(ARGV[i])
  redis.call('XACK', KEYS[2], 'readers', ARGV[i])
  redis.call('XDEL', KEYS[2], ARGV[i])
end
forget(freed)
redis.call('PUBLISH', ARGV[2], 'take ' .. counts() .. ' ' .. ARGV[3])
return 1
"#,
        measures()
    )
}

/// A taken message no reader here received: it goes back to the front,
/// to be taken by the next daemon that takes (its idle time made long,
/// so that the next XAUTOCLAIM claims it). KEYS: settings, messages, places.
/// ARGV: made, id, consumer, channel, name.
pub fn give_back() -> String {
    format!(
        r#"{SAME_QUEUE}{}
redis.call('XCLAIM', KEYS[2], 'readers', ARGV[3], 0, ARGV[2], 'IDLE', 1000000000000, 'JUSTID')
redis.call('PUBLISH', ARGV[4], 'put ' .. counts() .. ' ' .. ARGV[5])
return 1
"#,
        measures()
    )
}

/// Changes a setting of the queue. KEYS: settings. ARGV: made, field,
/// value, channel, name. Returns 1, or -1 if the queue is gone.
pub fn set() -> String {
    format!(
        r#"{SAME_QUEUE}
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'set ' .. ARGV[2] .. '=' .. ARGV[3] .. ' ' .. ARGV[5])
return 1
"#
    )
}

/// Renews this daemon's places in one queue: each lives `lifetime` ms
/// more. KEYS: settings, messages, places. ARGV: made, lifetime, places…
pub fn renew() -> String {
    format!(
        r#"{SAME_QUEUE}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[3], 'XX', now + tonumber(ARGV[2]), ARGV[i])
end
return 1
"#
    )
}
