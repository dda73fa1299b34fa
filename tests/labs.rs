//! A queue's channel faults (labs) through a real mount: seeded and
//! repeatable, at the rates set, one byte per corruption, and delays held
//! by a timer that holds back no other queue.

mod common;

use common::{Mount, assert_ok, stdout};

/// Python prelude: queues opened in packet mode (one write is one
/// message, one read receives one), settings through setxattr, and a
/// drain that reads until the queue is empty and stays empty a moment
/// (a message held back for reordering goes on within 200 ms).
const PRELUDE: &str = "import os, sys, time, zlib, struct\n\
    def setting(q, name, value):\n\
    \x20   os.setxattr(q, 'user.ipcfs.' + name, str(value).encode())\n\
    def counter(q, name):\n\
    \x20   return int(os.getxattr(q, 'user.ipcfs.' + name))\n\
    def send(q, messages):\n\
    \x20   fd = os.open(q, os.O_WRONLY | os.O_DIRECT)\n\
    \x20   for m in messages: os.write(fd, m)\n\
    \x20   os.close(fd)\n\
    def drain(q, quiet=0.4):\n\
    \x20   fd = os.open(q, os.O_RDONLY | os.O_DIRECT | os.O_NONBLOCK)\n\
    \x20   got, last = [], time.monotonic()\n\
    \x20   while time.monotonic() - last < quiet:\n\
    \x20       try:\n\
    \x20           got.append(os.read(fd, 65536)); last = time.monotonic()\n\
    \x20       except BlockingIOError:\n\
    \x20           time.sleep(0.01)\n\
    \x20   os.close(fd)\n\
    \x20   return got\n\
    def numbered(n):\n\
    \x20   out = []\n\
    \x20   for i in range(n):\n\
    \x20       body = struct.pack('<I', i) + b'payload-%06d' % i\n\
    \x20       out.append(body + struct.pack('<I', zlib.crc32(body)))\n\
    \x20   return out\n\
    def intact(m):\n\
    \x20   return struct.unpack('<I', m[-4:])[0] == zlib.crc32(m[:-4])\n";

