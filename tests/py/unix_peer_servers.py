"""Root's Unix servers, one stream and one datagram, each printing who its
first peer is: SO_PEERCRED of the stream connection, and the
SCM_CREDENTIALS and bytes of the first datagram. Prints `ready` once
both listen.

Usage: unix_peer_servers.py STREAM_PATH DGRAM_PATH (tests/security.rs)
"""
import os, socket, struct, sys
stream_path, dgram_path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(stream_path); s.listen()
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind(dgram_path)
d.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
os.chmod(stream_path, 0o777); os.chmod(dgram_path, 0o777)
print('ready', flush=True)
c, _ = s.accept()
pid, uid, gid = struct.unpack('3i', c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
print('stream', pid, uid, gid, flush=True)
data, anc, _, _ = d.recvmsg(100, socket.CMSG_SPACE(12))
pid, uid, gid = struct.unpack('3i', anc[0][2])
print('dgram', pid, uid, gid, data, flush=True)
