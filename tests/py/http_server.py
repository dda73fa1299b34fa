"""An HTTP server on 127.0.0.1 (its port printed first) serving the files
of DIR, quietly.

Usage: http_server.py DIR (tests/sockets.rs)
"""
import signal
signal.alarm(120)  # the test kills it; else it ends itself after two minutes

import http.server, socketserver, sys, os
os.chdir(sys.argv[1])
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
s = socketserver.TCPServer(('127.0.0.1', 0), Quiet)
print(s.server_address[1], flush=True)
s.serve_forever()