fn python(m: &Mount, script: &str) -> String {
    let out = m
        .python(&format!("{PRELUDE}{script}"), &[])
        .output()
        .unwrap();
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn the_same_seed_loses_the_same_messages() {
    let m = mount_or_skip!("--queue-max-messages", "2000");
    assert_ok(&m.run("touch queues/q"));
    let out = python(
        &m,
        "setting('queues/q', 'loss', 0.3)\n\
        runs = []\n\
        for _ in range(2):\n\
        \x20   setting('queues/q', 'seed', 7)\n\
        \x20   send('queues/q', numbered(1000))\n\
        \x20   runs.append(drain('queues/q'))\n\
        print(runs[0] == runs[1], len(runs[0]), counter('queues/q', 'lost'))\n\
        setting('queues/q', 'seed', 8)\n\
        send('queues/q', numbered(1000))\n\
        print(drain('queues/q') != runs[0])\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(first[0], "True", "two runs with seed 7 differ: {out}");
    let kept: u64 = first[1].parse().unwrap();
    let lost: u64 = first[2].parse().unwrap();
    assert_eq!(kept * 2 + lost, 2000, "{out}");
    assert!(
        (600..=800).contains(&kept),
        "{kept} of 1000 kept at loss 0.3"
    );
    assert_eq!(lines[1], "True", "another seed, other losses");
}

/// Over 10,000 messages each observed rate is within five standard
/// deviations of its setting, and what the readers see agrees with the
/// counters: as many damaged messages as `corrupted` counts, as many
/// extra copies as `duplicated`, as many missing as `lost`.
#[test]
fn observed_rates_are_within_statistical_bounds() {
    let m = mount_or_skip!("--queue-max-messages", "30000");
    assert_ok(&m.run("touch queues/q"));
    let out = python(
        &m,
        "q = 'queues/q'\n\
        for name, p in (('loss', 0.1), ('duplicate', 0.05), ('corrupt', 0.05), ('reorder', 0.05)):\n\
        \x20   setting(q, name, p)\n\
        setting(q, 'seed', 12345)\n\
        send(q, numbered(10000))\n\
        got = drain(q)\n\
        good = [m for m in got if intact(m)]\n\
        ids = [struct.unpack('<I', m[:4])[0] for m in good]\n\
        damaged = len(got) - len(good)\n\
        copies = len(ids) - len(set(ids))\n\
        out_of_order = sum(1 for a, b in zip(ids, ids[1:]) if b < a)\n\
        c = {n: counter(q, n) for n in ('lost', 'duplicated', 'corrupted', 'reordered', 'delayed')}\n\
        print(len(got), damaged, copies, out_of_order, c['lost'], c['duplicated'], c['corrupted'], c['reordered'], c['delayed'])\n",
    );
    let v: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    let [
        got,
        damaged,
        _copies,
        out_of_order,
        lost,
        duplicated,
        corrupted,
        reordered,
        delayed,
    ] = v[..]
    else {
        panic!("{out}")
    };
    let within = |what: &str, seen: f64, trials: f64, p: f64| {
        let (mean, sd) = (trials * p, (trials * p * (1.0 - p)).sqrt());
        assert!(
            (seen - mean).abs() <= 5.0 * sd,
            "{what}: {seen} for an expected {mean} ± {sd} ({out})"
        );
    };
    within("lost", lost, 10_000.0, 0.1);
    let kept = 10_000.0 - lost;
    within("duplicated", duplicated, kept, 0.05);
    within("corrupted", corrupted, kept, 0.05);
    within("reordered", reordered, kept, 0.05 * 0.95);
    assert_eq!(delayed, 0.0);
    // What the readers saw is what the counters say.
    assert_eq!(got, kept + duplicated, "{out}");
    assert!(
        damaged >= corrupted && damaged <= 2.0 * corrupted,
        "a corrupted message, and its copy if it has one, are damaged: {out}"
    );
    assert!(
        out_of_order >= 1.0 && out_of_order <= reordered + duplicated,
        "{out}"
    );
}

#[test]
fn corruption_changes_exactly_one_byte() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = python(
        &m,
        "setting('queues/q', 'corrupt', 1)\n\
        sent = numbered(200)\n\
        send('queues/q', sent)\n\
        got = drain('queues/q')\n\
        changed = [sum(a != b for a, b in zip(s, g)) for s, g in zip(sent, got)]\n\
        print(len(got), set(changed), counter('queues/q', 'corrupted'))\n",
    );
    assert_eq!(out, "200 {1} 200\n");
}

/// A duplicate needs a place of its own: one that finds the queue full is
/// dropped, so a duplicating queue never holds more than max_messages.
#[test]
fn a_duplicate_that_finds_the_queue_full_is_dropped() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = python(
        &m,
        "setting('queues/q', 'max_messages', 3)\n\
        setting('queues/q', 'duplicate', 1)\n\
        fd = os.open('queues/q', os.O_WRONLY | os.O_DIRECT | os.O_NONBLOCK)\n\
        os.write(fd, b'a'); os.write(fd, b'b')\n\
        try:\n\
        \x20   os.write(fd, b'c'); print('written')\n\
        except BlockingIOError:\n\
        \x20   print('EAGAIN')\n\
        print(os.getxattr('queues/q', 'user.ipcfs.messages'), counter('queues/q', 'duplicated'))\n\
        print(drain('queues/q'))\n",
    );
    assert_eq!(out, "EAGAIN\nb'3' 2\n[b'a', b'a', b'b']\n");
}

/// A delayed message is held at least the delay, by the daemon's timer;
/// a message sent at the same time to another queue is not held back,
/// nor is a reader of that queue.
#[test]
fn a_delay_holds_its_queue_only() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/slow queues/fast"));
    let out = python(
        &m,
        "setting('queues/slow', 'delay_ms', 400)\n\
        slow = os.open('queues/slow', os.O_RDONLY | os.O_DIRECT)\n\
        fast = os.open('queues/fast', os.O_RDONLY | os.O_DIRECT)\n\
        t = time.monotonic()\n\
        send('queues/slow', [b'late'])\n\
        send('queues/fast', [b'prompt'])\n\
        a = os.read(fast, 100); ta = time.monotonic() - t\n\
        print(os.getxattr('queues/slow', 'user.ipcfs.messages'))\n\
        b = os.read(slow, 100); tb = time.monotonic() - t\n\
        print(a, ta < 0.2, b, tb >= 0.4, counter('queues/slow', 'delayed'))\n",
    );
    assert_eq!(out, "b'0'\nb'prompt' True b'late' True 1\n");
}

/// A bad setting is EINVAL and changes nothing; a queue with faults shows
/// what they did in status's channel column.
#[test]
fn bad_settings_are_einval_and_status_shows_the_channel() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q queues/perfect"));
    let out = python(
        &m,
        "import errno\n\
        for name, value in (('loss', '1.5'), ('corrupt', 'x'), ('delay_ms', '60001'), ('seed', '-1')):\n\
        \x20   try: setting('queues/q', name, value); print('set', name)\n\
        \x20   except OSError as e: print(errno.errorcode[e.errno])\n\
        print(os.getxattr('queues/q', 'user.ipcfs.loss'))\n\
        setting('queues/q', 'loss', 1)\n\
        send('queues/q', [b'gone'])\n",
    );
    assert_eq!(out, "EINVAL\nEINVAL\nEINVAL\nEINVAL\nb'0'\n");
    let status = std::fs::read_to_string(m.path("status")).unwrap();
    let column = |name: &str| {
        let row = status.lines().find(|l| l.contains(name)).unwrap();
        row.split_whitespace().last().unwrap().to_string()
    };
    assert!(
        status.lines().next().unwrap().ends_with(" channel"),
        "{status}"
    );
    assert_eq!(
        column("queues/q "),
        "lost=1,duplicated=0,reordered=0,corrupted=0,delayed=0"
    );
    assert_eq!(column("queues/perfect"), "-");
}

/// The mount's defaults apply to every new queue.
#[test]
fn the_mount_sets_every_new_queues_channel() {
    let m = mount_or_skip!("--faults", "loss=1,seed=3", "-o", "delay_ms=5");
    assert_ok(&m.run("touch queues/q"));
    let out = python(
        &m,
        "print([os.getxattr('queues/q', 'user.ipcfs.' + n) for n in ('loss', 'seed', 'delay_ms')])\n\
        send('queues/q', [b'x'] * 3)\n\
        print(drain('queues/q'), counter('queues/q', 'lost'))\n",
    );
    assert_eq!(out, "[b'1', b'3', b'5']\n[] 3\n");
}

/// A udp endpoint's datagrams go out through its channel, set on its
/// `data` file: lost, damaged in one byte, or held back by the timer, as
/// a real receiver (a Python socket) sees them.
#[test]
fn a_datagram_endpoints_channel_acts_on_what_it_sends() {
    let m = mount_or_skip!();
    let out = python(
        &m,
        "import socket\n\
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        peer.bind(('127.0.0.1', 0)); peer.settimeout(0.3)\n\
        os.mkdir('sockets/u')\n\
        with open('sockets/u/ctl', 'w') as c: c.write('connect udp 127.0.0.1:%d\\n' % peer.getsockname()[1])\n\
        data = 'sockets/u/data'\n\
        def recv():\n\
        \x20   try: return peer.recv(100)\n\
        \x20   except socket.timeout: return None\n\
        send(data, [b'one'])\n\
        print(recv())\n\
        setting(data, 'loss', 1)\n\
        send(data, [b'two'])\n\
        print(recv(), counter(data, 'lost'))\n\
        setting(data, 'loss', 0); setting(data, 'corrupt', 1)\n\
        send(data, [b'three'])\n\
        got = recv()\n\
        print(sum(a != b for a, b in zip(got, b'three')), counter(data, 'corrupted'))\n\
        setting(data, 'corrupt', 0); setting(data, 'delay_ms', 300)\n\
        t = time.monotonic()\n\
        send(data, [b'four'])\n\
        peer.settimeout(2)\n\
        got = recv()\n\
        print(got, time.monotonic() - t >= 0.3, counter(data, 'delayed'))\n\
        os.rmdir('sockets/u')\n",
    );
    assert_eq!(out, "b'one'\nNone 1\n1 1\nb'four' True 1\n");
}

/// A message held back for reordering that no other overtakes goes on
/// alone within 200 ms, and wakes the reader waiting for it.
#[test]
fn a_held_back_message_alone_wakes_its_reader() {
    let m = mount_or_skip!();
    assert_ok(&m.run("touch queues/q"));
    let out = python(
        &m,
        "setting('queues/q', 'reorder', 1)\n\
        r = os.open('queues/q', os.O_RDONLY | os.O_DIRECT)\n\
        if os.fork() == 0:\n\
        \x20   time.sleep(0.2); send('queues/q', [b'alone']); os._exit(0)\n\
        t = time.monotonic()\n\
        print(os.read(r, 100), time.monotonic() - t < 1.5, counter('queues/q', 'reordered'))\n",
    );
    assert_eq!(out, "b'alone' True 0\n");
}
